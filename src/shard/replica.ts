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
// A batch is applied with ONE engine write per store (one WAL record, one fsync in `batch`
// mode: group commit), and a write is acknowledged only after it. Requests in one batch see
// each other's writes. A request that fails (bad context, too many siblings, corrupt stored
// object) gets an ERROR reply; the others in the batch are unaffected. If the engine write
// itself fails, every write of the batch answers ERROR and nothing of it was acknowledged.
import { equalBytes } from '../encoding/index.js';
import { ErrorCode, RingkvError, isCorruption } from '../errors.js';
import { token53 } from '../hash/index.js';
import { FrameType, Slab, type DropRequest, type PurgeRequest, type RangeEntry, type RangeRequest, type ReplicateManyRequest, type Reply, type Request, type ScanRequest, type TokenBound, type TreeRequest } from '../protocol/index.js';
import { type ScanEntry, type StorageEngine, type WriteOp, MAX_VALUE_BYTES } from '../storage/index.js';
import { incrementWrite } from './increment.js';
import { MerkleBuilder, type MerkleTree } from './merkle.js';
import { HINT_HEADER_BYTES, HintStore, defaultHintLimits, type HintLimits, type HintStats } from './hint-store.js';
import { PURGE_MAX_ENTRIES, newestWrite, purgeable } from './tombstone-gc.js';
import {
  addDot,
  counterOf,
  type Actor,
  coordinateOverwrite,
  coordinatePut,
  decodeContext,
  EMPTY_CLOCK,
  decodeObject,
  decodeObjectClock,
  encodeObjectInto,
  equalObjects,
  mergeObjects,
  visibleValues,
  objectSize,
  type DecodeOptions,
  type VersionVector,
  type VObject,
} from '../version/index.js';

export interface ReplicaStores {
  /** The shard's data. */
  data: StorageEngine;
  /** Hints held for other replicas. */
  hints: StorageEngine;
}

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

const ACK: Reply = { type: FrameType.ACK };

/**
 * Most objects one TREE request hashes, whatever it asks: bounds the time it holds the shard.
 * Measured here (2 cores at load ~14): 16384 small objects took 150-160 ms, of which the
 * engine's scan 55-80 ms; so 8192 holds a shard for well under 100 ms even then. A larger
 * range is refused and the asker splits it.
 */
export const TREE_MAX_ENTRIES = 8192;
/** Most objects in one OBJECTS reply. */
export const RANGE_MAX_ENTRIES = 4096;
/**
 * Most bytes of keys and objects in one OBJECTS reply (more only to finish a token, or for
 * a single larger object): half the largest record of a default 1 MiB reply queue.
 */
export const RANGE_MAX_BYTES = 256 * 1024;

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

/** One key of a REPLICATE_MANY: what is stored and the merge of the frame's entries into it. */
interface FrameMerge {
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
const STORED: DecodeOptions = { source: 'the stored object', copyValues: false };
const REPLICATED: DecodeOptions = { source: 'a REPLICATE frame', copyValues: false };

/**
 * One replica's request handling. Owned by the thread that owns its engines.
 * REQUIRES of every handleBatch: the byte views in its requests stay valid until it returns.
 * A shard streams instead: stage() each request as it arrives (reads answer at once), and
 * commit() the staged writes every so many and at the end of what it drained.
 */
export class Replica {
  /** Writes of the batch being handled, chained by pendingSlot() of the key's token, so later requests see them. */
  private readonly pendingData: (PendingWrite | undefined)[] = new Array<PendingWrite | undefined>(PENDING_SLOTS).fill(undefined);
  /** The slots of pendingData in use (cleared at commit). */
  private readonly pendingSlots: number[] = [];
  private readonly dataOps: WriteOp[] = [];
  private readonly hints: HintStore;
  /**
   * The highest counter of this replica's actor in any object it purged: later puts take
   * counters above it, so no dot of a purged object is ever reused (tombstone-gc.ts).
   */
  private counterFloor = 0;
  /** Objects removed by PURGE since this replica started. */
  tombstonesPurged = 0;
  /** Objects this batch's PURGEs delete (counted once committed). */
  private purgedStaged = 0;
  /** Replies of the writes staged since the last commit. */
  private staged: Reply[] = [];
  /** Encoded objects: handed to the engine (which copies them) and to the replies. */
  private readonly slab = new Slab();
  private builder: MerkleBuilder | undefined;
  /** A REPLICATE_MANY's keys by the top 53 bits of their token (reused; empty between frames). */
  private readonly frameKeys = new Map<number, FrameMerge>();
  /** Key and value bytes of the writes staged since the last commit (a shard commits before one engine write grows too big). */
  stagedBytes = 0;

