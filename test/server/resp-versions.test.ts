// The Dynamo extensions over RESP: concurrent values (siblings) made with VSET, seen with
// VGET, refused by GET/INCR with a CONFLICT naming VGET, resolved with VSET ... CONTEXT;
// VDEL; per-connection CONSISTENCY; and data kept across a server and store restart.
import { Redis } from 'ioredis';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type Harness, rejects, startHarness } from './resp-harness.js';
import { tokenOf } from '../support/diverge.js';

let h: Harness;
let redis: Redis;

const connect = (port: number) => new Redis({ port, host: '127.0.0.1', maxRetriesPerRequest: 0 });

test.before(async () => {
  h = await startHarness({ store: { shards: 2, n: 2, r: 1, w: 1 } });
  redis = connect(h.port);
});

test.after(async () => {
  redis.disconnect();
  await h.close();
});

const vget = (key: string) => redis.call('VGET', key) as Promise<string[]>;

/** Polls `gone()` until true; fails after a deadline far above the TTLs here. */
async function expires(gone: () => Promise<boolean>, what: string): Promise<void> {
  const until = Date.now() + 30_000;
  while (!(await gone())) {
    if (Date.now() > until) assert.unreachable(`${what} did not expire within 30 s`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('VGET of a missing key is an empty array', async () => {
  assert.equal(await vget('absent'), []);
});

test('two VSETs without a context make two values; GET says CONFLICT naming VGET; VSET with the context resolves', async () => {
  const c1 = (await redis.call('VSET', 'cart', 'apples')) as string;
  const c2 = (await redis.call('VSET', 'cart', 'pears')) as string;
  assert.type(c1, 'string');
  assert.type(c2, 'string');
  const [context, ...values] = await vget('cart');
  assert.type(context, 'string');
  assert.equal(values.sort(), ['apples', 'pears']);
  await rejects(redis.get('cart'), /^ReplyError: CONFLICT key 'cart' has 2 concurrent values: use VGET/);
  await rejects(redis.mget('cart', 'other'), /CONFLICT/);
  await rejects(redis.incr('cart'), /CONFLICT/);
  const resolved = (await redis.call('VSET', 'cart', 'apples+pears', 'CONTEXT', context!)) as string;
  assert.type(resolved, 'string');
  assert.is(await redis.get('cart'), 'apples+pears');
  const after = await vget('cart');
  assert.equal(after.slice(1), ['apples+pears']);
  assert.is(after[0], resolved);
});

test('SET replaces every concurrent value of a key', async () => {
  await redis.call('VSET', 'two', 'a');
  await redis.call('VSET', 'two', 'b');
  assert.is((await vget('two')).length, 3);
  await redis.set('two', 'c');
  assert.equal((await vget('two')).slice(1), ['c']);
});

test('a VSET with a stale context becomes a sibling of the newer value', async () => {
  await redis.call('VSET', 'stale', 'v1');
  const [ctx] = await vget('stale');
  await redis.call('VSET', 'stale', 'v2', 'CONTEXT', ctx!);
  await redis.call('VSET', 'stale', 'v3', 'CONTEXT', ctx!); // saw v1, not v2
  assert.equal((await vget('stale')).slice(1).sort(), ['v2', 'v3']);
});

test('VSET takes W and TTL; VDEL with the context deletes, without it leaves unseen values', async () => {
  // A TTL long enough that a busy machine still reads the value before it expires.
  await redis.call('VSET', 'ttl', 'v', 'W', '1', 'TTL', '1000');
  assert.is(await redis.get('ttl'), 'v');
  await expires(async () => (await redis.get('ttl')) === null, 'the VSET TTL');
  await redis.call('VSET', 'gone', 'v');
  const [ctx] = await vget('gone');
  assert.type(await redis.call('VDEL', 'gone', 'CONTEXT', ctx!), 'string');
  assert.equal(await vget('gone'), []);
  await redis.call('VSET', 'kept', 'v');
  await redis.call('VDEL', 'kept');
  assert.equal((await vget('kept')).slice(1), ['v']);
});

test('bad VSET and VDEL arguments answer errors', async () => {
  await rejects(redis.call('VSET', 'k', 'v', 'CONTEXT', 'not base64!'), /invalid context/);
  await rejects(redis.call('VSET', 'k', 'v', 'CONTEXT', 'AQID'), /invalid context/);
  await rejects(redis.call('VSET', 'k', 'v', 'W', '0'), /W must be a positive integer/);
  await rejects(redis.call('VSET', 'k', 'v', 'TTL'), /syntax error/);
  await rejects(redis.call('VSET', 'k', 'v', 'COLOR', 'red'), /syntax error/);
  await rejects(redis.call('VDEL', 'k', 'CONTEXT'), /syntax error/);
  await rejects(redis.call('VGET'), /wrong number of arguments/);
});

test('CONSISTENCY sets R and W for the connection only; bad values are refused', async () => {
  const other = connect(h.port);
  try {
    assert.equal(await redis.call('CONSISTENCY'), ['R', 0, 'W', 0, 'LEVEL', '', 'QUORUM', '']);
    assert.is(await redis.call('CONSISTENCY', 'R', '2', 'W', '2'), 'OK');
    assert.equal(await redis.call('CONSISTENCY'), ['R', 2, 'W', 2, 'LEVEL', '', 'QUORUM', '']);
    assert.equal(await other.call('CONSISTENCY'), ['R', 0, 'W', 0, 'LEVEL', '', 'QUORUM', '']);
    await redis.set('cons', 'v');
    assert.is(await redis.get('cons'), 'v');
    // More than N replicas cannot answer: CONSISTENCY itself refuses, the connection keeps R=2 W=2.
    await rejects(redis.call('CONSISTENCY', 'W', '3'), /ERR invalid consistency .*w must be an integer in 1\.\.n \(2\), got 3/);
    await rejects(redis.call('CONSISTENCY', 'R', '3', 'W', '3'), /ERR invalid consistency .*r must be an integer in 1\.\.n \(2\), got 3/);
    assert.equal(await redis.call('CONSISTENCY'), ['R', 2, 'W', 2, 'LEVEL', '', 'QUORUM', '']);
    assert.is(await redis.set('cons', 'v2'), 'OK');
    assert.is(await redis.get('cons'), 'v2');
    await redis.set('cons', 'v');
    await rejects(redis.call('CONSISTENCY', 'R', 'x'), /R must be a positive integer/);
    await rejects(redis.call('CONSISTENCY', 'Q', '1'), /syntax error/);
    // A level sets both; QUORUM of N=2 is 2, ALL is N; LOCAL levels need per-DC replication.
    assert.is(await redis.call('CONSISTENCY', 'quorum'), 'OK');
    assert.equal(await redis.call('CONSISTENCY'), ['R', 0, 'W', 0, 'LEVEL', 'QUORUM', 'QUORUM', '']);
    assert.is(await redis.get('cons'), 'v');
    await rejects(redis.call('CONSISTENCY', 'LOCAL_QUORUM'), /ERR invalid consistency .*per-DC replication/);
    assert.is(await redis.get('cons'), 'v');
    await rejects(redis.call('CONSISTENCY', 'SOME'), /unknown consistency level/);
    assert.is(await redis.call('CONSISTENCY', 'DEFAULT'), 'OK');
    assert.equal(await redis.call('CONSISTENCY'), ['R', 0, 'W', 0, 'LEVEL', '', 'QUORUM', '']);
    assert.is(await redis.get('cons'), 'v');
  } finally {
    other.disconnect();
  }
});

test('CONSISTENCY ... STRICT and VSET ... STRICT: with a replica down, only primaries count toward W', async () => {
  // 4 shards, N=3 W=3: a key whose list holds the killed shard gets 2 primaries' acks and a hint.
  const s = await startHarness({ store: { shards: 4, n: 3, r: 1, w: 3, restartDelayMs: 60_000 } });
  const c = connect(s.port);
  try {
    assert.is(await c.call('CONSISTENCY', 'W', '3', 'STRICT'), 'OK');
    assert.equal(await c.call('CONSISTENCY'), ['R', 0, 'W', 3, 'LEVEL', '', 'QUORUM', 'strict']);
    await s.store.shards!.kill('s0');
    let key = '';
    for (let i = 0; ; i++) {
      key = `strict-${i}`;
      const t = tokenOf(key);
      if (s.store.ring.listOf(s.store.ring.partitionOf(t.hi, t.lo), 3).includes('s0')) break;
    }
    await rejects(c.set(key, 'x'), /^ReplyError: QUORUM .*strict quorum/);
    await rejects(c.call('VSET', key, 'x', 'STRICT'), /strict quorum/);
    assert.is(await c.call('CONSISTENCY', 'SLOPPY'), 'OK');
    assert.equal(await c.call('CONSISTENCY'), ['R', 0, 'W', 3, 'LEVEL', '', 'QUORUM', 'sloppy']);
    assert.is(await c.set(key, 'y'), 'OK', 'the hint counts');
    await rejects(c.call('VSET', key, 'z', 'STRICT'), /strict quorum/);
    assert.type(await c.call('VSET', key, 'z'), 'string');
    await rejects(c.call('CONSISTENCY', 'STRICT', 'W'), /syntax error/);
    assert.is(await c.call('CONSISTENCY', 'DEFAULT'), 'OK');
    assert.equal(await c.call('CONSISTENCY'), ['R', 0, 'W', 0, 'LEVEL', '', 'QUORUM', '']);
  } finally {
    c.disconnect();
    await s.close();
  }
});

test('a server restarted on the same directory keeps the data', async () => {
  await redis.set('durable', 'yes');
  await redis.mset('d1', '1', 'd2', '2');
  await redis.incr('d-count');
  redis.disconnect();
  await h.close(true);
  h = await startHarness({ dir: h.dir, store: { shards: 2, n: 2, r: 1, w: 1 } });
  redis = connect(h.port);
  assert.is(await redis.get('durable'), 'yes');
  assert.equal(await redis.mget('d1', 'd2'), ['1', '2']);
  assert.is(await redis.incr('d-count'), 2);
});

test('with lww, GET answers one of the concurrent values instead of CONFLICT', async () => {
  const lww = await startHarness({ server: { lww: true } });
  const c = connect(lww.port);
  try {
    await c.call('VSET', 'k', 'a');
    await c.call('VSET', 'k', 'b');
    assert.ok(['a', 'b'].includes((await c.get('k'))!));
  } finally {
    c.disconnect();
    await lww.close();
  }
});

test.run();
