// Runs on: the main thread. A put (an overwrite, an increment and a delete are puts too):
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
// One PutOp per put is the ReplySink of its requests: no promise, closure or timer per
// replica request. At N=1 the context is read straight from the object's bytes.
import { ErrorCode, RingkvError } from '../errors.js';
import { parseInt64 } from '../encoding/index.js';
import { FrameType, type PutRequest, type Reply, type Request } from '../protocol/index.js';
import type { Fallback } from '../ring/index.js';
import { decodeObject, readSingle, type SingleRead, type VObject } from '../version/index.js';
import { type BatchSlots, EMPTY, NO_OPTIONS, NO_REPLICAS, Op, capture, meetsPerDc, neededText, quorumError, rejecter, resolver, type OpHost, type Quorum } from './op.js';
import type { Receipt, WriteOptions, WriteResult } from './requests.js';
import type { ReplySink } from './transport.js';

/** Error codes a replica returns that are the caller's to handle, not a replica failure. */
const CLIENT_ERRORS = new Set<string>([ErrorCode.TOO_MANY_SIBLINGS, ErrorCode.TOO_LARGE, ErrorCode.INVALID_ARGUMENT, ErrorCode.CONFLICT, ErrorCode.NOT_INTEGER]);
/** Error codes of a replica's storage (descriptors, disk full, EIO): a failed write reports them, not ERR_QUORUM. */
const STORAGE_ERRORS = new Set<string>([ErrorCode.IO, ErrorCode.NO_SPACE]);
/** The tag of a put's PUT request (its REPLICATEs are tagged with their index in `others`). */
const COORDINATE = -1;
/** Wait before a put refused as routed by an older ring is asked again: about a gossip round. */
const STALE_RETRY_MS = 250;
/** Stand-ins a put tries for one missed primary before its coordinating replica keeps the
 *  hint (each try may cost a timeout, and a failing put waits for them). */
const MAX_STAND_INS = 2;
/** Tries of the coordinating replica to keep a hint (in the background). */
const HOLDER_TRIES = 3;

/** Writes `value` (null: a delete, stored as a tombstone) for `key`. */
export function put(c: OpHost, key: Uint8Array, value: Uint8Array | null, opts: WriteOptions = NO_OPTIONS): Promise<WriteResult> {
  const promise = new Promise<WriteResult>(capture);
  const op = new PutOp(c);
  op.resolve = resolver();
  op.reject = rejecter();
  op.begin(key, value, opts);
  return promise;
}

