// Runs on: the main thread. When a read's value expires, as far as the store tells.
//
// The store's ReadResult carries values and a context but (today) not the expiry of each
// value, although every sibling keeps its expiresAt. TTL/PTTL and TTL-preserving rewrites
// (INCR) need it, so this one place reads `expiresAt` (ms since the epoch per value, 0 =
// never, parallel to `values`) when the store provides it, and reports "unknown"
// otherwise. The server asks the store for nothing else about expiry.
import type { ReadResult } from '../../index.js';

/** Expiry of the read's (first) value: ms since the epoch, 0 = never, undefined = the store does not say. */
export function expiresAtOf(read: ReadResult): number | undefined {
  const all = (read as { expiresAt?: readonly number[] }).expiresAt;
  if (!Array.isArray(all) || all.length === 0) return undefined;
  const first = all[0];
  return typeof first === 'number' ? first : undefined;
}

/** The read's expiry to keep in a rewrite (the store's expiresAt option): undefined = none. */
export function keptExpiry(read: ReadResult | undefined): number | undefined {
  if (read === undefined) return undefined;
  const at = expiresAtOf(read);
  return at === undefined || at === 0 ? undefined : at;
}

/** Milliseconds the read's value has left: undefined when it never expires or the store does not say. */
export function remainingMs(read: ReadResult, now: number): number | undefined {
  const at = expiresAtOf(read);
  if (at === undefined || at === 0) return undefined;
  return Math.max(1, at - now);
}
