// A put that a replica refuses as routed by an older ring (ERR_STALE_EPOCH) and that falls
// short of W is asked again once, a gossip round later, under the ring in force then,
// instead of failing the caller.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createTokenHasher } from '../../src/hash/index.js';
import { InProcessTransport, type Transport } from '../../src/coordinator/index.js';
import { FrameType, type Reply, type Request } from '../../src/protocol/index.js';
import { Ring } from '../../src/ring/index.js';
import { Replica } from '../../src/shard/replica.js';
import { MemoryEngine } from '../../src/storage/index.js';
import { Store } from '../../src/store.js';

/** Three in-thread replicas; s1 refuses its first `refusals` REPLICATEs as stale. */
async function storeWithStaleReplica(refusals: number): Promise<{ store: Store; refused: () => number }> {
  const ids = ['s0', 's1', 's2'];
  const replicas = new Map<string, Replica>();
  for (const [i, id] of ids.entries()) replicas.set(id, new Replica({ replica: i + 1, epoch: 1 }, { data: await MemoryEngine.open(), hints: await MemoryEngine.open() }));
  const inner = new InProcessTransport(replicas);
  let refused = 0;
  const transport: Transport = {
    request(replica: string, req: Request, timeoutMs: number): Promise<Reply> {
      if (replica === 's1' && req.type === FrameType.REPLICATE && refused < refusals) {
        refused++;
        return Promise.resolve({ type: FrameType.ERROR, code: 'ERR_STALE_EPOCH', message: 'routed by ring epoch 1; re-route' });
      }
      return inner.request(replica, req, timeoutMs);
    },
    isDown: (r) => inner.isDown(r),
    onUp: (l) => inner.onUp(l),
  };
  const ring = Ring.build(ids.map((id) => ({ id, host: id, rack: 'r', dc: 'dc', weight: 1 })), 16);
  const store = new Store({
    ring, transport, hasher: await createTokenHasher(),
    defaults: { n: 3, r: 2, w: 3, timeoutMs: 500, sloppy: true, maxSiblings: 64, lww: false },
    handoffIntervalMs: 0,
    close: async () => {},
  });
  return { store, refused: () => refused };
}

test('a W=3 put that s1 refuses once as stale succeeds on its retry', async () => {
  const { store, refused } = await storeWithStaleReplica(1);
  const w = await store.put('k', 'v');
  assert.is(refused(), 1);
  assert.equal([...w.receipt.replicas].sort(), ['s0', 's1', 's2']);
  await store.close();
});

test('only one retry: a replica that keeps refusing fails the put with ERR_QUORUM', async () => {
  const { store, refused } = await storeWithStaleReplica(100);
  const err = await store.put('k', 'v').catch((e: { code: string }) => e);
  assert.is((err as { code: string }).code, 'ERR_QUORUM');
  assert.is(refused(), 2, 'the first attempt and one retry');
  await store.close();
});

test.run();
