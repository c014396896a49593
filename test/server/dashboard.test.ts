// The admin dashboard's files over real HTTP: GET / is the page, its script and style are
// served with their content types, the page loads nothing from another origin, and the
// JSON endpoints it polls answer with what it reads.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { open, type Store } from '../../src/index.js';
import { startAdminServer, type AdminServer } from '../../src/server/admin/index.js';

const dir = mkdtempSync(join(tmpdir(), 'ringkv-dashboard-'));
let store: Store;
let admin: AdminServer;

async function get(path: string): Promise<{ status: number; type: string; csp: string; body: string }> {
  const res = await fetch(`http://127.0.0.1:${admin.port}${path}`);
  return { status: res.status, type: res.headers.get('content-type') ?? '', csp: res.headers.get('content-security-policy') ?? '', body: await res.text() };
}

test.before(async () => {
  store = await open({ dir, shards: 2, storage: { syncMode: 'none' } });
  admin = await startAdminServer(store, { port: 0 });
});

test.after(async () => {
  await admin.close();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

test('GET / is the dashboard page: html that loads its own script and style, no external URL', async () => {
  const page = await get('/');
  assert.is(page.status, 200);
  assert.match(page.type, /^text\/html/);
  assert.match(page.body, '<script type="module" src="dashboard.js"></script>');
  assert.match(page.body, '<link rel="stylesheet" href="dashboard.css">');
  for (const id of ['ring', 'nodes', 'shards', 'ops-chart', 'hint-chart', 'shard-latency-chart', 'fsync-histogram', 'backlogs', 'stalest', 'warnings', 'actions']) assert.match(page.body, `id="${id}"`);
  // Nothing from a CDN or any other origin, and the browser is told to refuse it too.
  assert.not.match(page.body, /(https?:)?\/\/[a-z0-9.-]+\.[a-z]{2,}/i);
  assert.match(page.csp, "default-src 'self'");
  assert.not.match(page.csp, /https?:/);
  // HEAD works as for every admin GET.
  const head = await fetch(`http://127.0.0.1:${admin.port}/`, { method: 'HEAD' });
  assert.is(head.status, 200);
});

test('the script and the style are served with their content types', async () => {
  const js = await get('/dashboard.js');
  assert.is(js.status, 200);
  assert.match(js.type, /^text\/javascript/);
  // The bundled page script: it polls the admin endpoints (relative URLs: same origin).
  for (const path of ['/ring?lists', '/stats', '/cluster', '/anti-entropy', '/latency']) assert.match(js.body, path);
  assert.not.match(js.body, /^\s*import\s/m, 'bundled: no module imports left for the browser to fetch');
  const css = await get('/dashboard.css');
  assert.is(css.status, 200);
  assert.match(css.type, /^text\/css/);
  assert.match(css.body, '.state-down');
  assert.not.match(css.body, /url\(|@import/);
});

test('the page is read-only: its script sends no POST and names the CLI commands instead', async () => {
  const js = (await get('/dashboard.js')).body;
  assert.not.match(js, /method:\s*["']POST/i);
  for (const cmd of ['plan', 'commit', 'leave', 'remove', 'shards']) assert.match(js, `ringkv cluster ${cmd}`);
});

test('the JSON the page reads: /ring?lists has an owner per partition, /stats the counters and shards', async () => {
  const ring = JSON.parse((await get('/ring?lists')).body) as { epoch: number; q: number; owners: string[]; members: { id: string }[]; preferenceLists: Record<string, string[]> };
  assert.is(ring.owners.length, ring.q);
  assert.equal(new Set(ring.owners), new Set(['s0', 's1']));
  assert.equal(ring.members.map((m) => m.id), ['s0', 's1']);
  assert.is(Object.keys(ring.preferenceLists).length, ring.q);
  await store.put('k', 'v');
  const stats = JSON.parse((await get('/stats')).body) as { puts: number; gets: number; replicas: { id: string; up: boolean }[]; shards: { data: { memtableBytes: number } }[]; hintStore: { pending: number } };
  assert.ok(stats.puts >= 1);
  assert.is(typeof stats.gets, 'number');
  assert.equal(stats.replicas.map((r) => r.up), [true, true]);
  assert.is(stats.shards.length, 2);
  assert.is(typeof stats.hintStore.pending, 'number');
  // A single server has no /cluster: the page reads the 404 as "not a cluster node".
  assert.is((await get('/cluster')).status, 404);
});

interface Summary { count: number; sumUs: number; p50Us: number; p99Us: number; buckets: [number, number][] }
interface ShardEntry { id: string; latency: Summary; fsync: Summary; objects: { sampled: number; withSiblings: number; tombstoneOnly: number; siblingKeysEstimate: number; tombstonesEstimate: number } }

async function shardEntries(): Promise<ShardEntry[]> {
  return (JSON.parse((await get('/stats')).body) as { shards: ShardEntry[] }).shards;
}

test('/stats: each shard carries its round-trip histogram, which counts the requests sent to it', async () => {
  const before = await shardEntries();
  for (let i = 0; i < 40; i++) await store.put(`rt-${i}`, 'v');
  const after = await shardEntries();
  for (const sh of after) {
    const was = before.find((b) => b.id === sh.id)!;
    assert.ok(sh.latency.count > was.latency.count, `${sh.id}: ${was.latency.count} -> ${sh.latency.count} requests timed`);
    assert.is(sh.latency.buckets.reduce((n, [, c]) => n + c, 0), sh.latency.count, 'the buckets hold every request');
    assert.ok(sh.latency.p99Us >= sh.latency.p50Us && sh.latency.p50Us > 0, `${sh.id}: p50 ${sh.latency.p50Us} p99 ${sh.latency.p99Us}`);
  }
});

test('/stats: each shard times its fsyncs; a flush (table, manifest, directory) adds to them', async () => {
  await store.put('fsync-me', 'v');
  const before = await shardEntries();
  await store.shards!.flush();
  const after = await shardEntries();
  for (const sh of after) {
    const was = before.find((b) => b.id === sh.id)!;
    assert.ok(sh.fsync.count > was.fsync.count, `${sh.id}: fsyncs ${was.fsync.count} -> ${sh.fsync.count}`);
    assert.ok(sh.fsync.sumUs > 0 && sh.fsync.buckets.length > 0);
  }
});

test('/stats: siblings and tombstones are counted from a sample of each shard\'s objects', async () => {
  // Blind writes (no context, no overwrite) keep both values: siblings. Deletes leave tombstones.
  for (let i = 0; i < 10; i++) {
    await store.put(`sib-${i}`, 'a');
    await store.put(`sib-${i}`, 'b', { overwrite: false });
    await store.put(`gone-${i}`, 'x');
    await store.delete(`gone-${i}`);
  }
  const shards = await shardEntries();
  const sum = (f: (sh: ShardEntry) => number): number => shards.reduce((n, sh) => n + f(sh), 0);
  // Few objects: every one is in the sample, so the counts are exact (N = 2 copies each).
  assert.ok(sum((sh) => sh.objects.sampled) > 0);
  assert.is(sum((sh) => sh.objects.withSiblings), 20);
  assert.is(sum((sh) => sh.objects.tombstoneOnly), 20);
  assert.ok(sum((sh) => sh.objects.siblingKeysEstimate) >= 20);
  assert.ok(sum((sh) => sh.objects.tombstonesEstimate) >= 20);
});

test('/anti-entropy: the ages of the last exchange per partition, compact (oldest, median, the stalest listed)', async () => {
  const fresh = JSON.parse((await get('/anti-entropy')).body) as { partitions: number; exchanged: number; oldestAgeMs: number | null; medianAgeMs: number | null; stalest: { partition: number; ageMs: number | null }[] };
  assert.is(fresh.partitions, store.ring.q, 'a single server leads every partition');
  assert.ok(fresh.stalest.length > 0 && fresh.stalest.length <= 8);
  if (fresh.exchanged < fresh.partitions) assert.is(fresh.stalest[0]!.ageMs, null, 'a partition never exchanged is the stalest');
  // Two partitions exchanged (a whole round pauses between partitions: too slow for here).
  for (const p of [0, 1]) assert.ok(['equal', 'repaired'].includes((await store.antiEntropy.runPartition(p)).outcome));
  const done = JSON.parse((await get('/anti-entropy')).body) as typeof fresh;
  assert.is(done.exchanged, 2);
  assert.ok(done.oldestAgeMs !== null && done.medianAgeMs !== null && done.oldestAgeMs >= done.medianAgeMs);
  // The never-exchanged partitions come first; 0 and 1 are listed only once those run out.
  const never = store.ring.q - 2;
  assert.ok(done.stalest.slice(0, Math.min(never, done.stalest.length)).every((x) => x.ageMs === null && x.partition > 1), JSON.stringify(done.stalest));
  assert.equal(done.stalest.map((x) => x.partition).length, new Set(done.stalest.map((x) => x.partition)).size);
});

test('/metrics: per-shard round-trip and fsync histograms, and the sampled sibling and tombstone estimates', async () => {
  await store.put('metrics-k', 'v');
  const text = (await get('/metrics')).body;
  for (const shard of ['s0', 's1']) {
    assert.match(text, new RegExp(`ringkv_shard_request_duration_seconds_bucket\\{shard="${shard}",le="0.01"\\} \\d+`));
    assert.match(text, new RegExp(`ringkv_fsync_seconds_count\\{shard="${shard}"\\} [1-9]`));
    assert.match(text, new RegExp(`ringkv_shard_tombstones_estimate\\{shard="${shard}"\\} \\d+`));
    assert.match(text, new RegExp(`ringkv_shard_sibling_keys_estimate\\{shard="${shard}"\\} \\d+`));
  }
  assert.match(text, '# TYPE ringkv_fsync_seconds histogram');
  // Cumulative buckets: +Inf equals the count.
  const inf = /ringkv_fsync_seconds_bucket\{shard="s0",le="\+Inf"\} (\d+)/.exec(text)?.[1];
  const count = /ringkv_fsync_seconds_count\{shard="s0"\} (\d+)/.exec(text)?.[1];
  assert.ok(inf !== undefined && inf === count, `+Inf ${inf} count ${count}`);
});

test.run();
