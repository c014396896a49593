// Stand-in coordination (PutOp, Dynamo's sloppy quorum): when no primary of a key can
// coordinate a write, the first healthy members past its preference list do. They store it
// in their own data and keep a hint for their primary; the hints bring it to the primaries
// when they are back, and range cleanup (AntiEntropy.handOff) takes the stand-ins' copies
// away once the primaries hold them. Strict quorum never uses stand-ins; too few stand-ins
// to reach W fail the write with ERR_QUORUM.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { AntiEntropy } from '../../src/repair/anti-entropy.js';
import { BadReplies, ReplicaCalls } from '../../src/repair/replica-calls.js';
import { FrameType } from '../../src/protocol/index.js';
import type { Store } from '../../src/store.js';
import { decodeObject } from '../../src/version/index.js';
import { localCluster, type LocalCluster } from '../support/local-cluster.js';
import { tokenOf } from '../support/diverge.js';

const dec = new TextDecoder();

function partitionOf(store: Store, key: string): number {
  const t = tokenOf(key);
  return store.ring.partitionOf(t.hi, t.lo);
}

/** What `member` stores for `key` in its data (not its hints): the visible values. */
async function stored(c: LocalCluster, member: string, key: string): Promise<string[]> {
  const reply = await c.transport.request(member, { type: FrameType.GET, ...tokenOf(key) }, 1000);
  assert.is(reply.type, FrameType.OBJECT);
  const bytes = (reply as { object: Uint8Array }).object;
  return bytes.length === 0 ? [] : decodeObject(bytes.slice()).siblings.filter((s) => s.value !== null).map((s) => dec.decode(s.value!));
}

/** Range cleanup of partition p on each of `formers` (run "a minute later": every write so far is older than its cutoff). */
async function handOffAll(c: LocalCluster, p: number, formers: readonly string[]): Promise<void> {
  const ae = new AntiEntropy(() => c.store.ring, c.transport, { n: 3, intervalMs: 0, timeoutMs: 1000, partitionPauseMs: 0, bytesPerSecond: 0, purgeTombstones: false, now: () => Date.now() + 60_000 });
  for (const f of formers) await ae.handOff(p, f);
  await ae.stop();
}

/** Hints `member` keeps for `target`. */
async function hintsFor(c: LocalCluster, member: string, target: string): Promise<number> {
  const reply = await c.transport.request(member, { type: FrameType.HINTS_FOR, target, max: 1000 }, 1000);
  assert.is(reply.type, FrameType.HINTS);
  return (reply as { hints: unknown[] }).hints.length;
}

test('every primary down: two stand-ins take the write (W=2), store it, keep hints; the primaries get it back, the stand-ins hand theirs off', async () => {
  const c = await localCluster(5);
  try {
    const key = 'cut-off';
    const p = partitionOf(c.store, key);
    const primaries = c.store.ring.listOf(p, 3);
    const spare = c.ids.filter((id) => !primaries.includes(id));
    for (const id of primaries) c.transport.setDown(id, true);

    const w = await c.store.put(key, 'written-while-cut-off');
    assert.equal(w.receipt.replicas, []);
    assert.equal(w.receipt.hints.map((h) => h.replica).sort(), spare.sort());
    assert.ok(w.receipt.hints.every((h) => primaries.includes(h.for)), JSON.stringify(w.receipt.hints));
    for (const s of spare) assert.equal(await stored(c, s, key), ['written-while-cut-off'], `${s}'s own data`);
    await new Promise((r) => setTimeout(r, 20)); // the hints are written in the background
    for (const pr of primaries) {
      let hints = 0;
      for (const s of spare) hints += await hintsFor(c, s, pr);
      assert.is(hints, 1, `one stand-in keeps a hint for ${pr} (three primaries, two stand-ins)`);
    }
    // A sloppy read (the default) finds the write at the stand-ins; a strict one asks primaries only.
    const read = await c.store.get(key);
    assert.ok(read !== undefined && read.receipt.fallbacks !== undefined, 'a sloppy read answers from the stand-ins');
    const strict = await c.store.get(key, { sloppy: false }).catch((e: { code: string }) => e.code);
    assert.is(strict, 'ERR_QUORUM', 'strict reads ask primaries only');

    // The primaries are back: handoff brings them the write.
    for (const id of primaries) c.transport.setDown(id, false);
    for (const until = Date.now() + 30_000; (await c.store.stats()).hintsDelivered < 2 && Date.now() < until; ) await new Promise((r) => setTimeout(r, 10)); // a generous deadline, then the assert below
    assert.equal((await c.store.get(key, { r: 2 }))!.values.map((v) => dec.decode(v)), ['written-while-cut-off']);

    // Range cleanup: the stand-ins' copies go once the primaries are shown to hold them.
    await handOffAll(c, p, spare);
    for (const s of spare) assert.equal(await stored(c, s, key), [], `${s} deleted its copy`);
    for (const pr of primaries) assert.equal(await stored(c, pr, key), ['written-while-cut-off'], `${pr} holds it`);
  } finally {
    await c.store.close();
  }
});

