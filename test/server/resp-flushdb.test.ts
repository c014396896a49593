// FLUSHDB and FLUSHALL through ioredis: refused (data intact) unless the server allows
// them; allowed, they delete every key page by page while other clients keep working,
// take ASYNC/SYNC, and a flush of an empty store is fine. Also Store.clear() directly.
import { Redis } from 'ioredis';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type Harness, rejects, startHarness } from './resp-harness.js';

const KEYS = 2000;
/** MSET in chunks of this many keys (one command of 4000 arguments would do, but chunks are kinder to the log). */
const MSET_CHUNK = 500;

function connect(port: number): Promise<Redis> {
  const redis = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0 });
  return redis.connect().then(() => redis);
}

async function fill(redis: Redis, prefix: string, n: number): Promise<string[]> {
  const keys = Array.from({ length: n }, (_, i) => `${prefix}:${i}`);
  for (let i = 0; i < n; i += MSET_CHUNK) {
    await redis.mset(...keys.slice(i, i + MSET_CHUNK).flatMap((k) => [k, `value of ${k}`]));
  }
  return keys;
}

async function scanAll(redis: Redis): Promise<string[]> {
  const found: string[] = [];
  let cursor = '0';
  let pages = 0;
  do {
    const [next, keys] = await redis.scan(cursor, 'COUNT', 500);
    found.push(...keys);
    cursor = next;
  } while (cursor !== '0' && ++pages < 100_000);
  return found;
}

test('disabled (the default): FLUSHDB and FLUSHALL answer how to enable them, and the data stays', async () => {
  const h = await startHarness();
  const redis = await connect(h.port);
  try {
    const keys = await fill(redis, 'keep', 50);
    await rejects(redis.flushdb(), /FLUSHDB is disabled.*--allow-flushdb.*RINGKV_ALLOW_FLUSHDB/);
    await rejects(redis.flushall(), /FLUSHALL is disabled/);
    await rejects(redis.call('FLUSHDB', 'ASYNC'), /disabled/);
    const values = await redis.mget(...keys);
    assert.equal(values, keys.map((k) => `value of ${k}`));
    assert.is(await redis.dbsize(), 50);
    assert.is(await redis.ping(), 'PONG', 'the connection is still usable');
  } finally {
    redis.disconnect();
    await h.close();
  }
});

test('enabled: 2000 keys gone (GET null each, SCAN empty, DBSIZE 0) while another client keeps working', async () => {
  const h = await startHarness({ server: { flushdbEnabled: true } });
  const a = await connect(h.port);
  const b = await connect(h.port);
  try {
    const keys = await fill(a, 'doomed', KEYS);
    assert.is(await a.dbsize(), KEYS);
    let flushed = false;
    const flush = a.flushdb().then((r) => {
      flushed = true;
      return r;
    });
    // The other connection is answered while the flush walks the store.
    assert.is(await b.ping(), 'PONG');
    assert.not.ok(flushed, 'a PING sent after FLUSHDB is answered before the flush of 2000 keys ends');
    const side: Promise<unknown>[] = [];
    for (let i = 0; i < 100; i++) side.push(b.set(`side:${i}`, String(i)), b.get(`side:${i}`));
    const sideReplies = await Promise.all(side);
    for (let i = 0; i < 100; i++) assert.is(sideReplies[2 * i], 'OK');
    assert.is(await flush, 'OK');

    const after = await a.mget(...keys);
    assert.ok(after.every((v) => v === null), `${after.filter((v) => v !== null).length} keys survived the flush`);
    // Keys written during the flush may survive (it is not atomic); nothing else does.
    const left = await scanAll(a);
    assert.ok(left.every((k) => k.startsWith('side:')), `unexpected keys after the flush: ${left.slice(0, 5).join(', ')}`);
    // A second flush with nothing writing leaves the store empty.
    assert.is(await b.call('FLUSHALL', 'SYNC'), 'OK');
    assert.equal(await scanAll(a), []);
    assert.is(await a.dbsize(), 0);
    assert.is(await a.get('doomed:0'), null);
    // The store works as before afterwards.
    assert.is(await a.set('doomed:0', 'back'), 'OK');
    assert.is(await a.get('doomed:0'), 'back');
    assert.is(await a.dbsize(), 1);
  } finally {
    a.disconnect();
    b.disconnect();
    await h.close();
  }
});

test('enabled: a flush of an empty store answers OK; ASYNC is accepted; a bad argument is a syntax error', async () => {
  const h = await startHarness({ server: { flushdbEnabled: true } });
  const redis = await connect(h.port);
  try {
    assert.is(await redis.flushdb(), 'OK');
    assert.is(await redis.call('FLUSHDB', 'async'), 'OK');
    assert.is(await redis.dbsize(), 0);
    await rejects(redis.call('FLUSHDB', 'NOW'), /syntax error/);
    await rejects(redis.call('FLUSHDB', 'ASYNC', 'SYNC'), /syntax error/);
  } finally {
    redis.disconnect();
    await h.close();
  }
});

test('a flush removes siblings too (tombstones written with overwrite)', async () => {
  const h = await startHarness({ server: { flushdbEnabled: true } });
  const redis = await connect(h.port);
  try {
    // Two blind puts (no context, no overwrite) are concurrent: the key holds two values.
    await h.store.put('twins', 'left', { overwrite: false });
    await h.store.put('twins', 'right', { overwrite: false });
    assert.is((await h.store.get('twins'))?.values.length, 2);
    await rejects(redis.get('twins'), /CONFLICT/);
    assert.is(await redis.flushdb(), 'OK');
    assert.is(await h.store.get('twins'), undefined);
    assert.is(await redis.get('twins'), null);
  } finally {
    redis.disconnect();
    await h.close();
  }
});

test('a shard down: FLUSHDB answers UNAVAILABLE, other clients are unharmed, and a later FLUSHDB finishes the job', async () => {
  // N=1: the keys of a dead shard have no other replica to be listed from.
  const h = await startHarness({ server: { flushdbEnabled: true }, store: { n: 1, restartDelayMs: 2000 } });
  const a = await connect(h.port);
  const b = await connect(h.port);
  try {
    const keys = await fill(a, 'k', 200);
    await h.store.shards!.kill('s1');
    await rejects(a.flushdb(), /UNAVAILABLE/);
    assert.is(await b.ping(), 'PONG');
    assert.is(await a.ping(), 'PONG', 'the flushing connection still works');
    await h.store.shards!.waitUp('s1', 30_000);
    assert.is(await a.flushdb(), 'OK');
    const after = await b.mget(...keys);
    assert.ok(after.every((v) => v === null), `${after.filter((v) => v !== null).length} keys survived`);
  } finally {
    a.disconnect();
    b.disconnect();
    await h.close();
  }
});

test('Store.clear() counts what it deleted, pages with small pages and one lane, and checks its options', async () => {
  const h = await startHarness();
  try {
    await h.store.putMany(Array.from({ length: 300 }, (_, i) => [`c:${i}`, 'v'] as const));
    assert.is(await h.store.clear({ pageKeys: 7, concurrency: 1 }), 300);
    assert.equal((await h.store.scan({ count: 1000 })).keys, []);
    assert.is(await h.store.clear(), 0);
    await rejects(h.store.clear({ pageKeys: 0 }), /pageKeys/);
    await rejects(h.store.clear({ concurrency: 1.5 }), /concurrency/);
  } finally {
    await h.close();
  }
});

test.run();
