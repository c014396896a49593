// Runs on: the main thread. The coordinator's end of a shard link (channel.ts describes the
// link): produces requests, big ones as fragments streamed as the shard makes room, and
// consumes replies from a loop that never blocks the event loop.
import { ErrorCode, RingkvError } from '../errors.js';
import { DEFAULT_MICRO_POLL_MICROS, type RecordHandler, type Reservation, SpscQueue } from './queue.js';
import { nextImmediate } from './queue-wait.js';
import { FRAGMENT_HEADER_BYTES, FRAGMENT_MARKER_BYTE3, fragmentDataBytes, isFragment, writeFragment } from './fragment.js';
import { Reassembler } from './reassembler.js';
import { channelClosedError as closedError, frameLimit, frameTooLarge, replyOffset } from './channel-buffer.js';

/** A busy coordinator reply loop yields to the event loop (I/O, timers) at least this often. */
export const COORDINATOR_YIELD_EVERY_MS = 2;
/**
 * Replies handled per drain before the coordinator lets promise continuations run: their
 * callers send their next requests while the shard is still answering the rest (with 4096
 * the two threads took turns, each idle while the other worked).
 */
export const COORDINATOR_MAX_DRAIN = 64;
/**
 * While requests are in flight, the reply loop polls once per event-loop turn (after the I/O
 * of that turn) for up to this long since the last reply before parking on
 * Atomics.waitAsync: parking and being woken cost 50-150 µs each (and V8's waitAsync takes a
 * process-wide lock), more than a shard's fsync (~0.3 ms) takes. A request outstanding
 * longer than this (a slow fsync, a stuck shard) costs a park, not a spinning core: at 20 ms
 * a put at 1 in flight with fsyncs of 2.5-5 ms burned 2.4-3.2 ms of main-thread CPU each.
 */
export const COORDINATOR_BUSY_POLL_MS = 2;
const MICRO_POLL_MS = DEFAULT_MICRO_POLL_MICROS / 1000;

export interface CoordinatorChannelOptions {
  /** Reply loop: poll this long before parking on Atomics.waitAsync. Default 200 µs. */
  pollMicros?: number;
  /** Of pollMicros, poll with microtasks only this long. Default 20 µs. */
  microPollMicros?: number;
  /** Largest frame either way (fragmented when above a queue record). Default 64 MiB. */
  maxFrameBytes?: number;
  /**
   * Whether replies are awaited (requests in flight): the reply loop then polls once per
   * event-loop turn instead of parking, for up to COORDINATOR_BUSY_POLL_MS since the last
   * reply. Default: never (poll pollMicros, then park).
   */
  expectsReplies?: () => boolean;
}

/**
 * The main thread's end of a shard link: produces requests, consumes replies.
 * Main thread only; not re-entrant from inside a reply handler except for send/sendOwned/
 * trySend/reserve/commit, which reply handlers may call.
 */
export class CoordinatorChannel {
  readonly requests: SpscQueue;
  readonly replies: SpscQueue;
  /** Largest frame either way; frames above maxRecordFrameBytes cross as fragments. */
  readonly maxFrameBytes: number;
  /** Big requests written completely (their last fragment is in the queue). */
  bigFramesWritten = 0;
  /** Fragments of big requests written. */
  fragmentsWritten = 0;

  private publishQueued = false;
  private readonly publishNow = (): void => {
    this.publishQueued = false;
    this.requests.publish();
  };
  /** Frames that found the queue full, copied, in order; written by pump(). */
  private backlog: (Uint8Array | undefined)[] = [];
  private backlogHead = 0;
  /** Big frames (owned: sent with sendOwned, or copied), in order; their fragments are written by pump(). */
  private big: (Uint8Array | undefined)[] = [];
  private bigHead = 0;
  /** Bytes of big[bigHead] already written as fragments. */
  private bigOffset = 0;
  private bigSeq = 0;
  /** Frame bytes per request fragment. */
  private readonly fragmentBytes: number;
  private readonly reassembler: Reassembler;
  private pumping: Promise<void> | undefined;
  private replyLoop: Promise<void> | undefined;
  private readonly expectsReplies: () => boolean;

