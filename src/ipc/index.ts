// Runs on: both the main thread (CoordinatorChannel) and shard workers (ShardChannel); the
// queue and its layout run on any thread. Single-producer/single-consumer queues in
// SharedArrayBuffers carrying opaque frames between the coordinator and its shards; a frame
// larger than a queue record crosses as fragments (fragment.ts) joined on the other side.
export { SpscQueue, type RecordHandler, type Reservation, type QueueOptions, type QueueStats, type Role, type WaitResult } from './queue.js';
export { DEFAULT_CAPACITY, maxRecordBytes, queueBytes, initQueue } from './queue-layout.js';
export { DEFAULT_MAX_FRAME_BYTES, FRAGMENT_DATA_BYTES, FRAGMENT_HEADER_BYTES, fragmentDataBytes } from './fragment.js';
export { KEEP_REASSEMBLY_BYTES, Reassembler } from './reassembler.js';
export {
  CoordinatorChannel,
  ShardChannel,
  createChannelBuffer,
  defaultShardCount,
  suggestedSpinMicros,
  type ChannelBufferOptions,
  type CoordinatorChannelOptions,
  type ShardChannelOptions,
  type ShardHandler,
} from './channel.js';
