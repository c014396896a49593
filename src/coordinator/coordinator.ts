// Runs on: the main thread. The coordinator: routes each request to the key's replicas and
// applies the quorum rules of the caller's N, R and W.
//
// put(key, value, context):
//   1. The preference list: the first N distinct replicas clockwise from the key's partition.
//   2. The first healthy one coordinates the version (PUT): it advances its own clock entry
//      past the stored clock and the caller's context and returns the new object. If it fails
//      or times out, the next healthy primary is asked. If none can (all down or cut off)
//      and the quorum is sloppy, stand-ins do (Dynamo): the first healthy members past the
//      list, one per primary; they store the write in their own data (range cleanup hands it
//      to the primaries later) and keep a hint of it for every primary; their acks count.
//   3. The object goes to the other primaries (REPLICATE). A primary that is down or fails
//      is replaced by the next healthy member on the ring, which keeps the object as a
//      durable HINT for it (sloppy quorum); the hint is handed back when the primary returns.
//   4. Success after W acknowledgements (the coordinating replica's included). With
//      `sloppy: false` (strict quorum) hints are still written but do not count toward W.
// get(key):
//   Ask the healthy primaries, answer after R replies with the merge of their objects (all
//   concurrent values plus the context), then read-repair every replica that answered with
//   an older object (in the background, once all replies are in or timed out).
//
// Errors: ERR_INVALID_ARGUMENT (bad N/R/W), ERR_QUORUM (with the count of acks/replies),
// and the replica's own code for client errors (ERR_TOO_MANY_SIBLINGS, ERR_TOO_LARGE, ...).
// Every request settles within its timeout: nothing hangs on a dead replica.
import { ErrorCode, RingkvError } from '../errors.js';
import { type TokenHasher, XxHash64 } from '../hash/index.js';
import { FrameType, Slab, type GetRequest, type Reply, type Request } from '../protocol/index.js';
import type { Fallback, Ring } from '../ring/index.js';
import {
  contextOf,
  descendsObject,
  encodeObject,
  mergeAll,
  readSingle,
  visibleSiblings,
  type DecodeOptions,
  type SingleRead,
  type ValueCopier,
  type VObject,
  contextSize,
  encodeContextInto,
} from '../version/index.js';
import {
  EMPTY, GetOp, IGNORE, ManyOp, NO_OPTIONS, PutOp, capture, meetsPerDc, neededText, quorumError, rejecter, resolver, type OpHost, type PerDc, type Quorum,
} from './operations.js';
import type { ConsistencyLevel, CoordinatorCounters, ReadResult, Receipt, RequestOptions, StorageFaultSink, WriteOptions, WriteResult } from './requests.js';
import type { ReplySink, Transport } from './transport.js';

/** Wait before a put refused as routed by an older ring is asked again: about a gossip round. */
const STALE_RETRY_MS = 250;
/** Stand-ins a put tries for one missed primary before its coordinating replica keeps the
 *  hint (each try may cost a timeout, and a failing put waits for them). */
const MAX_STAND_INS = 2;
/** Tries of the coordinating replica to keep a hint (in the background). */
const HOLDER_TRIES = 3;
/** `expiresAt` of a read of one value that never expires, shared by every such read (frozen: callers only read it). */
const NEVER_EXPIRES = Object.freeze([0]) as unknown as number[];
/** Settled GetOps kept for reuse: enough for a getMany of a few thousand keys. */
const MAX_FREE_GETS = 4096;

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

export class Coordinator implements OpHost {
  readonly counters: CoordinatorCounters = { puts: 0, gets: 0, quorumFailures: 0, hintsWritten: 0, readRepairs: 0 };
  /** Values handed to callers are views into its chunks (no ArrayBuffer per value). */
  readonly slab = new Slab();
  private readonly decodeOptionsById = new Map<string, { copy: DecodeOptions; view: DecodeOptions }>();
  private readonly readOptions: { lww: boolean };
  private defaultRing: Ring | undefined;
  private defaultQuorum: Quorum | undefined;
  /** Hashes keys to tokens: the JS xxHash64 when it agrees with the given hasher, else that. */
  private readonly hasher: { hi: number; lo: number; hash(key: Uint8Array): void };
  /** The GET request, reused: a transport reads a request during send() only. */
  private readonly getRequest: GetRequest = { type: FrameType.GET, hi: 0, lo: 0, key: EMPTY };
  /**
   * Gets that finished on the single-replica fast path (finishSingle), for reuse: a get at
   * N=1 then allocates no GetOp. Only those: nothing refers to such an op once it settled
   * (its one request's sink was taken out of the transport before the reply was handed over).
   */
  private readonly freeGets: GetOp[] = [];
  /** Copies only what starts at offset 0 of an object (its context) into the slab: finishSinglePut. */
  private readonly contextCopier: ValueCopier = {
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
    private readonly ring: () => Ring,
    readonly transport: Transport,
    hasher: TokenHasher,
    private readonly defaults: QuorumDefaults,
    readonly now: () => number = Date.now,
  ) {
    this.readOptions = { lww: defaults.lww };
    const js = new XxHash64();
    this.hasher = sameTokens(js, hasher) ? js : hasher;
  }

