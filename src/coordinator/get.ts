// Runs on: the main thread. A get: asks the up primaries of the key and, when the quorum is
// sloppy, stand-ins for the down ones (Dynamo's sloppy read, Riak's fallbacks); answers
// after R replies with the merge of their objects (all concurrent values plus the context),
// then read-repairs the replicas that answered with less once every reply is in
// (read-repair.ts). One GetOp per get is the ReplySink of its requests: no promise, closure
// or timer per replica request. At N=1 (one replica asked) the answer is read straight from
// the object's bytes and the GetOp is pooled for the next get. A replica marked for repair
// (its WAL recovery skipped records) answers OBJECT_PARTIAL: it counts as a catching-up
// replica's answer (see enough()); when it is the only one asked, its answer is the read's.
import { ErrorCode, RingkvError } from '../errors.js';
import { FrameType, type GetRequest, type Reply } from '../protocol/index.js';
import { decodeObject, mergeAll, readSingle, visibleSiblings, type SingleRead, type VObject } from '../version/index.js';
import { type BatchSlots, EMPTY, NO_OPTIONS, NO_REPLICAS, Op, capture, meetsPerDc, neededText, quorumError, rejecter, resolver, type OpHost, type PerDc } from './op.js';
import { readRepair } from './read-repair.js';
import type { ReadResult, Receipt, RequestOptions } from './requests.js';
import type { ReplySink } from './transport.js';

const NO_OBJECTS = Object.freeze([]) as unknown as (VObject | undefined)[];
/** `expiresAt` of a read of one value that never expires, shared by every such read (frozen: callers only read it). */
const NEVER_EXPIRES = Object.freeze([0]) as unknown as number[];
/** Settled GetOps kept for reuse: enough for a getMany of a few thousand keys. */
const MAX_FREE_GETS = 4096;

/** What a get needs of its coordinator beyond OpHost. */
export interface GetHost extends OpHost {
  /**
   * Gets that finished on the single-replica fast path (finishSingle), for reuse: a get at
   * N=1 then allocates no GetOp. Only those: nothing refers to such an op once it settled
   * (its one request's sink was taken out of the transport before the reply was handed over).
   */
  readonly freeGets: GetOp[];
  /** The GET request, reused: a transport reads a request during send() only. */
  readonly getRequest: GetRequest;
}

/** Reads `key`: resolves with its values and context, or undefined when it holds none. */
export function get(c: GetHost, key: Uint8Array, opts: RequestOptions = NO_OPTIONS): Promise<ReadResult | undefined> {
  const promise = new Promise<ReadResult | undefined>(capture);
  const op = c.freeGets.pop() ?? new GetOp(c);
  op.resolve = resolver();
  op.reject = rejecter();
  op.begin(key, opts);
  return promise;
}

/** get() reporting to a batch slot instead of a promise (Coordinator.getInto). */
export function getInto(c: GetHost, key: Uint8Array, opts: RequestOptions, sink: BatchSlots<ReadResult | undefined>, index: number): void {
  const op = c.freeGets.pop() ?? new GetOp(c);
  op.many = sink;
  op.index = index;
  op.begin(key, opts);
}

