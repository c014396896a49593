// The engine contract, run against the in-memory model and the LSM engine (real files,
// and the in-memory Vfs), with tiny memtables so that flushes and compactions happen.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { testStorageOptions } from '../../src/storage/db/options.js';
import { MemoryEngine, MemoryVfs, openEngine } from '../../src/storage/index.js';
import { engineContract } from './engine-contract.js';

engineContract('in-memory model', { create: () => MemoryEngine.open() });

let dirs: string[] = [];
engineContract('LSM engine on real files (piscina merges)', {
  create: () => {
    const dir = mkdtempSync(`${tmpdir()}/ringkv-contract-`);
    dirs.push(dir);
    return openEngine({ ...testStorageOptions(), jobs: 'piscina', dir });
  },
  reopen: async (engine) => {
    await engine.close();
    return openEngine({ ...testStorageOptions(), jobs: 'piscina', dir: dirs[dirs.length - 1]! });
  },
  cleanup: async () => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
    dirs = [];
  },
});

let vfs = new MemoryVfs();
engineContract('LSM engine on the in-memory Vfs', {
  create: () => openEngine({ ...testStorageOptions(), vfs, dir: '/db' }),
  reopen: async (engine) => {
    await engine.close();
    return openEngine({ ...testStorageOptions(), vfs, dir: '/db' });
  },
  cleanup: async () => {
    vfs = new MemoryVfs();
  },
});