  /** Writes `value` (null: a delete, stored as a tombstone) for `key`. */
  put(key: Uint8Array, value: Uint8Array | null, opts: WriteOptions = NO_OPTIONS): Promise<WriteResult> {
    const promise = new Promise<WriteResult>(capture);
    const op = new PutOp(this);
    op.resolve = resolver();
    op.reject = rejecter();
    this.beginPut(op, key, value, opts);
    return promise;
  }

  /** put() of every entry, each its own versioned write; results in order, one promise. */
  putMany(entries: readonly (readonly [Uint8Array, Uint8Array | null])[], opts: WriteOptions = NO_OPTIONS): Promise<WriteResult[]> {
    const promise = new Promise<WriteResult[]>(capture);
    const many = new ManyOp<WriteResult>(entries.length, resolver(), rejecter());
    for (let i = 0; i < entries.length; i++) {
      const op = new PutOp(this);
      op.many = many;
      op.index = i;
      const [key, value] = entries[i]!;
      this.beginPut(op, key, value, opts);
    }
    return promise;
  }

  get(key: Uint8Array, opts: RequestOptions = NO_OPTIONS): Promise<ReadResult | undefined> {
    const promise = new Promise<ReadResult | undefined>(capture);
    const op = this.freeGets.pop() ?? new GetOp(this);
    op.resolve = resolver();
    op.reject = rejecter();
    this.beginGet(op, key, opts);
    return promise;
  }

  /** get() of every key; results in the order of `keys`, one promise. */
  getMany(keys: readonly Uint8Array[], opts: RequestOptions = NO_OPTIONS): Promise<(ReadResult | undefined)[]> {
    const promise = new Promise<(ReadResult | undefined)[]>(capture);
    const many = new ManyOp<ReadResult | undefined>(keys.length, resolver(), rejecter());
    for (let i = 0; i < keys.length; i++) {
      const op = this.freeGets.pop() ?? new GetOp(this);
      op.many = many;
      op.index = i;
      this.beginGet(op, keys[i]!, opts);
    }
    return promise;
  }

  private beginPut(op: PutOp, key: Uint8Array, value: Uint8Array | null, opts: WriteOptions): void {
    try {
      const ring = this.ring();
      const q = this.quorum(ring, opts);
      const h = this.hasher;
      h.hash(key);
      const hi = h.hi;
      const lo = h.lo;
      const partition = ring.partitionOf(hi, lo);
      const now = this.now();
      if (opts.ttlMs !== undefined && !(Number.isSafeInteger(opts.ttlMs) && opts.ttlMs > 0)) {
        throw new RingkvError(ErrorCode.INVALID_ARGUMENT, `ttlMs must be a positive integer, got ${opts.ttlMs}`);
      }
      if (opts.expiresAt !== undefined && !(Number.isSafeInteger(opts.expiresAt) && opts.expiresAt > 0)) {
        throw new RingkvError(ErrorCode.INVALID_ARGUMENT, `expiresAt must be a positive integer (ms since the epoch), got ${opts.expiresAt}`);
      }
      op.req = {
        type: FrameType.PUT, hi, lo, key,
        context: opts.context ?? EMPTY,
        value,
        writtenAt: now,
        expiresAt: opts.expiresAt ?? (opts.ttlMs ? now + opts.ttlMs : 0),
        maxSiblings: this.defaults.maxSiblings,
        lww: this.defaults.lww,
        overwrite: opts.overwrite === true,
        ...(opts.increment === true ? { increment: true } : {}),
      };
      op.q = q;
      op.partition = partition;
      op.primaries = ring.listOf(partition, q.n);
      this.counters.puts++;
    } catch (err) {
      op.fail(err as Error);
      return;
    }
    op.tryNext();
  }