  /** The actor this replica coordinates puts as: (replica id, incarnation epoch). */
  actor: Actor;
  private readonly renew: () => number;

  constructor(
    actor: Actor,
    private readonly stores: ReplicaStores,
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
        const p = this.pendingWrite(req.key, req.hi, req.lo);
        if (p === undefined) return { type: FrameType.OBJECT, object: this.stores.data.get(req.key, req.hi, req.lo) ?? EMPTY };
        this.staged.push({ type: FrameType.OBJECT, object: p.bytes ?? EMPTY });
        return undefined;
      }
      const reply = this.handle(req);
      // HINTS_FOR may stage drops of expired hints, but what it lists does not depend on them.
      if (req.type === FrameType.HINTS_FOR || req.type === FrameType.SCAN || req.type === FrameType.TREE || req.type === FrameType.RANGE) return reply; // reads: answered now
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

  private handle(req: Request): Reply {
    switch (req.type) {
      case FrameType.GET: {
        const stored = this.readData(req.key, req.hi, req.lo);
        return { type: FrameType.OBJECT, object: stored ?? EMPTY };
      }
      case FrameType.PUT: {
        // The request is the write (value, writtenAt, expiresAt) and its options (maxSiblings, lww).
        let next: VObject;
        if (req.increment) {
          // Redis INCRBY (increment.ts): the sum of what is held and the delta, superseding it all.
          const stored = this.floored(this.readObject(req.key, req.hi, req.lo));
          const write = incrementWrite(stored, req.value ?? EMPTY, req.writtenAt);
          next = coordinateOverwrite(stored?.clock ?? EMPTY_CLOCK, decodeContext(req.context), this.actor, write, req);
        } else if (req.overwrite) {
          // overwrite: the write also supersedes every value this replica holds (Redis SET),
          // so only the stored clock matters: its siblings are checked, not built.
          const clock = this.flooredClock(this.readClock(req.key, req.hi, req.lo));
          next = coordinateOverwrite(clock, decodeContext(req.context), this.actor, req, req);
        } else {
          const stored = this.floored(this.readObject(req.key, req.hi, req.lo));
          next = coordinatePut(stored, decodeContext(req.context), this.actor, req, req);
        }
        const bytes = this.encode(next);
        this.writeData(req.key, req.hi, req.lo, bytes);
        return { type: FrameType.OBJECT, object: bytes };
      }
      case FrameType.REPLICATE: {
        const incoming = decodeObject(req.object, REPLICATED);
        // A stored copy that fails its checksum cannot be merged: the incoming object (a
        // read repair from healthy replicas) replaces it, which is the repair.
        const stored = this.readObjectOrCorrupt(req.key, req.hi, req.lo);
        const merged = stored === undefined ? incoming : mergeObjects(stored, incoming);
        if (stored === undefined || !equalObjects(merged, stored)) this.writeData(req.key, req.hi, req.lo, this.encode(merged));
        return ACK;
      }
      case FrameType.REPLICATE_MANY:
        return this.replicateMany(req);
      case FrameType.HINT:
        this.hints.put(req.target, req.key, req.hi, req.lo, decodeObject(req.object, { source: 'a HINT frame' }));
        this.stagedBytes += req.key.length + req.object.length;
        return ACK;
      case FrameType.HINTS_FOR:
        return { type: FrameType.HINTS, hints: this.hints.list(req.target, req.max) };
      case FrameType.SCAN:
        return this.scanKeys(req);
      case FrameType.TREE:
        return this.tree(req);
      case FrameType.RANGE:
        return this.range(req);
      case FrameType.HINT_DONE:
        this.hints.done(req.target, req.key, req.object);
        return ACK;
      case FrameType.PURGE:
        return this.purge(req);
      case FrameType.DROP:
        return this.drop(req);
    }
  }

