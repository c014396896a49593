// Runs on: the main thread. The coordinator's requests in flight: one object per get or put
// (GetOp, PutOp) that is the ReplySink of its requests to replicas and settles the caller's
// promise (or its slot of a getMany/putMany) once the quorum rules of coordinator.ts are met.
// No promise, closure or timer per replica request: replies arrive as sink calls.
import { ErrorCode, RingkvError } from '../errors.js';
import { parseInt64 } from '../encoding/index.js';
import { FrameType, type PutRequest, type Reply, type Request, type Slab } from '../protocol/index.js';
import { decodeObject, type DecodeOptions, type VObject } from '../version/index.js';
import type { CoordinatorCounters, ReadResult, Receipt, RequestOptions, StorageFaultSink, WriteResult } from './requests.js';
import type { ReplySink, Transport } from './transport.js';
import type { Fallback } from '../ring/index.js';

export const EMPTY = new Uint8Array(0);
/** Error codes a replica returns that are the caller's to handle, not a replica failure. */
const CLIENT_ERRORS = new Set<string>([ErrorCode.TOO_MANY_SIBLINGS, ErrorCode.TOO_LARGE, ErrorCode.INVALID_ARGUMENT, ErrorCode.CONFLICT, ErrorCode.NOT_INTEGER]);
/** Error codes of a replica's storage (descriptors, disk full, EIO): a failed write reports them, not ERR_QUORUM. */
const STORAGE_ERRORS = new Set<string>([ErrorCode.IO, ErrorCode.NO_SPACE]);
/** No options: the store's defaults (a shared object, so a call without options allocates none). */
export const NO_OPTIONS: RequestOptions = Object.freeze({});
/** Shared empty lists (frozen: never pushed to). */
export const NO_REPLICAS = Object.freeze([]) as unknown as string[];
const NO_OBJECTS = Object.freeze([]) as unknown as (VObject | undefined)[];
/** The tag of a put's PUT request (its REPLICATEs are tagged with their index in `others`). */
const COORDINATE = -1;

/** What a request in flight calls back on the coordinator that began it (coordinator.ts's
 *  Coordinator), declared here so that this file need not import it. */
export interface OpHost {
  readonly counters: CoordinatorCounters;
  readonly slab: Slab;
  readonly transport: Transport;
  readonly now: () => number;
  dispatch(replica: string, req: Request, timeoutMs: number, sink: ReplySink, tag: number): void;
  context(obj: VObject): Uint8Array;
  copyOptions(id: string): DecodeOptions;
  viewOptions(id: string): DecodeOptions;
  finishGet(op: GetOp): void;
  finishSingle(op: GetOp, object: Uint8Array): boolean;
  finishSinglePut(op: PutOp, replica: string, object: Uint8Array): boolean;
  readRepair(op: GetOp): void;
  standInsFor(op: PutOp): readonly Fallback[];
  hintStandIns(op: PutOp, standIns: readonly Fallback[], object: Uint8Array): void;
  hint(op: PutOp, primary: string): Promise<void>;
  retryStale(op: PutOp): void;
  /** Where replicas' storage errors are reported (the store's fault tracking). */
  readonly storageFaults: StorageFaultSink | undefined;
  /** Replicas still receiving the hints they missed while down (Coordinator.catchingUp). */
  readonly catchingUp: ReadonlySet<string>;
  /** A sloppy read whose replica failed asks the next spare member; false when none is left. */
  askSpare(op: GetOp): boolean;
}

export interface Quorum {
  readonly n: number;
  readonly r: number;
  readonly w: number;
  readonly timeoutMs: number;
  readonly sloppy: boolean;
  /** DC-aware levels (LOCAL_QUORUM, EACH_QUORUM, LOCAL_ONE): replies or acks needed in each
   *  DC, instead of r or w in total. */
  readonly perDc?: PerDc;
}

/** Replies or acknowledgements a DC-aware level needs per DC, and each member's DC. */
export interface PerDc {
  readonly needed: ReadonlyMap<string, number>;
  dcOf(member: string): string | undefined;
}

/** Whether `members` (that replied or acknowledged) include what `perDc` needs in every DC. */
export function meetsPerDc(perDc: PerDc, members: readonly string[]): boolean {
  for (const [dc, needed] of perDc.needed) {
    let got = 0;
    for (const m of members) if (perDc.dcOf(m) === dc) got++;
    if (got < needed) return false;
  }
  return true;
}

