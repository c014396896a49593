// Runs on: any thread. The memory layout of one single-producer/single-consumer queue in a
// SharedArrayBuffer, shared by queue.ts (both sides) and channel.ts (two queues per shard).
//
// A queue is a 512-byte header of Int32 slots followed, 4 bytes later, by a data area of
// `capacity` bytes (a power of two, 64 B .. 1 GiB; 1 MiB by default), then padding to the
// next 64-byte line: queueBytes(capacity) = 512 + capacity + 64. It starts at a 64-byte-
// aligned offset in its SharedArrayBuffer; several queues may share one buffer.
//
//   offset  line  Int32 slot   field              written by          read by
//   ------  ----  ----------   -----------------  ------------------  ----------------
//        0     0       0       head               producer            consumer
//       64     1      16       tail               consumer            producer
//      128     2      32       consumerSleeping   consumer 0->1,      producer
//                                                 producer/closer 1->0
//                     33       consumerKicked     any thread 0->1,    consumer
//                                                 consumer 1->0
//      192     3      48       producerWaiting    producer 0->1,      consumer
//                                                 consumer/closer 1->0
//      256     4      64       closed             either side, 0->1   both
//      320     5      80..83   magic 'RING', version, capacity, reserved (set once)
//      384     6      96..97   producer stats: consumer wake-ups sent, sleeps for space
//      448     7     112..113  consumer stats: sleeps, producer wake-ups sent
//      512           4 bytes unused (DATA_SKEW)
//      516           data area: capacity bytes of records
//  516+cap           60 bytes unused, so a next queue starts on a 64-byte line
//
// Each field a thread writes often has a 64-byte cache line to itself, so the producer
// bumping head does not evict the consumer's tail line (no false sharing).
//
// head and tail are byte counters that only grow, modulo 2^32 (stored as Int32, read
// with `>>> 0`). A counter's position in the data area is `counter & (capacity - 1)`;
// bytes in use = `(head - tail) >>> 0`, so full and empty need no spare slot. The producer
// publishes with one Atomics.store of head after writing records with plain stores; the
// consumer releases space with one Atomics.store of tail after reading them. Atomics are
// sequentially consistent, so a store of head or tail orders every plain write before it.
//
// A record in the data area (integers in native byte order: both sides are threads of
// one process):
//
//    0          4                        4+length      next record (8-aligned)
//   +----------+------------------------+------------+
//   |  length  |  payload (length bytes)|  pad 0..7  |
//   +----------+------------------------+------------+
//    u32
//
//   length  payload bytes, 0 .. maxRecordBytes(capacity) = capacity/2 - 4. The bound
//           means a record always fits an empty queue, wherever head stands.
//   payload opaque to the queue (frames are defined by src/protocol).
//   pad     up to the next multiple of 8 (a record takes align8(4 + length) bytes);
//           contents undefined.
//
// Records start at offsets of the data area that are multiples of 8, so with the data
// area 4 bytes past an 8-byte boundary (DATA_SKEW) every payload is 8-aligned in the
// SharedArrayBuffer: V8 copies into and out of shared memory word by word only when
// source and destination agree mod 8 (100 bytes: ~14 ns aligned, ~35 ns not), and
// ordinary Uint8Arrays and Buffer pool slices are 8-aligned.
//
// Records never straddle the end of the data area. When one does not fit in the bytes
// left before the end, the producer writes a wrap marker there (a u32 length of
// WRAP_MARKER, 0xFFFFFFFF) and the record at offset 0; the consumer, reading a wrap
// marker, skips to offset 0. Every record starts 8-aligned and the capacity is a multiple
// of 8, so there is always room for a marker's 4 bytes.
//
// The layout lives only in memory between two threads built from one source tree, so it
// has no compatibility promise; the magic and version catch a buffer handed to the wrong
// constructor.
import { ErrorCode, RingkvError } from '../errors.js';

/** Bytes of a cache line: each hot header field sits alone in one. */
export const CACHE_LINE_BYTES = 64;
/** Int32 slots per cache line. */
const LINE = CACHE_LINE_BYTES / 4;

/** Int32 slot indices into the header (see the diagram). */
export const Slot = {
  HEAD: 0 * LINE,
  TAIL: 1 * LINE,
  CONSUMER_SLEEPING: 2 * LINE,
  /** Set by wakeConsumer(): the consumer's current or next wait returns 'idle' (run your event loop). */
  CONSUMER_KICKED: 2 * LINE + 1,
  PRODUCER_WAITING: 3 * LINE,
  CLOSED: 4 * LINE,
  MAGIC: 5 * LINE,
  VERSION: 5 * LINE + 1,
  CAPACITY: 5 * LINE + 2,
  /** Times the producer woke a sleeping consumer (Atomics.notify calls). */
  STAT_CONSUMER_WAKES: 6 * LINE,
  /** Times the producer slept waiting for space. */
  STAT_PRODUCER_SLEEPS: 6 * LINE + 1,
  /** Times the consumer slept waiting for records. */
  STAT_CONSUMER_SLEEPS: 7 * LINE,
  /** Times the consumer woke a producer waiting for space (Atomics.notify calls). */
  STAT_PRODUCER_WAKES: 7 * LINE + 1,
} as const;

