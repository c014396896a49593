// The string and keyspace family over real TCP, each a script of commands and the replies
// Redis 7 gives them (reply type, value, error string), run in order on one connection:
// SETNX, SETEX, PSETEX, GETEX, GETDEL, GETSET, APPEND, STRLEN, GETRANGE, SETRANGE,
// INCRBYFLOAT, MSETNX, PERSIST, EXPIREAT, PEXPIREAT, EXPIRETIME, PEXPIRETIME, EXPIRE
// NX/XX/GT/LT, SET KEEPTTL, KEYS, RANDOMKEY, RENAME, RENAMENX, COPY, TIME, OBJECT, MEMORY
// USAGE, WAIT; a key with concurrent values answers CONFLICT; and what they write is what
// the store holds (values and expiry read back with the embedded API).
import { Redis } from 'ioredis';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type Decoded, type Harness, RawClient, startHarness } from './resp-harness.js';

let h: Harness;
let c: RawClient;

test.before(async () => {
  h = await startHarness();
  c = await RawClient.open(h.port);
});

test.after(async () => {
  c.close();
  await h.close();
});

type Expected = Decoded | ((reply: Decoded) => boolean);
const err = (line: string): Decoded => ({ error: line });
/** A TTL-like reply in [hi - slack, hi]: `lo` names what it is right after the write; a loaded machine may take seconds (generous, never timed). */
const between = (lo: number, hi: number) => (r: Decoded): boolean => typeof r === 'number' && r <= hi && r >= Math.max(1, Math.min(lo, hi - Math.max(30, hi / 10)));

/** Sends each command (pipelined) and checks each reply. */
async function script(steps: readonly (readonly [string, Expected])[]): Promise<void> {
  const cmds = steps.map(([line]) => line.split(' '));
  for (const args of cmds) c.send(`*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`);
  for (const [line, want] of steps) {
    const got = await c.reply();
    if (typeof want === 'function') assert.ok(want(got), `${line} -> ${JSON.stringify(got)}`);
    else assert.equal(got, want, line);
  }
}

const ARITY = (cmd: string): Decoded => err(`ERR wrong number of arguments for '${cmd}' command`);
const NOT_INT = err('ERR value is not an integer or out of range');

test('SETNX, SETEX, PSETEX, GETSET, GETDEL, MSETNX', async () => {
  await script([
    ['SETNX s1 a', 1],
    ['SETNX s1 b', 0],
    ['GET s1', 'a'],
    ['SETNX s1', ARITY('setnx')],
    ['SETEX s2 100 v', 'OK'],
    ['TTL s2', between(99, 100)],
    ['SETEX s2 0 v', err("ERR invalid expire time in 'setex' command")],
    ['SETEX s2 -5 v', err("ERR invalid expire time in 'setex' command")],
    ['SETEX s2 x v', NOT_INT],
    ['SETEX s2 99999999999999999 v', err("ERR invalid expire time in 'setex' command")],
    ['PSETEX s3 100000 v', 'OK'],
    ['PTTL s3', between(99_000, 100_000)],
    ['PSETEX s3 0 v', err("ERR invalid expire time in 'psetex' command")],
    ['GETSET s2 new', 'v'],
    ['TTL s2', -1],
    ['GETSET s-none x', null],
    ['GETDEL s2', 'new'],
    ['GETDEL s2', null],
    ['EXISTS s2', 0],
    ['MSETNX m1 a m2 b', 1],
    ['MSETNX m2 x m3 y', 0],
    ['GET m3', null],
    ['GET m2', 'b'],
    ['MSETNX m4 a m5', ARITY('msetnx')],
  ]);
});

test('GETEX: PERSIST, EX/PX/EXAT/PXAT, bad options', async () => {
  const future = Math.floor(Date.now() / 1000) + 500;
  await script([
    ['SET g1 v EX 100', 'OK'],
    ['GETEX g1', 'v'],
    ['TTL g1', between(99, 100)],
    ['GETEX g1 PERSIST', 'v'],
    ['TTL g1', -1],
    ['GETEX g1 EX 50', 'v'],
    ['TTL g1', between(49, 50)],
    ['GETEX g1 PX 70000', 'v'],
    ['TTL g1', between(69, 70)],
    [`GETEX g1 EXAT ${future}`, 'v'],
    ['TTL g1', between(498, 500)],
    [`GETEX g1 PXAT ${future * 1000 + 1000}`, 'v'],
    ['EXPIRETIME g1', future + 1],
    ['GETEX g1 EX 0', err("ERR invalid expire time in 'getex' command")],
    ['GETEX g1 EX x', NOT_INT],
    ['GETEX g1 FOO', err('ERR syntax error')],
    ['GETEX g1 EX 10 PX 10', err('ERR syntax error')],
    ['GETEX g-none EX 10', null],
    ['GETEX g1 PXAT 1', 'v'],
    ['EXISTS g1', 0],
  ]);
});

