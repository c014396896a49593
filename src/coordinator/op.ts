// Runs on: the main thread. What every request type of the coordinator shares (put.ts,
// get.ts, many.ts, read-repair.ts): the host they call back (OpHost, the Coordinator), the
// base of an operation in flight (Op: its caller's promise or its slot of a batch), the
// quorum a request runs under and its errors, and the promise capture that takes a
// promise's resolving functions without an executor closure per request.
import { ErrorCode, RingkvError } from '../errors.js';
import type { Slab, Request } from '../protocol/index.js';
import type { Fallback, Ring } from '../ring/index.js';
import type { DecodeOptions, ValueCopier, VObject } from '../version/index.js';
import type { CoordinatorCounters, Receipt, RequestOptions, StorageFaultSink } from './requests.js';
import type { ReplySink, Transport } from './transport.js';

export const EMPTY = new Uint8Array(0);
/** No options: the store's defaults (a shared object, so a call without options allocates none). */
export const NO_OPTIONS: RequestOptions = Object.freeze({});
/** Shared empty lists (frozen: never pushed to). */
export const NO_REPLICAS = Object.freeze([]) as unknown as string[];

/** What a request in flight calls back on the coordinator that began it (coordinator.ts's
 *  Coordinator: routing and quorum rules), declared here so that no request file imports it. */
export interface OpHost {
  readonly counters: CoordinatorCounters;
  readonly slab: Slab;
  readonly transport: Transport;
  readonly now: () => number;
  /** The ring requests are routed by now (throws while there is none). */
  readonly ring: () => Ring;
  /** Hashes a key into `hi`, `lo` (its token). */
  readonly hasher: { hi: number; lo: number; hash(key: Uint8Array): void };
  /** The store's settings a put carries to its replica. */
  readonly defaults: { readonly maxSiblings: number; readonly lww: boolean };
  /** What reads pass to visibleSiblings. */
  readonly readOptions: { readonly lww: boolean };
  /** Copies only what starts at offset 0 of an object (its context) into the slab. */
  readonly contextCopier: ValueCopier;
  /** Where replicas' storage errors are reported (the store's fault tracking). */
  readonly storageFaults: StorageFaultSink | undefined;
  /** Replicas still receiving the hints they missed while down (Coordinator.catchingUp). */
  readonly catchingUp: ReadonlySet<string>;
  /** The N, R, W and timeout of a request with `opts` under `ring`; throws as the request fails. */
  quorum(ring: Ring, opts: RequestOptions): Quorum;
  /**
   * When some of `primaries` are down but restarting here (a local shard's worker,
   * Transport.whenRestarted): resolves true once one of them is up again, false if none is
   * within `timeoutMs`. undefined: none is expected back, so the request fails at once.
   */
  restarted(primaries: readonly string[], timeoutMs: number): Promise<boolean> | undefined;
  /** The primaries not known to be down. */
  upOf(primaries: readonly string[]): readonly string[];
  /** The healthy members past the preference list standing in for the primaries `out` (or the transport) counts as out. */
  standIns(ring: Ring, partition: number, n: number, out: (id: string) => boolean): readonly Fallback[];
  dispatch(replica: string, req: Request, timeoutMs: number, sink: ReplySink, tag: number): void;
  context(obj: VObject): Uint8Array;
  copyOptions(id: string): DecodeOptions;
  viewOptions(id: string): DecodeOptions;
  /** The shared receipt of a request `id` answered alone (as a stand-in when `fallback`). */
  soleReceipt(id: string, fallback: boolean): Receipt;
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

/** '2 in dc1, 1 in dc2': what a DC-aware level needs, for error messages. */
export function neededText(perDc: PerDc): string {
  return [...perDc.needed].map(([dc, n]) => `${n} in ${dc}`).join(', ');
}

export function quorumError(message: string, got: number, needed: number): RingkvError {
  const err = new RingkvError(ErrorCode.QUORUM, message);
  return Object.assign(err, { acks: got, needed });
}

/** A sink for requests whose outcome nobody waits for (read repair). */
export const IGNORE: ReplySink = { onReply() {}, onError() {} };

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

/** A slot of a batch (many.ts's ManyOp): where one operation of a getMany/putMany reports. */
export interface BatchSlots<T> {
  done(index: number, result: T): void;
  fail(err: Error): void;
}

/** Where an operation's outcome goes: its own promise, or its slot in a batch. */
export abstract class Op<T> {
  resolve: ((result: T) => void) | undefined;
  reject: ((err: Error) => void) | undefined;
  many: BatchSlots<T> | undefined;
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

  /** Gives this op's caller (promise or batch slot) to `next`, a retry: what this op still hears changes nothing. */
  passCaller(next: Op<T>): void {
    next.resolve = this.resolve;
    next.reject = this.reject;
    next.many = this.many;
    next.index = this.index;
    this.resolve = undefined;
    this.reject = undefined;
    this.many = undefined;
  }
}