// A promise's resolving functions, taken without allocating an executor closure per
// request: `new Promise<T>(capture)`, then resolver<T>() and rejecter() hand them out.
let capturedResolve: (value: never) => void = () => {};
let capturedReject: (err: Error) => void = () => {};
export function capture(resolve: (value: never) => void, reject: (err: Error) => void): void {
  capturedResolve = resolve;
  capturedReject = reject;
}
/** The resolve function of the promise just created with `new Promise<T>(capture)`. */
export function resolver<T>(): (value: T) => void {
  return capturedResolve as (value: T) => void;
}
/** Its reject function. */
export function rejecter(): (err: Error) => void {
  return capturedReject;
}

/** Results of getMany/putMany: one promise for the whole batch, rejected by the first failure (as Promise.all). */
export class ManyOp<T> {
  readonly results: T[];
  private remaining: number;
  private failed = false;

  constructor(
    count: number,
    private readonly resolve: (results: T[]) => void,
    private readonly reject: (err: Error) => void,
  ) {
    this.results = new Array<T>(count);
    this.remaining = count;
    if (count === 0) resolve(this.results);
  }

  done(index: number, result: T): void {
    if (this.failed) return;
    this.results[index] = result;
    if (--this.remaining === 0) this.resolve(this.results);
  }

  fail(err: Error): void {
    if (this.failed) return;
    this.failed = true;
    this.reject(err);
  }
}

/** Where an operation's outcome goes: its own promise, or its slot in a ManyOp. */
export abstract class Op<T> {
  resolve: ((result: T) => void) | undefined;
  reject: ((err: Error) => void) | undefined;
  many: ManyOp<T> | undefined;
  index = 0;

  /** Settles the caller's promise or slot (nothing once the op handed its caller over). */
  succeed(result: T): void {
    if (this.many !== undefined) this.many.done(this.index, result);
    else this.resolve?.(result);
  }

  fail(err: Error): void {
    if (this.many !== undefined) this.many.fail(err);
    else this.reject?.(err);
  }
}

/**
 * One get: asks the up primaries and, when the quorum is sloppy, stand-ins for the down
 * ones (Dynamo's sloppy read, Riak's fallbacks); answers after R replies, read-repairs
 * the primaries after all.
 */
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
  /** Answers from replicas still receiving their hints (they do not count toward R). */
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

  constructor(private readonly c: OpHost) {
    super();
  }

  /**
   * Back to a fresh op's state, for reuse by the coordinator (beginGet sets the rest).
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
  }

  onReply(reply: Reply, tag: number): void {
    if (this.up.length === 1 && reply.type === FrameType.OBJECT && this.c.finishSingle(this, reply.object)) return;
    this.settled++;
    if (reply.type === FrameType.ERROR && reply.code === ErrorCode.CORRUPTION) {
      const id = this.up[tag]!;
      if (this.corrupt === NO_REPLICAS) this.corrupt = [];
      this.corrupt.push(id);
      this.corruption ??= new RingkvError(ErrorCode.CORRUPTION, `replica ${id}: ${reply.message}`);
    }
    // An ERROR reply (corruption, an I/O error) is an answer from a reachable replica: no
    // stand-in is asked in its place, whose not-found could hide a value that exists.
    if (reply.type !== FrameType.OBJECT) {
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
      if (catchingUp.size > 0 && catchingUp.has(id)) this.catchingUpAnswers++;
    } catch {
      // A replica whose object does not decode counts as not answering.
    }
    this.check();
  }

  onError(): void {
    this.settled++;
    // A replica that timed out or became unavailable (cut off before the failure detector
    // noticed): ask a stand-in instead, once the replicas still out cannot make R.
    if (this.sloppy && !this.done && this.replicas.length + (this.up.length - this.settled) < this.r) this.c.askSpare(this);
    this.check();
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
      this.c.finishGet(this);
    }
    if (all && (this.replicas.length > 1 || (this.replicas.length > 0 && this.corrupt.length > 0))) this.c.readRepair(this);
  }

  /** Whether the replies in are what the read needs (R in total, or per DC). */
  enough(): boolean {
    if (this.perDc !== undefined) return meetsPerDc(this.perDc, this.replicas);
    // Replicas catching up count only once everyone asked has answered: they are not to
    // outrun an up-to-date replica, but when all are in, the merge is the best there is.
    const catchingUp = this.settled === this.up.length ? 0 : this.catchingUpAnswers;
    return this.replicas.length - catchingUp - (this.notfoundOk ? 0 : this.fallbackNotFounds) >= this.r;
  }
}