test('APPEND, STRLEN, GETRANGE, SETRANGE (zero padding, negative indexes, TTL kept)', async () => {
  await script([
    ['APPEND a1 Hello', 5],
    ['APPEND a1 _World', 11],
    ['GET a1', 'Hello_World'],
    ['STRLEN a1', 11],
    ['STRLEN a-none', 0],
    ['GETRANGE a1 0 4', 'Hello'],
    ['GETRANGE a1 -5 -1', 'World'],
    ['GETRANGE a1 5 1', ''],
    ['GETRANGE a1 -1 -5', ''],
    ['GETRANGE a1 0 -100', 'H'],
    ['GETRANGE a1 0 1000', 'Hello_World'],
    ['GETRANGE a-none 0 10', ''],
    ['GETRANGE a1 x 1', NOT_INT],
    ['SETRANGE a1 6 Redis', 11],
    ['GET a1', 'Hello_Redis'],
    ['SETRANGE a2 3 x', 4],
    ['GET a2', '\u0000\u0000\u0000x'],
    ['SETRANGE a3 5 ', 0],
    ['EXISTS a3', 0],
    ['SETRANGE a1 -1 x', err('ERR offset is out of range')],
    ['SETRANGE a1 536870912 x', err('ERR string exceeds maximum allowed size (proto-max-bulk-len)')],
    ['EXPIRE a1 100', 1],
    ['APPEND a1 !', 12],
    ['SETRANGE a1 0 J', 12],
    ['TTL a1', between(99, 100)],
    ['GET a1', 'Jello_Redis!'],
  ]);
});

test('INCRBYFLOAT: Redis examples, exponent input, errors for bad floats and inf/nan results; TTL kept', async () => {
  await script([
    ['SET f1 10.50', 'OK'],
    ['INCRBYFLOAT f1 0.1', '10.6'],
    ['INCRBYFLOAT f1 -5', '5.6'],
    ['SET f1 5.0e3', 'OK'],
    ['INCRBYFLOAT f1 2.0e2', '5200'],
    ['INCRBYFLOAT f-new 3', '3'],
    ['INCRBYFLOAT f-new 1e-7', '3.0000001'],
    ['INCRBYFLOAT f1 inf', err('ERR increment would produce NaN or Infinity')],
    ['INCRBYFLOAT f1 -infinity', err('ERR increment would produce NaN or Infinity')],
    ['INCRBYFLOAT f1 nan', err('ERR value is not a valid float')],
    ['INCRBYFLOAT f1 abc', err('ERR value is not a valid float')],
    ['INCRBYFLOAT f1 0x10', err('ERR value is not a valid float')],
    ['INCRBYFLOAT f1', ARITY('incrbyfloat')],
    ['SET f2 1e308', 'OK'],
    ['INCRBYFLOAT f2 1e308', err('ERR increment would produce NaN or Infinity')],
    ['SET f3 text', 'OK'],
    ['INCRBYFLOAT f3 1', err('ERR value is not a valid float')],
    ['SET f4 1 EX 100', 'OK'],
    ['INCRBYFLOAT f4 1.5', '2.5'],
    ['TTL f4', between(99, 100)],
    ['GET f1', '5200'],
  ]);
});

