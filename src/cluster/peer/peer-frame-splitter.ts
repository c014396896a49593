// Runs on: the main thread. Cuts a TCP byte stream into whole frames (the 12-byte header of
// src/protocol/frame.ts leads each; its length field says where the frame ends).
//
// Frames that lie whole inside a received chunk are handed out as views of the chunk (no
// copy); only a frame cut by a chunk boundary is gathered in one growing buffer, and only
// up to its own end. A length below a header or above the current limit raises
// ERR_PROTOCOL before anything is buffered for it.
import { FRAME_HEADER_BYTES, protocolError } from '../../protocol/index.js';

/** Start size of the gathering buffer: most cut frames are small. */
const INITIAL_GATHER_BYTES = 16 * 1024;
/** After a bigger frame was gathered, the buffer goes back to its start size (no 64 MiB pinned per link). */
const KEEP_GATHER_BYTES = 1024 * 1024;

/** Called with one whole frame: buf[at, at + bytes); the view is valid during the call only. */
export type FrameHandler = (buf: Uint8Array, at: number, bytes: number) => void;

export class FrameSplitter {
  private gather = new Uint8Array(INITIAL_GATHER_BYTES);
  /** Bytes of a cut frame held in `gather`. */
  private held = 0;
  /** The held frame's total size, once its length field is in (0: not yet known). */
  private want = 0;
  private stopped = false;
  private paused = false;
  /** Bytes received while paused (whole frames not yet handed out, then maybe a partial one). */
  private backlog: Uint8Array | undefined;

  /** @param maxFrameBytes the largest frame accepted (raise it with `limit` once a link is trusted). */
  constructor(
    private maxFrameBytes: number,
    private readonly onFrame: FrameHandler,
  ) {}

  limit(maxFrameBytes: number): void {
    this.maxFrameBytes = maxFrameBytes;
  }

  /** Delivers no more frames (the link is closing), not even the rest of the current chunk. */
  stop(): void {
    this.stopped = true;
  }

  /**
   * Hands out no more frames until resume(): the rest of the current chunk, and whatever
   * still arrives, is kept (the owner pauses its socket too, so that is at most a chunk or two).
   */
  pause(): void {
    this.paused = true;
  }

  /** Hands out what was kept while paused (which may pause again), then frames as they come. */
  resume(): void {
    this.paused = false;
    const b = this.backlog;
    this.backlog = undefined;
    if (b !== undefined) this.push(b);
  }

  /** Feeds received bytes; throws ERR_PROTOCOL on a frame length that cannot be right. */
  push(chunk: Uint8Array): void {
    if (this.stopped) return;
    if (this.paused) {
      this.keep(chunk);
      return;
    }
    let at = 0;
    const end = chunk.length;
    if (this.held > 0) {
      at = this.fill(chunk);
      if (this.want === 0 || this.held < this.want) return; // chunk used up
      const n = this.held;
      this.held = 0;
      this.want = 0;
      this.onFrame(this.gather, 0, n);
      if (this.gather.length > KEEP_GATHER_BYTES) this.gather = new Uint8Array(INITIAL_GATHER_BYTES);
      if (this.paused && !this.stopped && at < end) {
        this.keep(chunk.subarray(at));
        return;
      }
    }
    while (!this.stopped && !this.paused && end - at >= 4) {
      const n = this.frameBytes(chunk, at);
      if (end - at < n) break;
      this.onFrame(chunk, at, n);
      at += n;
    }
    if (this.stopped || at >= end) return;
    if (this.paused) this.keep(chunk.subarray(at));
    else this.fill(chunk.subarray(at));
  }

  private keep(bytes: Uint8Array): void {
    if (this.backlog === undefined) {
      this.backlog = bytes.slice();
      return;
    }
    const joined = new Uint8Array(this.backlog.length + bytes.length);
    joined.set(this.backlog);
    joined.set(bytes, this.backlog.length);
    this.backlog = joined;
  }

  /** Copies from `src` into the gathering buffer up to the held frame's end; returns bytes taken. */
  private fill(src: Uint8Array): number {
    let taken = 0;
    if (this.want === 0) {
      const need = Math.min(4 - this.held, src.length);
      this.gather.set(src.subarray(0, need), this.held);
      this.held += need;
      taken = need;
      if (this.held < 4) return taken;
      this.want = this.frameBytes(this.gather, 0);
      if (this.gather.length < this.want) {
        const bigger = new Uint8Array(Math.max(this.want, INITIAL_GATHER_BYTES));
        bigger.set(this.gather.subarray(0, this.held));
        this.gather = bigger;
      }
    }
    const n = Math.min(this.want - this.held, src.length - taken);
    this.gather.set(src.subarray(taken, taken + n), this.held);
    this.held += n;
    return taken + n;
  }

  private frameBytes(buf: Uint8Array, at: number): number {
    const length = (buf[at]! | (buf[at + 1]! << 8) | (buf[at + 2]! << 16)) + buf[at + 3]! * 0x1000000;
    const bytes = length + 4;
    if (bytes < FRAME_HEADER_BYTES || bytes > this.maxFrameBytes) {
      throw protocolError(`a frame of ${bytes} bytes (limit ${this.maxFrameBytes}, header ${FRAME_HEADER_BYTES})`);
    }
    return bytes;
  }
}
