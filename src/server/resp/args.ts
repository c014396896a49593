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
  return Buffer.from(arg.buffer, arg.byteOffset, arg.length).toString('latin1');
}

/** An integer reply: a number when it is safe, else a bigint. */
export function integerReply(n: bigint): number | bigint {
  return n >= BigInt(Number.MIN_SAFE_INTEGER) && n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n;
}
