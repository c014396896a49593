// Runs on: both sides of one shard's data link. CoordinatorChannel runs on the main thread,
// ShardChannel on the shard's worker thread; both wrap the same SharedArrayBuffer.
//
// The buffer holds two rings (ring-layout.ts), one after the other:
//
//   offset 0                      requests ring: coordinator produces, shard consumes
//   offset ringBytes(reqCapacity) replies ring:  shard produces, coordinator consumes
//
// Frames are opaque here (src/protocol defines them); a reply is matched to its request by
// whatever the frames carry, not by this layer.
//
// The shard drains every request available as one batch (views stay valid for the whole
// batch), lets its handler do the batch's work and write replies, releases the requests'
// space, publishes the replies (the ring also publishes every 64 replies on its own so the
// coordinator starts early), then spins briefly before it sleeps on Atomics.wait. The
// coordinator publishes requests once per microtask turn and drains replies from a loop
// that polls (microtasks, then setImmediate turns, ~200 µs) before parking on
// Atomics.waitAsync. The main thread never blocks.
import { ErrorCode, RingkvError, hasCode } from '../errors.js';
import { type RecordHandler, type Reservation, SpscRing } from './ring.js';
import { DEFAULT_CAPACITY, initRing, readCapacity, ringBytes } from './ring-layout.js';
import { nextImmediate } from './ring-wait.js';

/** Worker spin before sleeping when every spinning thread has a core (NOTES.md: wake-ups cost 50-150 µs). */
export const SHARD_SPIN_MICROS = 50;
/** Worker spin when spinning threads outnumber cores: 20 µs recovered most of the loss (NOTES.md). */
export const OVERSUBSCRIBED_SPIN_MICROS = 15;
/** A sleeping shard wakes at least this often to run its event loop (control-plane messages). */
export const SHARD_IDLE_WAIT_MS = 50;
/** A busy shard yields to its event loop at least this often. */
export const SHARD_YIELD_EVERY_MS = 5;
/** A busy coordinator reply loop yields to the event loop (I/O, timers) at least this often. */
export const COORDINATOR_YIELD_EVERY_MS = 2;
/** Replies handled per drain before the coordinator lets promise continuations run. */
export const COORDINATOR_MAX_DRAIN = 4096;

/**
 * How long a shard should spin before sleeping: the threads that spin are the shards plus
 * the main thread; when they outnumber the cores, spinning steals the core the other side
 * needs, so spin less.
 */
export function suggestedSpinMicros(shards: number, cores: number): number {
  return shards + 1 <= cores ? SHARD_SPIN_MICROS : OVERSUBSCRIBED_SPIN_MICROS;
}

export interface ChannelBufferOptions {
  /** Data bytes of the requests ring (power of two). Default 1 MiB. */
  requestCapacity?: number;
  /** Data bytes of the replies ring (power of two). Default 1 MiB. */
  replyCapacity?: number;
}

/** A new SharedArrayBuffer holding one shard's two empty rings. Hand it to both sides. */
export function createChannelBuffer(options: ChannelBufferOptions = {}): SharedArrayBuffer {
  const req = options.requestCapacity ?? DEFAULT_CAPACITY;
  const rep = options.replyCapacity ?? DEFAULT_CAPACITY;
  const sab = new SharedArrayBuffer(ringBytes(req) + ringBytes(rep));
  initRing(sab, 0, req);
  initRing(sab, ringBytes(req), rep);
  return sab;
}

function replyOffset(sab: SharedArrayBuffer): number {
  return ringBytes(readCapacity(sab, 0));
}

function closedError(): RingkvError {
  return new RingkvError(ErrorCode.CLOSED, 'the shard channel is closed');
}

export interface CoordinatorChannelOptions {
  /** Reply loop: poll this long before parking on Atomics.waitAsync. Default 200 µs. */
  pollMicros?: number;
  /** Of pollMicros, poll with microtasks only this long. Default 20 µs. */
  microPollMicros?: number;
}

/**
 * The main thread's end of a shard link: produces requests, consumes replies.
 * Main thread only; not re-entrant from inside a reply handler except for send/trySend/
 * reserve/commit, which reply handlers may call.
 */
export class CoordinatorChannel {
  readonly requests: SpscRing;
  readonly replies: SpscRing;

  private publishQueued = false;
  private readonly publishNow = (): void => {
    this.publishQueued = false;
    this.requests.publish();
  };
  /** Frames that found the ring full, copied, in order; written by pump(). */
  private backlog: (Uint8Array | undefined)[] = [];
  private backlogHead = 0;
  private pumping: Promise<void> | undefined;
  private replyLoop: Promise<void> | undefined;

  constructor(sab: SharedArrayBuffer, options: CoordinatorChannelOptions = {}) {
    this.requests = new SpscRing(sab, 'producer');
    this.replies = new SpscRing(sab, 'consumer', { byteOffset: replyOffset(sab), ...options });
  }

  /** Largest frame the shard accepts through the ring. */
  get maxFrameBytes(): number {
    return this.requests.maxRecordBytes;
  }

