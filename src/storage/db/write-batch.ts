// Runs on: a shard worker. The payload of one WAL record: a batch of writes applied atomically.
//
// Format (on disk inside WAL records; never change, only extend with new kinds):
//
//   +-----------------+-------------+-----------------------------------------------+
//   | first seq  u64  | count  u32  | op 0 | op 1 | ... | op count-1                  |
//   +-----------------+-------------+-----------------------------------------------+
//   op = [kind u8][varint keyLength][key][varint valueLength][value]   (PUT)
//        [kind u8][varint keyLength][key]                              (DELETE)
//
// Op i has sequence number `first seq + i`. Integers little-endian; kinds from RecordKind.
import { corruption } from '../../errors.js';
import { getFixed32, getFixed64, getVarint, putFixed32, putFixed64, putVarint, varintLength, RecordKind } from '../record/index.js';
import type { WriteOp } from './types.js';

const HEADER_BYTES = 12;

/** Encodes batches into one reused, grown-on-demand buffer. */
export class BatchEncoder {
  private buf = new Uint8Array(64 * 1024);

  /** Returns a view of the encoded batch, valid until the next call. */
  encode(firstSeq: number, ops: readonly WriteOp[]): Uint8Array {
    let size = HEADER_BYTES;
    for (const op of ops) {
      size += 1 + varintLength(op.key.length) + op.key.length;
      if (op.type === 'put') size += varintLength(op.value.length) + op.value.length;
    }
    if (size > this.buf.length) this.buf = new Uint8Array(Math.max(size, this.buf.length * 2));
    const buf = this.buf;
    putFixed64(buf, 0, firstSeq);
    putFixed32(buf, 8, ops.length);
    let at = HEADER_BYTES;
    for (const op of ops) {
      buf[at++] = op.type === 'put' ? RecordKind.PUT : RecordKind.DELETE;
      at = putVarint(buf, at, op.key.length);
      buf.set(op.key, at);
      at += op.key.length;
      if (op.type === 'put') {
        at = putVarint(buf, at, op.value.length);
        buf.set(op.value, at);
        at += op.value.length;
      }
    }
    return buf.subarray(0, at);
  }
}

export interface DecodedOp {
  kind: RecordKind;
  seq: number;
  key: Uint8Array;
  value: Uint8Array;
}

const EMPTY = new Uint8Array(0);

/**
 * Calls `each` for every op of an encoded batch; key and value are views into `payload`.
 * A payload that does not parse throws ERR_CORRUPTION naming `file` (its CRC matched, so
 * this means a bug or a deliberate forgery, not a torn write).
 */
export function decodeBatch(payload: Uint8Array, file: string, each: (op: DecodedOp) => void): void {
  if (payload.length < HEADER_BYTES) throw corruption(file, 'WAL batch shorter than its header');
  const firstSeq = getFixed64(payload, 0);
  const count = getFixed32(payload, 8);
  const v = { value: 0 };
  const op: DecodedOp = { kind: RecordKind.PUT, seq: 0, key: EMPTY, value: EMPTY };
  let at = HEADER_BYTES;
  const end = payload.length;
  for (let i = 0; i < count; i++) {
    const kind = payload[at++];
    if (kind !== RecordKind.PUT && kind !== RecordKind.DELETE) throw corruption(file, `WAL batch op of unknown kind ${kind}`);
    at = getVarint(payload, at, end, v);
    if (at < 0 || at + v.value > end) throw corruption(file, 'WAL batch key runs past its record');
    op.key = payload.subarray(at, at + v.value);
    at += v.value;
    op.value = EMPTY;
    if (kind === RecordKind.PUT) {
      at = getVarint(payload, at, end, v);
      if (at < 0 || at + v.value > end) throw corruption(file, 'WAL batch value runs past its record');
      op.value = payload.subarray(at, at + v.value);
      at += v.value;
    }
    op.kind = kind;
    op.seq = firstSeq + i;
    each(op);
  }
  if (at !== end) throw corruption(file, 'WAL batch has trailing bytes');
}
