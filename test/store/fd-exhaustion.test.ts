// Out of file descriptors for real: a child process under `ulimit -n 256` opens a store,
// then takes every descriptor left. Its writes fail with ERR_IO naming EMFILE and the file
// (never ERR_QUORUM), the cause is told once, no WAL segments pile up, and
// once the descriptors are closed the store writes again (and tells so).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

const INDEX = fileURLToPath(new URL('../../src/index.js', import.meta.url));
/** Enough for node, a shard worker and its engines' files; few enough to take them all quickly. */
const FD_LIMIT = 256;

const CHILD = `
import { open } from ${JSON.stringify(INDEX)};
import { openSync, closeSync, readdirSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
const dir = process.argv[2];
const db = await open({ dir, shards: 1, n: 1, r: 1, w: 1, antiEntropyIntervalMs: 0, storage: { memtableBytes: 64 * 1024 } });
const events = [];
db.onStorageFault((e) => events.push(e.state + ' ' + e.code));
for (let i = 0; i < 20; i++) await db.put('before' + i, 'v');
const held = [];
try { for (;;) held.push(openSync('/dev/null', 'r')); } catch {}
const errors = [];
for (let i = 0; i < 400; i++) await db.put('k' + i, randomBytes(1000)).catch((e) => errors.push({ code: e.code, message: e.message }));
for (const fd of held) closeSync(fd);
const files = readdirSync(dir + '/shard-0/data'); // (listing a dir takes a descriptor too)
let ok = false;
const deadline = Date.now() + 60000;
while (!ok && Date.now() < deadline) {
  ok = await db.put('after', 'x').then(() => true, () => false);
  if (!ok) await new Promise((r) => setTimeout(r, 50));
}
const before = (await db.get('before7'))?.values.length ?? 0;
process.stdout.write(JSON.stringify({ held: held.length, errors, files, ok, events, before }));
await db.close();
`;

test(`descriptors exhausted (ulimit -n ${FD_LIMIT}): ERR_IO naming EMFILE and the file, told once, no files pile up; writes work once they are freed`, () => {
  const dir = mkdtempSync(join(tmpdir(), 'ringkv-emfile-'));
  try {
    writeFileSync(join(dir, 'child.mjs'), CHILD);
    const out = execFileSync('sh', ['-c', `ulimit -n ${FD_LIMIT} && exec "$0" "$1" "$2"`, process.execPath, join(dir, 'child.mjs'), join(dir, 'store')], { encoding: 'utf8', timeout: 120_000 });
    const r = JSON.parse(out) as { held: number; errors: { code: string; message: string }[]; files: string[]; ok: boolean; events: string[]; before: number };
    assert.ok(r.held > 0, 'the child took the descriptors left');
    assert.ok(r.errors.length > 0, 'writes failed while no descriptor was left');
    for (const e of r.errors) {
      assert.is(e.code, 'ERR_IO', e.message);
      assert.match(e.message, /EMFILE/);
      assert.match(e.message, /out of file descriptors/);
      assert.match(e.message, /shard-0\/data/);
    }
    const logs = r.files.filter((f) => f.endsWith('.log'));
    assert.ok(logs.length <= 2, `WAL segments: ${r.files.join(', ')}`);
    const numbers = r.files.map((f) => Number.parseInt(f, 10)).filter((n) => Number.isFinite(n));
    assert.ok(Math.max(0, ...numbers) <= 5, `file numbers: ${r.files.join(', ')}`);
    assert.ok(r.ok, 'a write succeeds once descriptors are freed');
    assert.equal(r.events, ['failing ERR_IO', 'recovered ERR_IO']);
    assert.is(r.before, 1, 'what was written before is there');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
