// Runs on: the main thread. The table of requests in flight that every transport with
// request ids keeps (the shard transport's and the peer transport's): ids per link, pooled
// entries, deadlines without a timer per request (deadlines.ts), and the three ways a
// request leaves the table: its reply (settle), an error (fail, failAll) or its deadline
// (expire, ERR_TIMEOUT). Also the promise sink of Transport.request() and the copy of a
// reply it hands out (replies are views into a ring or a receive buffer).
//
// Hot path: track, take and reply allocate nothing; an entry is reused once it settled.
// Each group keeps a latency histogram of its replies (send to reply: the deadline's clock
// read at send, one more at the reply), which the shard transport reports per shard.
import { Histogram } from '../histogram.js';
import { FrameType, type Reply, type Slab } from '../protocol/index.js';
import { Deadlines, type Deadlined } from './deadlines.js';
import { timeoutError, type ReplySink } from './transport.js';

/** Request ids stay below 2^30 (small integers: fast Map keys); a late reply can only match a request 2^30 ids later. */
const MAX_REQUEST_ID = 0x3fffffff;

/** One id space and its requests in flight: a shard link, a peer link. */
export class RequestGroup {
  /** Requests in flight, by request id. */
  readonly pending = new Map<number, InFlight>();
  /** Send-to-reply time of the requests answered (not of those failed or timed out). */
  readonly latency = new Histogram();
  private nextId = 1;

  takeId(): number {
    const id = this.nextId;
    this.nextId = this.nextId >= MAX_REQUEST_ID ? 1 : this.nextId + 1;
    return id;
  }
}

/** A request in flight. Pooled: reused once settled (a stale deadline entry tells by `id`). */
export class InFlight implements Deadlined {
  id = 0;
  timeoutMs = 0;
  queue: Deadlined['queue'] = undefined;
  group: RequestGroup | undefined;
  /** Whom it went to (a replica or a node id), for its timeout's message. */
  target = '';
  sink: ReplySink | undefined;
  tag = 0;
  /** performance.now() when it was tracked (sent). */
  sentAt = 0;
}

/** The requests in flight of one transport, over all its groups (links). */
export class RequestTable {
  /** Settled entries, for reuse. */
  private readonly free: InFlight[] = [];
  /** Timeouts: one queue per distinct timeout value, one timer for the table. */
  private readonly deadlines = new Deadlines<InFlight>((p) => this.fail(p, timeoutError(p.target, p.timeoutMs)));

  /** Puts request `id` of `group` in flight: its outcome goes to `sink` with `tag`, ERR_TIMEOUT after `timeoutMs`. */
  track(group: RequestGroup, id: number, target: string, timeoutMs: number, sink: ReplySink, tag: number): void {
    const p = this.free.pop() ?? new InFlight();
    p.id = id;
    p.timeoutMs = timeoutMs;
    p.group = group;
    p.target = target;
    p.sink = sink;
    p.tag = tag;
    group.pending.set(id, p);
    p.sentAt = this.deadlines.track(p);
  }

  /** Takes `p` out of flight (its deadline entry goes stale) and returns its sink. */
  settle(p: InFlight): ReplySink {
    const sink = p.sink!;
    p.group!.pending.delete(p.id);
    p.id = 0;
    p.sink = undefined;
    p.group = undefined;
    this.deadlines.settled(p);
    this.free.push(p);
    return sink;
  }

  /** Takes `p` out of flight and hands its sink `reply`. */
  reply(p: InFlight, reply: Reply): void {
    const tag = p.tag;
    p.group!.latency.recordMs(performance.now() - p.sentAt);
    const sink = this.settle(p);
    try {
      sink.onReply(reply, tag);
    } catch {
      // A sink must not throw; if one does, it must not stop the replies of every other request.
    }
  }

  /** Takes `p` out of flight and fails it with `err`. */
  fail(p: InFlight, err: Error): void {
    const tag = p.tag;
    const sink = this.settle(p);
    try {
      sink.onError(err, tag);
    } catch {
      // see reply
    }
  }

  /** Fails every request in flight in `group` (its link died or closes): with `err`, or what `errorOf` makes of it. */
  failAll(group: RequestGroup, err: Error, errorOf?: (p: InFlight, err: Error) => Error): void {
    if (group.pending.size === 0) return;
    for (const p of [...group.pending.values()]) this.fail(p, errorOf === undefined ? err : errorOf(p, err));
  }

  close(): void {
    this.deadlines.close();
  }
}

/** Transport.request()'s sink: settles a promise with a copy of the reply (replies are views into a ring or receive buffer). */
export class PromiseSink implements ReplySink {
  constructor(
    private readonly resolve: (reply: Reply) => void,
    private readonly reject: (err: Error) => void,
    /** Where an OBJECT's bytes are copied (default: a buffer of their own). */
    private readonly slab?: Slab,
  ) {}

  onReply(reply: Reply): void {
    this.resolve(copyReply(reply, this.slab));
  }

  onError(err: Error): void {
    this.reject(err);
  }
}

/** A copy of `reply` that owns its bytes (an OBJECT's into `slab` when given). */
export function copyReply(reply: Reply, slab?: Slab): Reply {
  switch (reply.type) {
    case FrameType.OBJECT:
      return { type: FrameType.OBJECT, object: slab === undefined ? reply.object.slice() : slab.copy(reply.object, 0, reply.object.length) };
    case FrameType.OBJECT_PARTIAL:
      return { type: FrameType.OBJECT_PARTIAL, object: reply.object.slice() };
    case FrameType.HINTS:
      return { type: FrameType.HINTS, hints: reply.hints.map((h) => ({ hi: h.hi, lo: h.lo, key: h.key.slice(), object: h.object.slice() })) };
    case FrameType.KEYS:
      return { ...reply, keys: reply.keys.map((k) => k.slice()) };
    case FrameType.HASHES:
      return { ...reply, leaves: reply.leaves.slice() };
    case FrameType.OBJECTS:
      return { ...reply, entries: reply.entries.map((e) => ({ hi: e.hi, lo: e.lo, key: e.key.slice(), object: e.object.slice() })) };
    default:
      return reply;
  }
}
