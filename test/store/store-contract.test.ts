// The store contract against three backends: replicas in this thread over in-memory
// engines, one LSM shard in a worker thread, and the whole engine with 4 worker shards.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { open } from '../../src/index.js';
import { localCluster } from '../support/local-cluster.js';
import { storeContract } from '../support/store-contract.js';

storeContract('in-memory shards (4, N=3)', { create: async () => (await localCluster(4)).store });

let dirs: string[] = [];
const fresh = () => {
  const d = mkdtempSync(`${tmpdir()}/ringkv-store-`);
  dirs.push(d);
  return d;
};
const cleanup = async () => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  dirs = [];
};
const small = { memtableBytes: 64 * 1024, syncMode: 'batch' as const };

storeContract('one LSM shard in a worker (N=1)', {
  create: () => open({ dir: fresh(), shards: 1, storage: small }),
  reopen: async (s) => {
    await s.close();
    return open({ dir: dirs[dirs.length - 1]!, shards: 1, storage: small });
  },
  cleanup,
});

storeContract('the engine with 4 worker shards (N=3, R=W=2)', {
  create: () => open({ dir: fresh(), shards: 4, storage: small }),
  reopen: async (s) => {
    await s.close();
    return open({ dir: dirs[dirs.length - 1]!, shards: 4, storage: small });
  },
  cleanup,
});