  private beginGet(op: GetOp, key: Uint8Array, opts: RequestOptions): void {
    let up: readonly string[];
    try {
      const ring = this.ring();
      const q = this.quorum(ring, opts);
      const h = this.hasher;
      h.hash(key);
      op.hi = h.hi;
      op.lo = h.lo;
      const partition = ring.partitionOf(op.hi, op.lo);
      const primaries = ring.listOf(partition, q.n);
      this.counters.gets++;
      up = this.upOf(primaries);
      op.primaries = up.length;
      // A sloppy read whose reachable primaries are fewer than R asks stand-ins for the down
      // ones too (Dynamo §4.6; Riak counts the first R healthy nodes of the preference list,
      // fallbacks included). Only then: a stand-in's quick not-found must never outrun a
      // primary that holds the key.
      const sloppy = q.sloppy && q.perDc === undefined;
      if (sloppy && up.length < q.r) up = [...up, ...this.readStandIns(ring, partition, q.n, up)];
      if (q.perDc === undefined ? up.length < q.r : !meetsPerDc(q.perDc, up)) {
        this.counters.quorumFailures++;
        const strict = q.perDc === undefined && !q.sloppy ? '; strict quorum: fallbacks do not count' : '';
        throw quorumError(`read can reach only ${up.length} of the ${q.r} replicas it needs${q.perDc === undefined ? '' : ` (${neededText(q.perDc)})`} (the others are down${strict})`, 0, q.r);
      }
      op.up = up;
      op.r = q.r;
      op.perDc = q.perDc;
      op.sloppy = sloppy;
      op.notfoundOk = opts.notfoundOk ?? true;
      op.partition = partition;
      op.n = q.n;
      op.key = key;
      op.timeoutMs = q.timeoutMs;
    } catch (err) {
      op.fail(err as Error);
      return;
    }
    const req = this.getRequest;
    req.hi = op.hi;
    req.lo = op.lo;
    req.key = key;
    for (let i = 0; i < up.length; i++) this.dispatch(up[i]!, req, op.timeoutMs, op, i);
    req.key = EMPTY;
  }

  /** Healthy members past the preference list standing in for the primaries not in `up`. */
  private readStandIns(ring: Ring, partition: number, n: number, up: readonly string[]): string[] {
    const { fallbacks } = ring.fallbacks(partition, n, (id) => !up.includes(id) && this.isDownOrPrimaryOf(ring, partition, n, id));
    return fallbacks.map((f) => f.member);
  }

  private isDownOrPrimaryOf(ring: Ring, partition: number, n: number, id: string): boolean {
    return this.transport.isDown(id) || ring.listOf(partition, n).includes(id);
  }

  /**
   * A sloppy read whose replica failed: asks the next healthy member past the preference
   * list that was not asked yet. False when there is none.
   */
  askSpare(op: GetOp): boolean {
    let ring: Ring;
    try {
      ring = this.ring();
    } catch {
      return false;
    }
    // Every primary and everyone asked counts as down: the fallbacks left are the spares.
    const asked = (id: string): boolean => op.up.includes(id) || this.isDownOrPrimaryOf(ring, op.partition, op.n, id);
    const spare = ring.fallbacks(op.partition, op.n, asked).fallbacks[0];
    if (spare === undefined) return false;
    const tag = op.up.length;
    op.up = [...op.up, spare.member];
    this.dispatch(spare.member, { type: FrameType.GET, hi: op.hi, lo: op.lo, key: op.key }, op.timeoutMs, op, tag);
    return true;
  }

  /** After R replies (or all): the merge of the answers, or ERR_QUORUM. */
  finishGet(op: GetOp): void {
    const answered = op.replicas.length;
    if (!op.enough()) {
      this.counters.quorumFailures++;
      // A replica's copy failing its checksum is the cause to report, with its code.
      const c = op.corruption;
      op.fail(c === undefined
        ? quorumError(`read got ${answered} of the ${op.r} replies it needs`, answered, op.r)
        : new RingkvError(ErrorCode.CORRUPTION, `read got ${answered} of the ${op.r} replies it needs: ${c.message}`));
      return;
    }
    const merged = answered === 1 ? op.objects[0] : mergeAll(op.objects);
    if (merged === undefined) {
      op.succeed(undefined);
      return;
    }
    const visible = visibleSiblings(merged, this.now(), this.readOptions);
    if (visible.length === 0) {
      op.succeed(undefined);
      return;
    }
    // Replies may still come (R < up): the receipt names those in by now.
    const replicas = op.settled === op.up.length ? op.replicas : op.replicas.slice();
    const receipt: Receipt = { replicas, hints: [], siblings: merged.siblings.length };
    if (op.primaries < op.up.length) {
      const stoodIn = replicas.filter((id) => op.isFallback(id));
      if (stoodIn.length > 0) receipt.fallbacks = stoodIn;
    }
    const values = visible.map((s) => s.value!);
    const expiresAt = visible.map((s) => s.expiresAt);
    op.succeed({ values, context: this.context(merged), expiresAt, receipt });
  }