  /**
   * Writes a frame into the requests ring; it is published at the end of this microtask
   * turn (or after 64 frames). False when the ring is full or frames already wait in the
   * backlog (order is kept): nothing is written then; use send().
   * REQUIRES: frame length <= maxFrameBytes (else ERR_TOO_LARGE); open (else ERR_CLOSED).
   */
  trySend(frame: Uint8Array, offset = 0, length: number = frame.length - offset): boolean {
    if (this.backlogHead < this.backlog.length) return false;
    if (!this.requests.tryWrite(frame, offset, length)) return false;
    this.schedulePublish();
    return true;
  }

  /**
   * Writes a frame, never dropping it: true when it went into the ring, false when the
   * ring was full and the frame was copied into a backlog that drains as the shard makes
   * room (await writable() to slow down).
   * REQUIRES: frame length <= maxFrameBytes (else ERR_TOO_LARGE); open (else ERR_CLOSED).
   */
  send(frame: Uint8Array, offset = 0, length: number = frame.length - offset): boolean {
    if (this.trySend(frame, offset, length)) return true;
    if (this.requests.closed) throw closedError();
    if (length > this.requests.maxRecordBytes || offset < 0 || length < 0 || offset + length > frame.length) {
      this.requests.tryWrite(frame, offset, length); // throws the ring's own ERR_TOO_LARGE / ERR_INVALID_ARGUMENT
    }
    this.backlog.push(frame.slice(offset, offset + length));
    this.pumping ??= this.pump();
    return false;
  }

  /**
   * Resolves when the backlog is written (at once if there is none), or when the channel
   * closes (the backlog is then dropped: the shard reads no more; send() throws ERR_CLOSED).
   */
  writable(): Promise<void> {
    return this.pumping ?? Promise.resolve();
  }

  /**
   * Space for a frame of up to `length` bytes to encode in place, or undefined when the ring
   * is full or a backlog waits (encode elsewhere and send()). Then commit().
   */
  reserve(length: number): Reservation | undefined {
    if (this.backlogHead < this.backlog.length) return undefined;
    return this.requests.reserve(length);
  }

  /** Completes reserve() with the bytes actually written (default: all reserved). */
  commit(length?: number): void {
    this.requests.commit(length);
    this.schedulePublish();
  }

  /** Publishes written frames now instead of at the end of the microtask turn. */
  flush(): void {
    this.requests.publish();
  }

  /**
   * Makes the shard run its event loop now: wakes it if it sleeps, or stops its next sleep.
   * Call it after posting the shard a control-plane message (not before: the message must
   * be queued when the shard's event loop turns).
   */
  kick(): void {
    this.requests.wakeConsumer();
  }

  /**
   * Starts the reply loop: `handler` gets each reply as a view valid during the call.
   * Resolves when the channel is closed and every reply published before was handled;
   * rejects if a handler throws (the loop then stops). Call once. While parked on
   * Atomics.waitAsync the loop does not keep the process alive (the shard's Worker does).
   * The shard blocks when the replies ring is full: keep this loop running.
   */
  onReplies(handler: RecordHandler): Promise<void> {
    if (this.replyLoop !== undefined) throw new RingkvError(ErrorCode.INVALID_ARGUMENT, 'onReplies() called twice');
    this.replyLoop = this.runReplies(handler);
    return this.replyLoop;
  }

  /**
   * Closes both rings: the shard's serve() returns once it drained the requests published
   * before; the reply loop ends once it handled the replies published before. Resolves
   * when the reply loop has ended (at once if none runs).
   */
  async close(): Promise<void> {
    if (!this.requests.closed) this.requests.close();
    this.replies.close();
    await this.replyLoop;
  }

  private schedulePublish(): void {
    if (this.publishQueued) return;
    this.publishQueued = true;
    queueMicrotask(this.publishNow);
  }

  private async runReplies(handler: RecordHandler): Promise<void> {
    const replies = this.replies;
    let lastYield = performance.now();
    for (;;) {
      const n = replies.drain(handler, COORDINATOR_MAX_DRAIN);
      // Take a full event-loop turn now and then, whatever the polling did, so I/O and
      // timers are never starved by replies that keep arriving within the microtask poll.
      if (performance.now() - lastYield >= COORDINATOR_YIELD_EVERY_MS) {
        await nextImmediate();
        lastYield = performance.now();
        continue;
      }
      if (n > 0) {
        await undefined; // let the continuations of these replies run (they send new requests)
        continue;
      }
      if ((await replies.consumerSleepAsync()) === 'closed') return;
    }
  }

  /** Writes the backlog in order as the shard makes room. Never rejects: on close it drops the backlog. */
  private async pump(): Promise<void> {
    const requests = this.requests;
    await undefined; // let send() store this promise before the loop can end
    while (this.backlogHead < this.backlog.length) {
      const frame = this.backlog[this.backlogHead]!;
      if (requests.closed) break;
      if (requests.tryWrite(frame)) {
        this.backlog[this.backlogHead++] = undefined;
        this.schedulePublish();
        continue;
      }
      if ((await requests.waitForSpaceAsync(frame.length)) === 'closed') break;
    }
    this.backlog = [];
    this.backlogHead = 0;
    this.pumping = undefined;
  }
}

