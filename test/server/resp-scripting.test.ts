// Lua scripting (EVAL, EVALSHA, EVAL_RO, SCRIPT) through a real server: a raw client for
// exact replies, ioredis's defineCommand (EVALSHA, then EVAL on NOSCRIPT) and node-redis as
// users call them, redis-cli when it is installed. The lock and rate-limiter scripts are the
// ones client libraries ship.
import { execFile, spawnSync } from 'node:child_process';
import { Redis } from 'ioredis';
import { createClient } from 'redis';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type Decoded, type Harness, RawClient, startHarness } from './resp-harness.js';

/** Short, so the runaway scripts below end fast; what the limit is for is in scripting.ts. */
const TIME_LIMIT_MS = 300;

const RELEASE_LOCK = 'if redis.call("get",KEYS[1]) == ARGV[1] then return redis.call("del",KEYS[1]) else return 0 end';
/** A fixed-window rate limiter: count the request, start the window on the first one. */
const RATE_LIMIT = `
local n = redis.call('incr', KEYS[1])
if n == 1 then redis.call('pexpire', KEYS[1], ARGV[2]) end
if n > tonumber(ARGV[1]) then return 0 end
return 1`;
/** A read-modify-write that loses increments unless the script is atomic on its key. */
const SLOW_INCR = "local v = tonumber(redis.call('get', KEYS[1]) or '0') redis.call('set', KEYS[1], v + 1) return v + 1";

let h: Harness;
let c: RawClient;

test.before(async () => {
  h = await startHarness({ server: { scriptTimeLimitMs: TIME_LIMIT_MS } });
  c = await RawClient.open(h.port);
});

test.after(async () => {
  c.close();
  await h.close();
});

function evalReply(script: string, ...rest: string[]): Promise<Decoded> {
  return c.call('EVAL', script, ...(rest.length === 0 ? ['0'] : rest));
}

function errorOf(d: Decoded): string {
  if (d === null || typeof d !== 'object' || !('error' in d)) throw new Error(`expected an error, got ${JSON.stringify(d)}`);
  return d.error;
}

test("replies convert as Redis converts them: number -> integer (truncated), table -> array up to the first nil, {ok}/{err}, booleans", async () => {
  assert.is(await evalReply('return 3.7'), 3);
  assert.is(await evalReply('return -3.7'), -3);
  assert.is(await evalReply("return 'hello'"), 'hello');
  assert.equal(await evalReply('return {1, 2, 3, nil, 5}'), [1, 2, 3]);
  assert.equal(await evalReply("return {1, {2, 'a'}, {ok='S'}, {err='E r'}, true, false}"), [1, [2, 'a'], 'S', { error: 'E r' }, 1, null]);
  assert.is(await evalReply("return {ok='FINE'}"), 'FINE');
  assert.equal(await evalReply("return {err='My Error'}"), { error: 'My Error' });
  assert.is(await evalReply('return true'), 1);
  assert.is(await evalReply('return false'), null);
  assert.is(await evalReply('return nil'), null);
  assert.is(await evalReply("return redis.status_reply('GOOD')"), 'GOOD');
  assert.equal(await evalReply("return redis.error_reply('bad thing')"), { error: 'bad thing' });
  assert.equal(await evalReply("return redis.error_reply('FOO')"), { error: 'ERR FOO' });
  assert.is(await evalReply("return redis.sha1hex('')"), 'da39a3ee5e6b4b0d3255bfef95601890afd80709');
  assert.equal(await evalReply('return {KEYS[1], KEYS[2], ARGV[1], #ARGV}', '2', 'k1', 'k2', 'a1', 'a2'), ['k1', 'k2', 'a1', 2]);
  // A command's replies inside the script: nil -> false, status -> {ok=...}.
  assert.is(await evalReply("return type(redis.call('get', 'never-set'))"), 'boolean');
  assert.is(await evalReply("return redis.call('set', 'conv', 'v').ok"), 'OK');
  assert.is(await evalReply("return redis.call('ping')"), 'PONG');
  assert.equal(errorOf(await evalReply('local t = {} t[1] = t return t')), 'ERR reached lua stack limit');
});

