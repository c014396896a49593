// Runs on: the main thread. The coordinator: routes each request to the key's replicas and
// applies the quorum rules of the caller's N, R and W.
//
// put(key, value, context):
//   1. The preference list: the first N distinct replicas clockwise from the key's partition.
//   2. The first healthy one coordinates the version (PUT): it advances its own clock entry
//      past the stored clock and the caller's context and returns the new object. If it fails
//      or times out, the next healthy primary is asked.
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
import type { TokenHasher } from '../hash/index.js';
import { FrameType, type PutRequest, type Reply, type Request } from '../protocol/index.js';
import type { Ring } from '../ring/index.js';
import {
  contextOf,
  decodeObject,
  descendsObject,
  encodeContext,
  encodeObject,
  mergeAll,
  visibleValues,
  type VObject,
} from '../version/index.js';
import type { Transport } from './transport.js';

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
}

export interface RequestOptions {
  n?: number;
  r?: number;
  w?: number;
  timeoutMs?: number;
  /** false: strict quorum (only primaries count). */
  sloppy?: boolean;
}

export interface WriteOptions extends RequestOptions {
  /** The context of the read this write follows: it supersedes exactly what that read saw. */
  context?: Uint8Array;
  /** The value expires this many ms after the write. */
  ttlMs?: number;
}

/** What happened to a request: who answered, whether fallbacks stood in. */
export interface Receipt {
  /** Replicas that stored the write (or answered the read). */
  replicas: string[];
  /** Fallback replicas that keep a hint, and the primary each stands in for. */
  hints: { replica: string; for: string }[];
  /** Concurrent values of the key after the write (or in the read). */
  siblings: number;
}

export interface WriteResult {
  context: Uint8Array;
  receipt: Receipt;
}

export interface ReadResult {
  /** Every concurrent value (one in the common case). */
  values: Uint8Array[];
  /** Pass it to the write that resolves these values. */
  context: Uint8Array;
  receipt: Receipt;
}

/** Counters for stats and metrics. */
export interface CoordinatorCounters {
  puts: number;
  gets: number;
  quorumFailures: number;
  hintsWritten: number;
  readRepairs: number;
}

const EMPTY = new Uint8Array(0);
/** Error codes a replica returns that are the caller's to handle, not a replica failure. */
const CLIENT_ERRORS = new Set<string>([ErrorCode.TOO_MANY_SIBLINGS, ErrorCode.TOO_LARGE, ErrorCode.INVALID_ARGUMENT]);

export class Coordinator {
  readonly counters: CoordinatorCounters = { puts: 0, gets: 0, quorumFailures: 0, hintsWritten: 0, readRepairs: 0 };

  constructor(
    private readonly ring: () => Ring,
    private readonly transport: Transport,
    private readonly hasher: TokenHasher,
    private readonly defaults: QuorumDefaults,
    private readonly now: () => number = Date.now,
  ) {}

