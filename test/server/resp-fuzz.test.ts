// 25k (RINGKV_LONG=1: 100k) random and mutated frames at the server over a few connections,
// while another client keeps doing SET/GET and checking what it reads. The server must stay up, keep
// answering that client correctly, and hold memory within a generous bound. Seeded: a
// failure names its seed (RINGKV_FUZZ_SEED replays it).
import { Redis } from 'ioredis';
import { connect, type Socket } from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type Harness, encodeCommand, startHarness } from './resp-harness.js';

/** RINGKV_LONG=1: the full 100k frames; the default run sends a quarter (a new seed each run). */
const FRAMES = process.env.RINGKV_LONG === '1' ? 100_000 : 25_000;
const CONNECTIONS = 4;
const SEED = Number(process.env.RINGKV_FUZZ_SEED ?? Date.now() % 2 ** 31);

/** mulberry32: a small seeded generator. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const rnd = random(SEED);
const int = (n: number) => Math.floor(rnd() * n);
const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
const bytes = (n: number) => Buffer.from(Array.from({ length: n }, () => int(256)));
const key = () => (rnd() < 0.7 ? `f${int(50)}` : bytes(int(12)));
const value = () => (rnd() < 0.9 ? bytes(int(64)) : bytes(int(70_000)));
const num = () => pick(['0', '1', '-1', '10', '100000', '9223372036854775807', '-9223372036854775808', '99999999999999999999', 'x', '']);

/** A valid (or nearly valid) command: every command the server knows, with wild arguments. */
function command(): (string | Buffer)[] {
  switch (int(24)) {
    case 0: return ['GET', key()];
    case 1: return ['SET', key(), value(), ...(rnd() < 0.3 ? [pick(['EX', 'PX', 'EXAT', 'PXAT', 'NX', 'XX', 'GET', 'KEEPTTL']), num()] : [])];
    case 2: return ['DEL', key(), key()];
    case 3: return ['MGET', key(), key(), key()];
    case 4: return ['MSET', key(), value(), key(), value()];
    case 5: return [pick(['INCR', 'DECR']), key()];
    case 6: return [pick(['INCRBY', 'DECRBY', 'EXPIRE', 'PEXPIRE']), key(), num()];
    case 7: return [pick(['TTL', 'PTTL', 'TYPE', 'EXISTS', 'UNLINK']), key()];
    case 8: return ['VGET', key()];
    case 9: return ['VSET', key(), value(), ...(rnd() < 0.5 ? [pick(['CONTEXT', 'W', 'TTL', 'X']), pick(['', 'AQEBAQE', '1', '0', '!!', num()])] : [])];
    case 10: return ['VDEL', key(), ...(rnd() < 0.5 ? ['CONTEXT', pick(['', 'AQEBAQE', 'zz'])] : [])];
    case 11: return ['CONSISTENCY', pick(['R', 'W', 'DEFAULT', 'Q']), num()];
    case 12: return ['HELLO', pick(['2', '3', '4', 'x']), ...(rnd() < 0.3 ? ['AUTH', 'default', 'pw'] : []), ...(rnd() < 0.3 ? ['SETNAME', bytes(4)] : [])];
    case 13: return ['AUTH', bytes(int(8))];
    case 14: return ['CLIENT', pick(['SETNAME', 'GETNAME', 'ID', 'SETINFO', 'LIST', 'INFO', 'KILL']), bytes(int(6))];
    case 15: return ['CONFIG', pick(['GET', 'SET', 'REWRITE']), pick(['*', 'save', '[', '\\', 'a*b*c*d*e*f*g'])];
    case 16: return ['COMMAND', ...(rnd() < 0.5 ? [pick(['COUNT', 'INFO', 'DOCS', 'LIST', 'GETKEYS'])] : [])];
    case 17: return ['SCAN', num(), pick(['MATCH', 'COUNT', 'TYPE']), num()];
    case 18: return [pick(['PING', 'ECHO']), ...(rnd() < 0.5 ? [bytes(int(20))] : [])];
    case 19: return ['SELECT', num()];
    case 20: return [pick(['DBSIZE', 'INFO', 'FLUSHDB', 'FLUSHALL'])];
    case 21: return rnd() < 0.05 ? ['QUIT'] : ['PING'];
    case 22: return [bytes(int(10)), bytes(int(10))];
    default: return [pick(['get', 'Set', 'mget', 'incr', 'vget'])];
  }
}

/**
 * A frame: with probability `bad` mutated (flips, cuts, splices, absurd lengths) or random
 * bytes or a rough inline line; otherwise a well-formed command.
 */
