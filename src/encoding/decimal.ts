// Runs on: any thread. Signed 64-bit integers written as decimal text, with Redis's
// strictness (string2ll): no '+', no spaces, no leading zeros, at most 20 bytes. The RESP
// server parses arguments with it; a shard parses the values it increments (INCRBY).

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