/** One get in flight. */
export class GetOp extends Op<ReadResult | undefined> implements ReplySink {
  /** Who was asked, by tag: the reachable primaries first, then fallbacks. */
  up: readonly string[] = NO_REPLICAS;
  /** up[0..primaries) are primaries; the rest stand in for primaries that are down. */
  primaries = 0;
  r = 0;
  perDc: PerDc | undefined;
  /** Whether a fallback's not-found counts toward R (Riak's notfound_ok). */
  notfoundOk = true;
  /** Not-founds from fallbacks so far (they do not count when notfoundOk is false). */
  fallbackNotFounds = 0;
  /**
   * Answers from replicas still receiving their hints, or marked for repair (OBJECT_PARTIAL):
   * they count toward R only once everyone asked has answered.
   */
  catchingUpAnswers = 0;
  /** Sloppy: a primary that fails to answer is replaced by the next spare, once each. */
  sloppy = false;
  partition = 0;
  n = 0;
  hi = 0;
  lo = 0;
  key: Uint8Array = EMPTY;
  timeoutMs = 0;
  /**
   * Replicas that answered, in order of arrival, and their objects (undefined: none held).
   * Arrays of their own from the first answer on (a get on the fast path allocates none).
   */
  replicas: string[] = NO_REPLICAS;
  objects: (VObject | undefined)[] = NO_OBJECTS;
  settled = 0;
  done = false;
  /**
   * Replicas that answered ERR_CORRUPTION (their copy of the key fails its checksum), and
   * the first such error: the read fails with it, not ERR_QUORUM, when too few others
   * answered; read repair writes the merge of the others to them.
   */
  corrupt: string[] = NO_REPLICAS;
  corruption: RingkvError | undefined;
  /** The caller's options (a get run again after a restart needs them). */
  opts: RequestOptions = NO_OPTIONS;
  /** This get already waited for a restarting shard once (awaitRestart): it fails if it falls short again. */
  waited = false;

  constructor(private readonly c: GetHost) {
    super();
  }

  /**
   * Back to a fresh op's state, for reuse by the coordinator (begin sets the rest).
   * REQUIRES: settled, and nothing (a transport, a caller) still refers to it.
   */
  reset(): void {
    this.resolve = undefined;
    this.reject = undefined;
    this.many = undefined;
    this.index = 0;
    this.up = NO_REPLICAS;
    this.perDc = undefined;
    this.fallbackNotFounds = 0;
    this.catchingUpAnswers = 0;
    this.key = EMPTY;
    this.replicas = NO_REPLICAS;
    this.objects = NO_OBJECTS;
    this.settled = 0;
    this.done = false;
    this.corrupt = NO_REPLICAS;
    this.corruption = undefined;
    this.opts = NO_OPTIONS;
    this.waited = false;
  }

  /** Routes the get (preference list, quorum) and asks its replicas; fails it at once when too few are reachable. */
  begin(key: Uint8Array, opts: RequestOptions): void {
    const c = this.c;
    let up: readonly string[];
    try {
      const ring = c.ring();
      const q = c.quorum(ring, opts);
      const h = c.hasher;
      h.hash(key);
      this.hi = h.hi;
      this.lo = h.lo;
      const partition = ring.partitionOf(this.hi, this.lo);
      const primaries = ring.listOf(partition, q.n);
      c.counters.gets++;
      up = c.upOf(primaries);
      this.primaries = up.length;
      // A sloppy read whose reachable primaries are fewer than R asks stand-ins for the down
      // ones too (Dynamo §4.6; Riak counts the first R healthy nodes of the preference list,
      // fallbacks included). Only then: a stand-in's quick not-found must never outrun a
      // primary that holds the key.
      const sloppy = q.sloppy && q.perDc === undefined;
      if (sloppy && up.length < q.r) {
        const asked = up;
        const standIns = c.standIns(ring, partition, q.n, (id) => !asked.includes(id) && primaries.includes(id));
        up = [...up, ...standIns.map((f) => f.member)];
      }
      if (q.perDc === undefined ? up.length < q.r : !meetsPerDc(q.perDc, up)) {
        if (q.sloppy && this.awaitRestart(primaries, key, opts, q.timeoutMs)) return;
        c.counters.quorumFailures++;
        const strict = q.perDc === undefined && !q.sloppy ? '; strict quorum: fallbacks do not count' : '';
        throw quorumError(`read can reach only ${up.length} of the ${q.r} replicas it needs${q.perDc === undefined ? '' : ` (${neededText(q.perDc)})`} (the others are down${strict})`, 0, q.r);
      }
      this.up = up;
      this.r = q.r;
      this.perDc = q.perDc;
      this.sloppy = sloppy;
      this.notfoundOk = opts.notfoundOk ?? true;
      this.partition = partition;
      this.n = q.n;
      this.key = key;
      this.opts = opts;
      this.timeoutMs = q.timeoutMs;
    } catch (err) {
      this.fail(err as Error);
      return;
    }
    const req = c.getRequest;
    req.hi = this.hi;
    req.lo = this.lo;
    req.key = key;
    for (let i = 0; i < up.length; i++) c.dispatch(up[i]!, req, this.timeoutMs, this, i);
    req.key = EMPTY;
  }

