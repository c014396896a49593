// Runs on: the main thread. The coordinator: routes each request to the key's replicas
// (token, partition, preference list, the stand-ins past it) and applies the quorum rules
// of the caller's N, R and W or consistency level. Each request type lives in its own file
// and calls back here (op.ts's OpHost): put.ts (puts, overwrites, increments, deletes),
// get.ts, many.ts (getMany, putMany), read-repair.ts.
//
// Errors: ERR_INVALID_ARGUMENT (bad N/R/W), ERR_QUORUM (with the count of acks/replies),
// and the replica's own code for client errors (ERR_TOO_MANY_SIBLINGS, ERR_TOO_LARGE, ...).
// Every request settles within its timeout: nothing hangs on a dead replica.
import { ErrorCode, RingkvError } from '../errors.js';
import { type TokenHasher, XxHash64 } from '../hash/index.js';
import { FrameType, Slab, type GetRequest, type Request } from '../protocol/index.js';
import type { Fallback, Ring } from '../ring/index.js';
import { contextOf, contextSize, encodeContextInto, type DecodeOptions, type ValueCopier, type VObject } from '../version/index.js';
import { get, getInto, type GetHost, type GetOp } from './get.js';
import { getMany, putMany } from './many.js';
import { type BatchSlots, EMPTY, NO_OPTIONS, type PerDc, type Quorum } from './op.js';
import { put, putInto } from './put.js';
import type { ConsistencyLevel, CoordinatorCounters, ReadResult, Receipt, RequestOptions, StorageFaultSink, WriteOptions, WriteResult } from './requests.js';
import type { ReplySink, Transport } from './transport.js';

export interface QuorumDefaults {
  n: number;
  r: number;
  w: number;
  /** Per-replica request timeout. */
  timeoutMs: number;
  /** Whether fallbacks' hints count toward W (sloppy quorum) unless a request says otherwise. */
  sloppy: boolean;
  /** Most concurrent values a put may leave for a key. */
  maxSiblings: number;
  /** Last-writer-wins: resolve concurrent values by timestamp instead of keeping siblings. */
  lww: boolean;
  /** This node's DC (for LOCAL_ONE and LOCAL_QUORUM). */
  localDc?: string;
  /** The level of requests that name none (instead of r and w). */
  level?: ConsistencyLevel;
}

export class Coordinator implements GetHost {
  readonly counters: CoordinatorCounters = { puts: 0, gets: 0, quorumFailures: 0, hintsWritten: 0, readRepairs: 0 };
  /** Values handed to callers are views into its chunks (no ArrayBuffer per value). */
  readonly slab = new Slab();
  private readonly decodeOptionsById = new Map<string, { copy: DecodeOptions; view: DecodeOptions }>();
  readonly readOptions: { lww: boolean };
  private defaultRing: Ring | undefined;
  private defaultQuorum: Quorum | undefined;
  /** Hashes keys to tokens: the JS xxHash64 when it agrees with the given hasher, else that. */
  readonly hasher: { hi: number; lo: number; hash(key: Uint8Array): void };
  /** The GET request, reused: a transport reads a request during send() only. */
  readonly getRequest: GetRequest = { type: FrameType.GET, hi: 0, lo: 0, key: EMPTY };
  /**
   * Gets that finished on the single-replica fast path (finishSingle), for reuse: a get at
   * N=1 then allocates no GetOp. Only those: nothing refers to such an op once it settled
   * (its one request's sink was taken out of the transport before the reply was handed over).
   */
  readonly freeGets: GetOp[] = [];
  /** Copies only what starts at offset 0 of an object (its context) into the slab: put.ts's single-replica path. */
  readonly contextCopier: ValueCopier = {
    copy: (src, from, to) => (from === 0 ? this.slab.copy(src, from, to) : EMPTY),
  };
  /** The receipt of a read answered by one primary, one frozen object per replica (shared by every such read). */
  private readonly soleReceipts = new Map<string, Receipt>();
  /** Told of replicas' storage errors (ERR_IO, ERR_NO_SPACE) and of their next success (the store logs them). */
  storageFaults: StorageFaultSink | undefined;

  /**
   * Replicas back from being down whose hints are still being handed to them: their answers
   * alone do not make a read's R (they may not have the writes they missed yet). Kept by
   * the store around hinted handoff.
   */
  catchingUp: ReadonlySet<string> = new Set();

  constructor(
    readonly ring: () => Ring,
    readonly transport: Transport,
    hasher: TokenHasher,
    readonly defaults: QuorumDefaults,
    readonly now: () => number = Date.now,
  ) {
    this.readOptions = { lww: defaults.lww };
    const js = new XxHash64();
    this.hasher = sameTokens(js, hasher) ? js : hasher;
  }

  /** Writes `value` (null: a delete, stored as a tombstone) for `key`. */
  put(key: Uint8Array, value: Uint8Array | null, opts: WriteOptions = NO_OPTIONS): Promise<WriteResult> {
    return put(this, key, value, opts);
  }

