// Runs on: any thread. storage/env/: what the engine asks of the machine. The Vfs (every
// open, append, fsync, rename and unlink of the engine's files goes through it: real files,
// an in-memory model with power loss, a fault injector), the directory lock, and the seeded
// random numbers the models and tests share. Nothing here knows a file format.
export { readWholeFile, writeFileAtomic, type OpenMode, type Vfs, type VfsFile } from './vfs.js';
export { RealVfs } from './vfs-real.js';
export { MemoryVfs, type PowerLossOptions } from './vfs-memory.js';
export { CrashError, FaultyVfs, type InjectedErrorCode, type VfsOpName } from './vfs-faulty.js';
export { LOCK_FILE, lockHolder, takeDirLock, type DirLock } from './dir-lock.js';
export { Random } from './random.js';
