// Runs on: a shard worker (or, in tests, any one thread that owns the engines).
//
// The replica behaviour: what one shard does with the coordinator's requests, over its
// storage engine (the LSM engine, or the in-memory model in tests). A small contract, as a
// riak_core vnode: handle a batch of requests, answer each.
//
// - GET        reads the stored object (the raw bytes: the coordinator decodes and merges);
//              OBJECT_PARTIAL instead of OBJECT while the replica is marked for repair.
// - PUT        coordinates a version: reads what is stored, advances this replica's actor
//              (replica id, incarnation epoch) past both the stored clock and the caller's
//              context, drops what the context saw, keeps concurrent values as siblings,
//              stores the result and returns it (the coordinator replicates it). With
//              `increment`, the value written is the stored integer plus the request's
//              delta (increment.ts), in the same step.
// - REPLICATE  merges a coordinated object into what is stored and stores the union.
// - REPLICATE_MANY: the same for each entry of a batch (range transfer, repair), all or
//              nothing: every merge is computed before any is staged, and one entry that
//              fails fails the frame with nothing of it applied.
// - HINT       keeps an object for another replica that is down (sloppy quorum) in the
//              shard's hint store, merged with any hint already held for that key.
// - HINTS_FOR / HINT_DONE: hinted handoff: list the hints held for a replica; delete one
//              once delivered (only if unchanged since it was listed). The hint store is
//              bounded by bytes and age (hint-store.ts): an expired hint is never listed.
// - PURGE      tombstone GC: deletes the range's tombstone-only objects written before a
//              time, re-checked in this batch (the rule: tombstone-gc.ts).
// - DROP       deletes every object of a token range this replica handed away (after its
//              owners were shown to hold all of it: src/cluster/transfer/range-cleanup.ts), but for
//              objects written since (a stand-in's write for an unreachable primary).
// - TREE       hashes a token range's objects into Merkle leaves (anti-entropy), refusing
//              (complete = false) a range that holds more than TREE_MAX_ENTRIES: one request
//              never stalls the shard for longer than hashing that many objects.
// - RANGE      lists a token range's stored objects, tombstones included (anti-entropy
//              repairs from them), a page of at most RANGE_MAX_ENTRIES / RANGE_MAX_BYTES.
// Beside the frames, for handoff of whole ranges: scanRange(from, to) streams a token
// range's objects; merkle(from, to, depth) hashes it.
//
// Each frame type's handler is a row of handlers.ts's table (write-handlers.ts,
// range-handlers.ts); this file keeps the replica's state: the batch's staged writes,
// their commit, the actor and its counter floor, and the reads and writes the handlers use.
//
// A batch is applied with ONE engine write per store (one WAL record, one fsync in `batch`
// mode: group commit), and a write is acknowledged only after it. Requests in one batch see
// each other's writes. A request that fails (bad context, too many siblings, corrupt stored
// object) gets an ERROR reply; the others in the batch are unaffected. If the engine write
// itself fails, every write of the batch answers ERROR and nothing of it was acknowledged.
import { equalBytes } from '../encoding/index.js';
import { ErrorCode, RingkvError, isCorruption } from '../errors.js';
import { FrameType, Slab, type Reply, type Request } from '../protocol/index.js';
import type { ScanEntry, WriteOp } from '../storage/index.js';
import { HANDLERS } from './handlers.js';
import { HintStore, defaultHintLimits, type HintLimits, type HintStats } from './hint-store.js';
import type { MerkleBuilder, MerkleTree } from './merkle.js';
import { ACK, EMPTY, STORED, checkedSize, type FrameMerge, type ReplicaState, type ReplicaStores } from './replica-state.js';
import {
  addDot,
  counterOf,
  type Actor,
  EMPTY_CLOCK,
  decodeObject,
  decodeObjectClock,
  encodeObjectInto,
  type VersionVector,
  type VObject,
} from '../version/index.js';

export type { ReplicaStores } from './replica-state.js';
export { RANGE_MAX_BYTES, RANGE_MAX_ENTRIES, TREE_MAX_ENTRIES } from './range-handlers.js';

