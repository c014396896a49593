// Runs on: the main thread. The outgoing frames of one peer link, coalesced: frames are
// encoded into one buffer and written with one socket write per event-loop turn (a small
// socket write costs ~8 µs here, docs/notes.md), scheduled with setImmediate so everything a
// turn's I/O callbacks produced goes out together.
//
// The buffer is reused when the kernel took the whole write at once (the socket holds no
// reference to it then); when the socket had to keep it, the next turn starts a new one.
import type { Socket } from 'node:net';
import { ErrorCode, RingkvError } from '../../errors.js';
import { MAX_FRAME_BYTES } from '../../protocol/index.js';

/** Start size of the staging buffer (a turn's worth of small frames). */
const INITIAL_OUTBOX_BYTES = 64 * 1024;
/** A buffer grown past this for a big frame is not kept once written. */
const KEEP_OUTBOX_BYTES = 1024 * 1024;

export class Outbox {
  buf = new Uint8Array(INITIAL_OUTBOX_BYTES);
  /** Bytes staged. */
  used = 0;
  /** Called after each write (the owner re-checks its back-pressure). */
  afterFlush: (() => void) | undefined;
  private socket: Socket | undefined;
  private scheduled = false;
  private readonly flushNow = (): void => this.flush();

  /** Bytes staged here plus bytes the socket still holds: what the link's bound counts. */
  get queuedBytes(): number {
    return this.used + (this.socket?.writableLength ?? 0);
  }

  /** Starts writing to `socket` (staged frames go out this turn). */
  attach(socket: Socket): void {
    this.socket = socket;
    if (this.used > 0) this.schedule();
  }

  /** Drops what is staged and forgets the socket (the link died). */
  reset(): void {
    this.socket = undefined;
    this.used = 0;
    if (this.buf.length > KEEP_OUTBOX_BYTES) this.buf = new Uint8Array(INITIAL_OUTBOX_BYTES);
  }

  /** Room for n more bytes at buf[used]; write there, then `commit(n)`. Returns `used`. */
  reserve(n: number): number {
    if (this.used + n > this.buf.length) {
      if (n > MAX_FRAME_BYTES) throw new RingkvError(ErrorCode.TOO_LARGE, `a frame of ${n} bytes exceeds ${MAX_FRAME_BYTES}`);
      let size = this.buf.length * 2;
      while (size < this.used + n) size *= 2;
      const next = new Uint8Array(size);
      next.set(this.buf.subarray(0, this.used));
      this.buf = next;
    }
    return this.used;
  }

  commit(n: number): void {
    this.used += n;
    if (this.socket !== undefined) this.schedule();
  }

  /** Stages a copy of an encoded frame. */
  put(frame: Uint8Array): void {
    const at = this.reserve(frame.length);
    this.buf.set(frame, at);
    this.commit(frame.length);
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(this.flushNow);
  }

  private flush(): void {
    this.scheduled = false;
    const socket = this.socket;
    if (socket === undefined || this.used === 0 || socket.destroyed) return;
    const out = this.buf.subarray(0, this.used);
    this.used = 0;
    socket.write(out);
    // Taken whole by the kernel: the socket keeps no reference, the buffer can be reused.
    if (socket.writableLength > 0 || this.buf.length > KEEP_OUTBOX_BYTES) this.buf = new Uint8Array(INITIAL_OUTBOX_BYTES);
    this.afterFlush?.();
  }
}
