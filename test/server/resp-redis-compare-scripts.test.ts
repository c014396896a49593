// Lua scripts run against ringkv and a real redis-server, compared reply by reply (skipped
// when redis-server is not installed). The list keeps to what ringkv does as Redis does;
// README's scripting section lists where it differs (Lua 5.4's integers and compile-error
// wording, float concatenation, cmsgpack/struct, cjson's key order), which the list leaves out.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type Decoded, type Harness, RawClient, encodeCommand, startHarness } from './resp-harness.js';

const ev = (script: string, ...rest: string[]): string[] => ['EVAL', script, ...(rest.length === 0 ? ['0'] : rest)];

const SCRIPT: string[][] = [
  ev('return 3.7'),
  ev('return -3.7'),
  ev('return 0.5'),
  ev('return 9007199254740993'),
  ev('return 2^63'),
  ev('return -2^63'),
  ev('return 1/0'),
  ev('return -1/0'),
  ev('return 0/0'),
  ev("return 'str'"),
  ev("return ''"),
  ev('return {1, 2, 3, nil, 5}'),
  ev("return {1, {2, 'a', {3}}, {ok='S'}, {err='E r'}, true, false, 1.9, -1.9}"),
  ev('local t = {} t[1] = 1 t[3] = 3 return t'),
  ev("return {ok='FINE'}"),
  ev("return {err='My Error'}"),
  ev("return {err='-X y'}"),
  ev("return {err='ONEWORD'}"),
  ev("return {err='E', ok='O'}"),
  ev('return true'),
  ev('return false'),
  ev('return nil'),
  ev('return {}'),
  ev("return redis.status_reply('GOOD')"),
  ev("return redis.error_reply('bad thing')"),
  ev("return redis.error_reply('FOO')"),
  ev("return redis.error_reply('-FOO bar')"),
  ev('return redis.error_reply(5)'),
  ev('return redis.status_reply()'),
  ev("return redis.sha1hex('')"),
  ev("return redis.sha1hex('abc')"),
  ev('return redis.sha1hex(123)'),
  ev('return {KEYS[1], KEYS[2], ARGV[1], ARGV[2], #KEYS, #ARGV}', '2', 'k1', 'k2', 'a1', 'a2'),
  ev('return #KEYS + #ARGV', '2', 'a', 'b', 'c'),
  ev('return {KEYS[1], ARGV[1]}', '1', '', ''),
  ['EVAL', 'return 1', '2', 'a'],
  ['EVAL', 'return 1', '-1'],
  ['EVAL', 'return 1', 'x'],
  ['EVAL', 'return 1', '1.5', 'a'],
  ['EVAL', 'return 1'],
  ['EVALSHA', 'ffffffffffffffffffffffffffffffffffffffff', '0'],
  ['EVALSHA', 'abc', '0'],
  ['SCRIPT', 'LOAD', 'return ARGV[1]'],
  ['EVALSHA', '098e0f0d1448c0a81dafe820f66d460eb09263da', '0', 'loaded'],
  ['EVALSHA', '098E0F0D1448C0A81DAFE820F66D460EB09263DA', '0', 'upper'],
  ['EVALSHA_RO', '098e0f0d1448c0a81dafe820f66d460eb09263da', '0', 'ro'],
  ['SCRIPT', 'EXISTS', '098e0f0d1448c0a81dafe820f66d460eb09263da', 'ffffffffffffffffffffffffffffffffffffffff'],
  ['SCRIPT', 'EXISTS'],
  ['SCRIPT', 'FLUSH'],
  ['SCRIPT', 'EXISTS', '098e0f0d1448c0a81dafe820f66d460eb09263da'],
  ['EVALSHA', '098e0f0d1448c0a81dafe820f66d460eb09263da', '0'],
  ['SCRIPT', 'FLUSH', 'ASYNC'],
  ['SCRIPT', 'FLUSH', 'SYNC'],
  ['SCRIPT', 'FLUSH', 'LATER'],
  ['SCRIPT', 'KILL'],
  ['SCRIPT', 'FOO'],
  ['SCRIPT'],
  ev("return redis.call('ping')"),
  ev("return redis.call('set', KEYS[1], 'v')", '1', 'c:a'),
  ev("return redis.call('get', KEYS[1])", '1', 'c:a'),
  ev("return type(redis.call('get', 'c:none'))"),
  ev("return redis.call('get', 'c:none')"),
  ev("return redis.call('set', 'c:a', 'v').ok"),
  ev("return redis.call('nosuch')"),
  ev("return redis.pcall('nosuch')"),
  ['SET', 'c:s', 'x'],
  ev("return redis.call('incr', KEYS[1])", '1', 'c:s'),
  ev("return redis.pcall('incr', KEYS[1])", '1', 'c:s'),
  ev("local ok, e = pcall(redis.call, 'incr', KEYS[1]) return {tostring(ok), e.err}", '1', 'c:s'),
  ev("return redis.call('get')"),
  ev("return redis.pcall('get')"),
  ev("return redis.call('get', {})"),
  ev("return redis.call('get', KEYS[1])"),
  ev('return redis.call()'),
  ev("return redis.call('multi')"),
  ev("return redis.call('eval', 'return 1', '0')"),
  ev("redis.call('set', KEYS[1], 0.1) return redis.call('get', KEYS[1])", '1', 'c:f'),
  ev("redis.call('set', KEYS[1], 3.0) return redis.call('get', KEYS[1])", '1', 'c:f'),
  ev("redis.call('set', KEYS[1], 1e20) return redis.call('get', KEYS[1])", '1', 'c:f'),
  ev("redis.call('set', KEYS[1], -2.5e-7) return redis.call('get', KEYS[1])", '1', 'c:f'),
  ev("redis.call('set', KEYS[1], 123456789012) return redis.call('get', KEYS[1])", '1', 'c:f'),
  ev("return redis.call('incrby', KEYS[1], 3000000000)", '1', 'c:big'),
  ev("return redis.call('incrby', KEYS[1], 3000000000) * 2", '1', 'c:big'),
  ev("return redis.call('incrbyfloat', KEYS[1], '1.5')", '1', 'c:fl'),
  ev('return ARGV[1] + 1', '0', '4294967296'),
  ev('return tonumber(ARGV[1])', '0', '12.9'),
  ev('return tonumber(ARGV[1])', '0', 'abc'),
  ev('return tostring(10 / 2)'),
  ev('return tostring(1e15)'),
  ev('return tostring(0.1)'),
  ev('return string.format("%d", 42)'),
  ev("return string.rep('ab', 3)"),
  ev("return ('x'):upper()"),
  ev('return unpack({4, 5})'),
  ev('return math.pow(2, 10)'),
  ev('return table.getn({1, 2, 3})'),
  ev('return bit.band(7, 3)'),
  ev('return bit.bor(1, 2, 4)'),
  ev('return bit.bxor(5, 1)'),
  ev('return bit.bnot(0)'),
  ev('return bit.lshift(1, 31)'),
  ev('return bit.rshift(-1, 28)'),
  ev('return bit.arshift(-256, 4)'),
  ev('return bit.tohex(255)'),
  ev('return bit.tohex(-1, -4)'),
  ev('return bit.tobit(2^32 + 5)'),
  ev('return cjson.encode({1, 2, 3})'),
  ev("return cjson.encode({a = 1})"),
  ev("return cjson.encode({a = {b = {true, false, cjson.null}}})"),
  ev('return cjson.encode({})'),
  ev("return cjson.encode('a\"b\\\\c/d\\n\\1\\127é')"),
  ev('return cjson.encode(0.1)'),
  ev('return cjson.encode(123456789012345)'),
  ev('return cjson.encode(-2.5e-7)'),
  ev('return cjson.encode(1e300)'),
  ev('return cjson.encode({[1] = 1, [3] = 3})'),
  ev('return cjson.encode({[1] = 1, [20] = 3})'),
  ev('return cjson.encode({[1.5] = 1})'),
  ev('return cjson.encode({[true] = 1})'),
  ev('return cjson.encode(nil)'),
  ev('return cjson.encode(0/0)'),
  ev('return cjson.encode(function() end)'),
  ev("return cjson.decode('[1, 2.5, \"x\", true, false]')"),
  ev("return cjson.decode('{\"a\": {\"b\": [10, 20]}}').a.b[2]"),
  ev("return cjson.decode('null') == cjson.null"),
  ev("return cjson.decode('[1, null, 3]')[3]"),
  ev("return tostring(cjson.decode('5'))"),
  ev("return cjson.decode(ARGV[1]).name", '0', '{"name":"ringkv","n":3}'),
  ev("local t = cjson.decode(ARGV[1]) t.n = t.n + 1 return cjson.encode({t.n})", '0', '{"name":"ringkv","n":3}'),
  ev('x = 1'),
  ev('return undefined_global'),
  ev('return os'),
  ev('return io'),
  ev('return loadstring'),
  ev("error('boom')"),
  ev("\n\nerror('on line three')"),
  ev("error({err='TBL boom'})"),
  ev("redis.call('nosuch')"),
  ev("local x = 1\nreturn redis.call('nosuch')"),
  ['EVAL_RO', "return redis.call('set', KEYS[1], '1')", '1', 'c:ro'],
  ['EVAL_RO', "return redis.call('get', KEYS[1])", '1', 'c:s'],
  ['MULTI'],
  ['SET', 'c:tx', '1'],
  ev("return redis.call('incrby', KEYS[1], ARGV[1])", '1', 'c:tx', '10'),
  ev("return redis.call('get', KEYS[1])", '1', 'c:tx'),
  ['EXEC'],
  ['MULTI'],
  ['EVAL', 'return 1'],
  ['EXEC'],
  ['SET', 'lock', 'tok', 'NX', 'PX', '30000'],
  ev('if redis.call("get",KEYS[1]) == ARGV[1] then return redis.call("del",KEYS[1]) else return 0 end', '1', 'lock', 'other'),
  ev('if redis.call("get",KEYS[1]) == ARGV[1] then return redis.call("del",KEYS[1]) else return 0 end', '1', 'lock', 'tok'),
  ['GET', 'lock'],
  ev("local n = redis.call('incr', KEYS[1]) if n == 1 then redis.call('expire', KEYS[1], ARGV[1]) end return {n, redis.call('ttl', KEYS[1])}", '1', 'c:rate', '60'),
  ev("local n = redis.call('incr', KEYS[1]) if n == 1 then redis.call('expire', KEYS[1], ARGV[1]) end return {n, redis.call('ttl', KEYS[1])}", '1', 'c:rate', '60'),
];

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