test('SET KEEPTTL; EXPIRE NX/XX/GT/LT and their incompatible combinations; PERSIST', async () => {
  await script([
    ['SET t1 v EX 100', 'OK'],
    ['SET t1 w KEEPTTL', 'OK'],
    ['TTL t1', between(99, 100)],
    ['GET t1', 'w'],
    ['SET t1 x', 'OK'],
    ['TTL t1', -1],
    ['SET t1 v KEEPTTL EX 10', err('ERR syntax error')],
    ['SET t1 v EX 10 KEEPTTL', err('ERR syntax error')],
    ['SET t-new v KEEPTTL', 'OK'],
    ['TTL t-new', -1],
    ['EXPIRE t1 100 XX', 0],
    ['EXPIRE t1 100 GT', 0],
    ['EXPIRE t1 100 NX', 1],
    ['EXPIRE t1 100 NX', 0],
    ['EXPIRE t1 50 GT', 0],
    ['EXPIRE t1 200 GT', 1],
    ['TTL t1', between(199, 200)],
    ['EXPIRE t1 300 LT', 0],
    ['EXPIRE t1 10 LT', 1],
    ['TTL t1', between(9, 10)],
    ['EXPIRE t1 20 XX', 1],
    ['EXPIRE t1 10 NX XX', err('ERR NX and XX, GT or LT options at the same time are not compatible')],
    ['EXPIRE t1 10 NX GT', err('ERR NX and XX, GT or LT options at the same time are not compatible')],
    ['EXPIRE t1 10 GT LT', err('ERR GT and LT options at the same time are not compatible')],
    ['EXPIRE t1 10 FOO', err('ERR Unsupported option FOO')],
    ['EXPIRE t1 x', NOT_INT],
    ['EXPIRE t1 99999999999999999', err("ERR invalid expire time in 'expire' command")],
    ['PEXPIRE t1 99999999999999999999', NOT_INT],
    ['SET t2 v', 'OK'],
    ['EXPIRE t2 100 LT', 1],
    ['PERSIST t2', 1],
    ['PERSIST t2', 0],
    ['PERSIST t-none', 0],
    ['TTL t2', -1],
    ['EXPIRE t-none 100', 0],
    ['EXPIRE t2 -1', 1],
    ['EXISTS t2', 0],
    ['SET t3 v EX 0', err("ERR invalid expire time in 'set' command")],
    ['SET t3 v EX -1', err("ERR invalid expire time in 'set' command")],
    ['SET t3 v PX 99999999999999999', err("ERR invalid expire time in 'set' command")],
    ['SET t3 v EX 99999999999999999', err("ERR invalid expire time in 'set' command")],
  ]);
});

test('EXPIREAT, PEXPIREAT, EXPIRETIME, PEXPIRETIME read the expiry the store keeps with the value', async () => {
  const at = Math.floor(Date.now() / 1000) + 1000;
  await script([
    ['SET e1 v', 'OK'],
    ['EXPIRETIME e1', -1],
    ['PEXPIRETIME e1', -1],
    ['EXPIRETIME e-none', -2],
    ['PEXPIRETIME e-none', -2],
    [`EXPIREAT e1 ${at}`, 1],
    ['EXPIRETIME e1', at],
    ['PEXPIRETIME e1', at * 1000],
    ['TTL e1', between(998, 1000)],
    [`PEXPIREAT e1 ${at * 1000 + 500}`, 1],
    ['PEXPIRETIME e1', at * 1000 + 500],
    [`EXPIREAT e1 ${at + 5} LT`, 0],
    [`EXPIREAT e1 ${at + 5} GT`, 1],
    ['EXPIREAT e1 1', 1],
    ['EXISTS e1', 0],
    ['EXPIREAT e-none 1', 0],
  ]);
  const read = await h.store.get('e1');
  assert.is(read, undefined);
  await c.call('SET', 'e2', 'v');
  await c.call('EXPIREAT', 'e2', String(at));
  const stored = await h.store.get('e2');
  assert.equal(stored!.expiresAt, [at * 1000], 'the expiry is the value\'s own, in the store');
});

test('KEYS, RANDOMKEY, RENAME, RENAMENX, COPY (TTL travels; same key; missing key; DB)', async () => {
  await script([
    ['SET kx:1 v EX 100', 'OK'],
    ['SET kx:2 12345', 'OK'],
    ['SET ky:1 x', 'OK'],
  ]);
  const keys = (await c.call('KEYS', 'kx:*')) as string[];
  assert.equal(keys.sort(), ['kx:1', 'kx:2']);
  const all = (await c.call('KEYS', '*')) as string[];
  assert.ok(all.includes('ky:1') && all.includes('kx:1'));
  const random = await c.call('RANDOMKEY');
  assert.ok(typeof random === 'string' && all.includes(random), String(random));
  await script([
    ['RENAME kx:1 kx:3', 'OK'],
    ['TTL kx:3', between(99, 100)],
    ['EXISTS kx:1', 0],
    ['RENAME kx:none x', err('ERR no such key')],
    ['RENAMENX kx:none x', err('ERR no such key')],
    ['RENAMENX kx:3 kx:2', 0],
    ['RENAMENX kx:3 kx:3', 0],
    ['RENAME kx:3 kx:3', 'OK'],
    ['RENAMENX kx:3 kx:4', 1],
    ['GET kx:4', 'v'],
    ['RENAME kx:2 kx:4', 'OK'],
    ['GET kx:4', '12345'],
    ['TTL kx:4', -1],
    ['COPY kx:4 kx:5', 1],
    ['COPY kx:4 kx:5', 0],
    ['SET kx:4 changed EX 50', 'OK'],
    ['COPY kx:4 kx:5 REPLACE', 1],
    ['GET kx:5', 'changed'],
    ['TTL kx:5', between(49, 50)],
    ['COPY kx:4 kx:4', err('ERR source and destination objects are the same')],
    ['COPY kx:4 kx:6 DB 1', err('ERR DB index is out of range (ringkv has one database: 0)')],
    ['COPY kx:4 kx:6 DB 0', 1],
    ['COPY kx:4 kx:7 FOO', err('ERR syntax error')],
    ['COPY kx:none kx:7', 0],
    ['RENAME kx:4', ARITY('rename')],
  ]);
});

