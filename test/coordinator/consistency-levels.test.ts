// Cassandra's consistency levels over per-DC replication: LOCAL_QUORUM counts only the
// coordinator's DC, EACH_QUORUM a quorum in every DC; with a whole DC down, LOCAL_QUORUM in
// the other keeps serving reads and writes while QUORUM over all and EACH_QUORUM fail.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createTokenHasher } from '../../src/hash/index.js';
import { InProcessTransport, type QuorumDefaults } from '../../src/coordinator/index.js';
import { Ring } from '../../src/ring/index.js';
import { Replica } from '../../src/shard/replica.js';
import { MemoryEngine } from '../../src/storage/index.js';
import { Store } from '../../src/store.js';

/** Two DCs of three hosts each, replication dc1:2, dc2:1; the store coordinates from `localDc`. */
async function twoDcs(localDc: string, defaults: Partial<QuorumDefaults> = {}) {
  const members = ['a1', 'a2', 'a3', 'b1', 'b2', 'b3'].map((h) => ({ id: `${h}/s0`, host: h, rack: 'r1', dc: h.startsWith('a') ? 'dc1' : 'dc2', weight: 1 }));
  const ring = Ring.build(members, 64, { replication: { dc1: 2, dc2: 1 } });
  const replicas = new Map<string, Replica>();
  for (const [i, m] of members.entries()) replicas.set(m.id, new Replica({ replica: i + 1, epoch: 1 }, { data: await MemoryEngine.open(), hints: await MemoryEngine.open() }));
  const transport = new InProcessTransport(replicas);
  const store = new Store({
    ring, transport, hasher: await createTokenHasher(),
    defaults: { n: 3, r: 2, w: 2, timeoutMs: 200, sloppy: false, maxSiblings: 64, lww: false, localDc, ...defaults },
    handoffIntervalMs: 0,
    close: async () => {},
  });
  const dcDown = (dc: string, down: boolean): void => {
    for (const m of members) if (m.dc === dc) transport.setDown(m.id, down);
  };
  return { store, transport, dcDown };
}

test('LOCAL_QUORUM reads and writes keep working with the other DC down; EACH_QUORUM and QUORUM do not', async () => {
  const { store, dcDown } = await twoDcs('dc1');
  await store.put('k', 'v0', { level: 'EACH_QUORUM' });
  dcDown('dc2', true);
  const w = await store.put('k2', 'v1', { level: 'LOCAL_QUORUM' });
  assert.ok(w.receipt.replicas.length >= 2);
  assert.equal((await store.get('k2', { level: 'LOCAL_QUORUM' }))!.values.map((v) => new TextDecoder().decode(v)), ['v1']);
  assert.equal((await store.get('k', { level: 'LOCAL_ONE' }))!.values.map((v) => new TextDecoder().decode(v)), ['v0']);
  const each = await store.put('k3', 'v', { level: 'EACH_QUORUM' }).catch((e: { code: string; message: string }) => e);
  assert.is((each as { code: string }).code, 'ERR_QUORUM');
  assert.match((each as { message: string }).message, /1 in dc2/);
  const all = await store.get('k2', { level: 'ALL' }).catch((e: { code: string }) => e);
  assert.is((all as { code: string }).code, 'ERR_QUORUM');
  dcDown('dc2', false);
  await store.close();
});

test('the other DC alone: its LOCAL_QUORUM (1 of 1) serves while dc1 is down', async () => {
  const { store, dcDown } = await twoDcs('dc2');
  dcDown('dc1', true);
  await store.put('x', 'from-dc2', { level: 'LOCAL_QUORUM' });
  assert.equal((await store.get('x', { level: 'LOCAL_QUORUM' }))!.values.map((v) => new TextDecoder().decode(v)), ['from-dc2']);
  const q = await store.get('x', { level: 'QUORUM' }).catch((e: { code: string }) => e);
  assert.is((q as { code: string }).code, 'ERR_QUORUM', 'QUORUM over both DCs needs 2 of 3: only 1 is up');
  await store.close();
});

test('a default level applies to requests that name none; LOCAL levels without per-DC replication are refused', async () => {
  const { store, dcDown } = await twoDcs('dc1', { level: 'LOCAL_QUORUM' });
  dcDown('dc2', true);
  await store.put('d', 'v'); // would need 2 of 3 with numeric W=2 and strict quorum: dc1 gives exactly 2
  assert.ok(await store.get('d'));
  await store.close();
  const members = [1, 2, 3].map((i) => ({ id: `n${i}/s0`, host: `h${i}`, rack: 'r', dc: 'dc1', weight: 1 }));
  const replicas = new Map<string, Replica>();
  for (const [i, m] of members.entries()) replicas.set(m.id, new Replica({ replica: i + 1, epoch: 1 }, { data: await MemoryEngine.open(), hints: await MemoryEngine.open() }));
  const plain = new Store({
    ring: Ring.build(members, 16),
    transport: new InProcessTransport(replicas),
    hasher: await createTokenHasher(),
    defaults: { n: 3, r: 2, w: 2, timeoutMs: 200, sloppy: true, maxSiblings: 64, lww: false, localDc: 'dc1' },
    handoffIntervalMs: 0,
    close: async () => {},
  });
  const err = await plain.put('k', 'v', { level: 'LOCAL_QUORUM' }).catch((e: { code: string; message: string }) => e);
  assert.is((err as { code: string }).code, 'ERR_INVALID_ARGUMENT');
  assert.match((err as { message: string }).message, /per-DC replication/);
  await plain.close();
});

test.run();