  /** Writes `value` (null: a delete, stored as a tombstone) for `key`. */
  async put(key: Uint8Array, value: Uint8Array | null, opts: WriteOptions = {}): Promise<WriteResult> {
    const ring = this.ring();
    const { n, w, timeoutMs, sloppy } = this.quorum(ring, opts);
    const h = this.hasher;
    h.hash(key);
    const hi = h.hi;
    const lo = h.lo;
    const partition = ring.partitionOf(hi, lo);
    const primaries = ring.listOf(partition, n);
    const now = this.now();
    if (opts.ttlMs !== undefined && !(Number.isSafeInteger(opts.ttlMs) && opts.ttlMs > 0)) {
      throw new RingkvError(ErrorCode.INVALID_ARGUMENT, `ttlMs must be a positive integer, got ${opts.ttlMs}`);
    }
    const req: PutRequest = {
      type: FrameType.PUT, hi, lo, key,
      context: opts.context ?? EMPTY,
      value,
      writtenAt: now,
      expiresAt: opts.ttlMs ? now + opts.ttlMs : 0,
      maxSiblings: this.defaults.maxSiblings,
      lww: this.defaults.lww,
    };
    this.counters.puts++;

    // 1. The first healthy primary that answers coordinates the version.
    let coordinator: string | undefined;
    let objectBytes: Uint8Array | undefined;
    for (const id of primaries) {
      if (this.transport.isDown(id)) continue;
      const reply = await this.ask(id, req, timeoutMs);
      if (reply === undefined) continue;
      if (reply.type === FrameType.ERROR) {
        if (CLIENT_ERRORS.has(reply.code)) throw new RingkvError(reply.code as ErrorCode, reply.message);
        continue;
      }
      if (reply.type !== FrameType.OBJECT) continue;
      coordinator = id;
      objectBytes = reply.object.slice();
      break;
    }
    if (coordinator === undefined || objectBytes === undefined) {
      this.counters.quorumFailures++;
      throw quorumError(`write reached 0 of the ${w} replicas it needs: no primary of the key could coordinate it`, 0, w);
    }
    const object = decodeObject(objectBytes, { source: `replica ${coordinator}` });

    // 2. Replicate to the other primaries; fallbacks keep hints for the ones that fail.
    const receipt: Receipt = { replicas: [coordinator], hints: [], siblings: object.siblings.length };
    const failed = new Set<string>();
    const others = primaries.filter((id) => id !== coordinator);
    await new Promise<void>((resolve) => {
      let settled = 0;
      const check = () => {
        const acks = receipt.replicas.length + (sloppy ? receipt.hints.length : 0);
        if (acks >= w || settled === others.length) resolve();
      };
      check();
      for (const id of others) {
        this.replicateOrHint(id, partition, n, hi, lo, key, objectBytes, timeoutMs, failed, receipt)
          .finally(() => {
            settled++;
            check();
          });
      }
    });
    const acks = receipt.replicas.length + (sloppy ? receipt.hints.length : 0);
    if (acks < w) {
      this.counters.quorumFailures++;
      throw quorumError(
        `write reached ${acks} of the ${w} replicas it needs (${receipt.replicas.length} primaries, ${receipt.hints.length} hints${sloppy ? '' : ', not counted: strict quorum'}); it may still be applied`,
        acks, w,
      );
    }
    return { context: encodeContext(contextOf(object)), receipt };
  }

  async get(key: Uint8Array, opts: RequestOptions = {}): Promise<ReadResult | undefined> {
    const ring = this.ring();
    const { n, r, timeoutMs } = this.quorum(ring, opts);
    const h = this.hasher;
    h.hash(key);
    const hi = h.hi;
    const lo = h.lo;
    const primaries = ring.listOf(ring.partitionOf(hi, lo), n);
    this.counters.gets++;
    const req: Request = { type: FrameType.GET, hi, lo, key };
    const up = primaries.filter((id) => !this.transport.isDown(id));
    if (up.length < r) {
      this.counters.quorumFailures++;
      throw quorumError(`read can reach only ${up.length} of the ${r} replicas it needs (the others are down)`, 0, r);
    }

    const answers = new Map<string, VObject | undefined>();
    let settled = 0;
    const all = up.map((id) =>
      this.ask(id, req, timeoutMs).then((reply) => {
        if (reply?.type === FrameType.OBJECT) {
          answers.set(id, reply.object.length === 0 ? undefined : decodeObject(reply.object, { source: `replica ${id}` }));
        }
      }).catch(() => {
        // A replica whose object does not decode counts as not answering.
      }).finally(() => { settled++; }),
    );
    await new Promise<void>((resolve) => {
      const check = () => { if (answers.size >= r || settled === up.length) resolve(); };
      for (const p of all) void p.then(check);
      check();
    });
    if (answers.size < r) {
      this.counters.quorumFailures++;
      throw quorumError(`read got ${answers.size} of the ${r} replies it needs`, answers.size, r);
    }
    const merged = mergeAll([...answers.values()]);
    void Promise.all(all).then(() => this.readRepair(answers, hi, lo, key, timeoutMs));

    const receipt: Receipt = { replicas: [...answers.keys()], hints: [], siblings: merged?.siblings.length ?? 0 };
    if (merged === undefined) return undefined;
    const values = visibleValues(merged, this.now(), { lww: this.defaults.lww });
    if (values.length === 0) return undefined;
    return { values, context: encodeContext(contextOf(merged)), receipt };
  }