/** Bytes of the header. */
export const HEADER_BYTES = 8 * CACHE_LINE_BYTES;
/** Int32 slots of the header. */
export const HEADER_INTS = HEADER_BYTES / 4;
/** The data area starts this far past the header, so payloads (4 bytes into 8-aligned records) are 8-aligned. */
export const DATA_SKEW = 4;
/** Offset of the data area from the queue's start. */
export const DATA_OFFSET = HEADER_BYTES + DATA_SKEW;
/** Records start at multiples of this offset in the data area, and take multiples of it. */
export const RECORD_ALIGN = 8;

/** 'RING' read as a little-endian u32. */
export const QUEUE_MAGIC = 0x474e4952;
export const QUEUE_VERSION = 1;

/** A record length of this value is a wrap marker: skip to offset 0. */
export const WRAP_MARKER = 0xffffffff;
/** Bytes of a record's length field. */
export const LENGTH_BYTES = 4;

/** Smallest data area: room for records of up to 28 bytes (tests use tiny queues to wrap often). */
export const MIN_CAPACITY = 64;
/** Largest data area: 1 GiB keeps `head - tail` and every offset well inside u32 arithmetic. */
export const MAX_CAPACITY = 1 << 30;
/** Default data area: 1 MiB holds ~10k frames of 100 bytes, far more than one batch. */
export const DEFAULT_CAPACITY = 1 << 20;

/** Bytes a record of `length` payload bytes takes in the data area (header + payload + pad to 8). */
export function recordBytes(length: number): number {
  return (LENGTH_BYTES + length + (RECORD_ALIGN - 1)) & ~(RECORD_ALIGN - 1);
}

/** Largest payload one record of a queue of `capacity` bytes may carry. */
export function maxRecordBytes(capacity: number): number {
  return capacity / 2 - LENGTH_BYTES;
}

/** Bytes of SharedArrayBuffer one queue of `capacity` data bytes takes (header, data, padding to a 64-byte line). */
export function queueBytes(capacity: number): number {
  checkCapacity(capacity);
  return HEADER_BYTES + capacity + CACHE_LINE_BYTES;
}

/** Throws ERR_INVALID_ARGUMENT unless `capacity` is a power of two in [MIN_CAPACITY, MAX_CAPACITY]. */
export function checkCapacity(capacity: number): void {
  if (!Number.isInteger(capacity) || capacity < MIN_CAPACITY || capacity > MAX_CAPACITY || (capacity & (capacity - 1)) !== 0) {
    throw new RingkvError(
      ErrorCode.INVALID_ARGUMENT,
      `queue capacity ${capacity} must be a power of two between ${MIN_CAPACITY} and ${MAX_CAPACITY} bytes`,
    );
  }
}

/**
 * Writes an empty queue's header at `byteOffset` of `sab` (which must be zero-filled there,
 * as a new SharedArrayBuffer is). Call once, before either side constructs a SpscQueue.
 */
export function initQueue(sab: SharedArrayBuffer, byteOffset: number, capacity: number): void {
  checkCapacity(capacity);
  checkOffset(sab, byteOffset, capacity);
  const hdr = new Int32Array(sab, byteOffset, HEADER_INTS);
  hdr[Slot.VERSION] = QUEUE_VERSION;
  hdr[Slot.CAPACITY] = capacity;
  Atomics.store(hdr, Slot.MAGIC, QUEUE_MAGIC);
}

/** The capacity of the queue initialised at `byteOffset` of `sab`; throws if there is none. */
export function readCapacity(sab: SharedArrayBuffer, byteOffset: number): number {
  if (!(sab instanceof SharedArrayBuffer)) {
    throw new RingkvError(ErrorCode.INVALID_ARGUMENT, 'a queue lives in a SharedArrayBuffer');
  }
  checkOffset(sab, byteOffset, 0);
  const hdr = new Int32Array(sab, byteOffset, HEADER_INTS);
  if (Atomics.load(hdr, Slot.MAGIC) !== QUEUE_MAGIC || hdr[Slot.VERSION] !== QUEUE_VERSION) {
    throw new RingkvError(ErrorCode.INVALID_ARGUMENT, `no queue (version ${QUEUE_VERSION}) at byte ${byteOffset} of this SharedArrayBuffer: call initQueue first`);
  }
  const capacity = hdr[Slot.CAPACITY]!;
  checkCapacity(capacity);
  checkOffset(sab, byteOffset, capacity);
  return capacity;
}

function checkOffset(sab: SharedArrayBuffer, byteOffset: number, capacity: number): void {
  if (!Number.isInteger(byteOffset) || byteOffset < 0 || byteOffset % CACHE_LINE_BYTES !== 0) {
    throw new RingkvError(ErrorCode.INVALID_ARGUMENT, `queue offset ${byteOffset} must be a multiple of ${CACHE_LINE_BYTES}`);
  }
  if (byteOffset + (capacity === 0 ? HEADER_BYTES : queueBytes(capacity)) > sab.byteLength) {
    throw new RingkvError(ErrorCode.INVALID_ARGUMENT, `a queue of ${capacity} bytes at ${byteOffset} overruns its ${sab.byteLength}-byte buffer`);
  }
}
