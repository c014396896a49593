// Runs on: any thread. Comparing byte strings.

/** Compares two byte ranges as unsigned bytes: <0, 0, >0. */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  return Buffer.compare(a, b);
}

/** Up to this many bytes a plain loop beats the call into Buffer.compare. */
const LOOP_COMPARE_BYTES = 64;

/** Whether `a` and `b` hold the same bytes. */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  const n = a.length;
  if (n !== b.length) return false;
  if (n > LOOP_COMPARE_BYTES) return Buffer.compare(a, b) === 0;
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return false;
  return true;
}