export interface ReplicaOptions {
  /** Bounds of the hint store (default defaultHintLimits()). */
  hints?: Partial<HintLimits>;
  /** Wall clock, ms since the epoch (hint ages). Default Date.now. */
  now?: () => number;
  /**
   * A new incarnation epoch for this replica's actor, never used before (durably: a shard
   * bumps its EPOCH file). Called after a DROP deleted objects with this actor's dots.
   * Default: the current epoch plus one, in memory (tests).
   */
  renew?: () => number;
}

/** A write of the batch being handled: later requests of the batch read it. */
interface PendingWrite {
  key: Uint8Array;
  /** null: a delete. */
  bytes: Uint8Array | null;
  /** Next write whose token has the same pendingSlot(). */
  next: PendingWrite | undefined;
}

/**
 * Chains of the pending writes: a fixed table indexed by the token's low bits (xxhash64:
 * uniform), emptied at each commit by the list of slots used. A Map keyed by the token's
 * top 53 bits cost a heap number per lookup and regrew its table after every clear().
 * A commit holds 64-512 writes (more only for REPLICATE_MANY pages), so chains stay short.
 */
const PENDING_SLOTS = 1024;

/** The pending table's slot of a token; keys that share it chain and their bytes decide. */
function pendingSlot(lo: number): number {
  return lo & (PENDING_SLOTS - 1);
}

/**
 * One replica's request handling. Owned by the thread that owns its engines.
 * REQUIRES of every handleBatch: the byte views in its requests stay valid until it returns.
 * A shard streams instead: stage() each request as it arrives (reads answer at once), and
 * commit() the staged writes every so many and at the end of what it drained.
 */
export class Replica implements ReplicaState {
  /** Writes of the batch being handled, chained by pendingSlot() of the key's token, so later requests see them. */
  private readonly pendingData: (PendingWrite | undefined)[] = new Array<PendingWrite | undefined>(PENDING_SLOTS).fill(undefined);
  /** The slots of pendingData in use (cleared at commit). */
  private readonly pendingSlots: number[] = [];
  private readonly dataOps: WriteOp[] = [];
  readonly hints: HintStore;
  /**
   * The highest counter of this replica's actor in any object it purged: later puts take
   * counters above it, so no dot of a purged object is ever reused (tombstone-gc.ts).
   */
  counterFloor = 0;
  /** Objects removed by PURGE since this replica started. */
  tombstonesPurged = 0;
  /** Objects this batch's PURGEs delete (counted once committed). */
  purgedStaged = 0;
  /** Replies of the writes staged since the last commit. */
  private staged: Reply[] = [];
  /** Encoded objects: handed to the engine (which copies them) and to the replies. */
  readonly slab = new Slab();
  builder: MerkleBuilder | undefined;
  /** A REPLICATE_MANY's keys by the top 53 bits of their token (reused; empty between frames). */
  readonly frameKeys = new Map<number, FrameMerge>();
  /** Key and value bytes of the writes staged since the last commit (a shard commits before one engine write grows too big). */
  stagedBytes = 0;

  /**
   * Marked for repair (its WAL recovery skipped damaged records; the shard keeps the mark in
   * its NEEDS_REPAIR file until anti-entropy restored its ranges): GETs answer OBJECT_PARTIAL.
   */
  needsRepair = false;
  /** The actor this replica coordinates puts as: (replica id, incarnation epoch). */
  actor: Actor;
  readonly renew: () => number;

  constructor(
    actor: Actor,
    readonly stores: ReplicaStores,
    options: ReplicaOptions = {},
  ) {
    this.actor = actor;
    this.renew = options.renew ?? (() => this.actor.epoch + 1);
    this.hints = new HintStore(stores.hints, { ...defaultHintLimits(), ...options.hints }, options.now ?? Date.now);
    // An engine delete of the data store is a purge (tombstone-gc.ts) or a range handed
    // away: final, so merges that reach the oldest table may drop its engine tombstone.
    stores.data.setPurgeHorizon?.(Number.MAX_SAFE_INTEGER);
  }