test('numbers are doubles at the boundary: large integers, floats passed to commands, INCRBY past 2^31', async () => {
  assert.is(await evalReply('return 9007199254740993'), 9007199254740992);
  assert.is(await evalReply("return redis.call('incrby', KEYS[1], 3000000000)", '1', 'num:big'), 3000000000);
  assert.is(await evalReply("return redis.call('incrby', KEYS[1], 3000000000) * 2", '1', 'num:big'), 12000000000);
  assert.is(await evalReply("return redis.call('incrby', KEYS[1], ARGV[1])", '1', 'num:big', '-6000000001'), -1);
  assert.is(await evalReply('return ARGV[1] + 1', '0', '4294967296'), 4294967297);
  // Past int64 (and NaN, infinities) an integer reply is INT64_MIN, as Redis's cast gives.
  assert.is(await evalReply('return 2^63'), -(2 ** 63));
  assert.is(await evalReply('return 1/0'), -(2 ** 63));
  assert.is(await evalReply("redis.call('set', KEYS[1], 0.1) return redis.call('get', KEYS[1])", '1', 'num:f'), '0.10000000000000001');
  assert.is(await evalReply("redis.call('set', KEYS[1], 3.0) return redis.call('get', KEYS[1])", '1', 'num:f'), '3');
  assert.is(await evalReply("redis.call('set', KEYS[1], 1e20) return redis.call('get', KEYS[1])", '1', 'num:f'), '1e+20');
  assert.is(await evalReply('return tostring(10 / 2)'), '5');
  assert.is(await evalReply('return bit.band(7, 3) + bit.bor(1, 2) + bit.bxor(5, 1)'), 3 + 3 + 4);
  assert.is(await evalReply('return bit.tohex(-1)'), 'ffffffff');
  assert.is(await evalReply('return unpack({4, 5})'), 4);
  assert.is(await evalReply('return math.pow(2, 10)'), 1024);
});

test('cjson encodes and decodes as lua-cjson does', async () => {
  assert.is(await evalReply("return cjson.encode({1, 'two', {a = true}, cjson.null})"), '[1,"two",{"a":true},null]');
  assert.is(await evalReply('return cjson.encode({})'), '{}');
  assert.is(await evalReply("return cjson.encode('a/b\\n')"), '"a\\/b\\n"');
  assert.is(await evalReply('local t = cjson.decode(ARGV[1]) return t.user .. ":" .. t.n', '0', '{"user":"ann","n":3}'), 'ann:3');
  assert.is(await evalReply("return cjson.decode('[1, null]')[2] == cjson.null"), 1);
  assert.match(errorOf(await evalReply("return cjson.decode('{bad')")), /^ERR user_script:1: Expected value but found invalid token/);
  assert.match(errorOf(await evalReply('return cjson.encode({[1] = 1, [20] = 3})')), /excessively sparse array/);
});

test('strings are bytes both ways (keys, ARGV, values, replies)', async () => {
  const bytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
  c.send(Buffer.concat([Buffer.from('*5\r\n$4\r\nEVAL\r\n'), bulk("redis.call('set', KEYS[1], ARGV[1]) return redis.call('get', KEYS[1])"), bulk('1'), bulk(bytes), bulk(bytes)]));
  assert.ok(bytes.equals((await c.reply(5000, true)) as Buffer));
  assert.is(await evalReply('return #ARGV[1]', '0', 'héllo'), 6);
});

function bulk(b: string | Buffer): Buffer {
  const buf = typeof b === 'string' ? Buffer.from(b) : b;
  return Buffer.concat([Buffer.from(`$${buf.length}\r\n`), buf, Buffer.from('\r\n')]);
}