  /** put() of every entry, each its own versioned write; results in order, one promise. */
  putMany(entries: readonly (readonly [Uint8Array, Uint8Array | null])[], opts: WriteOptions = NO_OPTIONS): Promise<WriteResult[]> {
    return putMany(this, entries, opts);
  }

  get(key: Uint8Array, opts: RequestOptions = NO_OPTIONS): Promise<ReadResult | undefined> {
    return get(this, key, opts);
  }

  /**
   * get() without a promise: the outcome goes to `sink.done(index, result)` or
   * `sink.fail(err)`, once; an error known at once (a bad option, no replica) may be
   * reported from inside this call.
   */
  getInto(key: Uint8Array, opts: RequestOptions, sink: BatchSlots<ReadResult | undefined>, index: number): void {
    getInto(this, key, opts, sink, index);
  }

  /** put() without a promise: the outcome goes to `sink` (as getInto's). */
  putInto(key: Uint8Array, value: Uint8Array | null, opts: WriteOptions, sink: BatchSlots<WriteResult>, index: number): void {
    putInto(this, key, value, opts, sink, index);
  }

  /** get() of every key; results in the order of `keys`, one promise. */
  getMany(keys: readonly Uint8Array[], opts: RequestOptions = NO_OPTIONS): Promise<(ReadResult | undefined)[]> {
    return getMany(this, keys, opts);
  }

  /**
   * The stand-ins of every request type (a put's coordinators when no primary can, a
   * missed primary's hint holder, a sloppy read's fallbacks and spares): the healthy members
   * past the preference list of `partition`, one per primary that `out` or the transport
   * counts as out (ring.fallbacks), in ring order.
   */
  standIns(ring: Ring, partition: number, n: number, out: (id: string) => boolean): readonly Fallback[] {
    const t = this.transport;
    return ring.fallbacks(partition, n, (id) => out(id) || t.isDown(id)).fallbacks;
  }

  /** The shared receipt of a request that `id` answered alone (as a stand-in when `fallback`). Frozen: callers only read receipts. */
  soleReceipt(id: string, fallback: boolean): Receipt {
    const key = fallback ? `${id}\u0000fallback` : id;
    let r = this.soleReceipts.get(key);
    if (r === undefined) {
      const replicas = Object.freeze([id]) as unknown as string[];
      const base = { replicas, hints: Object.freeze([]) as unknown as Receipt['hints'], siblings: 1 };
      r = Object.freeze(fallback ? { ...base, fallbacks: replicas } : base);
      this.soleReceipts.set(key, r);
    }
    return r;
  }

  /** Sends through the transport's allocation-free path when it has one. */
  dispatch(replica: string, req: Request, timeoutMs: number, sink: ReplySink, tag: number): void {
    const t = this.transport;
    if (t.send !== undefined) {
      t.send(replica, req, timeoutMs, sink, tag);
      return;
    }
    t.request(replica, req, timeoutMs).then(
      (reply) => sink.onReply(reply, tag),
      (err: Error) => sink.onError(err, tag),
    );
  }

  /** The context a caller gets for `obj`, encoded into the slab (no ArrayBuffer of its own). */
  context(obj: VObject): Uint8Array {
    const clock = contextOf(obj);
    const out = this.slab.alloc(contextSize(clock));
    encodeContextInto(clock, out, 0);
    return out;
  }

  /** Decode options naming replica `id`: values copied into the slab. */
  copyOptions(id: string): DecodeOptions {
    return this.optionsOf(id).copy;
  }

  /** Decode options naming replica `id`: values left as views. */
  viewOptions(id: string): DecodeOptions {
    return this.optionsOf(id).view;
  }

  private optionsOf(id: string): { copy: DecodeOptions; view: DecodeOptions } {
    let o = this.decodeOptionsById.get(id);
    if (o === undefined) {
      const source = `replica ${id}`;
      o = { copy: { source, copier: this.slab }, view: { source, copyValues: false } };
      this.decodeOptionsById.set(id, o);
    }
    return o;
  }

  restarted(primaries: readonly string[], timeoutMs: number): Promise<boolean> | undefined {
    const t = this.transport;
    if (t.whenRestarted === undefined) return undefined;
    let waits: Promise<boolean>[] | undefined;
    for (const id of primaries) {
      const wait = t.isDown(id) ? t.whenRestarted(id, timeoutMs) : undefined;
      if (wait !== undefined) (waits ??= []).push(wait);
    }
    if (waits === undefined) return undefined;
    return waits.length === 1 ? waits[0]! : Promise.all(waits).then((ups) => ups.includes(true));
  }

  /** The primaries that are not known to be down (the list itself when all are up). */
  upOf(primaries: readonly string[]): readonly string[] {
    const t = this.transport;
    for (let i = 0; i < primaries.length; i++) {
      if (t.isDown(primaries[i]!)) return primaries.filter((id) => !t.isDown(id));
    }
    return primaries;
  }