  onReply(reply: Reply, tag: number): void {
    if (this.up.length === 1 && reply.type === FrameType.OBJECT && this.finishSingle(reply.object)) return;
    this.settled++;
    if (reply.type === FrameType.ERROR && reply.code === ErrorCode.CORRUPTION) {
      const id = this.up[tag]!;
      if (this.corrupt === NO_REPLICAS) this.corrupt = [];
      this.corrupt.push(id);
      this.corruption ??= new RingkvError(ErrorCode.CORRUPTION, `replica ${id}: ${reply.message}`);
      this.c.storageFaults?.corrupt?.(id);
    }
    // An ERROR reply (corruption, an I/O error) is an answer from a reachable replica: no
    // stand-in is asked in its place, whose not-found could hide a value that exists.
    // OBJECT_PARTIAL: a replica marked for repair (it may miss writes) counts as catching up.
    const partial = reply.type === FrameType.OBJECT_PARTIAL;
    if (reply.type !== FrameType.OBJECT && !partial) {
      this.check();
      return;
    }
    const id = this.up[tag]!;
    try {
      const obj = reply.object.length === 0 ? undefined : decodeObject(reply.object, this.c.copyOptions(id));
      if (this.replicas === NO_REPLICAS) {
        this.replicas = [id];
        this.objects = [obj];
      } else {
        this.replicas.push(id);
        this.objects.push(obj);
      }
      if (obj === undefined && tag >= this.primaries) this.fallbackNotFounds++;
      const catchingUp = this.c.catchingUp;
      if (partial || (catchingUp.size > 0 && catchingUp.has(id))) this.catchingUpAnswers++;
    } catch {
      // A replica whose object does not decode counts as not answering.
    }
    this.check();
  }

  onError(): void {
    this.settled++;
    // A replica that timed out or became unavailable (cut off before the failure detector
    // noticed): ask a stand-in instead, once the replicas still out cannot make R.
    if (this.sloppy && !this.done && this.replicas.length + (this.up.length - this.settled) < this.r) this.askSpare();
    this.check();
  }

  /**
   * A sloppy read that too few replicas can answer because some primaries are down but
   * expected back (a local shard restarting, a peer judged down or reconnecting:
   * Transport.whenRestarted): hands the caller to a new get that runs once one is up (or the
   * wait timed out), instead of failing now. Reads change nothing, so asking again is safe.
   * Once per get. A strict read never waits: it fails fast. False: nothing to wait for.
   */
  private awaitRestart(primaries: readonly string[], key: Uint8Array, opts: RequestOptions, timeoutMs: number): boolean {
    if (this.waited) return false;
    const wait = this.c.restarted(primaries, timeoutMs);
    if (wait === undefined) return false;
    const next = new GetOp(this.c);
    this.passCaller(next);
    next.waited = true;
    this.done = true;
    // Still down after the wait: the get runs again and fails as it would have.
    void wait.then(() => next.begin(key, opts));
    return true;
  }

  /** The key's primaries under the ring of now. */
  private primaryList(): readonly string[] {
    try {
      return this.c.ring().listOf(this.partition, this.n);
    } catch {
      return NO_REPLICAS;
    }
  }

  /** Whether up[i] is a fallback, not a primary. */
  isFallback(id: string): boolean {
    const i = this.up.indexOf(id);
    return i >= this.primaries;
  }

  private check(): void {
    const all = this.settled === this.up.length;
    if (!this.done && (this.enough() || all)) {
      this.done = true;
      this.finish();
    }
    if (all && (this.replicas.length > 1 || (this.replicas.length > 0 && this.corrupt.length > 0))) readRepair(this.c, this);
  }

