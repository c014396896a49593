// Latency per command type: the log-linear buckets, INFO commandstats and latencystats in
// Redis 7's format (calls, failed and rejected counted), CONFIG RESETSTAT clearing them,
// and the admin port's /metrics histograms per command and per consistency level.
import { Redis } from 'ioredis';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type AdminServer, startAdminServer } from '../../src/server/admin/index.js';
import { BUCKETS, bucketOf, bucketUpperBound, Histogram } from '../../src/server/resp/latency.js';
import { type Harness, rejects, startHarness } from './resp-harness.js';

let h: Harness;
let admin: AdminServer;
let redis: Redis;

test.before(async () => {
  h = await startHarness({ store: { shards: 1, n: 1, r: 1, w: 1 } });
  admin = await startAdminServer(h.store, { port: 0, n: 1, latency: h.server.latency });
  redis = new Redis({ port: h.port, lazyConnect: true, maxRetriesPerRequest: 0 });
  await redis.connect();
});

test.after(async () => {
  redis.disconnect();
  await admin.close();
  await h.close();
});

test('log-linear buckets: each value lands in the bucket whose bounds hold it, within 12.5%', () => {
  for (let v = 0; v < 5_000_000; v = v < 100 ? v + 1 : Math.ceil(v * 1.01)) {
    const b = bucketOf(v);
    assert.ok(b >= 0 && b < BUCKETS, `bucket of ${v}`);
    assert.ok(bucketUpperBound(b) >= v, `${v} above its bucket's bound ${bucketUpperBound(b)}`);
    if (b > 0) assert.ok(bucketUpperBound(b - 1) < v, `${v} belongs below bucket ${b}`);
    assert.ok(bucketUpperBound(b) <= Math.max(v, 15) * 1.125 + 1, `bucket of ${v} too wide`);
  }
  const hist = new Histogram();
  for (let v = 1; v <= 1000; v++) hist.record(v);
  assert.ok(Math.abs(hist.percentile(0.5) - 500) <= 500 * 0.125, String(hist.percentile(0.5)));
  assert.ok(Math.abs(hist.percentile(0.99) - 990) <= 990 * 0.125, String(hist.percentile(0.99)));
  assert.is(hist.count, 1000);
  assert.is(hist.sumUs, 500500);
});

function field(info: string, name: string): string | undefined {
  return new RegExp(`^${name}:(.*)\\r$`, 'm').exec(info)?.[1];
}

test('INFO commandstats and latencystats as Redis 7 prints them; not in INFO default; RESETSTAT clears them', async () => {
  for (let i = 0; i < 20; i++) await redis.set(`k${i}`, 'v');
  for (let i = 0; i < 10; i++) await redis.get(`k${i}`);
  await rejects(redis.incr('k0'), /not an integer/);
  await rejects(redis.call('get'), /wrong number of arguments/);
  const stats = (await redis.call('info', 'commandstats')) as string;
  assert.match(stats, /^# Commandstats\r\n/);
  assert.match(field(stats, 'cmdstat_set')!, /^calls=20,usec=\d+,usec_per_call=\d+(\.\d+)?,rejected_calls=0,failed_calls=0$/);
  assert.match(field(stats, 'cmdstat_get')!, /^calls=10,usec=\d+,usec_per_call=[\d.]+,rejected_calls=1,failed_calls=0$/);
  assert.match(field(stats, 'cmdstat_incr')!, /^calls=1,.*,rejected_calls=0,failed_calls=1$/);
  const lat = (await redis.call('info', 'latencystats')) as string;
  assert.match(lat, /^# Latencystats\r\n/);
  const p = /^p50=([\d.]+),p99=([\d.]+),p99\.9=([\d.]+)$/.exec(field(lat, 'latency_percentiles_usec_set')!);
  assert.ok(p !== null, lat);
  assert.ok(Number(p[1]) > 0 && Number(p[1]) <= Number(p[2]) && Number(p[2]) <= Number(p[3]), lat);
  const plain = (await redis.call('info')) as string;
  assert.not.match(plain, /cmdstat_/);
  assert.match((await redis.call('info', 'everything')) as string, /cmdstat_set:/);
  assert.is(await redis.call('config', 'resetstat'), 'OK');
  const after = (await redis.call('info', 'commandstats')) as string;
  assert.is(field(after, 'cmdstat_set'), undefined);
  assert.match(field(after, 'cmdstat_config')!, /^calls=1,/);
});

async function scrape(): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${admin.port}/metrics`);
  assert.is(res.status, 200);
  return res.text();
}

test('/metrics has request latency histograms per command and per consistency level', async () => {
  for (let i = 0; i < 5; i++) await redis.set(`m${i}`, 'v');
  const other = new Redis({ port: h.port, lazyConnect: true, maxRetriesPerRequest: 0 });
  await other.connect();
  await other.call('consistency', 'one');
  for (let i = 0; i < 3; i++) await other.get(`m${i}`);
  other.disconnect();
  const text = await scrape();
  assert.match(text, /# TYPE ringkv_request_duration_seconds histogram/);
  assert.match(text, /^ringkv_request_duration_seconds_count\{command="set"\} 5$/m);
  assert.match(text, /^ringkv_request_duration_seconds_bucket\{command="set",le="\+Inf"\} 5$/m);
  assert.match(text, /^ringkv_request_duration_seconds_sum\{command="set"\} [\d.e-]+$/m);
  // Buckets are cumulative and end at the count.
  const les = [...text.matchAll(/^ringkv_request_duration_seconds_bucket\{command="set",le="([^"]+)"\} (\d+)$/gm)].map((m) => Number(m[2]));
  assert.ok(les.length > 10);
  for (let i = 1; i < les.length; i++) assert.ok(les[i]! >= les[i - 1]!, String(les));
  assert.match(text, /# TYPE ringkv_request_consistency_duration_seconds histogram/);
  assert.match(text, /^ringkv_request_consistency_duration_seconds_count\{consistency="ONE"\} [34]$/m); // 3 GETs (and the CONSISTENCY reply itself may count)
  assert.match(text, /^ringkv_request_consistency_duration_seconds_count\{consistency="default"\} \d+$/m);
});

test('GET /latency (the dashboard\'s chart) lists calls, p50 and p99 per command type, busiest first', async () => {
  for (let i = 0; i < 30; i++) await redis.get(`l${i}`);
  const res = await fetch(`http://127.0.0.1:${admin.port}/latency`);
  assert.is(res.status, 200);
  const body = (await res.json()) as { commands: { command: string; calls: number; p50Us: number; p99Us: number }[] };
  const get = body.commands.find((c) => c.command === 'get');
  assert.ok(get !== undefined && get.calls >= 30, JSON.stringify(body));
  assert.ok(get.p50Us > 0 && get.p50Us <= get.p99Us, JSON.stringify(get));
  for (let i = 1; i < body.commands.length; i++) assert.ok(body.commands[i - 1]!.calls >= body.commands[i]!.calls);
});

test.run();
