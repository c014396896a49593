// A store whose replicas live in this thread (in-memory or LSM engines behind an
// InProcessTransport): for tests of the coordinator's logic, with replicas that can be
// taken down, stalled and brought back.
import { createTokenHasher } from '../../src/hash/index.js';
import { InProcessTransport } from '../../src/coordinator/index.js';
import { Ring } from '../../src/ring/index.js';
import { Replica } from '../../src/shard/replica.js';
import { MemoryEngine } from '../../src/storage/index.js';
import type { StorageEngine } from '../../src/storage/db/types.js';
import { Store } from '../../src/store.js';
import type { QuorumDefaults } from '../../src/coordinator/index.js';

export interface LocalCluster {
  store: Store;
  transport: InProcessTransport;
  engines: Map<string, { data: StorageEngine; hints: StorageEngine }>;
  ids: string[];
}

export async function localCluster(
  shards = 4,
  defaults: Partial<QuorumDefaults> = {},
  engines?: (id: string) => Promise<{ data: StorageEngine; hints: StorageEngine }>,
): Promise<LocalCluster> {
  const ids = Array.from({ length: shards }, (_, i) => `s${i}`);
  const ring = Ring.build(ids.map((id) => ({ id, host: 'local', rack: 'r', dc: 'dc', weight: 1 })), 64);
  const replicas = new Map<string, Replica>();
  const stores = new Map<string, { data: StorageEngine; hints: StorageEngine }>();
  for (const [i, id] of ids.entries()) {
    const s = engines ? await engines(id) : { data: await MemoryEngine.open(), hints: await MemoryEngine.open() };
    stores.set(id, s);
    replicas.set(id, new Replica({ replica: i, epoch: 1 }, s));
  }
  const transport = new InProcessTransport(replicas);
  const store = new Store({
    ring,
    transport,
    hasher: await createTokenHasher(),
    defaults: { n: 3, r: 2, w: 2, timeoutMs: 200, sloppy: true, maxSiblings: 64, lww: false, ...defaults },
    handoffIntervalMs: 0,
    close: async () => {
      for (const s of stores.values()) {
        await s.data.close();
        await s.hints.close();
      }
    },
  });
  return { store, transport, engines: stores, ids };
}
