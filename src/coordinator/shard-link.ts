// Runs on: the main thread. One shard's link as the ShardTransport keeps it: its worker,
// channel and control proxy, its requests in flight (pooled Pending objects), the promise
// sink of request(), and the copy of a reply that must outlive the ring.
import type { Deadlined } from './deadlines.js';
import type { Worker } from 'node:worker_threads';
import type { Remote } from 'comlink';
import type { CoordinatorChannel } from '../ipc/index.js';
import { FrameType, type Reply } from '../protocol/index.js';
import type { ShardControl } from '../shard/index.js';
import type { ReplySink } from './transport.js';

/** Request ids stay below 2^30 (small integers: fast Map keys); a late reply can only match a request 2^30 ids later. */
const MAX_REQUEST_ID = 0x3fffffff;

/** A request in flight. Pooled: reused once settled (a stale queue entry tells by `id`). */
export class Pending implements Deadlined {
  id = 0;
  link: ShardLink | undefined;
  sink: ReplySink | undefined;
  tag = 0;
  timeoutMs = 0;
  queue: Deadlined['queue'] = undefined;
}

/** request()'s sink: settles a promise with a copy of the reply (replies are views into the ring). */
export class PromiseSink implements ReplySink {
  constructor(
    private readonly resolve: (reply: Reply) => void,
    private readonly reject: (err: Error) => void,
  ) {}

  onReply(reply: Reply): void {
    this.resolve(copyReply(reply));
  }

  onError(err: Error): void {
    this.reject(err);
  }
}

/** One shard's worker, channel and requests in flight. Main thread only. */
export class ShardLink {
  worker: Worker | undefined;
  channel: CoordinatorChannel | undefined;
  control: Remote<ShardControl> | undefined;
  up = false;
  restarts = 0;
  /** Stopped for good (the node shrank): not restarted when its worker exits. */
  retired = false;
  readonly pending = new Map<number, Pending>();
  /** Control calls waiting for the worker: failed when it exits (a comlink call to a dead worker never settles). */
  readonly controlCalls = new Set<(err: Error) => void>();
  private nextId = 1;

  constructor(readonly id: string, readonly index: number) {}

  takeId(): number {
    const id = this.nextId;
    this.nextId = this.nextId >= MAX_REQUEST_ID ? 1 : this.nextId + 1;
    return id;
  }
}

/** One shard link as linkStats() reports it (the counters start again with each restart). */
export interface LinkStats {
  up: boolean;
  restarts: number;
  /** Requests waiting for their reply. */
  inFlight: number;
  /** Big requests whose last fragment is in the ring. */
  bigRequestsWritten: number;
  requestFragmentsWritten: number;
  /** Bytes of big requests accepted but not yet in the ring. */
  bigRequestBytesQueued: number;
  /** Bytes of a big reply received so far while it is incomplete. */
  partialReplyBytes: number;
}

/** Replies are decoded as views into the ring, which is reused once the handler returns. */
export function copyReply(reply: Reply): Reply {
  switch (reply.type) {
    case FrameType.OBJECT:
      return { type: FrameType.OBJECT, object: reply.object.slice() };
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