/** put() reporting to a batch slot instead of a promise (Coordinator.putInto). */
export function putInto(c: OpHost, key: Uint8Array, value: Uint8Array | null, opts: WriteOptions, sink: BatchSlots<WriteResult>, index: number): void {
  const op = new PutOp(c);
  op.many = sink;
  op.index = index;
  op.begin(key, value, opts);
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
  /** The put already waited for a restarting shard once (awaitRestart). */
  waited = false;
  private settledOthers = 0;
  private done = false;
  /** An increment's result (parsed at once: the object's values are views into the ring). */
  private sum: bigint | undefined;

  constructor(private readonly c: OpHost) {
    super();
  }

  /** Routes the put (preference list, quorum), builds its PUT and asks the first primary to coordinate it. */
  begin(key: Uint8Array, value: Uint8Array | null, opts: WriteOptions): void {
    const c = this.c;
    try {
      const ring = c.ring();
      const q = c.quorum(ring, opts);
      const h = c.hasher;
      h.hash(key);
      const hi = h.hi;
      const lo = h.lo;
      const partition = ring.partitionOf(hi, lo);
      const now = c.now();
      if (opts.ttlMs !== undefined && !(Number.isSafeInteger(opts.ttlMs) && opts.ttlMs > 0)) {
        throw new RingkvError(ErrorCode.INVALID_ARGUMENT, `ttlMs must be a positive integer, got ${opts.ttlMs}`);
      }
      if (opts.expiresAt !== undefined && !(Number.isSafeInteger(opts.expiresAt) && opts.expiresAt > 0)) {
        throw new RingkvError(ErrorCode.INVALID_ARGUMENT, `expiresAt must be a positive integer (ms since the epoch), got ${opts.expiresAt}`);
      }
      this.req = {
        type: FrameType.PUT, hi, lo, key,
        context: opts.context ?? EMPTY,
        value,
        writtenAt: now,
        expiresAt: opts.expiresAt ?? (opts.ttlMs ? now + opts.ttlMs : 0),
        maxSiblings: c.defaults.maxSiblings,
        lww: c.defaults.lww,
        overwrite: opts.overwrite === true,
        ...(opts.increment === true ? { increment: true } : {}),
      };
      this.q = q;
      this.partition = partition;
      this.primaries = ring.listOf(partition, q.n);
      c.counters.puts++;
    } catch (err) {
      this.fail(err as Error);
      return;
    }
    this.tryNext();
  }

  /** Hands the caller over to `next` (a retry of this put): late replies to this one change nothing. */
  handOver(next: PutOp): void {
    this.done = true;
    this.passCaller(next);
    next.req = this.req;
    next.q = this.q;
    next.retried = true;
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
      this.standIns = this.standInsFor();
      this.candidates = this.standIns.map((f) => f.member);
      this.next = 0;
    }
    if (this.awaitRestart()) return;
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
    else if (tag === COORDINATE && this.req?.increment === true) this.fail(outcomeUnknown(err));
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
    if (ps.length === 1 && this.standIns === undefined && this.req!.increment !== true && this.finishSingle(id, reply.object)) {
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
    if (this.standIns !== undefined) this.hintStandIns(this.standIns, reply.object);
    if (ps.length === 1 && this.standIns === undefined) {
      this.done = true;
      this.succeed(this.result(this.receipt));
      return;
    }
    // The reply is a view into the ring: keep a copy for the replicas and hints.
    this.objectBytes = this.c.slab.copy(reply.object, 0, reply.object.length);
    const others = ps.filter((p) => p !== id);
    this.others = others;
    const req = this.req!;
    const replicate: Request = { type: FrameType.REPLICATE, hi: req.hi, lo: req.lo, key: req.key, object: this.objectBytes };
    for (let j = 0; j < others.length; j++) {
      if (this.c.transport.isDown(others[j]!)) this.fallback(j);
      else this.c.dispatch(others[j]!, replicate, this.q!.timeoutMs, this, j);
    }
    // Only now may W=1 acknowledge: the caller's next request of this key (released at
    // once by the acknowledgement) must queue behind these REPLICATEs at every replica.
    this.check();
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
    void this.hint(primary).then(() => this.settleOther());
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
      this.retryStale();
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

  /**
   * A put whose only primary coordinated it into `object`: succeeds with the context read
   * straight from the object's bytes when it holds one value (codec.readSingle, whose
   * context is the object's clock prefix, copied from offset 0; the value, copied from
   * further in, is not wanted and not copied). False: decode it (more siblings, bad bytes).
   */
  private finishSingle(replica: string, object: Uint8Array): boolean {
    const c = this.c;
    let read: SingleRead | null;
    try {
      read = readSingle(object, 0, c.contextCopier, c.copyOptions(replica).source!);
    } catch {
      return false;
    }
    if (read === null) return false;
    this.succeed({ context: read.context, receipt: c.soleReceipt(replica, false) });
    return true;
  }

  /**
   * The stand-ins of a put whose primaries all failed to coordinate: the first healthy
   * members past the preference list, one per primary (none when no spare member is up).
   */
  private standInsFor(): readonly Fallback[] {
    const primaries = this.primaries;
    try {
      return this.c.standIns(this.c.ring(), this.partition, this.q!.n, (id) => primaries.includes(id));
    } catch {
      return [];
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
  private async hint(primary: string): Promise<void> {
    const c = this.c;
    const req = this.req!;
    const q = this.q!;
    const failed = this.failed!;
    const frame: Request = { type: FrameType.HINT, target: primary, hi: req.hi, lo: req.lo, key: req.key, object: this.objectBytes };
    for (let attempt = 0; attempt < MAX_STAND_INS; attempt++) {
      let stand: string | undefined;
      try {
        stand = c.standIns(c.ring(), this.partition, q.n, (id) => failed.has(id)).find((f) => f.hintFor === primary)?.member;
      } catch {
        stand = undefined;
      }
      if (stand === undefined) break;
      const reply = await ask(c, stand, frame, q.timeoutMs);
      if (reply?.type === FrameType.ACK) {
        c.counters.hintsWritten++;
        this.receipt!.hints.push({ replica: stand, for: primary });
        return;
      }
      failed.add(stand);
    }
    void keepHint(c, this.coordinatorId, frame, q.timeoutMs);
  }

  /**
   * After stand-ins took a put: they also keep a hint of it for every primary (each for the
   * one it stands in for, the coordinating stand-in for those no stand-in was left for), in
   * the background (the write's acknowledgement does not wait), so hinted handoff brings it
   * to every primary within seconds of its return; range cleanup later hands off and
   * deletes the stand-ins' own copies.
   */
  private hintStandIns(standIns: readonly Fallback[], object: Uint8Array): void {
    const c = this.c;
    const req = this.req!;
    const frame: Request = { type: FrameType.HINT, target: '', hi: req.hi, lo: req.lo, key: req.key, object: object.slice() };
    for (const primary of this.primaries) {
      const holder = standIns.find((f) => f.hintFor === primary)?.member ?? this.coordinatorId;
      if (c.transport.isDown(holder)) continue;
      void ask(c, holder, { ...frame, target: primary }, this.q!.timeoutMs).then((reply) => {
        if (reply?.type === FrameType.ACK) c.counters.hintsWritten++;
      });
    }
  }

  /**
   * A put that a replica refused as routed by an older ring (and that fell short of W): asks
   * again after STALE_RETRY_MS, under the ring in force then (gossip brings the newer one
   * within a round). Once per put.
   */
  private retryStale(): void {
    const next = new PutOp(this.c);
    this.handOver(next);
    setTimeout(() => next.reroute(), STALE_RETRY_MS);
  }

  /**
   * No replica could coordinate because the key's primaries are down but expected back (a
   * local shard restarting: with one shard there is no stand-in; a peer judged down or
   * reconnecting): a sloppy put hands its caller to a new put that runs once one is up (or
   * the wait timed out), instead of failing now. Once per put; a strict one fails fast.
   * An increment never gets here after it was sent (onError fails it: it may have been
   * applied); any other write sent again supersedes what its first try wrote (an overwrite)
   * or becomes a sibling of it (a write with a context), as any retry on a timeout does.
   */
  private awaitRestart(): boolean {
    if (this.waited || !this.q!.sloppy) return false;
    const wait = this.c.restarted(this.primaries, this.q!.timeoutMs);
    if (wait === undefined) return false;
    const next = new PutOp(this.c);
    this.handOver(next);
    next.waited = true;
    // Still down after the wait: the put runs again and fails as it would have.
    void wait.then(() => next.reroute());
    return true;
  }

  /** A retry routes again under the ring of now, then asks its first primary. */
  private reroute(): void {
    try {
      const ring = this.c.ring();
      const req = this.req!;
      this.partition = ring.partitionOf(req.hi, req.lo);
      this.primaries = ring.listOf(this.partition, ring.listLength(this.q!.n));
    } catch (err) {
      this.fail(err as Error);
      return;
    }
    this.tryNext();
  }

  private result(receipt: Receipt): WriteResult {
    const context = this.c.context(this.object!);
    return this.sum === undefined ? { context, receipt } : { context, receipt, sum: this.sum };
  }
}

/** A sent increment's transport error: it may have been applied, so it is not asked again elsewhere. */
function outcomeUnknown(err: Error): Error {
  const code = (err as RingkvError).code;
  if (code !== ErrorCode.UNAVAILABLE && code !== ErrorCode.TIMEOUT) return err;
  return new RingkvError(code, `${err.message}; the increment may have been applied (outcome unknown: read the key to know)`);
}

/** The integer an increment left: it superseded everything its replica held, so the object is its one value. */
function sumOf(obj: VObject): bigint {
  const only = obj.siblings.length === 1 ? obj.siblings[0]!.value : null;
  const n = only === null ? null : parseInt64(only);
  if (n === null) throw new RingkvError(ErrorCode.PROTOCOL, 'an increment was answered with an object that is not one integer');
  return n;
}


/**
 * The coordinating replica keeps a hint (in the background: the put does not wait for it).
 * A few tries: it answered the PUT moments ago, so a failure here is most likely a brief
 * cut that heals.
 */
async function keepHint(c: OpHost, holder: string, frame: Request, timeoutMs: number): Promise<void> {
  for (let attempt = 0; attempt < HOLDER_TRIES; attempt++) {
    const reply = await ask(c, holder, frame, timeoutMs);
    if (reply?.type === FrameType.ACK) {
      c.counters.hintsWritten++;
      return;
    }
    if (reply !== undefined) return; // an ERROR reply: it will not take it
  }
}

/** The reply, or undefined if the replica timed out or is unavailable. */
async function ask(c: OpHost, replica: string, req: Request, timeoutMs: number): Promise<Reply | undefined> {
  try {
    return await c.transport.request(replica, req, timeoutMs);
  } catch {
    return undefined;
  }
}
