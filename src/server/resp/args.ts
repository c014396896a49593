// Runs on: any thread. Reading command arguments: option words, integers with Redis's
// strictness (no sign '+', no spaces, no leading zeros), text.

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

const INT_PATTERN = /^(0|-?[1-9][0-9]*)$/;
const INT64_MIN = -(1n << 63n);
const INT64_MAX = (1n << 63n) - 1n;

/** A signed 64-bit integer, as Redis's string2ll accepts it; null otherwise. */
export function parseInt64(arg: Uint8Array): bigint | null {
  if (arg.length === 0 || arg.length > 20) return null;
  const text = Buffer.from(arg.buffer, arg.byteOffset, arg.length).toString('latin1');
  if (!INT_PATTERN.test(text)) return null;
  const n = BigInt(text);
  return n < INT64_MIN || n > INT64_MAX ? null : n;
}

/** Whether `n` fits a signed 64-bit integer. */
export function isInt64(n: bigint): boolean {
  return n >= INT64_MIN && n <= INT64_MAX;
}

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
