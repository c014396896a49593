// The hint store's bounds (src/shard/hint-store.ts), through a replica's HINT, HINTS_FOR and
// HINT_DONE frames over an LSM hint engine on an in-memory file system, with a test clock:
// a hint past maxAgeMs is never listed and is dropped (counted); a hint that would pass
// maxBytes is refused with ERR_HINTS_FULL (counted) and the coordinator's frame gets an
// ERROR; expired hints make room first; counts, bytes and oldest age survive a reopen.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Replica } from '../../src/shard/replica.js';
import { MemoryVfs, openEngine } from '../../src/storage/index.js';
import type { StorageEngine } from '../../src/storage/db/types.js';
import { FrameType, type Reply, type Request } from '../../src/protocol/index.js';
import { createTokenHasher } from '../../src/hash/index.js';
import { EMPTY_CLOCK, coordinatePut, decodeObject, encodeObject } from '../../src/version/index.js';
import type { HintLimits } from '../../src/shard/hint-store.js';

const hasher = await createTokenHasher();
const enc = new TextEncoder();
const dec = new TextDecoder();

interface Shard {
  replica: Replica;
  data: StorageEngine;
  hints: StorageEngine;
  clock: { now: number };
  vfs: MemoryVfs;
}

async function shard(limits: Partial<HintLimits>, vfs = new MemoryVfs(), clock = { now: 1_000_000 }): Promise<Shard> {
  const data = await openEngine({ dir: '/data', vfs, syncMode: 'none' });
  const hints = await openEngine({ dir: '/hints', vfs, syncMode: 'none' });
  const replica = new Replica({ replica: 0, epoch: 1 }, { data, hints }, { hints: limits, now: () => clock.now });
  return { replica, data, hints, clock, vfs };
}

async function reopen(s: Shard, limits: Partial<HintLimits>): Promise<Shard> {
  await s.data.close();
  await s.hints.close();
  return shard(limits, s.vfs, s.clock);
}

/** An object holding one value written by actor 9 (a coordinator elsewhere). */
function object(value: string, counter = 1, actor = 9): Uint8Array {
  const ctx = counter > 1 ? [{ replica: actor, epoch: 1, counter: counter - 1 }] : EMPTY_CLOCK;
  return encodeObject(coordinatePut(undefined, ctx, { replica: actor, epoch: 1 }, { value: enc.encode(value), writtenAt: 1, expiresAt: 0 }, { maxSiblings: 8, lww: false }));
}

function hintFrame(target: string, key: string, obj: Uint8Array): Request {
  const k = enc.encode(key);
  hasher.hash(k);
  return { type: FrameType.HINT, target, hi: hasher.hi, lo: hasher.lo, key: k, object: obj };
}

function one(s: Shard, req: Request): Reply {
  return s.replica.handleBatch([req])[0]!;
}

function listed(s: Shard, target: string): string[] {
  const reply = one(s, { type: FrameType.HINTS_FOR, target, max: 1000 });
  assert.is(reply.type, FrameType.HINTS);
  return (reply as { hints: { key: Uint8Array }[] }).hints.map((h) => dec.decode(h.key)).sort();
}

test('a hint older than maxAgeMs is never listed for delivery, and is dropped and counted', async () => {
  const s = await shard({ maxAgeMs: 1000, maxBytes: 1 << 20 });
  assert.is(one(s, hintFrame('s1', 'old', object('v'))).type, FrameType.ACK);
  s.clock.now += 600;
  assert.is(one(s, hintFrame('s1', 'young', object('v'))).type, FrameType.ACK);
  let st = s.replica.hintStats();
  assert.is(st.pending, 2);
  assert.is(st.oldestAgeMs, 600);
  assert.ok(st.bytes > 0);

  s.clock.now += 500; // 'old' is 1100 ms old, 'young' 500
  assert.equal(listed(s, 's1'), ['young']);
  st = s.replica.hintStats();
  assert.is(st.pending, 1);
  assert.is(st.droppedExpired, 1);
  assert.is(st.oldestAgeMs, 500);
  assert.is([...s.hints.scan(0n, 1n << 64n)].length, 1, 'the expired hint is deleted from the engine');

  // A write that merges into a hint keeps its first time: the hint does not get younger.
  assert.is(one(s, hintFrame('s1', 'young', object('w', 2))).type, FrameType.ACK);
  s.clock.now += 600;
  assert.equal(listed(s, 's1'), []);
  assert.is(s.replica.hintStats().droppedExpired, 2);
  assert.is(s.replica.hintStats().pending, 0);
  assert.is(s.replica.hintStats().bytes, 0);
});