test('a write the stand-ins took and no hint delivered still reaches every primary through range cleanup', async () => {
  const c = await localCluster(5);
  try {
    const key = 'no-hints';
    const p = partitionOf(c.store, key);
    const primaries = c.store.ring.listOf(p, 3);
    const spare = c.ids.filter((id) => !primaries.includes(id));
    for (const id of primaries) c.transport.setDown(id, true);
    await c.store.put(key, 'only-on-stand-ins');
    await new Promise((r) => setTimeout(r, 20));
    // The hints are lost (expired, or their holder's hint store wiped): drop them by hand.
    for (const s of spare) {
      for (const pr of primaries) {
        const reply = await c.transport.request(s, { type: FrameType.HINTS_FOR, target: pr, max: 10 }, 1000);
        for (const h of (reply as { hints: { key: Uint8Array; object: Uint8Array; hi: number; lo: number }[] }).hints) {
          await c.transport.request(s, { type: FrameType.HINT_DONE, target: pr, hi: h.hi, lo: h.lo, key: h.key.slice(), object: h.object.slice() }, 1000);
        }
      }
    }
    for (const id of primaries) c.transport.setDown(id, false);
    for (const pr of primaries) assert.equal(await stored(c, pr, key), [], `${pr} has not heard of it`);
    await handOffAll(c, p, spare);
    for (const pr of primaries) assert.equal(await stored(c, pr, key), ['only-on-stand-ins'], `${pr} holds it`);
    const { from, to } = c.store.ring.partitionRange(p);
    for (const s of spare) assert.is((await new ReplicaCalls(c.transport, 1000, new BadReplies()).tree(s, from, to, 0, 100)).entries, 0, `${s} emptied`);
  } finally {
    await c.store.close();
  }
});

test('strict quorum never uses stand-ins; with too few of them for W the write fails with ERR_QUORUM', async () => {
  const c = await localCluster(5);
  try {
    const key = 'strict';
    const primaries = c.store.ring.listOf(partitionOf(c.store, key), 3);
    const spare = c.ids.filter((id) => !primaries.includes(id));
    for (const id of primaries) c.transport.setDown(id, true);
    const strict = await c.store.put(key, 'x', { sloppy: false }).catch((e: { code: string }) => e.code);
    assert.is(strict, 'ERR_QUORUM');
    for (const s of spare) assert.equal(await stored(c, s, key), [], `${s} took nothing`);

    // One spare down too: one stand-in left, W = 2 not reached (it may still be applied there).
    c.transport.setDown(spare[0]!, true);
    const short = await c.store.put(key, 'y').catch((e: { code: string; acks: number }) => `${e.code} ${e.acks}`);
    assert.is(short, 'ERR_QUORUM 1');
    assert.equal(await stored(c, spare[1]!, key), ['y']);
    assert.ok((await c.store.put(key, 'z', { w: 1 })).receipt.hints.length === 1, 'W=1 is met by the one stand-in');
  } finally {
    await c.store.close();
  }
});

test.run();