test('TIME, OBJECT, MEMORY USAGE, WAIT, SELECT 0 only', async () => {
  const [sec, usec] = (await c.call('TIME')) as string[];
  assert.ok(Math.abs(Number(sec) - Date.now() / 1000) < 60, sec);
  assert.ok(/^\d+$/.test(usec!) && Number(usec) < 1_000_000, usec);
  await script([
    ['SET o1 12345', 'OK'],
    ['SET o2 short', 'OK'],
    [`SET o3 ${'x'.repeat(45)}`, 'OK'],
    ['OBJECT ENCODING o1', 'int'],
    ['OBJECT ENCODING o2', 'embstr'],
    ['OBJECT ENCODING o3', 'raw'],
    ['OBJECT ENCODING o-none', null],
    ['OBJECT FREQ o1', (r) => typeof r === 'object' && r !== null && 'error' in r && r.error.startsWith('ERR An LFU maxmemory policy is not selected')],
    ['OBJECT FOO o1', err("ERR unknown subcommand 'FOO'. Try OBJECT HELP.")],
    ['OBJECT ENCODING', err("ERR wrong number of arguments for 'object|encoding' command")],
    ['MEMORY USAGE o-none', null],
    ['MEMORY USAGE o1', (r) => typeof r === 'number' && r > 7],
    ['MEMORY USAGE o1 SAMPLES 5', (r) => typeof r === 'number' && r > 7],
    ['WAIT 1 -1', err('ERR timeout is negative')],
    ['WAIT x 0', NOT_INT],
    ['WAIT 1 0', 2], // the harness's W (N=2 shards)
    ['SELECT 0', 'OK'],
    ['SELECT 1', err('ERR DB index is out of range (ringkv has one database: 0)')],
  ]);
  const fresh = await RawClient.open(h.port);
  assert.is(await fresh.call('WAIT', '1', '0'), 0, 'no write yet on this connection');
  assert.is(await fresh.call('CONSISTENCY', 'W', '1'), 'OK');
  assert.is(await fresh.call('SET', 'w1', 'v'), 'OK');
  assert.is(await fresh.call('WAIT', '2', '100'), 1);
  fresh.close();
});

test('a key with concurrent values answers CONFLICT to the read-modify-write commands, never a guess', async () => {
  await c.call('VSET', 'twin', 'a');
  await c.call('VSET', 'twin', 'b');
  const conflict = (r: Decoded): boolean => typeof r === 'object' && r !== null && 'error' in r && /^CONFLICT key 'twin' has 2 concurrent values/.test(r.error);
  await script([
    ['APPEND twin x', conflict],
    ['STRLEN twin', conflict],
    ['GETRANGE twin 0 1', conflict],
    ['SETRANGE twin 0 x', conflict],
    ['INCRBYFLOAT twin 1', conflict],
    ['GETDEL twin', conflict],
    ['GETSET twin x', conflict],
    ['GETEX twin PERSIST', conflict],
    ['PERSIST twin', conflict],
    ['EXPIRE twin 100', conflict],
    ['RENAME twin other', conflict],
    ['COPY twin other', conflict],
    ['OBJECT ENCODING twin', conflict],
    ['SETNX twin x', 0],
    ['EXPIRETIME twin', -1],
  ]);
  assert.is((await h.store.get('twin'))!.values.length, 2, 'nothing was written');
});

test('ioredis sees the reply types it expects', async () => {
  const redis = new Redis({ port: h.port, host: '127.0.0.1', maxRetriesPerRequest: 0 });
  try {
    assert.is(await redis.setnx('io-s', 'a'), 1);
    assert.is(await redis.incrbyfloat('io-f', '1.5'), '1.5');
    assert.is(await redis.append('io-s', 'bc'), 3);
    assert.is(await redis.getrange('io-s', 1, -1), 'bc');
    assert.is(await redis.getdel('io-s'), 'abc');
    const t = await redis.time();
    assert.is(t.length, 2);
    assert.is(await redis.rename('io-f', 'io-g'), 'OK');
    assert.is(await redis.expiretime('io-g'), -1);
  } finally {
    redis.disconnect();
  }
});

test.run();
