// Runs on: the main thread. The load-based shard policy of one node and the scaler that
// grows or shrinks its shard count within [min, max].
export { ShardScaler, resolveShardScalerOptions, unsettledReason, type ScaledNode, type ShardScalerOptions, type ShardScalerStatus } from './shard-scaler.js';
