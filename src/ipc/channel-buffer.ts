// Runs on: any thread. One shard link's SharedArrayBuffer (its two queues, see channel.ts)
// and what both ends of the link share: where the replies queue starts, the frame limit
// option and the errors they throw.
import { ErrorCode, RingkvError } from '../errors.js';
import { DEFAULT_CAPACITY, initQueue, readCapacity, queueBytes } from './queue-layout.js';
import { DEFAULT_MAX_FRAME_BYTES } from './fragment.js';

export interface ChannelBufferOptions {
  /** Data bytes of the requests queue (power of two). Default 1 MiB. */
  requestCapacity?: number;
  /** Data bytes of the replies queue (power of two). Default 1 MiB. */
  replyCapacity?: number;
}

/** A new SharedArrayBuffer holding one shard's two empty queues. Hand it to both sides. */
export function createChannelBuffer(options: ChannelBufferOptions = {}): SharedArrayBuffer {
  const req = options.requestCapacity ?? DEFAULT_CAPACITY;
  const rep = options.replyCapacity ?? DEFAULT_CAPACITY;
  const sab = new SharedArrayBuffer(queueBytes(req) + queueBytes(rep));
  initQueue(sab, 0, req);
  initQueue(sab, queueBytes(req), rep);
  return sab;
}

/** Where the replies queue starts: right after the requests queue. */
export function replyOffset(sab: SharedArrayBuffer): number {
  return queueBytes(readCapacity(sab, 0));
}

export function channelClosedError(): RingkvError {
  return new RingkvError(ErrorCode.CLOSED, 'the shard channel is closed');
}

/** Checks a channel's maxFrameBytes option (default 64 MiB). */
export function frameLimit(value: number | undefined): number {
  const v = value ?? DEFAULT_MAX_FRAME_BYTES;
  if (!Number.isInteger(v) || v < 1 || v > 0xffffffff) throw new RingkvError(ErrorCode.INVALID_ARGUMENT, `channel option maxFrameBytes ${v} (must be 1 .. 2^32-1)`);
  return v;
}

/** A frame above the channel's limit, or too big for a queue too small to carry fragments. */
export function frameTooLarge(length: number, max: number, dataBytes: number): RingkvError {
  if (dataBytes === 0) return new RingkvError(ErrorCode.TOO_LARGE, `a frame of ${length} bytes does not fit one record of this queue, which is too small to carry fragments`);
  return new RingkvError(ErrorCode.TOO_LARGE, `a frame of ${length} bytes exceeds the shard channel's ${max}-byte frame limit`);
}