  /**
   * Merges each entry as REPLICATE does, in order (a later entry of a key merges into the
   * earlier one's result), all or nothing: every object is decoded, every merge computed and
   * every size checked before anything is staged, so an entry that fails leaves the batch as
   * it was and the frame answers ERROR naming that entry (its own error's code).
   */
  private replicateMany(req: ReplicateManyRequest): Reply {
    const entries = req.entries;
    const merges: FrameMerge[] = [];
    const byToken = this.frameKeys;
    byToken.clear();
    let i = 0;
    try {
      for (; i < entries.length; i++) {
        const e = entries[i]!;
        const incoming = decodeObject(e.object, REPLICATED);
        const t = token53(e.hi, e.lo);
        let m = byToken.get(t);
        while (m !== undefined && !equalBytes(m.entry.key, e.key)) m = m.next;
        if (m !== undefined) {
          m.merged = mergeObjects(m.merged, incoming);
          continue;
        }
        const stored = this.readObject(e.key, e.hi, e.lo);
        m = { entry: e, index: i, stored, merged: stored === undefined ? incoming : mergeObjects(stored, incoming), size: 0, next: byToken.get(t) };
        byToken.set(t, m);
        merges.push(m);
      }
      for (const m of merges) {
        i = m.index;
        if (m.stored === undefined || !equalObjects(m.merged, m.stored)) m.size = checkedSize(m.merged);
      }
    } catch (err) {
      throw entryError(err, i, entries.length, entries[i]?.key);
    } finally {
      byToken.clear();
    }
    for (const m of merges) {
      if (m.size === 0) continue; // already held: nothing to write
      const out = this.slab.alloc(m.size);
      encodeObjectInto(m.merged, out, 0);
      this.writeData(m.entry.key, m.entry.hi, m.entry.lo, out);
    }
    return ACK;
  }

  /**
   * What a PUT coordinates over: `stored`, with this replica's clock entry raised to the
   * counter floor after a purge (tombstone-gc.ts), so the new dot is above every counter a
   * purged object used. Only the stored CLOCK is raised, never the caller's context: the
   * context decides which siblings the write supersedes, and this replica's live siblings
   * (whose counters may be below the floor) must stay. Raising the clock covers only dots of
   * this actor the object no longer holds, which are superseded or purged: none is live.
   */
  private floored(stored: VObject | undefined): VObject | undefined {
    if (this.counterFloor === 0) return stored;
    const clock = stored === undefined ? EMPTY_CLOCK : stored.clock;
    const raised = this.flooredClock(clock);
    if (raised === clock) return stored;
    return { clock: raised, siblings: stored === undefined ? [] : stored.siblings };
  }

  /** floored() of an object's clock alone (an overwrite needs no more of it). */
  private flooredClock(clock: VersionVector): VersionVector {
    if (this.counterFloor === 0 || counterOf(clock, this.actor) >= this.counterFloor) return clock;
    return addDot(clock, { replica: this.actor.replica, epoch: this.actor.epoch, counter: this.counterFloor });
  }

  /**
   * Tombstone GC of a page of the request's range (the rule: tombstone-gc.ts): stages an
   * engine delete of each object that is tombstone-only and older than req.before as this
   * batch sees it (a write staged earlier in the batch counts; one staged later wins).
   */
  private purge(req: PurgeRequest): Reply {
    const from = boundToken(req.from);
    const to = boundToken(req.to);
    if (!(to > from)) throw new RingkvError(ErrorCode.INVALID_ARGUMENT, `PURGE over an empty token range [${from}, ${to})`);
    const max = Math.max(1, Math.min(req.max, PURGE_MAX_ENTRIES));
    let seen = 0;
    let purged = 0;
    let lastToken = -1n;
    const doomed: { key: Uint8Array; hi: number; lo: number }[] = [];
    for (const e of this.stores.data.scan(from, to)) {
      if (seen >= max && e.token !== lastToken) {
        this.stagePurges(doomed);
        return { type: FrameType.PURGED, purged, done: false, next: tokenBound(e.token) };
      }
      seen++;
      lastToken = e.token;
      const hi = Number(e.token >> 32n);
      const lo = Number(e.token & 0xffffffffn);
      const p = this.pendingWrite(e.key, hi, lo);
      const bytes = p === undefined ? e.value : p.bytes;
      if (bytes === null) continue;
      let obj: VObject;
      try {
        obj = decodeObject(bytes, STORED);
      } catch {
        continue; // what cannot be read is not purged (a read reports the corruption)
      }
      if (!purgeable(obj, req.before)) continue;
      this.counterFloor = Math.max(this.counterFloor, counterOf(obj.clock, this.actor));
      doomed.push({ key: e.key.slice(), hi, lo });
      purged++;
    }
    this.stagePurges(doomed);
    return { type: FrameType.PURGED, purged, done: true, next: req.to };
  }