test("errors take Redis's shapes: compile, runtime, redis.call's, redis.pcall's, the sandbox's", async () => {
  assert.match(errorOf(await evalReply('return 1 +')), /^ERR Error compiling script \(new function\): user_script:1: unexpected symbol near/);
  assert.match(errorOf(await evalReply("return redis.call('nosuch')")), /^ERR Unknown Redis command called from script script: [0-9a-f]{40}, on @user_script:1\.$/);
  assert.equal(await evalReply("return redis.pcall('nosuch')"), { error: 'ERR Unknown Redis command called from script' });
  await c.call('SET', 'err:s', 'x');
  assert.match(errorOf(await evalReply("return redis.call('incr', KEYS[1])", '1', 'err:s')), /^ERR value is not an integer or out of range script: [0-9a-f]{40}, on @user_script:1\.$/);
  assert.equal(await evalReply("return redis.pcall('incr', KEYS[1])", '1', 'err:s'), { error: 'ERR value is not an integer or out of range' });
  // As Redis 7.0: pcall around redis.call gets false and the error's text.
  assert.equal(await evalReply("local ok, e = pcall(redis.call, 'incr', KEYS[1]) return {tostring(ok), e}", '1', 'err:s'), ['false', 'ERR value is not an integer or out of range']);
  assert.match(errorOf(await evalReply("\n\nerror('boom')")), /^ERR user_script:3: boom script: [0-9a-f]{40}, on @user_script:3\.$/);
  assert.match(errorOf(await evalReply("error({err='MYCODE custom'})")), /^MYCODE custom script: /);
  assert.match(errorOf(await evalReply("return redis.call('get')")), /^ERR Wrong number of args calling Redis command from script/);
  assert.match(errorOf(await evalReply("return redis.call('get', {})")), /^ERR Lua redis lib command arguments must be strings or integers/);
  assert.match(errorOf(await evalReply("return redis.call('get', KEYS[1])")), /^ERR Lua redis lib command arguments must be strings or integers/);
  assert.match(errorOf(await evalReply('return redis.call()')), /^ERR Please specify at least one argument for this redis lib call/);
  assert.match(errorOf(await evalReply("return redis.call('multi')")), /^ERR This Redis command is not allowed from script/);
  assert.match(errorOf(await evalReply("return redis.call('eval', 'return 1', '0')")), /^ERR This Redis command is not allowed from script/);
  assert.match(errorOf(await evalReply('x = 1')), /Attempt to modify a readonly table/);
  assert.match(errorOf(await evalReply('return undefined_global')), /Script attempted to access nonexistent global variable 'undefined_global'/);
  assert.match(errorOf(await evalReply("string.rep = nil return 1")), /Attempt to modify a readonly table/);
  assert.match(errorOf(await evalReply("rawset(redis, 'call', tostring) return 1")), /Attempt to modify a readonly table/);
  assert.match(errorOf(await evalReply('return os.time()')), /nonexistent global variable 'os'/);
  assert.match(errorOf(await evalReply("return io.open('/etc/passwd')")), /nonexistent global variable 'io'/);
  // Where the script cannot wait for a reply, redis.call is an error and the command does not run.
  assert.match(errorOf(await evalReply("table.sort({3, 1, 2}, function(a, b) redis.call('set', 'sorted', 'x') return a < b end)")), /redis\.call cannot wait for its reply here/);
  assert.is(await c.call('EXISTS', 'sorted'), 0);
  assert.match(errorOf(await evalReply("return coroutine.wrap(function() return redis.call('ping') end)()")), /cannot be called from a coroutine of the script/);
  assert.match(errorOf(await evalReply('coroutine.yield(1) return 2')), /attempt to yield from outside a coroutine/);
  assert.is(await evalReply('local co = coroutine.wrap(function() coroutine.yield(5) end) return co()'), 5);
  // What one script tried to change, the next one does not see.
  assert.is(await evalReply("return string.rep('a', 3)"), 'aaa');
  // numkeys.
  assert.equal(await c.call('EVAL', 'return 1', '2', 'a'), { error: "ERR Number of keys can't be greater than number of args" });
  assert.equal(await c.call('EVAL', 'return 1', '-1'), { error: "ERR Number of keys can't be negative" });
  assert.equal(await c.call('EVAL', 'return 1', 'x'), { error: 'ERR value is not an integer or out of range' });
  assert.equal(await c.call('EVAL', 'return 1'), { error: "ERR wrong number of arguments for 'eval' command" });
  // Read-only scripts.
  assert.match(errorOf(await c.call('EVAL_RO', "return redis.call('set', KEYS[1], 'v')", '1', 'ro')), /^ERR Write commands are not allowed from read-only scripts\. script: /);
  assert.is(await c.call('EVAL_RO', "return redis.call('get', KEYS[1])", '1', 'err:s'), 'x');
  // The connection is fine after all of it.
  assert.is(await c.call('PING'), 'PONG');
});

