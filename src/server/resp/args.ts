// Runs on: any thread. Reading command arguments: option words, integers with Redis's
// strictness (no sign '+', no spaces, no leading zeros: src/encoding/decimal.ts), text.
import { parseInt64 } from '../../encoding/index.js';

/** Whether `arg` is `word` ignoring ASCII case. REQUIRES: `word` lower-case ASCII. No allocation. */
export function isWord(arg: Uint8Array, word: string): boolean {
  if (arg.length !== word.length) return false;
  for (let i = 0; i < arg.length; i++) {
    let c = arg[i]!;
    if (c >= 0x41 && c <= 0x5a) c += 0x20;
    if (c !== word.charCodeAt(i)) return false;
  }
  return true;
}

export { isInt64, parseInt64 } from '../../encoding/index.js';

/** An integer argument within the safe range of a JS number; null otherwise. */
export function parseInteger(arg: Uint8Array): number | null {
  const n = parseInt64(arg);
  if (n === null || n > BigInt(Number.MAX_SAFE_INTEGER) || n < BigInt(Number.MIN_SAFE_INTEGER)) return null;
  return Number(n);
}

/** The argument as text (UTF-8; invalid bytes become U+FFFD). */
export function text(arg: Uint8Array): string {
  return Buffer.from(arg.buffer, arg.byteOffset, arg.length).toString('utf8');
}

/** The argument as a binary-safe string, one char per byte: a Map key for a Redis key. */
export function keyString(arg: Uint8Array): string {
  // A Buffer (every parsed argument) decodes itself: no view to make first (~70 vs ~150 ns).
  if (arg instanceof Buffer) return arg.toString('latin1');
  return Buffer.from(arg.buffer, arg.byteOffset, arg.length).toString('latin1');
}

/** Longest byte string a ByteTable holds. */
export const BYTE_TABLE_MAX_LENGTH = 32;
/** Buckets of a ByteTable (a power of two); a table holds a few hundred entries. */
const BYTE_TABLE_BUCKETS = 1024;

/**
 * A few short byte strings (command names), each held as one shared Buffer with a value:
 * find() tells whether bytes in a received chunk are one of them without making a view or
 * a string (a hash of the length and three bytes, then a byte compare), and valueOf()
 * takes the shared Buffer back to its value by identity. Exact bytes: register each case
 * that should be found (SET and set). Filled once, at start; read from any thread that owns it.
 */
export class ByteTable<T> {
  private readonly buckets: (Buffer[] | undefined)[] = new Array(BYTE_TABLE_BUCKETS).fill(undefined);
  private readonly values = new Map<Buffer, T>();

  /** REQUIRES: 1 <= bytes.length <= BYTE_TABLE_MAX_LENGTH. A second add of the same bytes is ignored. */
  add(text: string, value: T): void {
    const bytes = Buffer.from(text, 'latin1');
    if (bytes.length === 0 || bytes.length > BYTE_TABLE_MAX_LENGTH) throw new RangeError(`ByteTable entry of ${bytes.length} bytes`);
    if (this.find(bytes, 0, bytes.length) !== undefined) return;
    const h = hashBytes(bytes, 0, bytes.length);
    (this.buckets[h] ??= []).push(bytes);
    this.values.set(bytes, value);
  }

  /** The shared Buffer equal to buf[at, at + length), if the table holds one. No allocation. */
  find(buf: Uint8Array, at: number, length: number): Buffer | undefined {
    if (length === 0 || length > BYTE_TABLE_MAX_LENGTH) return undefined;
    const bucket = this.buckets[hashBytes(buf, at, length)];
    if (bucket === undefined) return undefined;
    outer: for (let b = 0; b < bucket.length; b++) {
      const e = bucket[b]!;
      if (e.length !== length) continue;
      for (let i = 0; i < length; i++) if (e[i] !== buf[at + i]) continue outer;
      return e;
    }
    return undefined;
  }

  /** The value of a Buffer find() returned; undefined for any other Buffer. */
  valueOf(entry: Buffer): T | undefined {
    return this.values.get(entry);
  }
}

function hashBytes(buf: Uint8Array, at: number, length: number): number {
  const h = ((buf[at]! * 31 + buf[at + (length >> 1)]!) * 31 + buf[at + length - 1]!) * 31 + length;
  return h & (BYTE_TABLE_BUCKETS - 1);
}

/** An integer reply: a number when it is safe, else a bigint. */
export function integerReply(n: bigint): number | bigint {
  return n >= BigInt(Number.MIN_SAFE_INTEGER) && n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n;
}
