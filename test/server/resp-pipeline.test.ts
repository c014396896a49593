// Pipelines on a bare socket: the replies of one socket read leave in one write, in command
// order whatever order the store answers in; a reply held behind a slow command of its read
// still leaves; a pipeline answers the same sent whole, in tiny pieces or in uneven pieces,
// and read-your-writes holds inside it (SET k then GET k answers the new value).
import { rmSync } from 'node:fs';
import { Socket } from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Store } from '../../src/index.js';
import { type RespServer, startRespServer } from '../../src/server/resp/index.js';
import { type Decoded, type Harness, RawClient, encodeCommand, startHarness } from './resp-harness.js';

/** A store whose reads answer when the test says so. */
class SlowStore {
  readonly pending: { key: string; resolve: (v: unknown) => void }[] = [];
  get(key: Uint8Array): Promise<unknown> {
    return new Promise((resolve) => this.pending.push({ key: Buffer.from(key).toString(), resolve }));
  }
  /** The promise-free form the server's GET uses (Store.getInto). */
  getInto(key: Uint8Array, _opts: unknown, sink: { done(i: number, v: unknown): void; fail(err: Error): void }, index: number): void {
    this.get(key).then((v) => sink.done(index, v), (err: Error) => sink.fail(err));
  }
  answer(i: number): void {
    const p = this.pending[i]!;
    p.resolve({ values: [Buffer.from(`v-${p.key}`)], context: new Uint8Array(0), expiresAt: [0] });
  }
}

async function until(cond: () => boolean): Promise<void> {
  while (!cond()) await new Promise((r) => setTimeout(r, 1));
}

/** Counts socket writes of the server's side of its connections (local port = the server's). */
function countServerWrites(port: number): { count: () => number; restore: () => void } {
  const original = Socket.prototype.write;
  let n = 0;
  Socket.prototype.write = function (this: Socket, ...args: unknown[]) {
    if (this.localPort === port) n++;
    return (original as (...a: unknown[]) => boolean).apply(this, args);
  } as typeof original;
  return { count: () => n, restore: () => (Socket.prototype.write = original) };
}

let slow: SlowStore;
let server: RespServer;
let h: Harness;

test.before(async () => {
  slow = new SlowStore();
  server = await startRespServer(slow as unknown as Store, { port: 0 });
  h = await startHarness();
});

test.after(async () => {
  await server.close();
  await h.close();
});

test('the replies of one read leave in one socket write, in order, whatever order and turn the store answers in', async () => {
  const c = await RawClient.open(server.port);
  const writes = countServerWrites(server.port);
  try {
    const frames: Buffer[] = [];
    frames.push(encodeCommand(['PING'])); // answered at once, ahead of the store's answers
    for (let i = 0; i < 16; i++) frames.push(encodeCommand(['GET', `k${i}`]));
    frames.push(encodeCommand(['PING']));
    c.send(Buffer.concat(frames));
    await until(() => slow.pending.length === 16);
    // The first half answers, then a few event-loop turns pass, then the rest, last first.
    for (let i = 0; i < 8; i++) slow.answer(i);
    for (let turn = 0; turn < 3; turn++) await new Promise((r) => setImmediate(r));
    for (let i = 15; i >= 8; i--) slow.answer(i);
    const replies = await c.replies(18);
    assert.equal(replies, ['PONG', ...Array.from({ length: 16 }, (_, i) => `v-k${i}`), 'PONG']);
    assert.is(writes.count(), 1);
  } finally {
    writes.restore();
    slow.pending.length = 0;
    c.close();
  }
});

test('replies held behind a slow command of their read still leave before that command answers', async () => {
  const c = await RawClient.open(server.port);
  try {
    c.send(Buffer.concat([encodeCommand(['PING']), encodeCommand(['GET', 'fast']), encodeCommand(['GET', 'slow'])]));
    assert.is(await c.reply(), 'PONG'); // encoded at once, then held: the GETs have not answered
    await until(() => slow.pending.length === 2);
    slow.answer(0);
    assert.is(await c.reply(), 'v-fast');
    slow.answer(1);
    assert.is(await c.reply(), 'v-slow');
  } finally {
    slow.pending.length = 0;
    c.close();
  }
});

/** A mixed pipeline on a few hot keys, and what a sequential Redis answers to it. */
function mixedPipeline(prefix: string): { frames: Buffer; expected: Decoded[] } {
  const model = new Map<string, string>();
  const frames: Buffer[] = [];
  const expected: Decoded[] = [];
  let seed = 7;
  const next = (n: number): number => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed % n;
  };
  for (let i = 0; i < 400; i++) {
    const key = `${prefix}${next(4)}`;
    switch (next(4)) {
      case 0: {
        const v = `v${i}`;
        frames.push(encodeCommand(['SET', key, v]));
        model.set(key, v);
        expected.push('OK');
        break;
      }
      case 1:
        frames.push(encodeCommand(['GET', key]));
        expected.push(model.get(key) ?? null);
        break;
      case 2: {
        frames.push(encodeCommand(['INCR', key]));
        const cur = model.get(key);
        if (cur !== undefined && !/^-?\d+$/.test(cur)) expected.push({ error: 'ERR value is not an integer or out of range' });
        else {
          const n = String(Number(cur ?? '0') + 1);
          model.set(key, n);
          expected.push(Number(n));
        }
        break;
      }
      default:
        frames.push(encodeCommand(['DEL', key]));
        expected.push(model.delete(key) ? 1 : 0);
    }
  }
  return { frames: Buffer.concat(frames), expected };
}

test('a mixed pipeline answers like a sequential model sent whole, byte by byte, or in uneven pieces', async () => {
  for (const [name, pieces] of [
    ['whole', (b: Buffer) => [b]],
    ['bytes', (b: Buffer) => Array.from({ length: b.length }, (_, i) => b.subarray(i, i + 1))],
    ['uneven', (b: Buffer) => {
      const out: Buffer[] = [];
      for (let at = 0, i = 0; at < b.length; i++) {
        const n = 1 + ((i * 37) % 301);
        out.push(b.subarray(at, at + n));
        at += n;
      }
      return out;
    }],
  ] as const) {
    const { frames, expected } = mixedPipeline(`mix-${name}-`);
    const c = await RawClient.open(h.port);
    const parts = pieces(frames);
    for (let i = 0; i < parts.length; i++) {
      c.send(parts[i]!);
      if (i % 97 === 0) await new Promise((r) => setImmediate(r));
    }
    assert.equal(await c.replies(expected.length, 20_000), expected, name);
    c.close();
  }
});

test('GETs and SETs the store fails at once (a closed store) answer in order inside one read, and the server serves on', async () => {
  // The promise-free GET/SET settle their reply slot inside the read when the store throws
  // at once; the read's replies must still leave, in order (this crashed the server once).
  const local = await startHarness();
  try {
    await local.store.close();
    const c = await RawClient.open(local.port);
    try {
      c.send(Buffer.concat([encodeCommand(['GET', 'a']), encodeCommand(['SET', 'b', 'v']), encodeCommand(['GET', 'c']), encodeCommand(['PING'])]));
      const replies = await c.replies(4);
      for (const r of replies.slice(0, 3)) assert.match((r as { error: string }).error, /closed/, JSON.stringify(r));
      assert.is(replies[3], 'PONG');
    } finally {
      c.close();
    }
    const again = await RawClient.open(local.port);
    try {
      assert.is(await again.call('PING'), 'PONG', 'the server still serves');
    } finally {
      again.close();
    }
  } finally {
    await local.server.close();
    rmSync(local.dir, { recursive: true, force: true });
  }
});

test.run();