  /** The N, R and W a request with `opts` would use now; throws INVALID_ARGUMENT as the request would. */
  checkQuorum(opts: RequestOptions): { n: number; r: number; w: number } {
    const { n, r, w } = this.quorum(this.ring(), opts);
    return { n, r, w };
  }

  quorum(ring: Ring, opts: RequestOptions): Quorum {
    if (opts.n === undefined && opts.r === undefined && opts.w === undefined && opts.timeoutMs === undefined && opts.sloppy === undefined && opts.level === undefined) {
      if (this.defaultRing !== ring || this.defaultQuorum === undefined) {
        this.defaultQuorum = this.resolveQuorum(ring, opts);
        this.defaultRing = ring;
      }
      return this.defaultQuorum;
    }
    return this.resolveQuorum(ring, opts);
  }

  private resolveQuorum(ring: Ring, opts: RequestOptions): Quorum {
    const d = this.defaults;
    const bad = (why: string): never => { throw new RingkvError(ErrorCode.INVALID_ARGUMENT, why); };
    const timeoutMs = opts.timeoutMs ?? d.timeoutMs;
    const sloppy = opts.sloppy ?? d.sloppy;
    const level = opts.level ?? (opts.r === undefined && opts.w === undefined ? d.level : undefined);
    if (level !== undefined) return this.levelQuorum(ring, level, timeoutMs, sloppy);
    const n = opts.n ?? d.n;
    const r = opts.r ?? Math.min(d.r, n);
    const w = opts.w ?? Math.min(d.w, n);
    const members = ring.members.length;
    if (n > members && opts.n === undefined && Number.isInteger(n)) {
      // The store's own N, not the caller's: a ring still forming (a joiner acting on the
      // first node's one-member ring for a round) or one that lost members.
      throw new RingkvError(ErrorCode.NOT_READY, `ring epoch ${ring.epoch} has ${members} replica(s), fewer than N = ${n}: the cluster is still forming, or has too few nodes for N`);
    }
    if (!Number.isInteger(n) || n < 1 || n > members) bad(`n must be an integer in 1..${members} (the replicas in ring epoch ${ring.epoch}), got ${n}`);
    if (!Number.isInteger(r) || r < 1 || r > n) bad(`r must be an integer in 1..n (${n}), got ${r}`);
    if (!Number.isInteger(w) || w < 1 || w > n) bad(`w must be an integer in 1..n (${n}), got ${w}`);
    return { n, r, w, timeoutMs, sloppy };
  }

  /** R and W of a consistency level (per DC for LOCAL_* and EACH_QUORUM). */
  private levelQuorum(ring: Ring, level: ConsistencyLevel, timeoutMs: number, sloppy: boolean): Quorum {
    const rf = ring.replication;
    const n = rf === undefined ? this.defaults.n : Object.values(rf).reduce((a, b) => a + b, 0);
    const quorum = (k: number): number => Math.floor(k / 2) + 1;
    if (level === 'ONE' || level === 'QUORUM' || level === 'ALL') {
      const k = level === 'ONE' ? 1 : level === 'ALL' ? n : quorum(n);
      return { n, r: k, w: k, timeoutMs, sloppy };
    }
    if (rf === undefined) throw new RingkvError(ErrorCode.INVALID_ARGUMENT, `${level} needs per-DC replication (start the cluster with --replication dc1:2,dc2:1)`);
    const needed = new Map<string, number>();
    if (level === 'EACH_QUORUM') {
      for (const [dc, k] of Object.entries(rf)) if (k > 0) needed.set(dc, quorum(k));
    } else {
      const local = this.defaults.localDc;
      const k = local === undefined ? 0 : (rf[local] ?? 0);
      if (k === 0) throw new RingkvError(ErrorCode.INVALID_ARGUMENT, `${level}: this node's DC (${local ?? 'none'}) holds no replicas (replication ${JSON.stringify(rf)})`);
      needed.set(local!, level === 'LOCAL_ONE' ? 1 : quorum(k));
    }
    const total = [...needed.values()].reduce((a, b) => a + b, 0);
    const perDc: PerDc = { needed, dcOf: (id) => ring.member(id)?.dc };
    return { n, r: total, w: total, timeoutMs, sloppy, perDc };
  }
}

/** Whether two hashers give the same tokens on sample keys of every length up to 80 bytes. */
function sameTokens(a: { hi: number; lo: number; hash(key: Uint8Array): void }, b: TokenHasher): boolean {
  const key = new Uint8Array(80);
  for (let n = 0; n <= key.length; n++) {
    const k = key.subarray(0, n);
    for (let i = 0; i < n; i++) k[i] = (i * 131 + n * 31 + 7) & 0xff;
    a.hash(k);
    b.hash(k);
    if (a.hi !== b.hi || a.lo !== b.lo) return false;
  }
  return true;
}
