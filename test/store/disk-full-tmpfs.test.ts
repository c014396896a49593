// A real full disk: a store on a small tmpfs (mounted by the test; skipped where mounting is
// not allowed) is written until the disk is full. Writes then fail with ERR_NO_SPACE naming
// the file (never ERR_QUORUM), the cause is told once, no WAL segments pile up and no file
// numbers are burned while writes keep failing, and once space is freed writes work again.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ErrorCode, open, RingkvError, type StorageFaultEvent, type Store } from '../../src/index.js';

/** Small enough to fill in a second or two, big enough for a shard's first files. */
const TMPFS_BYTES = 8 * 1024 * 1024;

function mountTmpfs(dir: string): boolean {
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${TMPFS_BYTES}`, 'tmpfs', dir], { stdio: 'ignore', timeout: 10_000 });
    return true;
  } catch {
    return false;
  }
}

function numbers(dir: string): { logs: number; max: number } {
  const names = readdirSync(dir).filter((n) => /^\d{6}\.(log|sst)$/.test(n));
  return { logs: names.filter((n) => n.endsWith('.log')).length, max: Math.max(0, ...names.map((n) => Number.parseInt(n, 10))) };
}

test('a full tmpfs: ERR_NO_SPACE naming the file, told once, no WAL trail or burned numbers; writes work once space is freed', async () => {
  const mnt = mkdtempSync(join(tmpdir(), 'ringkv-tmpfs-'));
  if (!mountTmpfs(mnt)) {
    console.log('  skipped: cannot mount a tmpfs here');
    rmSync(mnt, { recursive: true, force: true });
    return;
  }
  let db: Store | undefined;
  try {
    // Ballast: most of the disk, deleted later to free space.
    writeFileSync(join(mnt, 'ballast'), new Uint8Array(TMPFS_BYTES - 3 * 1024 * 1024));
    const dir = join(mnt, 'store');
    db = await open({ dir, shards: 1, n: 1, r: 1, w: 1, antiEntropyIntervalMs: 0, storage: { memtableBytes: 256 * 1024, syncMode: 'batch' } });
    const events: StorageFaultEvent[] = [];
    db.onStorageFault((e) => events.push(e));
    const value = randomBytes(4000); // incompressible: lz4 must not shrink it
    let first: RingkvError | undefined;
    let i = 0;
    for (; i < 5000 && first === undefined; i++) {
      await db.put(`k${i}`, value).catch((err: RingkvError) => (first = err));
    }
    assert.ok(first, 'the disk filled up');
    assert.is(first!.code, ErrorCode.NO_SPACE, first!.message);
    // The file the write failed on: a WAL segment or a table almost always; once in a full
    // suite run the first to hit the full disk was another file of the shard (not seen since
    // in 14 runs alone and under load), so any file under the shard's dir is accepted.
    assert.match(first!.message, new RegExp(`${dir}/shard-0/\\S+`), first!.message);
    const shardData = join(dir, 'shard-0', 'data');
    const atFull = numbers(shardData);
    let failures = 0;
    const big = randomBytes(32 * 1024); // a success takes more than a failed flush frees
    for (let j = 0; j < 300; j++) {
      await db.put(`more${j}`, big).then(() => {}, (err: RingkvError) => {
        failures++;
        assert.is(err.code, ErrorCode.NO_SPACE, err.message);
      });
    }
    // Some writes may get through: flushes and merges that fail delete their partial files,
    // and a flush that succeeds deletes WAL segments, so the disk is full, then not, then full.
    assert.ok(failures >= 100, `${failures} of 300 writes failed on the full disk`);
    const later = numbers(shardData);
    assert.ok(later.logs <= atFull.logs + 2, `WAL segments ${atFull.logs} -> ${later.logs}`);
    // Before issue 17 each failed write started (and leaked) a new WAL segment: a number each.
    assert.ok(later.max <= atFull.max + 20, `file numbers ${atFull.max} -> ${later.max} over ${failures} failed writes`);
    const failing = events.filter((e) => e.state === 'failing').length;
    const recovered = events.filter((e) => e.state === 'recovered').length;
    assert.ok(failing <= recovered + 1, `told once per fault, not per request: ${JSON.stringify(events.map((e) => e.state))}`);
    assert.ok(failing < failures / 5, `${failing} fault lines for ${failures} failed writes`);

    rmSync(join(mnt, 'ballast'));
    const deadline = Date.now() + 60_000;
    for (;;) {
      try {
        await db.put('after', 'ok');
        break;
      } catch (err) {
        if (Date.now() > deadline) throw err;
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    assert.ok(events.some((e) => e.state === 'recovered'));
    assert.equal((await db.get('after'))?.values.map((v) => new TextDecoder().decode(v)), ['ok']);
    assert.ok(await db.get('k0'), 'writes acknowledged before the disk filled are there');
  } finally {
    await db?.close().catch(() => {});
    try {
      execFileSync('umount', [mnt], { stdio: 'ignore', timeout: 10_000 });
    } catch {
      execFileSync('umount', ['-l', mnt], { stdio: 'ignore', timeout: 10_000 });
    }
    rmSync(mnt, { recursive: true, force: true });
  }
});

test.run();
