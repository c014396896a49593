// The same script of commands against ringkv and a real redis-server, compared reply by
// reply (skipped when redis-server is not installed, as in CI without it). The script keeps
// to what ringkv does as Redis does; README's Redis section lists where it differs (16 DBs,
// long doubles, times beyond 2^53 ms), which the script leaves out.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type Decoded, type Harness, RawClient, encodeCommand, startHarness } from './resp-harness.js';

const SCRIPT = [
  "MULTI",
  "MULTI",
  "WATCH x",
  "EXEC",
  "MULTI",
  "SET u 1",
  "FOO",
  "EXEC",
  "EXEC",
  "DISCARD",
  "SETNX a 1",
  "SETNX a 2",
  "SETEX b 0 v",
  "SETEX b x v",
  "SETEX b 99999999999999999 v",
  "PSETEX c 0 v",
  "GETEX b EX 0",
  "GETEX b FOO",
  "GETEX a EX 10 PX 10",
  "GETEX a EX x",
  "GETEX a PXAT 1",
  "GETEX a",
  "SET a 1",
  "GETSET a 5",
  "GETSET nope 5",
  "APPEND a xyz",
  "STRLEN a",
  "SET s Hello_World",
  "GETRANGE s 0 4",
  "GETRANGE s -5 -1",
  "GETRANGE s 5 1",
  "GETRANGE s -1 -5",
  "GETRANGE s 0 -100",
  "GETRANGE s x 1",
  "GETRANGE nope 0 1",
  "SETRANGE s 6 Redis",
  "SETRANGE pad 3 x",
  "GET pad",
  "SETRANGE s -1 x",
  "SETRANGE s 536870912 x",
  'SETRANGE e3 5 ""',
  "SET f 10.50",
  "INCRBYFLOAT f 0.1",
  "INCRBYFLOAT f -5",
  "SET f 5.0e3",
  "INCRBYFLOAT f 2.0e2",
  "INCRBYFLOAT f inf",
  "INCRBYFLOAT f nan",
  "INCRBYFLOAT f abc",
  'INCRBYFLOAT f " 1"',
  "INCRBYFLOAT new 1e-7",
  "MSETNX m1 a m2 b",
  "MSETNX m2 x m3 y",
  "MSETNX m4 a m5",
  "SET t v EX 100",
  "SET t w KEEPTTL",
  "TTL t",
  "SET t v KEEPTTL EX 10",
  "SET t v EX 10 KEEPTTL",
  "PERSIST t",
  "PERSIST t",
  "PERSIST nope",
  "EXPIRE t 100 XX",
  "EXPIRE t 100 GT",
  "EXPIRE t 100 NX",
  "EXPIRE t 100 NX",
  "EXPIRE t 10 NX XX",
  "EXPIRE t 10 NX GT",
  "EXPIRE t 10 GT LT",
  "EXPIRE t 10 XX LT",
  "EXPIRE t 10 FOO",
  "EXPIRE t x",
  "EXPIRE t 99999999999999999",
  "PEXPIRE t 99999999999999999999",
  "EXPIRETIME nope",
  "EXPIRETIME a",
  "SET k v EX 0",
  "SET k v EX -1",
  "SET k v EX 99999999999999999",
  "SET k v EX",
  "SET k v NX XX",
  "RENAME nope x",
  "RENAMENX nope x",
  "SET r1 v",
  "RENAMENX r1 r1",
  "RENAME r1 r1",
  "COPY r1 r1",
  "COPY r1 r2 FOO",
  "COPY nope x",
  "OBJECT ENCODING r1",
  "OBJECT ENCODING nope",
  "OBJECT FOO r1",
  "OBJECT FREQ r1",
  "MEMORY USAGE nope",
  "MEMORY FOO",
  "WAIT 1 -1",
  "WAIT x 0",
  "SELECT x",
  "INCR",
  "GET a b",
  "EXPIREAT nope 1",
  "SET w 1",
  "WATCH w",
  "SET w 2",
  "MULTI",
  "INCR w",
  "EXEC",
  "WATCH w",
  "MULTI",
  "INCR w",
  "EXEC",
  "MULTI",
  "SET q 1",
  "INCR q",
  "GET q",
  "EXEC",
  "MULTI",
  "SET q x",
  "INCR q",
  "SET q y",
  "EXEC",
  "GET q",
  "MULTI",
  "SET q z",
  "GET",
  "EXEC",
  "GET q",
  "UNWATCH",
  "MULTI",
  "PING",
  "DISCARD",
  "TTL nope",
  "PTTL q",
  "EXPIRETIME q",
  "STRLEN q",
  "TYPE q",
  "TYPE nope",
  "EXISTS q nope q",
  "DEL q nope",
  "MGET q nope",
];

/** Words of a script line; "" is an empty argument. */
function words(line: string): string[] {
  const out: string[] = [];
  const re = /"([^"]*)"|(\S+)/g;
  for (let m = re.exec(line); m !== null; m = re.exec(line)) out.push(m[1] ?? m[2]!);
  return out;
}

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
    for (const line of SCRIPT) {
      c.send(encodeCommand(words(line)));
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

test('every reply of the script matches redis-server\'s (type, value, error string)', async () => {
  if (!available) return;
  const theirs = await runScript(redisPort);
  const ours = await runScript(h.port);
  const diffs: string[] = [];
  for (let i = 0; i < SCRIPT.length; i++) {
    if (JSON.stringify(theirs[i]) !== JSON.stringify(ours[i])) diffs.push(`${SCRIPT[i]}: redis ${JSON.stringify(theirs[i])}, ringkv ${JSON.stringify(ours[i])}`);
  }
  assert.equal(diffs, []);
});

test.run();