test('SCRIPT LOAD, EVALSHA, NOSCRIPT, SCRIPT EXISTS and FLUSH', async () => {
  const sha = (await c.call('SCRIPT', 'LOAD', 'return ARGV[1]')) as string;
  assert.match(sha, /^[0-9a-f]{40}$/);
  assert.is(await c.call('EVALSHA', sha, '0', 'hello'), 'hello');
  assert.is(await c.call('EVALSHA', sha.toUpperCase(), '0', 'upper'), 'upper');
  assert.is(await c.call('EVALSHA_RO', sha, '0', 'ro'), 'ro');
  assert.equal(await c.call('EVALSHA', 'f'.repeat(40), '0'), { error: 'NOSCRIPT No matching script. Please use EVAL.' });
  assert.equal(await c.call('SCRIPT', 'EXISTS', sha, 'f'.repeat(40)), [1, 0]);
  // EVAL caches its script too: EVALSHA of its SHA-1 works afterwards.
  assert.is(await evalReply("return 'cached'"), 'cached');
  const evalSha = (await evalReply("return redis.sha1hex(\"return 'cached'\")")) as string;
  assert.is(await c.call('EVALSHA', evalSha, '0'), 'cached');
  assert.match(errorOf(await c.call('SCRIPT', 'LOAD', 'return 1 +')), /^ERR Error compiling script/);
  assert.is(await c.call('SCRIPT', 'FLUSH'), 'OK');
  assert.equal(await c.call('SCRIPT', 'EXISTS', sha), [0]);
  assert.equal(errorOf(await c.call('EVALSHA', sha, '0')), 'NOSCRIPT No matching script. Please use EVAL.');
  assert.is(await c.call('SCRIPT', 'FLUSH', 'ASYNC'), 'OK');
  assert.equal(errorOf(await c.call('SCRIPT', 'FLUSH', 'LATER')), 'ERR SCRIPT FLUSH only support SYNC|ASYNC option');
  assert.equal(errorOf(await c.call('SCRIPT', 'KILL')), 'NOTBUSY No scripts in execution right now.');
  assert.equal(errorOf(await c.call('SCRIPT', 'FOO')), "ERR unknown subcommand 'FOO'. Try SCRIPT HELP.");
  assert.ok(Array.isArray(await c.call('SCRIPT', 'HELP')));
  const memory = (await c.call('INFO', 'memory')) as string;
  assert.ok(Number(/used_memory_lua:(\d+)/.exec(memory)?.[1]) > 0, memory);
  assert.match(memory, /number_of_cached_scripts:\d+/);
  const info = (await c.call('COMMAND', 'INFO', 'eval', 'evalsha', 'eval_ro', 'evalsha_ro', 'script')) as Decoded[][];
  assert.equal(info.map((i) => [i[0], i[1]]), [['eval', -3], ['evalsha', -3], ['eval_ro', -3], ['evalsha_ro', -3], ['script', -2]]);
});

test("EVAL's cache keeps the last 500 scripts; SCRIPT LOAD's stay until SCRIPT FLUSH", async () => {
  await c.call('SCRIPT', 'FLUSH');
  const loaded = (await c.call('SCRIPT', 'LOAD', "return 'loaded'")) as string;
  const shaOf = async (body: string): Promise<string> => (await c.call('EVAL', 'return redis.sha1hex(ARGV[1])', '0', body)) as string;
  const first = "return 'first'";
  assert.is(await evalReply(first), 'first');
  const firstSha = await shaOf(first);
  // sha1hex's script itself is one more EVAL script: 500 more push out the first.
  for (let i = 0; i < 500; i++) c.send(encode(['EVAL', `return ${i}`, '0']));
  const rs = await c.replies(500, 60_000);
  assert.is(rs[499], 499);
  assert.equal(errorOf(await c.call('EVALSHA', firstSha, '0')), 'NOSCRIPT No matching script. Please use EVAL.');
  assert.is(await c.call('EVALSHA', await shaOf('return 499'), '0'), 499);
  assert.is(await c.call('EVALSHA', loaded, '0'), 'loaded');
});

