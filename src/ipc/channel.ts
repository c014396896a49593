// Runs on: both sides of one shard's data link. CoordinatorChannel (coordinator-channel.ts)
// runs on the main thread, ShardChannel (shard-channel.ts) on the shard's worker thread; both
// wrap the same SharedArrayBuffer (channel-buffer.ts). This file describes the link and
// exports its parts.
//
// The buffer holds two queues (queue-layout.ts), one after the other:
//
//   offset 0                      requests queue: coordinator produces, shard consumes
//   offset queueBytes(reqCapacity) replies queue:  shard produces, coordinator consumes
//
// Frames are opaque here (src/protocol defines them); a reply is matched to its request by
// whatever the frames carry, not by this layer. A frame that fits one queue record (up to
// capacity/2 - 4 bytes) is one record; a bigger one, up to maxFrameBytes (64 MiB), crosses
// as fragments (fragment.ts) that the other side joins (reassembler.ts) and hands on only
// once complete. REQUIRES of every frame: it does not start with the bytes 'FRAG' (a
// protocol frame starts with its length, below 2^26).
//
// Big frames and small ones: the coordinator streams a big request's fragments from the
// same loop that writes its backlog, as the shard makes room, one big frame at a time;
// small requests sent meanwhile go straight into the queue between fragments (they overtake
// the big frame, which is sent only once its last fragment is in), so a big frame delays
// them by at most one fragment. A shard writes a big reply's fragments in one go, blocking
// while the queue is full (the coordinator's reply loop drains it meanwhile).
//
// The shard drains every request available as one batch (views stay valid for the whole
// batch), lets its handler do the batch's work and write replies, releases the requests'
// space, publishes the replies (the queue also publishes every 64 replies on its own so the
// coordinator starts early), then spins briefly before it sleeps on Atomics.wait. The
// coordinator publishes requests once per microtask turn and drains replies from a loop
// that polls (microtasks, then setImmediate turns, ~200 µs) before parking on
// Atomics.waitAsync. The main thread never blocks.
export { type ChannelBufferOptions, createChannelBuffer } from './channel-buffer.js';
export { COORDINATOR_MAX_DRAIN, COORDINATOR_YIELD_EVERY_MS, CoordinatorChannel, type CoordinatorChannelOptions } from './coordinator-channel.js';
export {
  OVERSUBSCRIBED_SPIN_MICROS,
  SHARD_IDLE_WAIT_MS,
  SHARD_SPIN_MICROS,
  SHARD_YIELD_EVERY_MS,
  ShardChannel,
  type ShardChannelOptions,
  type ShardHandler,
  defaultShardCount,
  suggestedSpinMicros,
} from './shard-channel.js';