test('a hint that would pass maxBytes is refused with ERR_HINTS_FULL; delivered or expired hints make room', async () => {
  const s = await shard({ maxAgeMs: 10_000, maxBytes: 400 });
  let n = 0;
  let reply: Reply;
  for (;;) {
    reply = one(s, hintFrame('s2', `k${n}`, object('x'.repeat(40))));
    if (reply.type !== FrameType.ACK) break;
    n++;
  }
  assert.ok(n >= 2, `${n} hints fit`);
  assert.is(reply.type, FrameType.ERROR);
  assert.is((reply as { code: string }).code, 'ERR_HINTS_FULL');
  let st = s.replica.hintStats();
  assert.is(st.pending, n);
  assert.ok(st.bytes <= 400, `${st.bytes} bytes held`);
  assert.is(st.refusedFull, 1);
  assert.is(listed(s, 's2').length, n, 'the refused hint was not stored');

  // Delivering one (HINT_DONE with the object listed) frees its bytes.
  const page = one(s, { type: FrameType.HINTS_FOR, target: 's2', max: 1 }) as { hints: { hi: number; lo: number; key: Uint8Array; object: Uint8Array }[] };
  const h = page.hints[0]!;
  assert.is(one(s, { type: FrameType.HINT_DONE, target: 's2', hi: h.hi, lo: h.lo, key: h.key, object: h.object }).type, FrameType.ACK);
  assert.is(s.replica.hintStats().pending, n - 1);
  assert.is(one(s, hintFrame('s2', 'after-done', object('x'.repeat(40)))).type, FrameType.ACK);

  // Once the held hints expire, a new one evicts them instead of being refused.
  s.clock.now += 10_001;
  assert.is(one(s, hintFrame('s2', 'fresh', object('x'.repeat(40)))).type, FrameType.ACK);
  st = s.replica.hintStats();
  assert.is(st.pending, 1);
  assert.is(st.droppedExpired, n);
  assert.is(st.refusedFull, 1);
  assert.equal(listed(s, 's2'), ['fresh']);
});

test('a batch with a refused hint still acknowledges its other writes', async () => {
  const s = await shard({ maxAgeMs: 10_000, maxBytes: 200 });
  const replies = s.replica.handleBatch([
    hintFrame('s3', 'a', object('x'.repeat(40))),
    hintFrame('s3', 'b', object('x'.repeat(400))),
    hintFrame('s3', 'c', object('y')),
  ]);
  assert.equal(replies.map((r) => r.type), [FrameType.ACK, FrameType.ERROR, FrameType.ACK]);
  assert.equal(listed(s, 's3'), ['a', 'c']);
});

test('counts, bytes and the oldest age are rebuilt from the hint engine at open; expiry still applies', async () => {
  let s = await shard({ maxAgeMs: 5000, maxBytes: 1 << 20 });
  one(s, hintFrame('s1', 'a', object('1')));
  s.clock.now += 1000;
  one(s, hintFrame('s1', 'b', object('2')));
  one(s, hintFrame('s2', 'c', object('3')));
  const before = s.replica.hintStats();
  s = await reopen(s, { maxAgeMs: 5000, maxBytes: 1 << 20 });
  const after = s.replica.hintStats();
  assert.is(after.pending, 3);
  assert.is(after.bytes, before.bytes);
  assert.is(after.oldestAgeMs, 1000);
  s.clock.now += 4500; // 'a' is 5500 ms old
  assert.equal(listed(s, 's1'), ['b']);
  assert.equal(listed(s, 's2'), ['c']);
  assert.is(s.replica.hintStats().droppedExpired, 1);
  await s.data.close();
  await s.hints.close();
});

test('after the wall clock steps back, an expired hint behind a younger one is still never delivered, nor merged into', async () => {
  const s = await shard({ maxAgeMs: 1000, maxBytes: 1 << 20 });
  one(s, hintFrame('s1', 'a', object('1')));
  s.clock.now -= 800; // the clock steps back: 'b' is older by its time, younger in the index
  one(s, hintFrame('s1', 'b', object('2')));
  one(s, hintFrame('s1', 'c', object('3')));
  s.clock.now += 800 + 500; // 'a' is 500 ms old, 'b' and 'c' 1300
  // A write for 'c' starts a fresh hint instead of merging into the expired one.
  one(s, hintFrame('s1', 'c', object('4', 1, 8))); // concurrent with '3': a merge would keep both
  assert.equal(listed(s, 's1'), ['a', 'c']);
  assert.is(s.replica.hintStats().droppedExpired, 2);
  const page = one(s, { type: FrameType.HINTS_FOR, target: 's1', max: 10 }) as { hints: { key: Uint8Array; object: Uint8Array }[] };
  const c = page.hints.find((h) => dec.decode(h.key) === 'c')!;
  assert.equal(decodeObject(c.object).siblings.map((x) => dec.decode(x.value!)), ['4'], 'only the new write');
});

test('bad hint limits are refused with ERR_INVALID_ARGUMENT', async () => {
  for (const limits of [{ maxBytes: 0 }, { maxAgeMs: -1 }, { maxAgeMs: 1.5 }, { maxBytes: NaN }]) {
    await shard(limits).then(
      () => assert.unreachable(`accepted ${JSON.stringify(limits)}`),
      (e: { code?: string }) => assert.is(e.code, 'ERR_INVALID_ARGUMENT'),
    );
  }
});

test.run();
