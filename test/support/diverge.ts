// Replicas made to diverge behind the coordinator's back, and checks that they converged:
// shared by the anti-entropy tests over in-thread replicas and over worker shards.
//
// Divergence is written with frames sent straight to single replicas through the
// transport, so neither replication, hints nor read repair can help:
//   fresh       a PUT to one replica only (the others never hear of the key);
//   concurrent  a PUT without context to two replicas: two concurrent versions (siblings);
//   deleted     a key all replicas hold, deleted (a tombstone with the read's context) on one.
import * as assert from 'uvu/assert';
import { FrameType, type Reply, type Request } from '../../src/protocol/index.js';
import type { Transport } from '../../src/coordinator/index.js';
import type { Ring } from '../../src/ring/index.js';
import { createTokenHasher } from '../../src/hash/index.js';
import { BadReplies, ReplicaCalls } from '../../src/repair/replica-calls.js';
import { EMPTY_CLOCK, decodeObject, encodeContext, isTombstoneOnly, visibleValues, type VObject } from '../../src/version/index.js';

const hasher = await createTokenHasher();
const enc = new TextEncoder();
const dec = new TextDecoder();

export function tokenOf(key: string): { hi: number; lo: number; key: Uint8Array } {
  const k = enc.encode(key);
  hasher.hash(k);
  return { hi: hasher.hi, lo: hasher.lo, key: k };
}

export function partitionOf(ring: Ring, key: string): number {
  const t = tokenOf(key);
  return ring.partitionOf(t.hi, t.lo);
}

export function replicasOf(ring: Ring, key: string, n = 3): readonly string[] {
  return ring.listOf(partitionOf(ring, key), n);
}

async function call(t: Transport, replica: string, req: Request): Promise<Reply> {
  const reply = await t.request(replica, req, 10_000);
  if (reply.type === FrameType.ERROR) throw new Error(`${replica}: ${reply.code} ${reply.message}`);
  return reply;
}

/** Runs `f` over `items`, `width` at a time. */
export async function inBatches<T>(items: readonly T[], width: number, f: (x: T, i: number) => Promise<void>): Promise<void> {
  for (let i = 0; i < items.length; i += width) await Promise.all(items.slice(i, i + width).map((x, k) => f(x, i + k)));
}

function putFrame(key: string, value: string | null, context: Uint8Array = encodeContext(EMPTY_CLOCK)): Request {
  const t = tokenOf(key);
  return { type: FrameType.PUT, ...t, context, value: value === null ? null : enc.encode(value), writtenAt: Date.now(), expiresAt: 0, maxSiblings: 64, lww: false };
}

export interface Divergence {
  fresh: string[];
  concurrent: string[];
  deleted: string[];
}

/**
 * Writes the divergence: `fresh` and `concurrent` new keys, and deletes of `deleted` (keys
 * every replica already holds). Rotates which replica of each key is written.
 */
export async function diverge(ring: Ring, t: Transport, d: Divergence): Promise<void> {
  await inBatches(d.fresh, 256, async (key, i) => {
    await call(t, replicasOf(ring, key)[i % 3]!, putFrame(key, `fresh-${key}`));
  });
  await inBatches(d.concurrent, 256, async (key, i) => {
    const list = replicasOf(ring, key);
    await call(t, list[i % 3]!, putFrame(key, `left-${key}`));
    await call(t, list[(i + 1) % 3]!, putFrame(key, `right-${key}`));
  });
  await inBatches(d.deleted, 256, async (key, i) => {
    const replica = replicasOf(ring, key)[i % 3]!;
    const obj = await readAlone(t, replica, key);
    assert.ok(obj !== undefined, `${replica} holds ${key} before the delete`);
    await call(t, replica, putFrame(key, null, encodeContext(obj!.clock)));
  });
}

/** What `replica` alone holds for `key` (a GET frame to it). */
export async function readAlone(t: Transport, replica: string, key: string): Promise<VObject | undefined> {
  const reply = await call(t, replica, { type: FrameType.GET, ...tokenOf(key) });
  if (reply.type !== FrameType.OBJECT) throw new Error(`GET answered with type ${reply.type}`);
  return reply.object.length === 0 ? undefined : decodeObject(reply.object.slice());
}

/** Every replica of every key holds byte-identical objects; returns the keys' objects. */
export async function sameEverywhere(ring: Ring, t: Transport, keys: readonly string[]): Promise<Map<string, VObject>> {
  const out = new Map<string, VObject>();
  await inBatches(keys, 256, async (key) => {
    const list = replicasOf(ring, key);
    const bytes = await Promise.all(list.map(async (r) => {
      const reply = await call(t, r, { type: FrameType.GET, ...tokenOf(key) });
      return Buffer.from((reply as { object: Uint8Array }).object);
    }));
    for (let i = 1; i < bytes.length; i++) {
      if (!bytes[0]!.equals(bytes[i]!)) assert.unreachable(`${key}: ${list[0]} and ${list[i]} hold different objects`);
    }
    if (bytes[0]!.length === 0) assert.unreachable(`${key}: no replica holds it`);
    out.set(key, decodeObject(new Uint8Array(bytes[0]!)));
  });
  return out;
}

/** Checks what the repair must have produced for each kind of divergence. */
export function checkMerged(objects: Map<string, VObject>, d: Divergence): void {
  const now = Date.now();
  for (const key of d.fresh) {
    assert.equal(visibleValues(objects.get(key), now).map((v) => dec.decode(v)), [`fresh-${key}`], key);
  }
  for (const key of d.concurrent) {
    const values = visibleValues(objects.get(key), now).map((v) => dec.decode(v)).sort();
    assert.equal(values, [`left-${key}`, `right-${key}`], `${key}: both concurrent versions survive as siblings`);
  }
  for (const key of d.deleted) {
    assert.ok(isTombstoneOnly(objects.get(key)!), `${key} stays deleted`);
  }
}

/**
 * Per partition: every replica's TREE root over the partition is the same, each holds
 * exactly `expected[p]` objects there, and members outside the preference list hold none.
 */
export async function treesAgree(ring: Ring, t: Transport, expected: number[], n = 3): Promise<void> {
  // ReplicaCalls copies a reply out of a shard's ring before the ring is reused.
  const calls = new ReplicaCalls(t, 10_000, new BadReplies());
  for (let p = 0; p < ring.q; p++) {
    const { from, to } = ring.partitionRange(p);
    const list = ring.listOf(p, n);
    const roots = new Set<string>();
    for (const m of ring.members) {
      const reply = await calls.tree(m.id, from, to, 0, 1 << 30);
      assert.ok(reply.complete);
      if (list.includes(m.id)) {
        assert.is(reply.entries, expected[p], `partition ${p} on ${m.id}: objects held`);
        roots.add(Buffer.from(reply.leaves).toString('hex'));
      } else {
        assert.is(reply.entries, 0, `partition ${p}: ${m.id} is no replica of it and holds nothing there`);
      }
    }
    assert.is(roots.size, 1, `partition ${p}: every replica has the same root`);
  }
}

/** Objects per partition that `keys` make. */
export function perPartition(ring: Ring, keys: Iterable<string>): number[] {
  const counts = new Array<number>(ring.q).fill(0);
  for (const k of keys) counts[partitionOf(ring, k)]!++;
  return counts;
}