  /** Whether the replies in are what the read needs (R in total, or per DC). */
  enough(): boolean {
    if (this.perDc !== undefined) return meetsPerDc(this.perDc, this.replicas);
    // Replicas catching up count only once everyone asked has answered: they are not to
    // outrun an up-to-date replica, but when all are in, the merge is the best there is.
    const catchingUp = this.settled === this.up.length ? 0 : this.catchingUpAnswers;
    return this.replicas.length - catchingUp - (this.notfoundOk ? 0 : this.fallbackNotFounds) >= this.r;
  }

  /**
   * A sloppy read whose replica failed: asks the next healthy member past the preference
   * list that was not asked yet. False when there is none.
   */
  private askSpare(): boolean {
    const c = this.c;
    let spare: string | undefined;
    try {
      const ring = c.ring();
      // Every primary and everyone asked counts as out: the fallbacks left are the spares.
      const primaries = ring.listOf(this.partition, this.n);
      const asked = this.up;
      spare = c.standIns(ring, this.partition, this.n, (id) => asked.includes(id) || primaries.includes(id))[0]?.member;
    } catch {
      return false;
    }
    if (spare === undefined) return false;
    const tag = this.up.length;
    this.up = [...this.up, spare];
    c.dispatch(spare, { type: FrameType.GET, hi: this.hi, lo: this.lo, key: this.key }, this.timeoutMs, this, tag);
    return true;
  }

  /** After R replies (or all): the merge of the answers, or ERR_QUORUM. */
  private finish(): void {
    const c = this.c;
    const answered = this.replicas.length;
    if (!this.enough()) {
      if (this.sloppy && this.corruption === undefined && this.awaitRestart(this.primaryList(), this.key, this.opts, this.timeoutMs)) return;
      c.counters.quorumFailures++;
      // A replica's copy failing its checksum is the cause to report, with its code.
      const e = this.corruption;
      this.fail(e === undefined
        ? quorumError(`read got ${answered} of the ${this.r} replies it needs`, answered, this.r)
        : new RingkvError(ErrorCode.CORRUPTION, `read got ${answered} of the ${this.r} replies it needs: ${e.message}`));
      return;
    }
    const merged = answered === 1 ? this.objects[0] : mergeAll(this.objects);
    if (merged === undefined) {
      this.succeed(undefined);
      return;
    }
    const visible = visibleSiblings(merged, c.now(), c.readOptions);
    if (visible.length === 0) {
      this.succeed(undefined);
      return;
    }
    // Replies may still come (R < up): the receipt names those in by now.
    const replicas = this.settled === this.up.length ? this.replicas : this.replicas.slice();
    const receipt: Receipt = { replicas, hints: [], siblings: merged.siblings.length };
    if (this.primaries < this.up.length) {
      const stoodIn = replicas.filter((id) => this.isFallback(id));
      if (stoodIn.length > 0) receipt.fallbacks = stoodIn;
    }
    const values = visible.map((s) => s.value!);
    const expiresAt = visible.map((s) => s.expiresAt);
    this.succeed({ values, context: c.context(merged), expiresAt, receipt });
  }

  /**
   * The only replica asked answered with `object` (N=1, or one primary up): the result read
   * straight from its bytes when it has one sibling (codec.readSingle). False: use the
   * general path (more siblings, or bytes that do not decode).
   */
  private finishSingle(object: Uint8Array): boolean {
    const c = this.c;
    let read: SingleRead | null;
    try {
      if (object.length === 0) read = null;
      else read = readSingle(object, c.now(), c.slab, c.copyOptions(this.up[0]!).source!);
    } catch {
      return false;
    }
    if (read === null && object.length !== 0) return false;
    this.settled = 1;
    this.done = true;
    if (read === null || read.value === undefined) this.succeed(undefined);
    else this.succeed({ values: [read.value], context: read.context, expiresAt: read.expiresAt === 0 ? NEVER_EXPIRES : [read.expiresAt], receipt: c.soleReceipt(this.up[0]!, this.primaries === 0) });
    if (c.freeGets.length < MAX_FREE_GETS) {
      this.reset();
      c.freeGets.push(this);
    }
    return true;
  }
}
