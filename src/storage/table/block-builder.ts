// Runs on: a shard worker or a piscina job (whoever writes the table). Builds the contents
// of one data block (format in block-format.ts) into a buffer that is reused from block to
// block: after `finish()` the returned view is valid until the next `add` or `reset`.
import { invariant } from '../../errors.js';
import { putFixed32, putVarint } from '../record/index.js';
import { entryLength } from './block-format.js';
import { grownBuffer } from './grow-buffer.js';

const INITIAL_CAPACITY = 8 * 1024;
/** A buffer grown past this for one huge entry is dropped at the next reset, not kept for the table's life. */
const KEEP_CAPACITY = 1024 * 1024;

export class BlockBuilder {
  private buf = Buffer.allocUnsafe(INITIAL_CAPACITY);
  private pos = 0;
  private offsets = new Uint32Array(256);
  private n = 0;
  private finished = false;

  /** Entries added since the last reset. */
  get count(): number {
    return this.n;
  }

  /** Size the block would have if finished now. */
  get sizeEstimate(): number {
    return this.pos + 4 * this.n + 4;
  }

  /** REQUIRES: ikey greater than every ikey added since the last reset (the writer checks). */
  add(ikey: Uint8Array, kind: number, seq: number, value: Uint8Array): void {
    invariant(!this.finished, 'BlockBuilder.add after finish without reset');
    const need = entryLength(seq, ikey.length, value.length);
    this.reserve(need + 4 * (this.n + 2));
    if (this.n === this.offsets.length) {
      const grown = new Uint32Array(this.n * 2);
      grown.set(this.offsets);
      this.offsets = grown;
    }
    this.offsets[this.n++] = this.pos;
    const buf = this.buf;
    let p = this.pos;
    buf[p++] = kind;
    p = putVarint(buf, p, seq);
    p = putVarint(buf, p, ikey.length);
    p = putVarint(buf, p, value.length);
    buf.set(ikey, p);
    p += ikey.length;
    buf.set(value, p);
    this.pos = p + value.length;
  }

  /** Appends the offset array and count; returns the block contents (a view of the reused buffer). */
  finish(): Buffer {
    invariant(this.n > 0, 'a block holds at least one entry');
    invariant(!this.finished, 'BlockBuilder.finish twice');
    this.reserve(4 * this.n + 4);
    const buf = this.buf;
    let p = this.pos;
    for (let i = 0; i < this.n; i++, p += 4) putFixed32(buf, p, this.offsets[i]!);
    putFixed32(buf, p, this.n);
    this.finished = true;
    return buf.subarray(0, p + 4);
  }

  reset(): void {
    if (this.buf.length > KEEP_CAPACITY) this.buf = Buffer.allocUnsafe(INITIAL_CAPACITY);
    this.pos = 0;
    this.n = 0;
    this.finished = false;
  }

  private reserve(extra: number): void {
    this.buf = grownBuffer(this.buf, this.pos, this.pos + extra);
  }
}
