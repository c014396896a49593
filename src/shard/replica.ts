// Runs on: a shard worker (or, in tests, any one thread that owns the engines).
//
// The replica behaviour: what one shard does with the coordinator's requests, over its
// storage engine (the LSM engine, or the in-memory model in tests). A small contract, as a
// riak_core vnode: handle a batch of requests, answer each.
//
// - GET        reads the stored object (the raw bytes: the coordinator decodes and merges).
// - PUT        coordinates a version: reads what is stored, advances this replica's actor
//              (replica id, incarnation epoch) past both the stored clock and the caller's
//              context, drops what the context saw, keeps concurrent values as siblings,
//              stores the result and returns it (the coordinator replicates it).
// - REPLICATE  merges a coordinated object into what is stored and stores the union.
// - HINT       keeps an object for another replica that is down (sloppy quorum) in the
//              shard's hint store, merged with any hint already held for that key.
// - HINTS_FOR / HINT_DONE: hinted handoff: list the hints held for a replica; delete one
//              once delivered (only if unchanged since it was listed).
// Beside the frames, for handoff of whole ranges and anti-entropy (the cluster issue):
// scanRange(from, to) streams a token range's objects; merkle(from, to, depth) hashes it.
//
// A batch is applied with ONE engine write per store (one WAL record, one fsync in `batch`
// mode: group commit), and a write is acknowledged only after it. Requests in one batch see
// each other's writes. A request that fails (bad context, too many siblings, corrupt stored
// object) gets an ERROR reply; the others in the batch are unaffected. If the engine write
// itself fails, every write of the batch answers ERROR and nothing of it was acknowledged.
import { ErrorCode, RingkvError } from '../errors.js';
import { FrameType, type HintEntry, type Reply, type Request } from '../protocol/index.js';
import type { ScanEntry, StorageEngine, WriteOp } from '../storage/types.js';
import type { MerkleBuilder, MerkleTree } from './merkle.js';
import {
  type Actor,
  coordinatePut,
  decodeContext,
  decodeObject,
  encodeObject,
  equalObjects,
  mergeObjects,
  type VObject,
} from '../version/index.js';

export interface ReplicaStores {
  /** The shard's data. */
  data: StorageEngine;
  /** Hints held for other replicas. */
  hints: StorageEngine;
}

const ACK: Reply = { type: FrameType.ACK };

export class Replica {
  /** Writes of the batch being handled, by store and key, so later requests see them. */
  private readonly pending = new Map<string, Uint8Array | null>();
  private dataOps: WriteOp[] = [];
  private hintOps: WriteOp[] = [];

  constructor(
    readonly actor: Actor,
    private readonly stores: ReplicaStores,
  ) {}

  /** Handles `requests` as one batch; replies[i] answers requests[i]. */
  handleBatch(requests: readonly Request[]): Reply[] {
    const replies: Reply[] = [];
    const writers: number[] = [];
    for (const req of requests) {
      try {
        const reply = this.handle(req);
        if (req.type !== FrameType.GET && req.type !== FrameType.HINTS_FOR) writers.push(replies.length);
        replies.push(reply);
      } catch (err) {
        replies.push(errorReply(err));
      }
    }
    try {
      if (this.dataOps.length > 0) this.stores.data.write(this.dataOps);
      if (this.hintOps.length > 0) this.stores.hints.write(this.hintOps);
    } catch (err) {
      const failed = errorReply(err);
      for (const i of writers) if (replies[i]!.type !== FrameType.ERROR) replies[i] = failed;
    } finally {
      this.pending.clear();
      this.dataOps = [];
      this.hintOps = [];
    }
    return replies;
  }

  private handle(req: Request): Reply {
    switch (req.type) {
      case FrameType.GET: {
        const stored = this.read('d', this.stores.data, req.key);
        return { type: FrameType.OBJECT, object: stored ?? EMPTY };
      }
      case FrameType.PUT: {
        const stored = this.readObject(req.key);
        const next = coordinatePut(stored, decodeContext(req.context), this.actor, {
          value: req.value === null ? null : req.value.slice(),
          writtenAt: req.writtenAt,
          expiresAt: req.expiresAt,
        }, { maxSiblings: req.maxSiblings, lww: req.lww });
        const bytes = encodeObject(next);
        this.writeData(req.key, bytes);
        return { type: FrameType.OBJECT, object: bytes };
      }
      case FrameType.REPLICATE: {
        const incoming = decodeObject(req.object, { source: 'a REPLICATE frame' });
        const stored = this.readObject(req.key);
        const merged = stored === undefined ? incoming : mergeObjects(stored, incoming);
        if (stored === undefined || !equalObjects(merged, stored)) this.writeData(req.key, encodeObject(merged));
        return ACK;
      }
      case FrameType.HINT: {
        const incoming = decodeObject(req.object, { source: 'a HINT frame' });
        const hkey = hintKey(req.target, req.key);
        const held = this.read('h', this.stores.hints, hkey);
        const merged = held === undefined ? incoming : mergeObjects(decodeHint(held).object, incoming);
        this.writeHint(hkey, encodeHint(req.hi, req.lo, encodeObject(merged)));
        return ACK;
      }
      case FrameType.HINTS_FOR:
        return { type: FrameType.HINTS, hints: this.hintsFor(req.target, req.max) };
      case FrameType.HINT_DONE: {
        const hkey = hintKey(req.target, req.key);
        const held = this.read('h', this.stores.hints, hkey);
        if (held !== undefined && equalBytes(decodeHint(held).objectBytes, req.object)) this.writeHint(hkey, null);
        return ACK;
      }
    }
  }

