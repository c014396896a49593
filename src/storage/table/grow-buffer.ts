// Runs on: any thread. The builders' growable buffers (block-builder.ts for data blocks,
// sstable-format.ts's IndexBuilder for the index): one way to make room.

/**
 * `buf` if it holds `need` bytes, else a buffer of twice its size (doubled until `need`
 * fits) holding a copy of its first `used` bytes.
 */
export function grownBuffer(buf: Buffer<ArrayBuffer>, used: number, need: number): Buffer<ArrayBuffer> {
  if (need <= buf.length) return buf;
  let cap = buf.length * 2;
  while (cap < need) cap *= 2;
  const grown = Buffer.allocUnsafe(cap);
  buf.copy(grown, 0, 0, used);
  return grown;
}