  constructor(sab: SharedArrayBuffer, options: CoordinatorChannelOptions = {}) {
    const { maxFrameBytes, expectsReplies, ...ringOptions } = options;
    this.expectsReplies = expectsReplies ?? never;
    this.requests = new SpscQueue(sab, 'producer');
    this.replies = new SpscQueue(sab, 'consumer', { byteOffset: replyOffset(sab), ...ringOptions });
    this.maxFrameBytes = frameLimit(maxFrameBytes);
    this.fragmentBytes = fragmentDataBytes(this.requests.maxRecordBytes);
    this.reassembler = new Reassembler(this.maxFrameBytes);
  }

  /** Largest frame that goes into the queue as one record (and the largest reserve()). */
  get maxRecordFrameBytes(): number {
    return this.requests.maxRecordBytes;
  }

  /** Bytes of big requests accepted and not yet written into the queue. */
  get bigBytesQueued(): number {
    let n = -this.bigOffset;
    for (let i = this.bigHead; i < this.big.length; i++) n += this.big[i]!.length;
    return n;
  }

  /** Bytes of a big reply received so far while it is incomplete (0 when none is). */
  get partialReplyBytes(): number {
    return this.reassembler.partialBytes;
  }

  /**
   * Writes a frame into the requests queue; it is published at the end of this microtask
   * turn (or after 64 frames). False when the queue is full or frames already wait in the
   * backlog (order is kept): nothing is written then; use send().
   * REQUIRES: frame length <= maxRecordFrameBytes (else ERR_TOO_LARGE); open (else ERR_CLOSED).
   */
  trySend(frame: Uint8Array, offset = 0, length: number = frame.length - offset): boolean {
    if (this.backlogHead < this.backlog.length) return false;
    if (!this.requests.tryWrite(frame, offset, length)) return false;
    this.schedulePublish();
    return true;
  }

  /**
   * Writes a frame, never dropping it: true when it went into the queue, false when the
   * queue was full and the frame was copied into a backlog that drains as the shard makes
   * room (await writable() to slow down). A frame above maxRecordFrameBytes is copied and
   * streamed as fragments (false).
   * REQUIRES: frame length <= maxFrameBytes (else ERR_TOO_LARGE); open (else ERR_CLOSED).
   */
  send(frame: Uint8Array, offset = 0, length: number = frame.length - offset): boolean {
    if (length > this.requests.maxRecordBytes && offset >= 0 && offset + length <= frame.length) {
      this.checkBig(length);
      this.queueBig(frame.slice(offset, offset + length));
      return false;
    }
    if (this.trySend(frame, offset, length)) return true;
    if (this.requests.closed) throw closedError();
    if (offset < 0 || length < 0 || offset + length > frame.length) {
      this.requests.tryWrite(frame, offset, length); // throws the queue's own ERR_INVALID_ARGUMENT
    }
    this.backlog.push(frame.slice(offset, offset + length));
    this.pumping ??= this.pump();
    return false;
  }