  /** The stored objects with from <= token < to, in (token, key) order (range handoff). */
  scanRange(from: bigint, to: bigint): IterableIterator<ScanEntry> {
    return this.stores.data.scan(from, to);
  }

  /** A Merkle tree over the token range [from, to) of this replica's objects. */
  merkle(builder: MerkleBuilder, from: bigint, to: bigint, depth: number): MerkleTree {
    return builder.build(this.stores.data.scan(from, to), from, to, depth);
  }

  /** Hints held for `target`, at most `max`. A scan of the hint store: hints are few. */
  private hintsFor(target: string, max: number): HintEntry[] {
    const prefix = hintPrefix(target);
    const out: HintEntry[] = [];
    for (const e of this.stores.hints.scan(0n, 1n << 64n)) {
      if (out.length >= max) break;
      if (!startsWith(e.key, prefix)) continue;
      const h = decodeHint(e.value);
      out.push({ hi: h.hi, lo: h.lo, key: e.key.slice(prefix.length), object: h.objectBytes.slice() });
    }
    return out;
  }

  private readObject(key: Uint8Array): VObject | undefined {
    const bytes = this.read('d', this.stores.data, key);
    return bytes === undefined ? undefined : decodeObject(bytes, { source: 'the stored object' });
  }

  private read(store: 'd' | 'h', engine: StorageEngine, key: Uint8Array): Uint8Array | undefined {
    const p = this.pending.get(store + Buffer.from(key.buffer, key.byteOffset, key.length).toString('latin1'));
    if (p !== undefined) return p ?? undefined;
    return engine.get(key);
  }

  private writeData(key: Uint8Array, bytes: Uint8Array): void {
    const k = key.slice();
    this.pending.set('d' + Buffer.from(k).toString('latin1'), bytes);
    this.dataOps.push({ type: 'put', key: k, value: bytes });
  }

  private writeHint(hkey: Uint8Array, bytes: Uint8Array | null): void {
    this.pending.set('h' + Buffer.from(hkey).toString('latin1'), bytes);
    this.hintOps.push(bytes === null ? { type: 'delete', key: hkey } : { type: 'put', key: hkey, value: bytes });
  }
}

const EMPTY = new Uint8Array(0);
const encoder = new TextEncoder();

// A hint is stored under [target length u8][target utf-8][key] with value [hi u32][lo u32][object].
function hintPrefix(target: string): Uint8Array {
  const t = encoder.encode(target);
  if (t.length > 255) throw new RingkvError(ErrorCode.INVALID_ARGUMENT, `replica id '${target.slice(0, 40)}...' is longer than 255 bytes`);
  const p = new Uint8Array(1 + t.length);
  p[0] = t.length;
  p.set(t, 1);
  return p;
}

function hintKey(target: string, key: Uint8Array): Uint8Array {
  const p = hintPrefix(target);
  const k = new Uint8Array(p.length + key.length);
  k.set(p);
  k.set(key, p.length);
  return k;
}

function encodeHint(hi: number, lo: number, object: Uint8Array): Uint8Array {
  const v = new Uint8Array(8 + object.length);
  const dv = new DataView(v.buffer);
  dv.setUint32(0, hi, true);
  dv.setUint32(4, lo, true);
  v.set(object, 8);
  return v;
}

function decodeHint(v: Uint8Array): { hi: number; lo: number; objectBytes: Uint8Array; object: VObject } {
  if (v.length < 8) throw new RingkvError(ErrorCode.CORRUPTION, 'a stored hint is shorter than its header');
  const dv = new DataView(v.buffer, v.byteOffset, v.byteLength);
  const objectBytes = v.subarray(8);
  return { hi: dv.getUint32(0, true), lo: dv.getUint32(4, true), objectBytes, object: decodeObject(objectBytes, { source: 'a stored hint' }) };
}

function startsWith(a: Uint8Array, prefix: Uint8Array): boolean {
  if (a.length < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (a[i] !== prefix[i]) return false;
  return true;
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(a, b) === 0;
}

function errorReply(err: unknown): Reply {
  const code = err instanceof RingkvError ? err.code : ErrorCode.IO;
  const message = err instanceof Error ? err.message : String(err);
  return { type: FrameType.ERROR, code, message };
}