function frame(bad: number): Buffer {
  if (rnd() >= bad) return encodeCommand(command());
  const r = rnd();
  if (r < 0.15) return bytes(1 + int(100));
  if (r < 0.3) return Buffer.from(`${pick(['PING', 'GET a', 'SET "a b', "ECHO 'x", 'x'.repeat(int(200)), ''])}${pick(['\r\n', '\n', ''])}`);
  const m = encodeCommand(command());
  switch (int(6)) {
    case 0:
      for (let i = 0, n = 1 + int(3); i < n; i++) m[int(m.length)] = int(256);
      return m;
    case 1:
      return m.subarray(0, int(m.length));
    case 2: {
      const at = int(m.length);
      return Buffer.concat([m.subarray(0, at), bytes(1 + int(8)), m.subarray(at)]);
    }
    case 3:
      return Buffer.from(m.toString('latin1').replace(/[*$]\d+/, (h) => h[0] + pick(['-5', '0', '99999999', '1048577', '536870913', '99999999999999999999', 'abc'])), 'latin1');
    case 4:
      return Buffer.concat([m, m.subarray(int(m.length))]);
    default:
      return Buffer.from(m.toString('latin1').replace(/\r\n/, pick(['\n', '\r', '\r\r\n', ''])), 'latin1');
  }
}

let h: Harness;

test.before(async () => {
  h = await startHarness();
});

test.after(async () => {
  await h.close();
});

/** One fuzzing connection: sends batches, discards replies, reconnects whenever the server closes it. */
async function fuzzer(port: number, frames: number): Promise<{ reconnects: number }> {
  let reconnects = 0;
  let socket: Socket | undefined;
  let sentOnSocket = 0;
  const open = () =>
    new Promise<Socket>((resolve) => {
      const s = connect({ port, host: '127.0.0.1' });
      s.on('error', () => {});
      s.on('data', () => {});
      s.once('connect', () => resolve(s));
      s.once('close', () => resolve(s));
    });
  for (let sent = 0; sent < frames; ) {
    if (socket === undefined || socket.destroyed || socket.writableEnded || sentOnSocket > 400) {
      socket?.end();
      socket = await open();
      sentOnSocket = 0;
      reconnects++;
    }
    const n = Math.min(frames - sent, 1 + int(40));
    // Most batches are clean with the odd bad frame (commands run); some are hostile.
    const bad = rnd() < 0.7 ? 0.01 : 0.5;
    const batch: Buffer[] = [];
    for (let i = 0; i < n; i++) batch.push(frame(bad));
    if (!socket.destroyed) socket.write(Buffer.concat(batch));
    sent += n;
    sentOnSocket += n;
    await new Promise((r) => setImmediate(r));
    if (socket.writableLength > 1024 * 1024) await new Promise((r) => setTimeout(r, 5));
  }
  socket?.destroy();
  return { reconnects };
}

test(`${FRAMES} fuzzed frames on ${CONNECTIONS} connections; a client beside them stays correct (seed ${SEED})`, async () => {
  const checker = new Redis({ port: h.port, host: '127.0.0.1', maxRetriesPerRequest: 0 });
  await checker.set('checker:warmup', 'x');
  (globalThis as { gc?: () => void }).gc?.();
  const rssBefore = process.memoryUsage().rss;
  let done = false;
  let checks = 0;
  const checking = (async () => {
    for (let i = 0; !done; i++) {
      const k = `checker:${i % 100}`;
      const v = `value-${i}-${'y'.repeat(i % 300)}`;
      assert.is(await checker.set(k, v), 'OK');
      assert.is(await checker.get(k), v, `seed ${SEED}`);
      checks++;
    }
  })();
  const results = await Promise.all(Array.from({ length: CONNECTIONS }, () => fuzzer(h.port, FRAMES / CONNECTIONS)));
  done = true;
  await checking;
  assert.ok(checks > 10, `only ${checks} checks ran`);
  assert.is(await checker.ping(), 'PONG');
  (globalThis as { gc?: () => void }).gc?.();
  const grownMb = (process.memoryUsage().rss - rssBefore) / 1024 / 1024;
  const info = await checker.info('stats');
  const stat = (name: string) => /^(\w+):(\d+)/m.exec(info.slice(info.indexOf(name)))?.[2];
  console.log(
    `  seed ${SEED}: ${checks} SET/GET checks, ${results.reduce((s, r) => s + r.reconnects, 0)} fuzz connections, ` +
      `${stat('total_commands_processed')} commands, ${stat('ringkv_protocol_errors')} protocol errors, RSS +${grownMb.toFixed(0)} MB`,
  );
  assert.ok(grownMb < 400, `RSS grew by ${grownMb.toFixed(0)} MB (seed ${SEED})`);
  checker.disconnect();
  // Every fuzz connection is gone from the server.
  for (const until = Date.now() + 30_000; h.server.connections() > 0 && Date.now() < until; ) await new Promise((r) => setTimeout(r, 20)); // a generous deadline, then the assert below
  assert.is(h.server.connections(), 0);
});

test.run();