  /** The hint store's counts and bounds. */
  hintStats(): HintStats {
    return this.hints.stats();
  }

  /**
   * Handles `requests` as one batch; replies[i] answers requests[i]. The same as stage()
   * of each, then commit().
   */
  handleBatch(requests: readonly Request[]): Reply[] {
    const replies: Reply[] = [];
    const staged: number[] = [];
    for (const req of requests) {
      const reply = this.stage(req);
      if (reply === undefined) {
        staged.push(replies.length);
        replies.push(ACK); // replaced below
      } else {
        replies.push(reply);
      }
    }
    const written = this.commit();
    for (let k = 0; k < staged.length; k++) replies[staged[k]!] = written[k]!;
    return replies;
  }

  /**
   * Handles one request of the current batch. Returns its reply at once when it writes
   * nothing (a read, or a request that failed); undefined for a write, whose reply comes
   * from the next commit(), once the write is in the engine (and durable in `batch` sync).
   * Later requests of the batch see the staged writes; a GET that reads one is answered by
   * that commit too.
   * REQUIRES: the byte views in `req` stay valid until the next commit() returns.
   */
  stage(req: Request): Reply | undefined {
    try {
      if (req.type === FrameType.GET) {
        // A read of a write staged in this batch waits for its commit (and fails with it):
        // a reply never shows what may still be lost or refused.
        // A replica marked for repair flags its answer (OBJECT_PARTIAL): it may miss writes.
        const type = this.needsRepair ? FrameType.OBJECT_PARTIAL : FrameType.OBJECT;
        const p = this.pendingWrite(req.key, req.hi, req.lo);
        if (p === undefined) return { type, object: this.stores.data.get(req.key, req.hi, req.lo) ?? EMPTY };
        this.staged.push({ type, object: p.bytes ?? EMPTY });
        return undefined;
      }
      const handler = HANDLERS[req.type];
      if (handler === undefined) throw new RingkvError(ErrorCode.PROTOCOL, `no handler for request frame type ${(req as Request).type}`);
      const reply = handler.run(this, req);
      if (handler.answersNow) return reply; // reads: answered now
      this.staged.push(reply);
      return undefined;
    } catch (err) {
      return errorReply(err);
    }
  }

  /** Writes staged since the last commit: how many replies the next commit() returns. */
  get stagedCount(): number {
    return this.staged.length;
  }

  /**
   * Applies the staged writes: ONE engine write per store (one WAL record, one fsync in
   * `batch` mode: group commit). Returns the staged requests' replies in order; if the
   * engine write fails, each is that ERROR and nothing of them was acknowledged (nor read).
   */
  commit(): Reply[] {
    const replies = this.staged;
    if (replies.length === 0 && this.dataOps.length === 0 && this.hints.stagedOps.length === 0) return replies;
    this.staged = [];
    this.stagedBytes = 0;
    try {
      if (this.dataOps.length > 0) this.stores.data.write(this.dataOps);
      this.hints.commit();
      this.tombstonesPurged += this.purgedStaged;
    } catch (err) {
      this.hints.abort();
      const failed = errorReply(err);
      for (let i = 0; i < replies.length; i++) replies[i] = failed;
    } finally {
      for (const slot of this.pendingSlots) this.pendingData[slot] = undefined;
      this.pendingSlots.length = 0;
      this.dataOps.length = 0; // the engine keeps nothing of the array it was given
      this.purgedStaged = 0;
    }
    return replies;
  }

  /**
   * What a PUT coordinates over: `stored`, with this replica's clock entry raised to the
   * counter floor after a purge (tombstone-gc.ts), so the new dot is above every counter a
   * purged object used. Only the stored CLOCK is raised, never the caller's context: the
   * context decides which siblings the write supersedes, and this replica's live siblings
   * (whose counters may be below the floor) must stay. Raising the clock covers only dots of
   * this actor the object no longer holds, which are superseded or purged: none is live.
   */
  floored(stored: VObject | undefined): VObject | undefined {
    if (this.counterFloor === 0) return stored;
    const clock = stored === undefined ? EMPTY_CLOCK : stored.clock;
    const raised = this.flooredClock(clock);
    if (raised === clock) return stored;
    return { clock: raised, siblings: stored === undefined ? [] : stored.siblings };
  }

