// Runs on: the main thread. The requests anti-entropy and range transfer send to replicas
// (TREE, RANGE, REPLICATE, REPLICATE_MANY, PURGE, DROP), each checked: an ERROR reply becomes a RingkvError with the replica's code,
// any other unexpected reply ERR_PROTOCOL (counted as a bad reply). Byte fields of the
// replies are copied while the transport's reply buffer is still valid (a shard's replies
// are views into its queue, reused once the sink returns), so callers may keep them.
import { ErrorCode, RingkvError } from '../errors.js';
import { TOKEN_END } from '../hash/index.js';
import { FrameType, HASH_BYTES, REPLICATE_MANY_MAX_BYTES, REPLICATE_MANY_MAX_ENTRIES, type RangeEntry, type Reply, type Request, type TokenBound } from '../protocol/index.js';
import { PromiseSink, copyReply, type Transport } from '../coordinator/index.js';

export interface LeafLevel {
  entries: number;
  complete: boolean;
  leaves: Uint8Array;
}

export interface RangePage {
  entries: RangeEntry[];
  done: boolean;
  /** Where the next page starts (the range's end when done). */
  next: bigint;
}

/**
 * Entries per REPLICATE_MANY that senders cut (batches()): a transfer page's worth, so one
 * page read is one write on the target.
 */
export const SEND_BATCH_ENTRIES = 256;
/**
 * Bytes of keys and objects per REPLICATE_MANY that senders cut (a larger object goes alone):
 * one record of a default 1 MiB shard ring (no fragments), a small share of it, so the
 * target's clients still find room beside a transfer.
 */
export const SEND_BATCH_BYTES = 64 * 1024;

/**
 * `entries` cut, in order, into runs of at most `maxEntries` and about `maxBytes` of keys
 * and objects: a run stops before the entry that would take it past maxBytes (a larger
 * entry is a run of its own). Each run is within REPLICATE_MANY's bounds.
 */
export function batches<T extends RangeEntry>(entries: readonly T[], maxEntries = SEND_BATCH_ENTRIES, maxBytes = SEND_BATCH_BYTES): T[][] {
  const most = Math.max(1, Math.min(maxEntries, REPLICATE_MANY_MAX_ENTRIES));
  const cap = Math.min(maxBytes, REPLICATE_MANY_MAX_BYTES);
  const out: T[][] = [];
  let run: T[] = [];
  let bytes = 0;
  for (const e of entries) {
    const n = e.key.length + e.object.length;
    if (run.length > 0 && (run.length >= most || bytes + n > cap)) {
      out.push(run);
      run = [];
      bytes = 0;
    }
    run.push(e);
    bytes += n;
  }
  if (run.length > 0) out.push(run);
  return out;
}

/** Replies that did not make sense (wrong type, wrong size, out of range): a bug or a corrupt link. */
export class BadReplies {
  count = 0;
}

export class ReplicaCalls {
  constructor(
    private readonly transport: Transport,
    private readonly timeoutMs: number,
    private readonly bad: BadReplies,
  ) {}

  /** The leaf level of [from, to) at `depth` on `replica`. */
  async tree(replica: string, from: bigint, to: bigint, depth: number, maxEntries: number): Promise<LeafLevel> {
    const reply = await this.call(replica, { type: FrameType.TREE, from: bound(from), to: bound(to), depth, maxEntries });
    if (reply.type !== FrameType.HASHES) throw this.unexpected(replica, 'TREE', reply);
    if (reply.complete && reply.leaves.length !== HASH_BYTES << depth) {
      throw this.badReply(replica, `answered a depth-${depth} TREE with ${reply.leaves.length / HASH_BYTES} leaves`);
    }
    return reply;
  }

  /** One page of the stored objects of [from, to) on `replica`, checked to lie in the range, in order. */
  async range(replica: string, from: bigint, to: bigint, max: number, maxBytes: number): Promise<RangePage> {
    const reply = await this.call(replica, { type: FrameType.RANGE, from: bound(from), to: bound(to), max, maxBytes });
    if (reply.type !== FrameType.OBJECTS) throw this.unexpected(replica, 'RANGE', reply);
    let last = from;
    for (const e of reply.entries) {
      const t = (BigInt(e.hi) << 32n) | BigInt(e.lo);
      if (t < last || t >= to) throw this.badReply(replica, `answered a RANGE with token ${t} outside [${from}, ${to}) or out of order`);
      last = t;
    }
    const next = reply.done ? to : (BigInt(reply.next.hi) << 32n) | BigInt(reply.next.lo);
    if (!reply.done && (next <= from || next > to || next <= last)) throw this.badReply(replica, `answered a RANGE with resume point ${next} outside (${from}, ${to}]`);
    return { entries: reply.entries, done: reply.done, next };
  }

