// `ringkv status` against a running admin server (store and admin server in this process,
// the command as a child process), and against an address where nothing listens.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { open, type Store } from '../../src/index.js';
import { startAdminServer, type AdminServer } from '../../src/server/admin/index.js';
import { renderStatus } from '../../src/cli/status.js';
import { runCli } from '../support/cli-harness.js';

const dir = mkdtempSync(join(tmpdir(), 'ringkv-status-'));
let store: Store;
let admin: AdminServer;

test.before(async () => {
  store = await open({ dir, shards: 2, storage: { syncMode: 'none' } });
  admin = await startAdminServer(store, { port: 0 });
  for (let i = 0; i < 5; i++) await store.put(`k${i}`, `v${i}`);
  await store.get('k0');
});

test.after(async () => {
  await admin.close();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

test('prints a row per shard (up, partitions owned, sizes) and the op and hint counters', async () => {
  const r = await runCli(['status', '--admin', `127.0.0.1:${admin.port}`]);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, '2 shards, 2 up; ring epoch 1, 256 partitions, N=2');
  assert.match(r.stdout, /^Status\s+Shard\s+Partitions\s+Owns\s+Memtable/m);
  assert.match(r.stdout, /^UP\s+s0\s+128\s+50\.0%\s+\d/m);
  assert.match(r.stdout, /^UP\s+s1\s+128\s+50\.0%\s+\d/m);
  assert.match(r.stdout, 'puts 5, gets 1, quorum failures 0');
  assert.match(r.stdout, 'Hints:  written 0, delivered 0, pending 0');
  assert.not.match(r.stdout, 'Warning:', 'a lone server has no placement warning');
});

test('placement warnings from /ring are printed above the table', async () => {
  const base = `http://127.0.0.1:${admin.port}`;
  const stats = await (await fetch(`${base}/stats`)).json() as Parameters<typeof renderStatus>[1];
  const ring = await (await fetch(`${base}/ring`)).json() as Parameters<typeof renderStatus>[2];
  assert.equal(ring.warnings, []);
  const out = renderStatus(base, stats, { ...ring, warnings: ['only 1 host (127.0.0.1) for N=3: replicas of a key share a machine'] });
  assert.match(out, /^Warning: only 1 host \(127\.0\.0\.1\) for N=3/m);
  assert.ok(out.indexOf('Warning:') < out.indexOf('Status'), 'the warning comes before the shard table');
});

test('--json prints the stats and the ring; RINGKV_ADMIN names the server', async () => {
  const r = await runCli(['status', '--json'], { RINGKV_ADMIN: `http://127.0.0.1:${admin.port}` });
  assert.is(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { stats: { puts: number }; ring: { q: number } };
  assert.is(out.stats.puts, 5);
  assert.is(out.ring.q, 256);
});

test('a server that is not there: exit 1 and a message naming the address', async () => {
  const r = await runCli(['status', '--admin', '127.0.0.1:1']);
  assert.is(r.code, 1);
  assert.match(r.stderr, 'cannot reach the ringkv admin server at http://127.0.0.1:1');
});

test.run();
