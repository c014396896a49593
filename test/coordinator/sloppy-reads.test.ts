// Sloppy reads (Dynamo §4.6, Riak's fallbacks and notfound_ok): with primaries down or cut
// off, a read counts answers from the healthy members standing in for them; strict quorum
// and notfoundOk=false keep the stricter rules.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createTokenHasher } from '../../src/hash/index.js';
import { localCluster, type LocalCluster } from '../support/local-cluster.js';

const hasher = await createTokenHasher();
const text = (v: Uint8Array) => new TextDecoder().decode(v);

function tokenOf(key: string): [number, number] {
  hasher.hash(new TextEncoder().encode(key));
  return [hasher.hi, hasher.lo];
}

const primariesOf = (c: LocalCluster, key: string): readonly string[] => c.store.ring.listOf(c.store.ring.partitionOf(...tokenOf(key)), 3);

test('two of three primaries down: R=2 answers from the live primary and a fallback, the receipt names the fallback', async () => {
  const c = await localCluster(5);
  await c.store.put('k', 'v1', { w: 3 });
  const [, p1, p2] = primariesOf(c, 'k');
  c.transport.setDown(p1!, true);
  c.transport.setDown(p2!, true);
  const read = await c.store.get('k');
  assert.ok(read !== undefined);
  assert.equal(read.values.map(text), ['v1']);
  assert.is(read.receipt.replicas.length, 2);
  assert.is(read.receipt.fallbacks?.length, 1, JSON.stringify(read.receipt));
  assert.not.ok(primariesOf(c, 'k').includes(read.receipt.fallbacks![0]!));
  await c.store.close();
});

test('strict quorum: the same read fails fast with ERR_QUORUM saying fallbacks do not count', async () => {
  const c = await localCluster(5);
  await c.store.put('k', 'v1', { w: 3 });
  const [, p1, p2] = primariesOf(c, 'k');
  c.transport.setDown(p1!, true);
  c.transport.setDown(p2!, true);
  const err = await c.store.get('k', { sloppy: false }).catch((e) => e);
  assert.is(err.code, 'ERR_QUORUM');
  assert.match(err.message, 'strict quorum');
  await c.store.close();
});

test('notfoundOk=false: a fallback\'s not-found does not count toward R', async () => {
  const c = await localCluster(5);
  await c.store.put('k', 'v1', { w: 3 });
  const [, p1, p2] = primariesOf(c, 'k');
  c.transport.setDown(p1!, true);
  c.transport.setDown(p2!, true);
  const err = await c.store.get('k', { notfoundOk: false }).catch((e) => e);
  assert.is(err.code, 'ERR_QUORUM');
  // Default (notfound_ok): the same read answers.
  assert.equal((await c.store.get('k'))!.values.map(text), ['v1']);
  await c.store.close();
});

test('every primary down: the read answers from fallbacks; the write-back with its context reaches the primaries after they return', async () => {
  const c = await localCluster(6);
  await c.store.put('rmw', 'a', { w: 3 });
  const primaries = primariesOf(c, 'rmw');
  for (const p of primaries) c.transport.setDown(p, true);
  const read = await c.store.get('rmw');
  assert.is(read, undefined, 'the fallbacks hold nothing yet: a not-found, not an error');
  // The client writes back what it saw (nothing): a value concurrent with 'a'.
  await c.store.put('rmw', 'b');
  for (const p of primaries) c.transport.setDown(p, false);
  let values: string[] = [];
  for (let i = 0; i < 500; i++) {
    const got = await c.store.get('rmw', { r: 3, sloppy: false }).catch(() => undefined);
    values = got === undefined ? [] : got.values.map(text).sort();
    if (values.length === 2) break;
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.equal(values, ['a', 'b'], 'nothing concurrent is dropped: both are siblings after the heal');
  await c.store.close();
});

test('a primary cut off before it is seen down (it stalls): the read asks a stand-in and succeeds', async () => {
  const c = await localCluster(5, { timeoutMs: 100 });
  await c.store.put('s', 'v', { w: 3 });
  const [, p1, p2] = primariesOf(c, 's');
  c.transport.stalled.add(p1!);
  c.transport.stalled.add(p2!);
  const read = await c.store.get('s');
  assert.ok(read !== undefined);
  assert.equal(read.values.map(text), ['v']);
  assert.is(read.receipt.fallbacks?.length, 1, JSON.stringify(read.receipt));
  c.transport.stalled.clear();
  await c.store.close();
});

test.run();