  async replicate(replica: string, hi: number, lo: number, key: Uint8Array, object: Uint8Array): Promise<void> {
    const reply = await this.call(replica, { type: FrameType.REPLICATE, hi, lo, key, object });
    if (reply.type !== FrameType.ACK) throw this.unexpected(replica, 'REPLICATE', reply);
  }

  /**
   * Merges every one of `entries` on `replica` in one REPLICATE_MANY frame: resolves once
   * all are stored; rejects (nothing of them applied) with the replica's error naming the
   * first entry that failed. REQUIRES: within the frame's bounds (a run of batches()).
   */
  async replicateMany(replica: string, entries: RangeEntry[]): Promise<void> {
    const reply = await this.call(replica, { type: FrameType.REPLICATE_MANY, entries });
    if (reply.type !== FrameType.ACK) throw this.unexpected(replica, 'REPLICATE_MANY', reply);
  }

  /**
   * One page of tombstone GC over [from, to) on `replica` (tombstone-only objects written
   * before `before`); resolves with how many it purged and where to resume (`to` when done).
   */
  async purge(replica: string, from: bigint, to: bigint, before: number, max: number): Promise<{ purged: number; next: bigint }> {
    const reply = await this.call(replica, { type: FrameType.PURGE, from: bound(from), to: bound(to), before, max });
    if (reply.type !== FrameType.PURGED) throw this.unexpected(replica, 'PURGE', reply);
    const next = reply.done ? to : (BigInt(reply.next.hi) << 32n) | BigInt(reply.next.lo);
    if (!reply.done && (next <= from || next > to)) throw this.badReply(replica, `answered a PURGE with resume point ${next} outside (${from}, ${to}]`);
    return { purged: reply.purged, next };
  }

  /**
   * One page of a handed-away range's deletion on `replica` (DROP: the objects in [from, to)
   * last written before `before`); resolves with how many it deleted and where to resume
   * (`to` when done).
   */
  async drop(replica: string, from: bigint, to: bigint, before: number, max: number): Promise<{ dropped: number; next: bigint }> {
    const reply = await this.call(replica, { type: FrameType.DROP, from: bound(from), to: bound(to), before, max });
    if (reply.type !== FrameType.PURGED) throw this.unexpected(replica, 'DROP', reply);
    const next = reply.done ? to : (BigInt(reply.next.hi) << 32n) | BigInt(reply.next.lo);
    if (!reply.done && (next <= from || next > to)) throw this.badReply(replica, `answered a DROP with resume point ${next} outside (${from}, ${to}]`);
    return { dropped: reply.purged, next };
  }

  private call(replica: string, req: Request): Promise<Reply> {
    const t = this.transport;
    if (t.send === undefined) return t.request(replica, req, this.timeoutMs).then(copyReply);
    return new Promise<Reply>((resolve, reject) => t.send!(replica, req, this.timeoutMs, new PromiseSink(resolve, reject), 0));
  }

  private unexpected(replica: string, what: string, reply: Reply): RingkvError {
    if (reply.type === FrameType.ERROR) {
      if (reply.code === ErrorCode.PROTOCOL) this.bad.count++; // it could not read our frame, or we could not read its reply
      return new RingkvError(knownCode(reply.code), `replica ${replica} failed a ${what}: ${reply.message}`);
    }
    return this.badReply(replica, `answered a ${what} with a type ${reply.type} frame`);
  }

  private badReply(replica: string, what: string): RingkvError {
    this.bad.count++;
    return new RingkvError(ErrorCode.PROTOCOL, `replica ${replica} ${what}`);
  }
}

function knownCode(code: string): ErrorCode {
  return (Object.values(ErrorCode) as string[]).includes(code) ? (code as ErrorCode) : ErrorCode.IO;
}

/** A token (or the ring's end, 2^64) as a frame's token bound. */
export function bound(t: bigint): TokenBound {
  if (t >= TOKEN_END) return { hi: 0, lo: 0, end: true };
  return { hi: Number(t >> 32n), lo: Number(t & 0xffffffffn), end: false };
}