async function runScript(port: number): Promise<Decoded[]> {
  const c = await RawClient.open(port);
  const replies: Decoded[] = [];
  try {
    for (const args of SCRIPT) {
      c.send(encodeCommand(args));
      replies.push(await c.reply());
    }
  } finally {
    c.close();
  }
  return replies;
}

const available = spawnSync('redis-server', ['--version']).error === undefined;
let h: Harness;
let redis: ChildProcess | undefined;
let redisPort = 0;

test.before(async () => {
  if (!available) return;
  h = await startHarness();
  redisPort = await freePort();
  redis = spawn('redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  const deadline = Date.now() + 20_000;
  for (;;) {
    try {
      const c = await RawClient.open(redisPort);
      const pong = await c.call('PING');
      c.close();
      if (pong === 'PONG') break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error('redis-server did not start');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
});

test.after(async () => {
  if (!available) return;
  if (redis !== undefined) {
    const exited = new Promise((resolve) => redis!.once('exit', resolve));
    redis.kill('SIGTERM');
    await exited;
  }
  await h.close();
});

test("every reply of the scripts matches redis-server's (type, value, error string)", async () => {
  if (!available) return;
  const theirs = await runScript(redisPort);
  const ours = await runScript(h.port);
  const diffs: string[] = [];
  for (let i = 0; i < SCRIPT.length; i++) {
    if (JSON.stringify(theirs[i]) !== JSON.stringify(ours[i])) diffs.push(`${JSON.stringify(SCRIPT[i])}: redis ${JSON.stringify(theirs[i])}, ringkv ${JSON.stringify(ours[i])}`);
  }
  assert.equal(diffs, []);
});

test.run();