  /**
   * send() of a frame the caller hands over: a big one is streamed from `frame` itself
   * (no copy), so the caller must not touch it again. For frames encoded into a buffer of
   * their own.
   * REQUIRES: frame.length <= maxFrameBytes (else ERR_TOO_LARGE); open (else ERR_CLOSED).
   */
  sendOwned(frame: Uint8Array): boolean {
    if (frame.length <= this.requests.maxRecordBytes) return this.send(frame);
    this.checkBig(frame.length);
    this.queueBig(frame);
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
   * Space for a frame of up to `length` bytes to encode in place, or undefined when the queue
   * is full or a backlog waits (encode elsewhere and send()). Then commit().
   * REQUIRES: length <= maxRecordFrameBytes (else ERR_TOO_LARGE).
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
   * The shard blocks when the replies queue is full: keep this loop running.
   */
  onReplies(handler: RecordHandler): Promise<void> {
    if (this.replyLoop !== undefined) throw new RingkvError(ErrorCode.INVALID_ARGUMENT, 'onReplies() called twice');
    this.replyLoop = this.runReplies(this.joining(handler));
    return this.replyLoop;
  }

  /**
   * Closes both queues: the shard's serve() returns once it drained the requests published
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

  /** `handler` behind a check for fragments: whole frames go straight to it, fragments are joined first. */
  private joining(handler: RecordHandler): RecordHandler {
    const replies = this.replies;
    const reassembler = this.reassembler;
    return (buf, at, length) => {
      if (buf[at + 3] !== FRAGMENT_MARKER_BYTE3 || !isFragment(buf, at, length)) {
        handler(buf, at, length);
        return;
      }
      const frame = reassembler.add(buf, at, length);
      replies.release(); // copied out: the shard may write its next fragment there now
      if (frame === undefined) return;
      try {
        handler(frame, 0, frame.length);
      } finally {
        reassembler.release();
      }
    };
  }

  private async runReplies(handler: RecordHandler): Promise<void> {
    try {
      await this.replyLoopBody(handler);
    } finally {
      this.reassembler.reset(); // a big reply cut off by a close is dropped, never handed on
    }
  }

  private async replyLoopBody(handler: RecordHandler): Promise<void> {
    const replies = this.replies;
    let lastYield = performance.now();
    let lastReply = lastYield;
    for (;;) {
      const n = replies.drain(handler, COORDINATOR_MAX_DRAIN);
      const now = performance.now();
      if (n > 0) lastReply = now;
      // Take a full event-loop turn now and then, whatever the polling did, so I/O and
      // timers are never starved by replies that keep arriving within the microtask poll.
      if (now - lastYield >= COORDINATOR_YIELD_EVERY_MS) {
        await nextImmediate();
        lastYield = performance.now();
        continue;
      }
      if (n > 0) {
        await undefined; // let the continuations of these replies run (they send new requests)
        continue;
      }
      // Replies are awaited: look again rather than park; right after a reply with
      // microtasks only (a shard answers a lone request in a few µs), then after each
      // turn's I/O.
      if (now - lastReply < COORDINATOR_BUSY_POLL_MS && !replies.closed && this.expectsReplies()) {
        if (now - lastReply < MICRO_POLL_MS) await undefined;
        else await nextImmediate();
        continue;
      }
      if ((await replies.consumerSleepAsync()) === 'closed') return;
    }
  }

  private checkBig(length: number): void {
    if (this.requests.closed) throw closedError();
    if (length > this.maxFrameBytes || this.fragmentBytes === 0) throw frameTooLarge(length, this.maxFrameBytes, this.fragmentBytes);
  }

  private queueBig(frame: Uint8Array): void {
    this.big.push(frame);
    this.pumping ??= this.pump();
  }

  /**
   * Writes the backlog in order, then the big frames' fragments, as the shard makes room.
   * Never rejects: on close it drops what waits (the shard reads no more).
   */
  private async pump(): Promise<void> {
    const requests = this.requests;
    await undefined; // let send() store this promise before the loop can end
    for (;;) {
      if (requests.closed) break;
      let need = 0;
      while (this.backlogHead < this.backlog.length) {
        const frame = this.backlog[this.backlogHead]!;
        if (!requests.tryWrite(frame)) {
          need = frame.length;
          break;
        }
        this.backlog[this.backlogHead++] = undefined;
      }
      if (need === 0) {
        this.backlog = [];
        this.backlogHead = 0;
        need = this.writeBig();
      }
      this.schedulePublish();
      if (need === 0) break;
      if ((await requests.waitForSpaceAsync(need)) === 'closed') break;
    }
    this.backlog = [];
    this.backlogHead = 0;
    this.big = [];
    this.bigHead = 0;
    this.bigOffset = 0;
    this.pumping = undefined;
  }

  /** Writes big frames' fragments while they fit; returns 0 when all are written, else the record size to wait for. */
  private writeBig(): number {
    const requests = this.requests;
    const dataBytes = this.fragmentBytes;
    while (this.bigHead < this.big.length) {
      const frame = this.big[this.bigHead]!;
      const total = frame.length;
      while (this.bigOffset < total) {
        const seq = this.bigOffset === 0 ? (this.bigSeq + 1) >>> 0 || 1 : this.bigSeq;
        const n = writeFragment(requests, frame, 0, total, this.bigOffset, seq, dataBytes);
        if (n === 0) return FRAGMENT_HEADER_BYTES + Math.min(dataBytes, total - this.bigOffset);
        this.bigSeq = seq;
        this.bigOffset += n;
        this.fragmentsWritten++;
        requests.publish(); // the shard starts copying this one while the next is written
      }
      this.big[this.bigHead++] = undefined;
      this.bigOffset = 0;
      this.bigFramesWritten++;
    }
    this.big = [];
    this.bigHead = 0;
    return 0;
  }
}

function never(): boolean {
  return false;
}
