// Runs on: the main thread. The data dir's lock as the CLI takes it: the same lock as the
// embedded open() takes (src/storage/env/dir-lock.ts), so a server and an embedded store exclude
// each other. `ringkv start` takes it itself only for a cluster node (whose shards are not
// opened through open()); open() takes it for a single-host server and `bench --embedded`.
export { LOCK_FILE, lockHolder, takeDirLock, type DirLock } from '../storage/index.js';