  /**
   * Deletes a page of the request's range: every object in it whose newest sibling was
   * written before req.before (the range was handed away and its owners hold what it held
   * then: range-cleanup.ts; a write since, taken as a stand-in, stays).
   *
   * Dots. The deleted objects live on at the owners, so a later put coordinated here (the
   * range comes back, or this replica stands in again) must neither reuse one of their dots
   * (the owners would take the new write as already seen and drop it) nor cover them (a
   * counter floor, as after a purge, would raise this actor's clock entry past them and
   * supersede them at the owners: the simulation lost a write that way). So when they held
   * dots of this actor, the replica takes a new incarnation: later puts are another actor.
   */
  private drop(req: DropRequest): Reply {
    const from = boundToken(req.from);
    const to = boundToken(req.to);
    if (!(to > from)) throw new RingkvError(ErrorCode.INVALID_ARGUMENT, `DROP over an empty token range [${from}, ${to})`);
    const max = Math.max(1, Math.min(req.max, PURGE_MAX_ENTRIES));
    let lastToken = -1n;
    let seen = 0;
    let ownDots = false;
    const doomed: { key: Uint8Array; hi: number; lo: number }[] = [];
    let next: TokenBound | undefined;
    for (const e of this.stores.data.scan(from, to)) {
      if (seen >= max && e.token !== lastToken) {
        next = tokenBound(e.token);
        break;
      }
      seen++;
      lastToken = e.token;
      if (e.value === null) continue;
      try {
        const obj = decodeObject(e.value, STORED);
        if (newestWrite(obj) >= req.before) continue;
        if (counterOf(obj.clock, this.actor) > 0) ownDots = true;
      } catch {
        // Unreadable: no counter to keep; the range is gone all the same.
      }
      doomed.push({ key: e.key.slice(), hi: Number(e.token >> 32n), lo: Number(e.token & 0xffffffffn) });
    }
    for (const d of doomed) this.writeData(d.key, d.hi, d.lo, null);
    if (ownDots) {
      this.actor = { replica: this.actor.replica, epoch: this.renew() };
      this.counterFloor = 0; // the new actor has no dots anywhere
    }
    return next === undefined
      ? { type: FrameType.PURGED, purged: doomed.length, done: true, next: req.to }
      : { type: FrameType.PURGED, purged: doomed.length, done: false, next };
  }

  /** Stages the engine deletes of a PURGE (after its scan: the engine is not written while it is read). */
  private stagePurges(doomed: readonly { key: Uint8Array; hi: number; lo: number }[]): void {
    for (const d of doomed) this.writeData(d.key, d.hi, d.lo, null);
    this.purgedStaged += doomed.length;
  }

  /** The stored objects with from <= token < to, in (token, key) order (range handoff). */
  scanRange(from: bigint, to: bigint): IterableIterator<ScanEntry> {
    return this.stores.data.scan(from, to);
  }

  /** A Merkle tree over the token range [from, to) of this replica's objects. */
  merkle(builder: MerkleBuilder, from: bigint, to: bigint, depth: number): MerkleTree {
    return builder.build(this.stores.data.scan(from, to), from, to, depth);
  }

  /** The Merkle leaves of the request's range (at most TREE_MAX_ENTRIES objects hashed). */
  private tree(req: TreeRequest): Reply {
    const from = boundToken(req.from);
    const to = boundToken(req.to);
    if (!(to > from)) throw new RingkvError(ErrorCode.INVALID_ARGUMENT, `TREE over an empty token range [${from}, ${to})`);
    this.builder ??= new MerkleBuilder();
    const max = Math.min(req.maxEntries, TREE_MAX_ENTRIES);
    const h = this.builder.hashLeaves(this.stores.data.scan(from, to), from, to, req.depth, max);
    return { type: FrameType.HASHES, entries: h.entries, complete: h.complete, leaves: h.leaves };
  }

  /** A page of the stored objects of the request's range, never splitting a token. */
  private range(req: RangeRequest): Reply {
    const from = boundToken(req.from);
    const to = boundToken(req.to);
    const max = Math.max(1, Math.min(req.max, RANGE_MAX_ENTRIES));
    const maxBytes = Math.min(req.maxBytes, RANGE_MAX_BYTES);
    const entries: RangeEntry[] = [];
    let bytes = 0;
    let lastToken = -1n;
    for (const e of this.stores.data.scan(from, to)) {
      if (entries.length > 0 && e.token !== lastToken && (entries.length >= max || bytes >= maxBytes)) {
        return { type: FrameType.OBJECTS, entries, done: false, next: tokenBound(e.token) };
      }
      entries.push({ hi: Number(e.token >> 32n), lo: Number(e.token & 0xffffffffn), key: e.key, object: e.value });
      bytes += e.key.length + e.value.length;
      lastToken = e.token;
    }
    return { type: FrameType.OBJECTS, entries, done: true, next: req.to };
  }

