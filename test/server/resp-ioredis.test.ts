// ioredis as a real client of the RESP server: the string commands, TTLs, counters,
// pipelines of 1000 commands answered in order, and the errors a client sees.
import { Redis } from 'ioredis';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type Harness, rejects, startHarness } from './resp-harness.js';

let h: Harness;
let redis: Redis;

test.before(async () => {
  h = await startHarness();
  redis = new Redis({ port: h.port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0 });
  await redis.connect();
});

test.after(async () => {
  redis.disconnect();
  await h.close();
});

/** Polls `gone()` until true; fails after a deadline far above the TTLs here. */
async function expires(gone: () => Promise<boolean>, what: string): Promise<void> {
  const until = Date.now() + 30_000;
  while (!(await gone())) {
    if (Date.now() > until) assert.unreachable(`${what} did not expire within 30 s`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('connects (INFO answers loading:0) and answers PING and ECHO', async () => {
  assert.is(redis.status, 'ready');
  assert.is(await redis.ping(), 'PONG');
  assert.is(await redis.echo('hello'), 'hello');
});

test('SET then GET returns the value; GET of a missing key is null', async () => {
  assert.is(await redis.set('greeting', 'hello world'), 'OK');
  assert.is(await redis.get('greeting'), 'hello world');
  assert.is(await redis.get('never-set'), null);
});

test('SET replaces the value (no siblings), binary keys and values round-trip', async () => {
  await redis.set('k', 'one');
  await redis.set('k', 'two');
  await redis.set('k', 'three');
  assert.is(await redis.get('k'), 'three');
  const key = Buffer.from([0, 255, 13, 10, 32]);
  const value = Buffer.from(Array.from({ length: 1000 }, (_, i) => i % 256));
  await redis.set(key, value);
  assert.equal(await redis.getBuffer(key), value);
  await redis.set('empty', '');
  assert.is(await redis.get('empty'), '');
});

test('SET NX only creates, SET XX only replaces, SET GET answers the old value', async () => {
  assert.is(await redis.set('nx', 'a', 'NX'), 'OK');
  assert.is(await redis.set('nx', 'b', 'NX'), null);
  assert.is(await redis.get('nx'), 'a');
  assert.is(await redis.set('xx-missing', 'a', 'XX'), null);
  assert.is(await redis.get('xx-missing'), null);
  assert.is(await redis.set('nx', 'c', 'XX'), 'OK');
  assert.is(await redis.get('nx'), 'c');
  assert.is(await redis.set('nx', 'd', 'GET'), 'c');
  assert.is(await redis.get('nx'), 'd');
  await rejects(redis.set('nx', 'e', 'NX', 'XX' as 'GET'), /syntax error/);
});

test('DEL and UNLINK count the keys that existed; EXISTS counts', async () => {
  await redis.mset('d1', '1', 'd2', '2', 'd3', '3');
  assert.is(await redis.exists('d1', 'd2', 'nope', 'd1'), 3);
  assert.is(await redis.del('d1', 'd2', 'nope', 'd1'), 2);
  assert.is(await redis.unlink('d3', 'd3'), 1);
  assert.is(await redis.exists('d1', 'd2', 'd3'), 0);
  assert.is(await redis.get('d1'), null);
});

test('MSET then MGET, with missing keys as null; MSET with a key twice keeps the last value', async () => {
  assert.is(await redis.mset('m1', 'a', 'm2', 'b', 'm1', 'c'), 'OK');
  assert.equal(await redis.mget('m1', 'm2', 'm3'), ['c', 'b', null]);
  await rejects(redis.call('MSET', 'a', 'b', 'c'), /wrong number of arguments/);
});

test('INCR, DECR, INCRBY, DECRBY count from 0 and check the value is an integer', async () => {
  assert.is(await redis.incr('counter'), 1);
  assert.is(await redis.incr('counter'), 2);
  assert.is(await redis.decr('counter'), 1);
  assert.is(await redis.incrby('counter', 100), 101);
  assert.is(await redis.decrby('counter', 1000), -899);
  assert.is(await redis.get('counter'), '-899');
  await redis.set('word', 'abc');
  await rejects(redis.incr('word'), /not an integer/);
  await redis.set('big', '9223372036854775807');
  await rejects(redis.incr('big'), /overflow/);
  assert.is(await redis.get('big'), '9223372036854775807');
});

test('concurrent INCRs of one key from many clients through the server lose nothing', async () => {
  const clients = Array.from({ length: 5 }, () => new Redis({ port: h.port, host: '127.0.0.1' }));
  try {
    await Promise.all(clients.map((c) => Promise.all(Array.from({ length: 40 }, () => c.incr('shared')))));
    assert.is(await redis.get('shared'), '200');
  } finally {
    for (const c of clients) c.disconnect();
  }
});

test('EXPIRE sets a TTL after which the key is gone; TTL is -2 for a missing key', async () => {
  await redis.set('temp', 'v');
  assert.is(await redis.ttl('temp'), -1);
  assert.is(await redis.expire('temp', 100), 1);
  const t = await redis.ttl('temp');
  assert.ok(t > 90 && t <= 100, `TTL ${t}`);
  const pt = await redis.pttl('temp');
  assert.ok(pt > 90_000 && pt <= 100_000, `PTTL ${pt}`);
  assert.is(await redis.expire('missing', 10), 0);
  assert.is(await redis.ttl('missing'), -2);
  assert.is(await redis.pexpire('temp', 50), 1);
  await new Promise((r) => setTimeout(r, 120));
  assert.is(await redis.get('temp'), null);
  assert.is(await redis.ttl('temp'), -2);
  await redis.set('gone', 'v');
  assert.is(await redis.expire('gone', 0), 1);
  assert.is(await redis.exists('gone'), 0);
});

test('SET EX and PX expire the value', async () => {
  // A TTL long enough that a busy machine still reads the value before it expires.
  await redis.set('px', 'v', 'PX', 1000);
  await redis.set('ex', 'v', 'EX', 100);
  assert.is(await redis.get('px'), 'v');
  await expires(async () => (await redis.get('px')) === null, 'SET PX');
  assert.is(await redis.get('ex'), 'v');
  await rejects(redis.set('ex', 'v', 'EX', 0), /invalid expire time/);
  await rejects(redis.set('ex', 'v', 'EX', 'soon' as unknown as number), /not an integer/);
});

test('a pipeline of 1000 GETs answers in order', async () => {
  const keys = Array.from({ length: 1000 }, (_, i) => `p${i}`);
  const setPipe = redis.pipeline();
  keys.forEach((k, i) => setPipe.set(k, `value-${i}`));
  const sets = await setPipe.exec();
  assert.ok(sets!.every(([err, r]) => err === null && r === 'OK'));
  const getPipe = redis.pipeline();
  for (const k of keys) getPipe.get(k);
  const gets = await getPipe.exec();
  assert.equal(
    gets!.map(([, r]) => r),
    keys.map((_, i) => `value-${i}`),
  );
});

test('a pipeline sees its own writes: SET, GET, INCR, GET, DEL, GET on one key', async () => {
  const res = await redis.pipeline().set('pk', '10').get('pk').incr('pk').get('pk').del('pk').get('pk').exec();
  assert.equal(
    res!.map(([, r]) => r),
    ['OK', '10', 11, '11', 1, null],
  );
});

test('a pipeline of 1000 mixed commands with errors in the middle answers each in order', async () => {
  const p = redis.pipeline();
  for (let i = 0; i < 1000; i++) {
    if (i % 100 === 50) p.call('NOSUCHCOMMAND', 'x');
    else if (i % 3 === 0) p.set(`mix${i % 7}`, String(i));
    else if (i % 3 === 1) p.incr(`cnt${i % 5}`);
    else p.ping();
  }
  const res = await p.exec();
  assert.is(res!.length, 1000);
  res!.forEach(([err, r], i) => {
    if (i % 100 === 50) assert.match(String(err), /unknown command/);
    else if (i % 3 === 0) assert.is(r, 'OK');
    else if (i % 3 === 1) assert.type(r, 'number');
    else assert.is(r, 'PONG');
  });
});

test('errors: unknown command, wrong arity, SELECT of another db, KEEPTTL with EX', async () => {
  await rejects(redis.call('FOO'), /unknown command 'FOO'/);
  await rejects(redis.call('GET'), /wrong number of arguments for 'get'/);
  await rejects(redis.call('GET', 'a', 'b'), /wrong number of arguments/);
  assert.is(await redis.select(0), 'OK');
  await rejects(redis.select(1), /DB index is out of range/);
  await rejects(redis.call('SET', 'k', 'v', 'KEEPTTL', 'EX', '10'), /syntax error/);
  // The connection is still good after errors.
  assert.is(await redis.ping(), 'PONG');
});

test('a key over the store limit answers -TOOLARGE; a huge value an error; the connection stays usable', async () => {
  await rejects(redis.set(Buffer.alloc(70_000, 107), 'v'), /^ReplyError: TOOLARGE key of 70000 bytes/);
  // The store limits values to 16 MiB (and, today, to a shard ring's frame: ~512 KiB).
  const big = Buffer.alloc(17 * 1024 * 1024, 120);
  await rejects(redis.set('huge', big), /TOOLARGE/);
  assert.is(await redis.get('huge'), null);
  assert.is(await redis.ping(), 'PONG');
});

test('CLIENT SETNAME/GETNAME/ID, CONFIG GET, DBSIZE, SCAN, TYPE, COMMAND COUNT', async () => {
  assert.is(await redis.client('SETNAME', 'tester'), 'OK');
  assert.is(await redis.client('GETNAME'), 'tester');
  assert.type(await redis.client('ID'), 'number');
  assert.equal(await redis.config('GET', 'save'), ['save', '']);
  assert.equal(await redis.config('GET', 'appendonly'), ['appendonly', 'no']);
  // Keys set by earlier tests in this file: DBSIZE is approximate (versions not yet merged count) but not 0.
  assert.ok((await redis.dbsize()) > 0);
  await redis.mset('scan:a', '1', 'scan:b', '2', 'other', '3');
  const found: string[] = [];
  let cursor = '0';
  let pages = 0;
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', 'scan:*', 'COUNT', 5);
    found.push(...keys);
    cursor = next;
  } while (cursor !== '0' && ++pages < 10_000);
  assert.equal(found.sort(), ['scan:a', 'scan:b']);
  assert.equal((await redis.scan(0, 'TYPE', 'hash'))[1], []);
  await rejects(redis.scan('nope'), /invalid cursor/);
  assert.is(await redis.type('greeting'), 'string');
  assert.is(await redis.type('never-set'), 'none');
  assert.ok(((await redis.call('COMMAND', 'COUNT')) as number) > 20);
  await rejects(redis.call('COMMAND', 'DOCS'), /not supported/);
  await rejects(redis.call('FLUSHDB'), /disabled/);
  const info = await redis.info();
  assert.match(info, /loading:0/);
  assert.match(info, /# Keyspace/);
  assert.match(info, /ringkv_puts:\d+/);
});

test.run();
