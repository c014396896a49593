// The coordinator's rules on replicas in this thread: quorum, siblings and contexts,
// sloppy quorum with hints, handoff, read repair, timeouts.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createTokenHasher } from '../../src/hash/index.js';
import { localCluster } from '../support/local-cluster.js';

const hasher = await createTokenHasher();

const text = (v: Uint8Array) => new TextDecoder().decode(v);
const sorted = (vs: Uint8Array[]) => vs.map(text).sort();

/** Far above every timeout here (100 ms): reaching it means a request hung. */
const HUNG_MS = 30_000;

/** `p`, or a rejection naming `what` if it has not settled within HUNG_MS. */
function settles<T>(p: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const hung = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} hung (not settled in ${HUNG_MS} ms)`)), HUNG_MS);
  });
  return Promise.race([p, hung]).finally(() => clearTimeout(timer));
}

test('put then get returns the value, with a receipt naming W+ replicas', async () => {
  const { store } = await localCluster();
  const w = await store.put('k', 'v1');
  assert.ok(w.receipt.replicas.length >= 2);
  const r = await store.get('k');
  assert.equal(sorted(r!.values), ['v1']);
  assert.is(await store.get('missing'), undefined);
  await store.close();
});

test('N, R and W are validated: 1 <= R,W <= N <= replicas', async () => {
  const { store } = await localCluster(4);
  for (const opts of [{ n: 5 }, { n: 0 }, { n: 3, w: 4 }, { n: 3, r: 0 }, { n: 2.5 }]) {
    await store.put('k', 'v', opts).then(
      () => assert.unreachable(`accepted ${JSON.stringify(opts)}`),
      (e) => assert.is(e.code, 'ERR_INVALID_ARGUMENT'),
    );
  }
  await store.close();
});

test('concurrent blind writers (no context, overwrite: false) all survive as siblings; writing back with the context collapses them', async () => {
  const { store } = await localCluster();
  await Promise.all(Array.from({ length: 10 }, (_, i) => store.put('hot', `w${i}`, { overwrite: false })));
  const r = await store.get('hot', { r: 3 });
  assert.equal(sorted(r!.values), Array.from({ length: 10 }, (_, i) => `w${i}`).sort());
  await store.put('hot', 'resolved', { context: r!.context });
  const after = await store.get('hot', { r: 3 });
  assert.equal(sorted(after!.values), ['resolved']);
});

test('a write with a stale context becomes a sibling, not an overwrite', async () => {
  const { store } = await localCluster();
  await store.put('k', 'a');
  const seen = await store.get('k');
  await store.put('k', 'b', { context: seen!.context });
  await store.put('k', 'c', { context: seen!.context }); // saw only 'a', not 'b'
  assert.equal(sorted((await store.get('k', { r: 3 }))!.values), ['b', 'c']);
});

test('delete with the context hides the key; a blind delete cannot drop a value it never saw', async () => {
  const { store } = await localCluster();
  await store.put('k', 'v');
  const r = await store.get('k');
  await store.delete('k', { context: r!.context });
  assert.is(await store.get('k', { r: 3 }), undefined);
  await store.put('j', 'x');
  const old = await store.get('j');
  await store.put('j', 'y', { context: old!.context });
  await store.delete('j', { context: old!.context }); // saw 'x' only
  assert.equal(sorted((await store.get('j', { r: 3 }))!.values), ['y']);
});

test('W=N with a replica down fails with ERR_QUORUM under strict quorum, succeeds sloppily with a hint', async () => {
  const { store, transport, ids } = await localCluster(4);
  // Find a key whose preference list includes s1, then take s1 down.
  let key = '';
  // A key whose preference list includes s1 (from the ring: a receipt lists only the
  // replicas that had acknowledged when the write returned).
  for (let i = 0; ; i++) {
    key = `key-${i}`;
    if (store.ring.listOf(store.ring.partitionOf(...tokenOf(key)), 3).includes('s1')) break;
  }
  await store.put(key, 'probe', { w: 3 });
  transport.setDown('s1', true);
  const strict = await store.put(key, 'strict', { w: 3, sloppy: false }).catch((e) => e);
  assert.is(strict.code, 'ERR_QUORUM');
  assert.is(strict.acks, 2);
  const sloppy = await store.put(key, 'sloppy', { w: 3 });
  assert.is(sloppy.receipt.hints.length, 1);
  assert.is(sloppy.receipt.hints[0]!.for, 's1');
  assert.ok(ids.includes(sloppy.receipt.hints[0]!.replica));
  await store.close();
});

test('hints reach the replica when it returns (hinted handoff), and are deleted after', async () => {
  const { store, transport, engines } = await localCluster(4);
  transport.setDown('s2', true);
  const keys = Array.from({ length: 200 }, (_, i) => `h${i}`);
  for (const k of keys) await store.put(k, `v-${k}`);
  const hinted = (await store.stats()).hintsWritten;
  assert.ok(hinted > 20, `hints written: ${hinted}`);
  transport.setDown('s2', false); // onUp starts the handoff
  for (const until = Date.now() + 30_000; (await store.stats()).hintsDelivered < hinted && Date.now() < until; ) await new Promise((r) => setTimeout(r, 10)); // a generous deadline, then the assert below
  assert.is((await store.stats()).hintsDelivered, hinted);
  // s2 now holds every key it is a primary for: read each from s2's engine directly.
  let held = 0;
  for (const k of keys) {
    if (store.ring.listOf(store.ring.partitionOf(...tokenOf(k)), 3).includes('s2')) {
      assert.ok(engines.get('s2')!.data.get(new TextEncoder().encode(k)) !== undefined, `s2 lacks ${k}`);
      held++;
    }
  }
  assert.ok(held > 20);
  for (const s of engines.values()) assert.is([...s.hints.scan(0n, 1n << 64n)].length, 0, 'no hint left');
  await store.close();
});

test('read repair: a replica that missed a write gets it after a read', async () => {
  const { store, engines } = await localCluster(3, { n: 3 });
  // A key whose third primary is s0, written to its first two only (n=2): s0 missed it, and
  // no hint exists for it (a write that lost its hint, as anti-entropy's and read repair's
  // cases are).
  let key = '';
  for (let i = 0; key === ''; i++) {
    const t = hasher.token(new TextEncoder().encode(`rr${i}`));
    if (store.ring.preferenceList(Number(t >> 32n), Number(t & 0xffffffffn), 3)[2] === 's0') key = `rr${i}`;
  }
  await store.put(key, 'fresh', { n: 2 });
  assert.is(engines.get('s0')!.data.get(new TextEncoder().encode(key)), undefined);
  // R=1 answers with the first reply, which may be s0's stale nothing; repair follows.
  const r = await store.get(key, { r: 1 });
  assert.ok(r === undefined || sorted(r.values).join() === 'fresh');
  for (const until = Date.now() + 30_000; engines.get('s0')!.data.get(new TextEncoder().encode(key)) === undefined && Date.now() < until; ) await new Promise((res) => setTimeout(res, 5)); // a generous deadline, then the assert below
  assert.ok(engines.get('s0')!.data.get(new TextEncoder().encode(key)) !== undefined, 'repaired');
  assert.ok((await store.stats()).readRepairs >= 1);
  await store.close();
});

test('with no spare replica (3 shards, N=3), the coordinating replica keeps the hint and hands it over', async () => {
  const { store, transport, engines } = await localCluster(3, { n: 3 });
  transport.setDown('s0', true);
  const w = await store.put('nospare', 'v1');
  assert.equal(w.receipt.hints, [], 'the coordinator-held hint does not count toward W');
  transport.setDown('s0', false); // onUp -> handoff
  const key = new TextEncoder().encode('nospare');
  // The hint counts as delivered once the holder has answered HINT_DONE, a round trip after
  // s0 holds the object: wait for both (a check between the two raced with it).
  const caughtUp = async () => engines.get('s0')!.data.get(key) !== undefined && (await store.stats()).hintsDelivered >= 1;
  for (const until = Date.now() + 30_000; !(await caughtUp()) && Date.now() < until; ) await new Promise((res) => setTimeout(res, 5)); // a generous deadline, then the assert below
  assert.ok(engines.get('s0')!.data.get(key) !== undefined, 's0 caught up by handoff, without a read');
  assert.ok((await store.stats()).hintsDelivered >= 1, 'the hint was delivered');
  await store.close();
});

test('a stalled replica makes requests wait at most the timeout, and W=2 still succeeds', async () => {
  const { store, transport } = await localCluster(3, { n: 3, timeoutMs: 100 });
  transport.stalled.add('s1');
  // Without the 100 ms timeout the R=3 read would wait for s1 for ever: each request must
  // settle before a deadline far above its timeout (an outcome, not a measured latency).
  const w = await settles(store.put('slow', 'v'), 'the W=2 put');
  assert.ok(!w.receipt.replicas.includes('s1'));
  const r = await settles(store.get('slow', { r: 2 }), 'the R=2 get');
  assert.equal(sorted(r!.values), ['v']);
  const all = await settles(store.get('slow', { r: 3 }).catch((e) => e), 'the R=3 get');
  assert.is(all.code, 'ERR_QUORUM');
  await store.close();
});

test('TTL: an expired value reads as absent', async () => {
  const { store } = await localCluster();
  // A TTL long enough that a busy machine still reads the value before it expires.
  await store.put('t', 'v', { ttlMs: 1000 });
  assert.ok(await store.get('t'));
  await new Promise((r) => setTimeout(r, 1100));
  assert.is(await store.get('t'), undefined);
});

function tokenOf(key: string): [number, number] {
  hasher.hash(new TextEncoder().encode(key));
  return [hasher.hi, hasher.lo];
}

test.run();
