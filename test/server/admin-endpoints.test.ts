// The admin HTTP server over a store in this process: /livez, /readyz while a shard is down
// and after it is back, /metrics as Prometheus text with counters that move, /ring, /stats.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { open, type Store } from '../../src/index.js';
import { startAdminServer, type AdminServer } from '../../src/server/admin/index.js';

const dir = mkdtempSync(join(tmpdir(), 'ringkv-admin-'));
let store: Store;
let admin: AdminServer;
let draining = false;

/** Long enough that the test sees the shard down before it restarts. */
const RESTART_DELAY_MS = 1500;

async function get(path: string): Promise<{ status: number; type: string; body: string }> {
  const res = await fetch(`http://127.0.0.1:${admin.port}${path}`);
  return { status: res.status, type: res.headers.get('content-type') ?? '', body: await res.text() };
}

/** Prometheus text: `name{labels} value` sample lines; returns name{labels} → value. */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    // Values as Prometheus parses them (Go's ParseFloat: NaN and Inf in any case; prom-client
    // writes `Nan` for an event-loop lag not yet sampled).
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?) (-?[0-9.e+-]+|nan|[+-]inf)$/i.exec(line);
    assert.ok(m, `not a sample line: ${line}`);
    out.set(m[1]!, /^nan$/i.test(m[2]!) ? NaN : /inf$/i.test(m[2]!) ? (m[2]!.startsWith('-') ? -Infinity : Infinity) : Number(m[2]));
  }
  return out;
}

test.before(async () => {
  store = await open({ dir, shards: 2, storage: { syncMode: 'none' }, restartDelayMs: RESTART_DELAY_MS, timeoutMs: 500 });
  admin = await startAdminServer(store, { port: 0, draining: () => draining });
});

