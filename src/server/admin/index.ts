// Runs on: the main thread. The admin HTTP server beside the RESP server: health, metrics
// and introspection for operators and orchestrators.
//
//   const admin = await startAdminServer(store, { port: 8380 });
//   ...
//   await admin.close();
//
// GET /livez    200 while the process runs
// GET /readyz   200 when every shard is up, else 503 (?verbose lists every check)
// GET /metrics  Prometheus text format (metrics.ts)
// GET /ring     the ring as JSON, with preference lists of a few partitions (?lists: all)
// GET /stats    store.stats() as JSON
export { startAdminServer, DEFAULT_ADMIN_PORT, type AdminServer, type AdminServerOptions } from './admin-server.js';
export { readAllShardNumbers, readShardNumbers, type EngineNumbers, type ShardNumbers } from '../../shard/index.js';
export { StoreMetrics } from './metrics.js';
export { type LatencySource } from './latency-metrics.js';