  /** After all replies: every replica that answered with less than the merge gets the merge. */
  private readRepair(answers: Map<string, VObject | undefined>, hi: number, lo: number, key: Uint8Array, timeoutMs: number): void {
    const merged = mergeAll([...answers.values()]);
    if (merged === undefined) return;
    let bytes: Uint8Array | undefined;
    for (const [id, obj] of answers) {
      if (obj !== undefined && descendsObject(obj, merged)) continue;
      bytes ??= encodeObject(merged);
      this.counters.readRepairs++;
      void this.ask(id, { type: FrameType.REPLICATE, hi, lo, key, object: bytes }, timeoutMs);
    }
  }

  private async replicateOrHint(
    primary: string, partition: number, n: number, hi: number, lo: number, key: Uint8Array,
    object: Uint8Array, timeoutMs: number, failed: Set<string>, receipt: Receipt,
  ): Promise<void> {
    if (!this.transport.isDown(primary)) {
      const reply = await this.ask(primary, { type: FrameType.REPLICATE, hi, lo, key, object }, timeoutMs);
      if (reply?.type === FrameType.ACK) {
        receipt.replicas.push(primary);
        return;
      }
    }
    failed.add(primary);
    const ring = this.ring();
    const { fallbacks } = ring.fallbacks(partition, n, (id) => failed.has(id) || this.transport.isDown(id));
    const stand = fallbacks.find((f) => f.hintFor === primary);
    if (stand === undefined) return;
    const reply = await this.ask(stand.member, { type: FrameType.HINT, target: primary, hi, lo, key, object }, timeoutMs);
    if (reply?.type === FrameType.ACK) {
      this.counters.hintsWritten++;
      receipt.hints.push({ replica: stand.member, for: primary });
    }
  }

  /** The reply, or undefined if the replica timed out or is unavailable. */
  private async ask(replica: string, req: Request, timeoutMs: number): Promise<Reply | undefined> {
    try {
      return await this.transport.request(replica, req, timeoutMs);
    } catch {
      return undefined;
    }
  }

  private quorum(ring: Ring, opts: RequestOptions): { n: number; r: number; w: number; timeoutMs: number; sloppy: boolean } {
    const d = this.defaults;
    const n = opts.n ?? d.n;
    const r = opts.r ?? Math.min(d.r, n);
    const w = opts.w ?? Math.min(d.w, n);
    const members = ring.members.length;
    const bad = (why: string): never => { throw new RingkvError(ErrorCode.INVALID_ARGUMENT, why); };
    if (!Number.isInteger(n) || n < 1 || n > members) bad(`n must be an integer in 1..${members} (the replicas there are), got ${n}`);
    if (!Number.isInteger(r) || r < 1 || r > n) bad(`r must be an integer in 1..n (${n}), got ${r}`);
    if (!Number.isInteger(w) || w < 1 || w > n) bad(`w must be an integer in 1..n (${n}), got ${w}`);
    const timeoutMs = opts.timeoutMs ?? d.timeoutMs;
    return { n, r, w, timeoutMs, sloppy: opts.sloppy ?? d.sloppy };
  }
}

function quorumError(message: string, got: number, needed: number): RingkvError {
  const err = new RingkvError(ErrorCode.QUORUM, message);
  return Object.assign(err, { acks: got, needed });
}
