// Runs on: any thread. Fixed-width little-endian integers, as every format of ours stores
// them. 64-bit quantities (file offsets, sequence numbers) are JS numbers, safe up to 2^53,
// stored as 8 bytes (low 32 bits, then high 32 bits).

export function putFixed32(buf: Uint8Array, at: number, v: number): void {
  buf[at] = v; buf[at + 1] = v >>> 8; buf[at + 2] = v >>> 16; buf[at + 3] = v >>> 24;
}

export function getFixed32(buf: Uint8Array, at: number): number {
  return (buf[at]! | (buf[at + 1]! << 8) | (buf[at + 2]! << 16) | (buf[at + 3]! << 24)) >>> 0;
}

export function putFixed64(buf: Uint8Array, at: number, v: number): void {
  putFixed32(buf, at, v >>> 0);
  putFixed32(buf, at + 4, Math.floor(v / 0x100000000));
}

export function getFixed64(buf: Uint8Array, at: number): number {
  return getFixed32(buf, at) + getFixed32(buf, at + 4) * 0x100000000;
}