/**
 * Objects at least this big are acknowledged only after every primary: below the largest
 * record a shard queue carries whole (512 KiB of a 1 MiB queue), above which frames are
 * fragmented and small ones may pass them.
 */
const IN_ORDER_OBJECT_BYTES = 256 * 1024;

/**
 * One put: a primary coordinates the version, the others get it (or fallbacks keep hints).
 * When no primary can coordinate (all down, cut off or failing) and the quorum is sloppy,
 * stand-ins do, as in Dynamo: the first healthy members past the preference list (one per
 * primary, ring.fallbacks) coordinate and store the write in their own data, where range
 * cleanup (src/cluster/transfer/range-cleanup.ts) later hands it to the primaries; they also keep a
 * hint for every primary, so a primary that is back catches up within seconds.
 */
export class PutOp extends Op<WriteResult> implements ReplySink {
  primaries: readonly string[] = [];
  partition = 0;
  q: Quorum | undefined;
  req: PutRequest | undefined;
  /** Index in candidates of the next one to ask to coordinate. */
  private next = 0;
  /** Who may coordinate: the primaries, then (standing in) the stand-ins. */
  private candidates: readonly string[] = NO_REPLICAS;
  /** The stand-ins coordinating for unreachable primaries, once every primary failed. */
  private standIns: readonly Fallback[] | undefined;
  object: VObject | undefined;
  objectBytes: Uint8Array = EMPTY;
  receipt: Receipt | undefined;
  others: readonly string[] = NO_REPLICAS;
  failed: Set<string> | undefined;
  /** The primary that coordinated the version (it keeps hints no stand-in took). */
  coordinatorId = '';
  /** A replica refused a request as routed by an older ring (ERR_STALE_EPOCH). */
  private sawStale = false;
  /** The first storage error a replica answered (reported instead of ERR_QUORUM if the write fails). */
  private storageError: { replica: string; code: ErrorCode; message: string } | undefined;
  /** The put was already retried once under a newer ring. */
  retried = false;
  private settledOthers = 0;
  private done = false;
  /** An increment's result (parsed at once: the object's values are views into the ring). */
  private sum: bigint | undefined;

  constructor(private readonly c: OpHost) {
    super();
  }

  /** Hands the caller over to `next` (a retry of this put): late replies to this one change nothing. */
  handOver(next: PutOp): void {
    this.done = true;
    next.resolve = this.resolve;
    next.reject = this.reject;
    next.many = this.many;
    next.index = this.index;
    next.req = this.req;
    next.q = this.q;
    next.retried = true;
    this.resolve = undefined;
    this.reject = undefined;
    this.many = undefined;
  }

  /** Asks the next healthy primary (then stand-in) to coordinate; fails the put when none is left. */
  tryNext(): void {
    if (this.next === 0 && this.standIns === undefined) this.candidates = this.coordinatorsFirst(this.primaries);
    for (;;) {
      const cs = this.candidates;
      while (this.next < cs.length) {
        const id = cs[this.next++]!;
        if (this.c.transport.isDown(id)) continue;
        // A retry is a new request: receivers refuse a PUT older than its timeout (request-guard.ts).
        this.req!.writtenAt = this.c.now();
        this.c.dispatch(id, this.req!, this.q!.timeoutMs, this, COORDINATE);
        return;
      }
      if (this.standIns !== undefined || !this.q!.sloppy || this.q!.perDc !== undefined) break;
      // Every primary failed to coordinate: stand-ins do (Dynamo's sloppy quorum).
      this.standIns = this.c.standInsFor(this);
      this.candidates = this.standIns.map((f) => f.member);
      this.next = 0;
    }
    this.c.counters.quorumFailures++;
    this.fail(this.storageFailure(0) ?? quorumError(`write reached 0 of the ${this.q!.w} replicas it needs: neither a primary of the key nor a stand-in could coordinate it`, 0, this.q!.w));
  }

