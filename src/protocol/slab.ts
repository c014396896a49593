// Runs on: any thread (one Slab per thread). Copies of bytes that must outlive the buffer
// they arrived in (a queue record, a reused frame), without a fresh ArrayBuffer each.
//
// Allocating a Uint8Array of more than 64 bytes costs ~0.4-1 µs here (an off-heap backing
// store, and the GC work to free it), more than everything else a request does (docs/notes.md:
// values as slab views). A Slab copies into a bump-allocated chunk and hands out views.
// A chunk is never rewritten: when it is full a new one is allocated, and the old one is
// freed by the GC once its last view dies. The price: one view kept alive pins its chunk
// (SLAB_BYTES), so big copies get a buffer of their own.
//
// A copy sits at the same offset mod 8 as its source: V8 copies aligned bytes word by word.

/** A chunk holds ~500 copies of 100-byte values; a view kept for long pins at most this. */
export const SLAB_BYTES = 64 * 1024;
/** Copies bigger than this get a buffer of their own (no chunk is pinned or wasted by them). */
export const SLAB_MAX_COPY = 4 * 1024;

export class Slab {
  private chunk = new Uint8Array(0);
  private used = 0;

  /** A copy of src[from, to) that nothing ever overwrites. */
  copy(src: Uint8Array, from: number, to: number): Uint8Array {
    const n = to - from;
    if (n <= 32) {
      const out = this.alloc(n);
      for (let i = 0; i < n; i++) out[i] = src[from + i]!;
      return out;
    }
    // Same offset mod 8 as the source: V8 then copies word by word (~2.5x faster).
    const out = this.alloc(n, (src.byteOffset + from) & 7);
    out.set(src.subarray(from, to));
    return out;
  }

  /** Zeroed room for n bytes that nothing else ever writes, at an offset of `phase` mod 8 in its buffer. */
  alloc(n: number, phase = 0): Uint8Array {
    if (n > SLAB_MAX_COPY) return new Uint8Array(n);
    let at = this.used + phase;
    if (at + n > this.chunk.length) {
      this.chunk = new Uint8Array(SLAB_BYTES);
      at = phase;
    }
    this.used = (at + n + 7) & ~7;
    return new Uint8Array(this.chunk.buffer, at, n);
  }

  /** The UTF-8 bytes of `s` (ASCII is copied by hand: TextEncoder.encode costs ~0.5 µs). */
  encodeString(s: string): Uint8Array {
    const n = s.length;
    if (n <= 256) {
      let ascii = true;
      for (let i = 0; i < n; i++) {
        if (s.charCodeAt(i) >= 0x80) {
          ascii = false;
          break;
        }
      }
      if (ascii) {
        const out = this.alloc(n);
        for (let i = 0; i < n; i++) out[i] = s.charCodeAt(i);
        return out;
      }
    }
    const bytes = Buffer.byteLength(s, 'utf8');
    if (bytes > SLAB_MAX_COPY) return encoder.encode(s);
    const out = this.alloc(bytes);
    const r = encoder.encodeInto(s, out);
    if (r.read !== n) return encoder.encode(s);
    return r.written === bytes ? out : out.subarray(0, r.written);
  }
}

const encoder = new TextEncoder();