  /**
   * Keys with a visible value in the request's token range: at least `max` (unless the range
   * ends first), then the rest of the last token's keys, so a resumed scan never splits a token.
   */
  private scanKeys(req: ScanRequest): Reply {
    const from = boundToken(req.from);
    const to = boundToken(req.to);
    const keys: Uint8Array[] = [];
    let lastToken = -1n;
    for (const e of this.stores.data.scan(from, to)) {
      if (keys.length >= req.max && e.token !== lastToken) {
        return { type: FrameType.KEYS, keys, done: false, next: { hi: Number(e.token >> 32n), lo: Number(e.token & 0xffffffffn), end: false } };
      }
      const obj = decodeObject(e.value, { source: 'the stored object' });
      if (visibleValues(obj, req.now).length > 0) {
        keys.push(e.key);
        lastToken = e.token;
      }
    }
    return { type: FrameType.KEYS, keys, done: true, next: req.to };
  }

  private readObject(key: Uint8Array, hi: number, lo: number): VObject | undefined {
    const bytes = this.readData(key, hi, lo);
    return bytes === undefined ? undefined : decodeObject(bytes, STORED);
  }

  /** The stored object's clock (EMPTY_CLOCK: none), checked as readObject checks it all. */
  private readClock(key: Uint8Array, hi: number, lo: number): VersionVector {
    const bytes = this.readData(key, hi, lo);
    return bytes === undefined ? EMPTY_CLOCK : decodeObjectClock(bytes, STORED);
  }

  /** readObject, but undefined where the stored copy is corrupt (ERR_CORRUPTION). */
  private readObjectOrCorrupt(key: Uint8Array, hi: number, lo: number): VObject | undefined {
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
  private pendingWrite(key: Uint8Array, hi: number, lo: number): PendingWrite | undefined {
    if (this.pendingSlots.length === 0) return undefined;
    for (let p = this.pendingData[pendingSlot(lo)]; p !== undefined; p = p.next) {
      if (equalBytes(p.key, key)) return p;
    }
    return undefined;
  }

  /** `obj`'s bytes in the slab (an encoding of its own would cost an ArrayBuffer per write). */
  private encode(obj: VObject): Uint8Array {
    const out = this.slab.alloc(checkedSize(obj));
    encodeObjectInto(obj, out, 0);
    return out;
  }

  /** `bytes` null: an engine delete (a purge). REQUIRES: `key` stays valid until the batch ends (the engine copies it then). */
  private writeData(key: Uint8Array, hi: number, lo: number, bytes: Uint8Array | null): void {
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

/** Largest encoded object: a stored record's limit, less the header it gets as a hint. */
const MAX_OBJECT_BYTES = MAX_VALUE_BYTES - HINT_HEADER_BYTES;

/** objectSize(obj); fails this one request (not the batch's engine write) when `obj` would not fit a record. */
function checkedSize(obj: VObject): number {
  const n = objectSize(obj);
  if (n > MAX_OBJECT_BYTES) {
    throw new RingkvError(ErrorCode.TOO_LARGE, `the key's versioned object would take ${n} bytes, above the ${MAX_OBJECT_BYTES}-byte limit of a stored object (concurrent values count together: resolve siblings or write less)`);
  }
  return n;
}

const EMPTY = new Uint8Array(0);

/** The error of a REPLICATE_MANY whose entry `i` of `count` failed: that entry's code, named. */
function entryError(err: unknown, i: number, count: number, key: Uint8Array | undefined): RingkvError {
  const code = err instanceof RingkvError ? err.code : ErrorCode.IO;
  const what = err instanceof Error ? err.message : String(err);
  const name = key === undefined ? '' : ` (key ${JSON.stringify(Buffer.from(key.buffer, key.byteOffset, Math.min(key.length, 40)).toString('latin1'))}${key.length > 40 ? '...' : ''})`;
  return new RingkvError(code, `REPLICATE_MANY entry ${i} of ${count}${name} failed, nothing of the frame was applied: ${what}`);
}

function errorReply(err: unknown): Reply {
  const code = err instanceof RingkvError ? err.code : ErrorCode.IO;
  const message = err instanceof Error ? err.message : String(err);
  return { type: FrameType.ERROR, code, message };
}

function boundToken(b: TokenBound): bigint {
  return b.end ? 1n << 64n : (BigInt(b.hi) << 32n) | BigInt(b.lo);
}

function tokenBound(t: bigint): TokenBound {
  return { hi: Number(t >> 32n), lo: Number(t & 0xffffffffn), end: false };
}