  /**
   * The only replica asked answered with `object` (N=1, or one primary up): the result read
   * straight from its bytes when it has one sibling (codec.readSingle). False: use the
   * general path (more siblings, or bytes that do not decode).
   */
  finishSingle(op: GetOp, object: Uint8Array): boolean {
    let read: SingleRead | null;
    try {
      if (object.length === 0) read = null;
      else read = readSingle(object, this.now(), this.slab, this.copyOptions(op.up[0]!).source!);
    } catch {
      return false;
    }
    if (read === null && object.length !== 0) return false;
    op.settled = 1;
    op.done = true;
    if (read === null || read.value === undefined) op.succeed(undefined);
    else op.succeed({ values: [read.value], context: read.context, expiresAt: read.expiresAt === 0 ? NEVER_EXPIRES : [read.expiresAt], receipt: this.soleReceipt(op.up[0]!, op.primaries === 0) });
    if (this.freeGets.length < MAX_FREE_GETS) {
      op.reset();
      this.freeGets.push(op);
    }
    return true;
  }

  /**
   * A put whose only primary coordinated it into `object`: succeeds with the context read
   * straight from the object's bytes when it holds one value (codec.readSingle, whose
   * context is the object's clock prefix, copied from offset 0; the value, copied from
   * further in, is not wanted and not copied). False: decode it (more siblings, bad bytes).
   */
  finishSinglePut(op: PutOp, replica: string, object: Uint8Array): boolean {
    let read: SingleRead | null;
    try {
      read = readSingle(object, 0, this.contextCopier, this.copyOptions(replica).source!);
    } catch {
      return false;
    }
    if (read === null) return false;
    op.succeed({ context: read.context, receipt: this.soleReceipt(replica, false) });
    return true;
  }