  /** Notes a replica's ERR_IO / ERR_NO_SPACE answer (and tells the store, which logs it once per cause). */
  private noteStorage(reply: Reply, replica: string | undefined): void {
    if (reply.type !== FrameType.ERROR || !STORAGE_ERRORS.has(reply.code) || replica === undefined) return;
    this.storageError ??= { replica, code: reply.code as ErrorCode, message: reply.message };
    this.c.storageFaults?.failed(replica, reply.code, reply.message);
  }

  /** The failed write's error when a replica's storage caused it: its code, its message first. */
  private storageFailure(acks: number): RingkvError | undefined {
    const e = this.storageError;
    if (e === undefined) return undefined;
    const err = new RingkvError(e.code, `${e.message} (replica ${e.replica}; the write reached ${acks} of the ${this.q!.w} replicas it needs)`);
    return Object.assign(err, { acks, needed: this.q!.w });
  }

  /**
   * Primaries in the order they may coordinate: a replica still receiving the hints it
   * missed goes last, so it does not version a write against a copy that lacks them (its
   * version would be concurrent with the missed one: a needless sibling).
   */
  private coordinatorsFirst(primaries: readonly string[]): readonly string[] {
    const catchingUp = this.c.catchingUp;
    if (catchingUp.size === 0 || !primaries.some((p) => catchingUp.has(p))) return primaries;
    return [...primaries.filter((p) => !catchingUp.has(p)), ...primaries.filter((p) => catchingUp.has(p))];
  }

  onReply(reply: Reply, tag: number): void {
    if (reply.type === FrameType.ERROR && reply.code === ErrorCode.STALE_EPOCH) this.sawStale = true;
    if (reply.type === FrameType.ERROR) this.noteStorage(reply, tag === COORDINATE ? this.candidates[this.next - 1] : this.others[tag]);
    if (tag === COORDINATE) this.coordinated(reply);
    else if (reply.type === FrameType.ACK) {
      if (this.standIns === undefined) this.receipt!.replicas.push(this.others[tag]!);
      else this.receipt!.hints.push({ replica: this.others[tag]!, for: this.standInFor(this.others[tag]!) });
      this.settleOther();
    } else this.fallback(tag);
  }

  onError(err: Error, tag: number): void {
    // A request the transport cannot carry (too large for a shard ring) fails the same on
    // every replica: tell the caller instead of trying the next and reporting ERR_QUORUM.
    if (tag === COORDINATE && (err as RingkvError).code === ErrorCode.TOO_LARGE) this.fail(err);
    // An increment that timed out or lost its replica may have been applied there: asking
    // the next replica could add it twice. The caller gets the error (outcome unknown).
    else if (tag === COORDINATE && this.req?.increment === true) this.fail(err);
    else if (tag === COORDINATE) this.tryNext();
    else this.fallback(tag);
  }

  private coordinated(reply: Reply): void {
    if (reply.type === FrameType.ERROR) {
      if (CLIENT_ERRORS.has(reply.code)) this.fail(new RingkvError(reply.code as ErrorCode, reply.message));
      else this.tryNext();
      return;
    }
    if (reply.type !== FrameType.OBJECT) {
      this.tryNext();
      return;
    }
    const id = this.candidates[this.next - 1]!;
    this.coordinatorId = id;
    this.c.storageFaults?.stored(id);
    const ps = this.standIns === undefined ? this.primaries : this.candidates;
    // One primary (N=1) and one value after the write: the context is read straight from
    // the object's bytes, without decoding it (an increment decodes: its sum is the value).
    if (ps.length === 1 && this.standIns === undefined && this.req!.increment !== true && this.c.finishSinglePut(this, id, reply.object)) {
      this.done = true;
      return;
    }
    try {
      // Only the clock and the sibling count are used after this: values stay views.
      this.object = decodeObject(reply.object, this.c.viewOptions(id));
      if (this.req!.increment === true) this.sum = sumOf(this.object);
    } catch (err) {
      this.fail(err as Error);
      return;
    }
    this.receipt = this.standIns === undefined
      ? { replicas: [id], hints: [], siblings: this.object.siblings.length }
      : { replicas: [], hints: [{ replica: id, for: this.standInFor(id) }], siblings: this.object.siblings.length };
    if (this.standIns !== undefined) this.c.hintStandIns(this, this.standIns, reply.object);
    if (ps.length === 1 && this.standIns === undefined) {
      this.done = true;
      this.succeed(this.result(this.receipt));
      return;
    }
    // The reply is a view into the ring: keep a copy for the replicas and hints.
    this.objectBytes = this.c.slab.copy(reply.object, 0, reply.object.length);
    const others = ps.filter((p) => p !== id);
    this.others = others;
    this.check();
    const req = this.req!;
    const replicate: Request = { type: FrameType.REPLICATE, hi: req.hi, lo: req.lo, key: req.key, object: this.objectBytes };
    for (let j = 0; j < others.length; j++) {
      if (this.c.transport.isDown(others[j]!)) this.fallback(j);
      else this.c.dispatch(others[j]!, replicate, this.q!.timeoutMs, this, j);
    }
  }

