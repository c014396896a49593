// Runs on: the consumer thread of one queue (the coordinator's reply loop on the main thread,
// or a shard's serve loop on its worker). Joins the fragments of a big frame (fragment.ts)
// back into one buffer, and hands the frame on only once every byte of it arrived.
//
// Buffers: the frame being joined is copied into a buffer of its own. A joined frame is
// lent to the caller until release() (the coordinator releases after each reply's handler,
// a shard at the end of the batch the frame arrived in, since a shard reads its requests'
// bytes until the batch is committed). One released buffer of at most `keepBytes` is kept
// for the next big frame, so a stream of big frames does not allocate (and page-fault) a
// new buffer per frame, and a single huge frame does not pin its buffer for ever.
import { type FragmentHeader, fragmentCorruption, readFragmentHeader } from './fragment.js';

/** A joined frame's buffer up to this size is kept for the next one: a 16 MiB value plus its frame. */
export const KEEP_REASSEMBLY_BYTES = 17 * 1024 * 1024;

/** One queue's reassembly state. Not shared: owned by the queue's consumer. */
export class Reassembler {
  /** Fragments read. */
  fragments = 0;
  /** Frames joined and handed on. */
  frames = 0;

  private buf: Uint8Array | undefined;
  private seq = 0;
  private total = 0;
  private received = 0;
  private spare: Uint8Array | undefined;
  private readonly lent: Uint8Array[] = [];
  private readonly header: FragmentHeader = { seq: 0, total: 0, offset: 0, dataBytes: 0 };

  constructor(
    private readonly maxFrameBytes: number,
    private readonly keepBytes = KEEP_REASSEMBLY_BYTES,
  ) {}

  /** True while a frame has some of its fragments but not all. */
  get partial(): boolean {
    return this.buf !== undefined;
  }

  /** Bytes of the frame being joined received so far (0 when none is). */
  get partialBytes(): number {
    return this.buf === undefined ? 0 : this.received;
  }

  /**
   * Copies the fragment `buf[at, at + length)` into its frame. Returns the whole frame (a
   * view of exactly its bytes) when this fragment completes it; undefined while the frame is
   * incomplete. The view stays valid until release(). Throws ERR_CORRUPTION for a fragment out of order or malformed (the
   * partial frame is then dropped).
   */
  add(buf: Uint8Array, at: number, length: number): Uint8Array | undefined {
    const h = this.header;
    try {
      readFragmentHeader(buf, at, length, this.maxFrameBytes, h);
      if (h.offset === 0) {
        if (this.buf !== undefined) throw fragmentCorruption(`frame ${h.seq} started before frame ${this.seq} ended (${this.received} of ${this.total} bytes)`);
        this.buf = this.take(h.total);
        this.seq = h.seq;
        this.total = h.total;
        this.received = 0;
      } else if (this.buf === undefined || h.seq !== this.seq || h.total !== this.total || h.offset !== this.received) {
        throw fragmentCorruption(`fragment of frame ${h.seq} at ${h.offset} of ${h.total} bytes does not continue ` +
          (this.buf === undefined ? 'anything' : `frame ${this.seq} at ${this.received} of ${this.total}`));
      }
    } catch (err) {
      this.buf = undefined;
      throw err;
    }
    const from = at + (length - h.dataBytes);
    this.buf.set(buf.subarray(from, at + length), h.offset);
    this.received += h.dataBytes;
    this.fragments++;
    if (this.received < this.total) return undefined;
    const buffer = this.buf;
    this.buf = undefined;
    this.frames++;
    this.lent.push(buffer);
    return buffer.length === this.total ? buffer : buffer.subarray(0, this.total);
  }

  /** The frames handed out since the last release are no longer read: keep one buffer for the next. */
  release(): void {
    const lent = this.lent;
    for (let i = 0; i < lent.length; i++) {
      const b = lent[i]!;
      if (b.length <= this.keepBytes && (this.spare === undefined || b.length > this.spare.length)) this.spare = b;
    }
    lent.length = 0;
  }

  /** Drops a partial frame (its producer died or closed the queue) and the kept buffer. */
  reset(): void {
    this.buf = undefined;
    this.spare = undefined;
    this.lent.length = 0;
  }

  private take(total: number): Uint8Array {
    const s = this.spare;
    if (s !== undefined && s.length >= total) {
      this.spare = undefined;
      return s;
    }
    return new Uint8Array(total);
  }
}