test.after(async () => {
  await admin.close();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

test('/livez answers 200; unknown paths 404; other methods 405', async () => {
  const live = await get('/livez');
  assert.is(live.status, 200);
  assert.is(live.body, 'ok\n');
  assert.is((await get('/nope')).status, 404);
  const post = await fetch(`http://127.0.0.1:${admin.port}/stats`, { method: 'POST' });
  assert.is(post.status, 405);
  await post.body?.cancel();
});

test('/metrics is Prometheus text: TYPE lines, ringkv_ names with unit suffixes, counters that move', async () => {
  const before = await get('/metrics');
  assert.is(before.status, 200);
  assert.match(before.type, 'text/plain');
  for (const [name, type] of [
    ['ringkv_ops_total', 'counter'],
    ['ringkv_quorum_failures_total', 'counter'],
    ['ringkv_hints_written_total', 'counter'],
    ['ringkv_hints_delivered_total', 'counter'],
    ['ringkv_read_repairs_total', 'counter'],
    ['ringkv_shards_up', 'gauge'],
    ['ringkv_shard_memtable_bytes', 'gauge'],
    ['ringkv_shard_table_bytes', 'gauge'],
    ['ringkv_shard_wal_bytes', 'gauge'],
    ['ringkv_shard_flushes_total', 'counter'],
    ['ringkv_shard_compactions_total', 'counter'],
    ['ringkv_stats_collect_seconds', 'gauge'],
    ['ringkv_hints_pending', 'gauge'],
    ['ringkv_hints_bytes', 'gauge'],
    ['ringkv_hints_oldest_age_seconds', 'gauge'],
    ['ringkv_hints_dropped_total', 'counter'],
    ['ringkv_tombstones_purged_total', 'counter'],
    ['ringkv_shard_busy_seconds_total', 'counter'],
  ] as const) {
    assert.match(before.body, new RegExp(`^# TYPE ${name} ${type}$`, 'm'));
  }
  for (const line of before.body.split('\n')) {
    const m = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (m) {
      assert.ok(m[1]!.startsWith('ringkv_'), m[1]);
      if (m[2] === 'counter') assert.ok(m[1]!.endsWith('_total'), `counter ${m[1]} ends in _total`);
    }
  }
  const s0 = samples(before.body);
  assert.is(s0.get('ringkv_shards_up'), 2);
  assert.is(s0.get('ringkv_shard_up{shard="s1"}'), 1);
  // Each shard reports its hint store (from its worker's stats).
  for (const shard of ['s0', 's1']) {
    assert.is(s0.get(`ringkv_hints_pending{shard="${shard}"}`), 0);
    assert.is(s0.get(`ringkv_hints_bytes{shard="${shard}"}`), 0);
    assert.is(s0.get(`ringkv_hints_dropped_total{shard="${shard}",reason="expired"}`), 0);
  }

  for (let i = 0; i < 20; i++) await store.put(`m${i}`, 'x'.repeat(100));
  for (let i = 0; i < 7; i++) await store.get(`m${i}`);
  const s1 = samples((await get('/metrics')).body);
  assert.is(s1.get('ringkv_ops_total{op="put"}')! - (s0.get('ringkv_ops_total{op="put"}') ?? 0), 20);
  assert.is(s1.get('ringkv_ops_total{op="get"}')! - (s0.get('ringkv_ops_total{op="get"}') ?? 0), 7);
  assert.ok(s1.get('ringkv_shard_memtable_bytes{shard="s0",engine="data"}')! > 0);
  assert.ok(s1.get('ringkv_shard_wal_bytes{shard="s0",engine="data"}')! > 0);
  // Busy time from each worker (the shard policy's signal): some, and less than its lifetime.
  const busy = s1.get('ringkv_shard_busy_seconds_total{shard="s0"}')!;
  assert.ok(busy > 0 && busy < process.uptime(), `busy ${busy} s`);
});

test('/readyz is 503 while a shard is down (?verbose lists each check), 200 once it is back', async () => {
  const ok = await get('/readyz?verbose');
  assert.is(ok.status, 200);
  assert.match(ok.body, '[+]shard s0 ok\n[+]shard s1 ok\n[+]quorum ok\nreadyz check passed');

  await store.shards!.kill('s0');
  const down = await get('/readyz');
  assert.is(down.status, 503);
  assert.match(down.body, '[-]shard s0 failed: down');
  assert.not.match(down.body, 's1', 'without ?verbose only failed checks are listed');
  const verbose = await get('/readyz?verbose');
  assert.match(verbose.body, '[+]shard s1 ok');
  assert.is(samples((await get('/metrics')).body).get('ringkv_shards_up'), 1);

  await store.shards!.waitUp('s0', 20_000);
  assert.is((await get('/readyz')).status, 200);

  draining = true;
  const drain = await get('/readyz');
  draining = false;
  assert.is(drain.status, 503);
  assert.match(drain.body, '[-]serving failed: shutting down');
});

test('/ring is the ring as JSON with q partitions, owned counts and preference lists (?lists: all)', async () => {
  const res = await get('/ring');
  assert.is(res.status, 200);
  assert.match(res.type, 'application/json');
  const ring = JSON.parse(res.body) as { q: number; epoch: number; n: number; owners: string[]; owned: Record<string, number>; preferenceLists: Record<string, string[]> };
  assert.is(ring.q, 256);
  assert.is(ring.owners.length, ring.q);
  assert.is(ring.n, 2);
  assert.is(ring.owned.s0! + ring.owned.s1!, ring.q);
  assert.is(Object.keys(ring.preferenceLists).length, 8);
  assert.is(ring.preferenceLists['0']!.length, 2);
  assert.is(ring.preferenceLists['0']![0], ring.owners[0]);
  const all = JSON.parse((await get('/ring?lists')).body) as { preferenceLists: Record<string, string[]> };
  assert.is(Object.keys(all.preferenceLists).length, 256);
});

test('/stats is store.stats() as JSON', async () => {
  const res = await get('/stats');
  assert.is(res.status, 200);
  const stats = JSON.parse(res.body) as { replicas: { id: string; up: boolean }[]; puts: number; shards: unknown[] };
  assert.equal(stats.replicas.map((r) => r.id), ['s0', 's1']);
  assert.ok(stats.puts >= 20);
  assert.is(stats.shards.length, 2);
});

test.run();