test('a lock: SET NX PX takes it, the release script (ioredis defineCommand: EVALSHA, EVAL on NOSCRIPT) frees it only for its owner', async () => {
  const redis = new Redis({ port: h.port, lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  try {
    redis.defineCommand('releaseLock', { numberOfKeys: 1, lua: RELEASE_LOCK });
    const release = (key: string, token: string): Promise<number> => (redis as unknown as { releaseLock(k: string, t: string): Promise<number> }).releaseLock(key, token);
    assert.is(await redis.set('lock:res', 'token-1', 'PX', 30000, 'NX'), 'OK');
    assert.is(await redis.set('lock:res', 'token-2', 'PX', 30000, 'NX'), null);
    assert.is(await release('lock:res', 'token-2'), 0);
    assert.is(await redis.get('lock:res'), 'token-1');
    assert.is(await release('lock:res', 'token-1'), 1);
    assert.is(await redis.get('lock:res'), null);
    assert.is(await redis.set('lock:res', 'token-2', 'PX', 30000, 'NX'), 'OK');
    // After SCRIPT FLUSH ioredis's EVALSHA answers NOSCRIPT and it falls back to EVAL.
    assert.is(await redis.script('FLUSH'), 'OK');
    assert.is(await release('lock:res', 'token-2'), 1);
    assert.is(await redis.exists('lock:res'), 0);
    // Plain eval / evalsha as ioredis users call them.
    assert.is(await redis.eval(RELEASE_LOCK, 1, 'lock:none', 'x'), 0);
    const sha = (await redis.script('LOAD', 'return {KEYS[1], ARGV[1]}')) as string;
    assert.equal(await redis.evalsha(sha, 1, 'k', 'a'), ['k', 'a']);
  } finally {
    redis.disconnect();
  }
});

test('a rate limiter (INCR + PEXPIRE in one script) through ioredis: allows the limit, refuses the rest, sets the window', async () => {
  const redis = new Redis({ port: h.port, lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  try {
    redis.defineCommand('hit', { numberOfKeys: 1, lua: RATE_LIMIT });
    const hit = (): Promise<number> => (redis as unknown as { hit(k: string, limit: number, ms: number): Promise<number> }).hit('rate:user1', 5, 60000);
    const results = await Promise.all(Array.from({ length: 8 }, hit));
    assert.equal(results.sort(), [0, 0, 0, 1, 1, 1, 1, 1]);
    assert.is(await redis.get('rate:user1'), '8');
    const ttl = await redis.pttl('rate:user1');
    assert.ok(ttl > 0 && ttl <= 60000, `pttl ${ttl}`);
  } finally {
    redis.disconnect();
  }
});

test('node-redis: EVAL and EVALSHA with keys and arguments', async () => {
  const client = createClient({ socket: { host: '127.0.0.1', port: h.port } });
  client.on('error', () => {});
  await client.connect();
  try {
    assert.is(await client.set('nr:lock', 'tok', { NX: true, PX: 30000 }), 'OK');
    assert.is(await client.eval(RELEASE_LOCK, { keys: ['nr:lock'], arguments: ['tok'] }), 1);
    const sha = await client.scriptLoad('return ARGV[1] .. KEYS[1]');
    assert.is(await client.evalSha(sha, { keys: ['k'], arguments: ['a'] }), 'ak');
  } finally {
    await client.quit();
  }
});

test('inside MULTI, EVAL queues and runs at EXEC in order', async () => {
  assert.is(await c.call('MULTI'), 'OK');
  assert.is(await c.call('SET', 'tx:n', '1'), 'QUEUED');
  assert.is(await c.call('EVAL', "return redis.call('incrby', KEYS[1], ARGV[1])", '1', 'tx:n', '10'), 'QUEUED');
  assert.is(await c.call('EVAL', "return redis.call('get', KEYS[1])", '1', 'tx:n'), 'QUEUED');
  assert.equal(await c.call('EXEC'), ['OK', 11, '11']);
  // A script error is its own element; the rest still ran.
  assert.is(await c.call('MULTI'), 'OK');
  assert.is(await c.call('EVAL', "return redis.call('nosuch')", '0'), 'QUEUED');
  assert.is(await c.call('INCR', 'tx:n'), 'QUEUED');
  const replies = (await c.call('EXEC')) as Decoded[];
  assert.match(errorOf(replies[0]!), /^ERR Unknown Redis command called from script/);
  assert.is(replies[1], 12);
});

test('concurrent EVAL read-modify-writes of one key from many connections lose nothing (the script holds its key)', async () => {
  const clients = await Promise.all(Array.from({ length: 10 }, () => RawClient.open(h.port)));
  try {
    const PER_CLIENT = 30;
    await Promise.all(
      clients.map(async (cl) => {
        // Pipelined: every connection has all its scripts in flight at once.
        for (let i = 0; i < PER_CLIENT; i++) cl.send(encode(['EVAL', SLOW_INCR, '1', 'conc:n']));
        const rs = await cl.replies(PER_CLIENT, 30_000);
        for (const r of rs) assert.type(r, 'number');
      }),
    );
    assert.is(await c.call('GET', 'conc:n'), String(10 * PER_CLIENT));
  } finally {
    for (const cl of clients) cl.close();
  }
});

function encode(args: string[]): Buffer {
  return Buffer.concat([Buffer.from(`*${args.length}\r\n`), ...args.map((a) => bulk(a))]);
}

test('runaway scripts are stopped at the time limit and harm nothing else: busy loops, pcall around them, endless redis.calls, memory bombs', async () => {
  const limit = /^ERR Script ran longer than the script time limit \(300 ms\) and was stopped/;
  assert.match(errorOf(await evalReply('while true do end')), limit);
  assert.is(await c.call('PING'), 'PONG');
  assert.match(errorOf(await evalReply('while true do pcall(function() while true do end end) end')), limit);
  assert.match(errorOf(await evalReply("while true do redis.call('incr', KEYS[1]) end", '1', 'run:n')), limit);
  // Its writes before the stop stay (Redis does not roll a script back either), and the key is free again.
  assert.ok(Number(await c.call('GET', 'run:n')) > 0);
  assert.is(await c.call('SET', 'run:n', '0'), 'OK');
  assert.match(errorOf(await evalReply("local t = {} for i = 1, 1e9 do t[i] = string.rep('x', 4096) .. i end return #t")), /not enough memory|time limit/);
  // table.sort's comparator is a call from C (no yield there): the stop is an error, raised again until it can yield.
  assert.match(errorOf(await evalReply('local t = {} for i = 1, 100 do t[i] = i end table.sort(t, function(a, b) while true do end end)')), /time limit/);
  assert.is(await evalReply('return 1 + 1'), 2);
  assert.is(await c.call('GET', 'run:n'), '0');
});

test('SCRIPT KILL stops a script waiting for the store that has not written; one that wrote is UNKILLABLE', async () => {
  const patient = await startHarness({ server: { scriptTimeLimitMs: 60_000 } });
  const a = await RawClient.open(patient.port);
  const b = await RawClient.open(patient.port);
  try {
    a.send(encode(['EVAL', "while true do redis.call('get', KEYS[1]) end", '1', 'kill:r']));
    // The script is running once SCRIPT KILL finds it (NOTBUSY until then).
    let answer: Decoded;
    do answer = await b.call('SCRIPT', 'KILL');
    while (typeof answer === 'object' && answer !== null && 'error' in answer && answer.error.startsWith('NOTBUSY'));
    assert.is(answer, 'OK');
    assert.equal(await a.reply(), { error: 'ERR Script killed by user with SCRIPT KILL...' });
    // This one waits for a key it does not declare (so not held: another client may set it).
    a.send(encode(['EVAL', "redis.call('set', KEYS[1], 'v') while not redis.call('get', 'kill:stop') do end return 'stopped'", '1', 'kill:w']));
    do answer = await b.call('SCRIPT', 'KILL');
    while (typeof answer === 'object' && answer !== null && 'error' in answer && answer.error.startsWith('NOTBUSY'));
    assert.match(errorOf(answer), /^UNKILLABLE Sorry the script already executed write commands/);
    assert.is(await b.call('SET', 'kill:stop', '1'), 'OK');
    assert.is(await a.reply(), 'stopped');
  } finally {
    a.close();
    b.close();
    await patient.close();
  }
});

test('redis-cli EVAL from the shell', async () => {
  if (spawnSync('redis-cli', ['--version']).error !== undefined) return console.log('  (skipped: redis-cli is not on PATH)');
  const cli = (...args: string[]): Promise<string> =>
    new Promise((resolve, reject) => execFile('redis-cli', ['-p', String(h.port), ...args], { timeout: 10_000 }, (err, out) => (err ? reject(err) : resolve(out))));
  assert.is(await cli('SET', 'cli:lock', 'me', 'NX', 'PX', '30000'), 'OK\n');
  assert.is(await cli('EVAL', RELEASE_LOCK, '1', 'cli:lock', 'me'), '1\n');
  assert.is(await cli('EVAL', 'return {1, 2, {3, "x"}}', '0'), '1\n2\n3\nx\n');
  assert.match(await cli('EVAL', 'return redis.call("nosuch")', '0'), /Unknown Redis command called from script/);
});

test.run();
