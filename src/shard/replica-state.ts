// Runs on: a shard worker (or, in tests, any one thread that owns the engines). What the
// replica's frame handlers (handlers.ts and the files it gathers) see of the Replica
// (replica.ts): its stores, hint store and the staged writes of the batch being handled,
// and the helpers they share (decode options, object size limit, token bounds).
import { ErrorCode, RingkvError } from '../errors.js';
import { FrameType, type RangeEntry, type Reply, type Slab, type TokenBound } from '../protocol/index.js';
import { MAX_VALUE_BYTES, type StorageEngine } from '../storage/index.js';
import { objectSize, type Actor, type DecodeOptions, type VersionVector, type VObject } from '../version/index.js';
import { HINT_HEADER_BYTES, type HintStore } from './hint-store.js';
import type { MerkleBuilder } from './merkle.js';

export interface ReplicaStores {
  /** The shard's data. */
  data: StorageEngine;
  /** Hints held for other replicas. */
  hints: StorageEngine;
}

/** The Replica as its frame handlers use it (replica.ts documents each member). */
export interface ReplicaState {
  readonly stores: ReplicaStores;
  readonly hints: HintStore;
  /** Encoded objects: handed to the engine (which copies them) and to the replies. */
  readonly slab: Slab;
  builder: MerkleBuilder | undefined;
  /** A REPLICATE_MANY's keys by the top 53 bits of their token (reused; empty between frames). */
  readonly frameKeys: Map<number, FrameMerge>;
  /** The highest counter of this replica's actor in any object it purged (tombstone-gc.ts). */
  counterFloor: number;
  /** Objects this batch's PURGEs delete (counted once committed). */
  purgedStaged: number;
  /** Key and value bytes of the writes staged since the last commit. */
  stagedBytes: number;
  /** Marked for repair: GETs answer OBJECT_PARTIAL (replica.ts). */
  needsRepair: boolean;
  /** The actor this replica coordinates puts as. */
  actor: Actor;
  /** A new incarnation epoch for the actor, never used before. */
  readonly renew: () => number;
  floored(stored: VObject | undefined): VObject | undefined;
  flooredClock(clock: VersionVector): VersionVector;
  readObject(key: Uint8Array, hi: number, lo: number): VObject | undefined;
  readClock(key: Uint8Array, hi: number, lo: number): VersionVector;
  readObjectOrCorrupt(key: Uint8Array, hi: number, lo: number): VObject | undefined;
  /** This batch's staged write of `key` (bytes null: a delete), if any. */
  pendingWrite(key: Uint8Array, hi: number, lo: number): { readonly bytes: Uint8Array | null } | undefined;
  encode(obj: VObject): Uint8Array;
  writeData(key: Uint8Array, hi: number, lo: number, bytes: Uint8Array | null): void;
}

export const ACK: Reply = { type: FrameType.ACK };
export const EMPTY = new Uint8Array(0);

/** One key of a REPLICATE_MANY: what is stored and the merge of the frame's entries into it. */
export interface FrameMerge {
  /** The key's first entry in the frame. */
  entry: RangeEntry;
  /** That entry's place in the frame (errors name it). */
  index: number;
  stored: VObject | undefined;
  merged: VObject;
  /** Bytes of the merge's encoding; 0 while unchecked, or when nothing changes. */
  size: number;
  /** Next key of the frame whose token shares the same top 53 bits. */
  next: FrameMerge | undefined;
}

// Objects decoded here live only while the batch is handled (their bytes are ring views,
// engine views or this batch's encodings), so their values stay views: no copy per value.
export const STORED: DecodeOptions = { source: 'the stored object', copyValues: false };
export const REPLICATED: DecodeOptions = { source: 'a REPLICATE frame', copyValues: false };

/** Largest encoded object: a stored record's limit, less the header it gets as a hint. */
const MAX_OBJECT_BYTES = MAX_VALUE_BYTES - HINT_HEADER_BYTES;

/** objectSize(obj); fails this one request (not the batch's engine write) when `obj` would not fit a record. */
export function checkedSize(obj: VObject): number {
  const n = objectSize(obj);
  if (n > MAX_OBJECT_BYTES) {
    throw new RingkvError(ErrorCode.TOO_LARGE, `the key's versioned object would take ${n} bytes, above the ${MAX_OBJECT_BYTES}-byte limit of a stored object (concurrent values count together: resolve siblings or write less)`);
  }
  return n;
}

export function boundToken(b: TokenBound): bigint {
  return b.end ? 1n << 64n : (BigInt(b.hi) << 32n) | BigInt(b.lo);
}

export function tokenBound(t: bigint): TokenBound {
  return { hi: Number(t >> 32n), lo: Number(t & 0xffffffffn), end: false };
}