  /** The shared receipt of a request that `id` answered alone (as a stand-in when `fallback`). Frozen: callers only read receipts. */
  private soleReceipt(id: string, fallback: boolean): Receipt {
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

  /** After all replies: every replica that answered with less than the merge gets the merge. */
  readRepair(op: GetOp): void {
    const merged = mergeAll(op.objects);
    if (merged === undefined) return;
    let req: Request | undefined;
    // A replica whose copy is corrupt gets the merge of those that answered.
    for (const id of op.corrupt) {
      req ??= { type: FrameType.REPLICATE, hi: op.hi, lo: op.lo, key: op.key, object: encodeObject(merged) };
      this.counters.readRepairs++;
      this.dispatch(id, req, op.timeoutMs, IGNORE, 0);
    }
    for (let i = 0; i < op.objects.length; i++) {
      const obj = op.objects[i];
      if (obj !== undefined && descendsObject(obj, merged)) continue;
      // Only primaries are repaired: a stand-in keeps no copy it was not written (the
      // client's write-back reaches the down primaries through hints, as any write).
      if (op.isFallback(op.replicas[i]!)) continue;
      req ??= { type: FrameType.REPLICATE, hi: op.hi, lo: op.lo, key: op.key, object: encodeObject(merged) };
      this.counters.readRepairs++;
      this.dispatch(op.replicas[i]!, req, op.timeoutMs, IGNORE, 0);
    }
  }

  /**
   * Stores a hint for `primary`, which missed the write: on the member that stands in for it
   * (sloppy quorum: the hint counts toward W), trying the next stand-in when one fails too;
   * when none is left (every other member is a primary, down or failed: 3 nodes with N=3),
   * on the replica that coordinated the write, where it does not count toward W again but
   * still hands the write to the primary when it is back, so the primary catches up within
   * seconds rather than at the next anti-entropy round.
   */
  async hint(op: PutOp, primary: string): Promise<void> {
    const req = op.req!;
    const q = op.q!;
    const failed = op.failed!;
    const frame: Request = { type: FrameType.HINT, target: primary, hi: req.hi, lo: req.lo, key: req.key, object: op.objectBytes };
    for (let attempt = 0; attempt < MAX_STAND_INS; attempt++) {
      let stand: string | undefined;
      try {
        const { fallbacks } = this.ring().fallbacks(op.partition, q.n, (id) => failed.has(id) || this.transport.isDown(id));
        stand = fallbacks.find((f) => f.hintFor === primary)?.member;
      } catch {
        stand = undefined;
      }
      if (stand === undefined) break;
      const reply = await this.ask(stand, frame, q.timeoutMs);
      if (reply?.type === FrameType.ACK) {
        this.counters.hintsWritten++;
        op.receipt!.hints.push({ replica: stand, for: primary });
        return;
      }
      failed.add(stand);
    }
    void this.keepHint(op.coordinatorId, frame, q.timeoutMs);
  }

  /**
   * The stand-ins of a put whose primaries all failed to coordinate: the first healthy
   * members past the preference list, one per primary (none when no spare member is up).
   */
  standInsFor(op: PutOp): readonly Fallback[] {
    try {
      return this.ring().fallbacks(op.partition, op.q!.n, (id) => op.primaries.includes(id) || this.transport.isDown(id)).fallbacks;
    } catch {
      return [];
    }
  }

  /**
   * After stand-ins took a put: they also keep a hint of it for every primary (each for the
   * one it stands in for, the coordinating stand-in for those no stand-in was left for), in
   * the background (the write's acknowledgement does not wait), so hinted handoff brings it
   * to every primary within seconds of its return; range cleanup later hands off and
   * deletes the stand-ins' own copies.
   */
  hintStandIns(op: PutOp, standIns: readonly Fallback[], object: Uint8Array): void {
    const req = op.req!;
    const frame: Request = { type: FrameType.HINT, target: '', hi: req.hi, lo: req.lo, key: req.key, object: object.slice() };
    for (const primary of op.primaries) {
      const holder = standIns.find((f) => f.hintFor === primary)?.member ?? op.coordinatorId;
      if (this.transport.isDown(holder)) continue;
      void this.ask(holder, { ...frame, target: primary }, op.q!.timeoutMs).then((reply) => {
        if (reply?.type === FrameType.ACK) this.counters.hintsWritten++;
      });
    }
  }

  /**
   * The coordinating replica keeps a hint (in the background: the put does not wait for it).
   * A few tries: it answered the PUT moments ago, so a failure here is most likely a brief
   * cut that heals.
   */
  private async keepHint(holder: string, frame: Request, timeoutMs: number): Promise<void> {
    for (let attempt = 0; attempt < HOLDER_TRIES; attempt++) {
      const reply = await this.ask(holder, frame, timeoutMs);
      if (reply?.type === FrameType.ACK) {
        this.counters.hintsWritten++;
        return;
      }
      if (reply !== undefined) return; // an ERROR reply: it will not take it
    }
  }

  /**
   * A put that a replica refused as routed by an older ring (and that fell short of W): asks
   * again after STALE_RETRY_MS, under the ring in force then (gossip brings the newer one
   * within a round). Once per put.
   */
  retryStale(op: PutOp): void {
    const next = new PutOp(this);
    op.handOver(next);
    setTimeout(() => {
      try {
        const ring = this.ring();
        const req = next.req!;
        next.partition = ring.partitionOf(req.hi, req.lo);
        next.primaries = ring.listOf(next.partition, ring.listLength(next.q!.n));
      } catch (err) {
        next.fail(err as Error);
        return;
      }
      next.tryNext();
    }, STALE_RETRY_MS);
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

  /** The primaries that are not known to be down (the list itself when all are up). */
  private upOf(primaries: readonly string[]): readonly string[] {
    const t = this.transport;
    for (let i = 0; i < primaries.length; i++) {
      if (t.isDown(primaries[i]!)) return primaries.filter((id) => !t.isDown(id));
    }
    return primaries;
  }

  /** The reply, or undefined if the replica timed out or is unavailable. */
  private async ask(replica: string, req: Request, timeoutMs: number): Promise<Reply | undefined> {
    try {
      return await this.transport.request(replica, req, timeoutMs);
    } catch {
      return undefined;
    }
  }

  /** The N, R and W a request with `opts` would use now; throws INVALID_ARGUMENT as the request would. */
  checkQuorum(opts: RequestOptions): { n: number; r: number; w: number } {
    const { n, r, w } = this.quorum(this.ring(), opts);
    return { n, r, w };
  }

  private quorum(ring: Ring, opts: RequestOptions): Quorum {
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