  /** The primary stand-in `member` stands in for. */
  private standInFor(member: string): string {
    return this.standIns!.find((f) => f.member === member)!.hintFor;
  }

  /** others[j] failed or is down: the next healthy member stands in with a hint (a failed stand-in: nothing more). */
  private fallback(j: number): void {
    if (this.standIns !== undefined) {
      this.settleOther();
      return;
    }
    const primary = this.others[j]!;
    (this.failed ??= new Set<string>()).add(primary);
    void this.c.hint(this, primary).then(() => this.settleOther());
  }

  private settleOther(): void {
    this.settledOthers++;
    this.check();
  }

  private check(): void {
    if (this.done) return;
    // A big object crosses a shard queue as fragments that later small requests overtake:
    // its put is acknowledged only once every primary has it (or a hint for it), so that a
    // read sent after the acknowledgement finds it on whichever replica answers first.
    if (this.objectBytes.length >= IN_ORDER_OBJECT_BYTES && this.settledOthers < this.others.length) return;
    const { w, sloppy, perDc } = this.q!;
    const receipt = this.receipt!;
    const acks = receipt.replicas.length + (sloppy ? receipt.hints.length : 0);
    const enough = perDc === undefined ? acks >= w : meetsPerDc(perDc, sloppy ? [...receipt.replicas, ...receipt.hints.map((h) => h.for)] : receipt.replicas);
    if (!enough && this.settledOthers < this.others.length) return;
    if (!enough && this.sawStale && !this.retried) {
      // Refused as routed by an older ring: this coordinator's ring is behind and gossip is
      // bringing the newer one; ask again under it once rather than fail the caller.
      this.c.retryStale(this);
      return;
    }
    this.done = true;
    if (!enough) {
      this.c.counters.quorumFailures++;
      this.fail(this.storageFailure(acks) ?? quorumError(
        `write reached ${acks} of the ${w} replicas it needs${perDc === undefined ? '' : ` (${neededText(perDc)})`} (${receipt.replicas.length} primaries, ${receipt.hints.length} hints${sloppy ? '' : ', not counted: strict quorum'}); it may still be applied`,
        acks, w,
      ));
      return;
    }
    // A snapshot: acks that arrive after the write returned do not change what it reported.
    const snapshot: Receipt = { replicas: receipt.replicas.slice(), hints: receipt.hints.slice(), siblings: receipt.siblings };
    this.succeed(this.result(snapshot));
  }

  private result(receipt: Receipt): WriteResult {
    const context = this.c.context(this.object!);
    return this.sum === undefined ? { context, receipt } : { context, receipt, sum: this.sum };
  }
}

/** The integer an increment left: it superseded everything its replica held, so the object is its one value. */
function sumOf(obj: VObject): bigint {
  const only = obj.siblings.length === 1 ? obj.siblings[0]!.value : null;
  const n = only === null ? null : parseInt64(only);
  if (n === null) throw new RingkvError(ErrorCode.PROTOCOL, 'an increment was answered with an object that is not one integer');
  return n;
}

/** '2 in dc1, 1 in dc2': what a DC-aware level needs, for error messages. */
export function neededText(perDc: PerDc): string {
  return [...perDc.needed].map(([dc, n]) => `${n} in ${dc}`).join(', ');
}

/** A sink for requests whose outcome nobody waits for (read repair). */
export const IGNORE: ReplySink = { onReply() {}, onError() {} };

export function quorumError(message: string, got: number, needed: number): RingkvError {
  const err = new RingkvError(ErrorCode.QUORUM, message);
  return Object.assign(err, { acks: got, needed });
}
