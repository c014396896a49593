// Runs on: any thread. One shard link's SharedArrayBuffer (its two rings, see channel.ts)
// and what both ends of the link share: where the replies ring starts, the frame limit
// option and the errors they throw.
import { ErrorCode, RingkvError } from '../errors.js';
import { DEFAULT_CAPACITY, initRing, readCapacity, ringBytes } from './queue-layout.js';
import { DEFAULT_MAX_FRAME_BYTES } from './fragment.js';

export interface ChannelBufferOptions {
  /** Data bytes of the requests ring (power of two). Default 1 MiB. */
  requestCapacity?: number;
  /** Data bytes of the replies ring (power of two). Default 1 MiB. */
  replyCapacity?: number;
}

/** A new SharedArrayBuffer holding one shard's two empty rings. Hand it to both sides. */
export function createChannelBuffer(options: ChannelBufferOptions = {}): SharedArrayBuffer {
  const req = options.requestCapacity ?? DEFAULT_CAPACITY;
  const rep = options.replyCapacity ?? DEFAULT_CAPACITY;
  const sab = new SharedArrayBuffer(ringBytes(req) + ringBytes(rep));
  initRing(sab, 0, req);
  initRing(sab, ringBytes(req), rep);
  return sab;
}

/** Where the replies ring starts: right after the requests ring. */
export function replyOffset(sab: SharedArrayBuffer): number {
  return ringBytes(readCapacity(sab, 0));
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

/** A frame above the channel's limit, or too big for a ring too small to carry fragments. */
export function frameTooLarge(length: number, max: number, dataBytes: number): RingkvError {
  if (dataBytes === 0) return new RingkvError(ErrorCode.TOO_LARGE, `a frame of ${length} bytes does not fit one record of this ring, which is too small to carry fragments`);
  return new RingkvError(ErrorCode.TOO_LARGE, `a frame of ${length} bytes exceeds the shard channel's ${max}-byte frame limit`);
}