/** What a shard does with its requests. */
export interface ShardHandler {
  /**
   * One request of the current batch, as a view `buf[at, at + length)` valid until the
   * batch ends (onBatch returned or its promise settled). May write replies.
   */
  onRequest(buf: Uint8Array, at: number, length: number): void;
  /** After every request of a batch was seen: do the batch's work (one WAL write) and write its replies. */
  onBatch?(count: number): void | Promise<void>;
}

export interface ShardChannelOptions {
  /** Spin this long after a batch before sleeping. Default suggestedSpinMicros for one shard on a multi-core machine. */
  spinMicros?: number;
  /** Sleep at most this long before running the event loop. Default 50 ms. */
  idleWaitMs?: number;
  /** While busy, run the event loop at least this often. Default 5 ms. */
  yieldEveryMs?: number;
}

/**
 * The shard worker's end of a shard link: consumes requests, produces replies.
 * Worker thread only (it blocks on Atomics.wait while idle).
 */
export class ShardChannel {
  readonly requests: SpscRing;
  readonly replies: SpscRing;
  private readonly idleWaitMs: number;
  private readonly yieldEveryMs: number;
  private serving = false;

  constructor(sab: SharedArrayBuffer, options: ShardChannelOptions = {}) {
    this.requests = new SpscRing(sab, 'consumer', { spinMicros: options.spinMicros ?? SHARD_SPIN_MICROS });
    this.replies = new SpscRing(sab, 'producer', { byteOffset: replyOffset(sab), spinMicros: options.spinMicros ?? SHARD_SPIN_MICROS });
    this.idleWaitMs = options.idleWaitMs ?? SHARD_IDLE_WAIT_MS;
    this.yieldEveryMs = options.yieldEveryMs ?? SHARD_YIELD_EVERY_MS;
  }

  /**
   * Writes a reply, blocking this thread while the replies ring is full (the coordinator
   * drains it asynchronously, so this cannot deadlock while its reply loop runs).
   * REQUIRES: length <= replies.maxRecordBytes (else ERR_TOO_LARGE); open (else ERR_CLOSED).
   */
  reply(frame: Uint8Array, offset = 0, length: number = frame.length - offset): void {
    while (!this.replies.tryWrite(frame, offset, length)) this.waitForReplySpace(length);
  }

  /** Space to encode a reply of up to `length` bytes in place (blocking while full); then commitReply(). */
  reserveReply(length: number): Reservation {
    for (;;) {
      const r = this.replies.reserve(length);
      if (r !== undefined) return r;
      this.waitForReplySpace(length);
    }
  }

  commitReply(length?: number): void {
    this.replies.commit(length);
  }

  /**
   * Serves requests until the channel closes: drain everything available as one batch,
   * handler.onBatch, release the requests, publish the replies; when idle spin, then sleep.
   * Runs the worker's event loop whenever it wakes idle and every yieldEveryMs while busy.
   * Resolves when the channel is closed and every request published before was served
   * (or when a reply finds the coordinator gone); rejects if the handler throws.
   */
  async serve(handler: ShardHandler): Promise<void> {
    if (this.serving) throw new RingkvError(ErrorCode.INVALID_ARGUMENT, 'serve() called twice');
    this.serving = true;
    const onRequest = handler.onRequest.bind(handler);
    try {
      await this.serveLoop(handler, onRequest);
    } catch (err) {
      // A reply written after the coordinator closed: the link is gone, not the shard.
      if (hasCode(err, ErrorCode.CLOSED) && this.requests.closed) return;
      throw err;
    }
  }

  private async serveLoop(handler: ShardHandler, onRequest: RecordHandler): Promise<void> {
    const requests = this.requests;
    const replies = this.replies;
    let lastYield = performance.now();
    for (;;) {
      const n = requests.drain(onRequest, Number.MAX_SAFE_INTEGER, false);
      if (n > 0) {
        if (handler.onBatch !== undefined) {
          const done = handler.onBatch(n);
          if (done !== undefined) await done;
        }
        requests.release();
        replies.publish();
        const now = performance.now();
        if (now - lastYield >= this.yieldEveryMs) {
          await nextImmediate();
          lastYield = performance.now();
        }
        continue;
      }
      replies.publish();
      const s = requests.consumerSleepSync(this.idleWaitMs);
      if (s === 'closed') return;
      if (s === 'idle') {
        await nextImmediate();
        lastYield = performance.now();
      }
    }
  }

  /** Closes both rings (the coordinator's reply loop ends after the replies published so far). */
  close(): void {
    if (!this.replies.closed) this.replies.close();
    this.requests.close();
  }

  private waitForReplySpace(length: number): void {
    if (this.replies.waitForSpaceSync(length, this.idleWaitMs) === 'closed') throw closedError();
  }
}