  /** floored() of an object's clock alone (an overwrite needs no more of it). */
  flooredClock(clock: VersionVector): VersionVector {
    if (this.counterFloor === 0 || counterOf(clock, this.actor) >= this.counterFloor) return clock;
    return addDot(clock, { replica: this.actor.replica, epoch: this.actor.epoch, counter: this.counterFloor });
  }

  /** The stored objects with from <= token < to, in (token, key) order (range handoff). */
  scanRange(from: bigint, to: bigint): IterableIterator<ScanEntry> {
    return this.stores.data.scan(from, to);
  }

  /** A Merkle tree over the token range [from, to) of this replica's objects. */
  merkle(builder: MerkleBuilder, from: bigint, to: bigint, depth: number): MerkleTree {
    return builder.build(this.stores.data.scan(from, to), from, to, depth);
  }

  readObject(key: Uint8Array, hi: number, lo: number): VObject | undefined {
    const bytes = this.readData(key, hi, lo);
    return bytes === undefined ? undefined : decodeObject(bytes, STORED);
  }

  /** The stored object's clock (EMPTY_CLOCK: none), checked as readObject checks it all. */
  readClock(key: Uint8Array, hi: number, lo: number): VersionVector {
    const bytes = this.readData(key, hi, lo);
    return bytes === undefined ? EMPTY_CLOCK : decodeObjectClock(bytes, STORED);
  }

  /** readObject, but undefined where the stored copy is corrupt (ERR_CORRUPTION). */
  readObjectOrCorrupt(key: Uint8Array, hi: number, lo: number): VObject | undefined {
    try {
      return this.readObject(key, hi, lo);
    } catch (err) {
      if (isCorruption(err)) return undefined;
      throw err;
    }
  }

  /** What the data store holds for `key` (token hi, lo), this batch's writes included. */
  private readData(key: Uint8Array, hi: number, lo: number): Uint8Array | undefined {
    const p = this.pendingWrite(key, hi, lo);
    if (p !== undefined) return p.bytes ?? undefined;
    return this.stores.data.get(key, hi, lo);
  }

  /** This batch's staged write of `key`, if any. */
  pendingWrite(key: Uint8Array, hi: number, lo: number): PendingWrite | undefined {
    if (this.pendingSlots.length === 0) return undefined;
    for (let p = this.pendingData[pendingSlot(lo)]; p !== undefined; p = p.next) {
      if (equalBytes(p.key, key)) return p;
    }
    return undefined;
  }

  /** `obj`'s bytes in the slab (an encoding of its own would cost an ArrayBuffer per write). */
  encode(obj: VObject): Uint8Array {
    const out = this.slab.alloc(checkedSize(obj));
    encodeObjectInto(obj, out, 0);
    return out;
  }

  /** `bytes` null: an engine delete (a purge). REQUIRES: `key` stays valid until the batch ends (the engine copies it then). */
  writeData(key: Uint8Array, hi: number, lo: number, bytes: Uint8Array | null): void {
    this.stagedBytes += key.length + (bytes?.length ?? 0);
    const op: WriteOp = bytes === null ? { type: 'delete', key, hi, lo } : { type: 'put', key, value: bytes, hi, lo };
    const t = pendingSlot(lo);
    const head = this.pendingData[t];
    for (let p = head; p !== undefined; p = p.next) {
      if (equalBytes(p.key, key)) {
        p.bytes = bytes;
        this.dataOps.push(op);
        return;
      }
    }
    if (head === undefined) this.pendingSlots.push(t);
    this.pendingData[t] = { key, bytes, next: head };
    this.dataOps.push(op);
  }

}

function errorReply(err: unknown): Reply {
  const code = err instanceof RingkvError ? err.code : ErrorCode.IO;
  const message = err instanceof Error ? err.message : String(err);
  return { type: FrameType.ERROR, code, message };
}
