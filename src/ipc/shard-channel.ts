// Runs on: a shard worker thread. The shard's end of a shard link (channel.ts describes the
// link): consumes requests in batches, joining big ones from their fragments, and produces
// replies, blocking while the queue is full (it never runs on the main thread).
import { ErrorCode, RingkvError, hasCode } from '../errors.js';
import { type RecordHandler, type Reservation, SpscQueue } from './queue.js';
import { nextImmediate } from './queue-wait.js';
import { FRAGMENT_HEADER_BYTES, FRAGMENT_MARKER_BYTE3, fragmentDataBytes, isFragment, writeFragment } from './fragment.js';
import { Reassembler } from './reassembler.js';
import { channelClosedError as closedError, frameLimit, frameTooLarge, replyOffset } from './channel-buffer.js';

/** Worker spin before sleeping when every spinning thread has a core (docs/notes.md: wake-ups cost 50-150 µs). */
export const SHARD_SPIN_MICROS = 50;
/** Worker spin when spinning threads outnumber cores: 20 µs recovered most of the loss (docs/notes.md). */
export const OVERSUBSCRIBED_SPIN_MICROS = 15;
/** A sleeping shard wakes at least this often to run its event loop (control-plane messages). */
export const SHARD_IDLE_WAIT_MS = 50;
/** A busy shard yields to its event loop at least this often. */
export const SHARD_YIELD_EVERY_MS = 5;

/**
 * The shard count a node starts with when none is given: a core for the main thread (the
 * coordinator, which polls its reply rings) and one for each shard, so no two spinning
 * threads share a core. On 2 cores that is one shard: two shards there (plus the main
 * thread) ran gets at 1000 in flight at 12k/s against 184k/s for one, and at 1 in flight
 * with p50 52 µs against 6 µs (docs/notes.md).
 */
export function defaultShardCount(cores: number): number {
  return Math.max(1, Math.floor(cores) - 1);
}

/**
 * How long a shard should spin before sleeping: the threads that spin are the shards plus
 * the main thread; when they outnumber the cores, spinning steals the core the other side
 * needs, so spin less.
 */
export function suggestedSpinMicros(shards: number, cores: number): number {
  return shards + 1 <= cores ? SHARD_SPIN_MICROS : OVERSUBSCRIBED_SPIN_MICROS;
}

/** What a shard does with its requests. */
export interface ShardHandler {
  /**
   * One request of the current batch, as a view `buf[at, at + length)` valid until the
   * batch ends (onBatch returned or its promise settled). May write replies. A big request
   * arrives whole, joined from its fragments (a view into a buffer of the channel's).
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
  /** Largest frame either way (fragmented when above a queue record). Default 64 MiB. */
  maxFrameBytes?: number;
}

/**
 * The shard worker's end of a shard link: consumes requests, produces replies.
 * Worker thread only (it blocks on Atomics.wait while idle).
 */
export class ShardChannel {
  readonly requests: SpscQueue;
  readonly replies: SpscQueue;
  /** Largest frame either way; frames above a queue record cross as fragments. */
  readonly maxFrameBytes: number;
  /** Big replies written completely. */
  bigFramesWritten = 0;
  private readonly idleWaitMs: number;
  private readonly yieldEveryMs: number;
  private serving = false;
  /** Frame bytes per reply fragment. */
  private readonly fragmentBytes: number;
  private replySeq = 0;
  /** Joins big requests. */
  readonly reassembler: Reassembler;
  /** Whole-frame requests of the current batch handed out as views into the queue. */
  private ringViews = 0;
  /**
   * Milliseconds this thread spent waiting (spinning or asleep) for requests or for reply
   * room since the channel was made: the rest of the time it was busy. Two clock reads per
   * wait, none per request; the shard's load (src/cluster/scaling/shard-policy.ts) is derived from it.
   */
  waitedMs = 0;
  /** performance.now() when the channel was made: waitedMs counts from here. */
  readonly startedAt = performance.now();

  constructor(sab: SharedArrayBuffer, options: ShardChannelOptions = {}) {
    this.requests = new SpscQueue(sab, 'consumer', { spinMicros: options.spinMicros ?? SHARD_SPIN_MICROS });
    this.replies = new SpscQueue(sab, 'producer', { byteOffset: replyOffset(sab), spinMicros: options.spinMicros ?? SHARD_SPIN_MICROS });
    this.idleWaitMs = options.idleWaitMs ?? SHARD_IDLE_WAIT_MS;
    this.yieldEveryMs = options.yieldEveryMs ?? SHARD_YIELD_EVERY_MS;
    this.maxFrameBytes = frameLimit(options.maxFrameBytes);
    this.fragmentBytes = fragmentDataBytes(this.replies.maxRecordBytes);
    this.reassembler = new Reassembler(this.maxFrameBytes);
  }

  /**
   * Writes a reply, blocking this thread while the replies queue is full (the coordinator
   * drains it asynchronously, so this cannot deadlock while its reply loop runs). A reply
   * above replies.maxRecordBytes is written as fragments, one after the other.
   * REQUIRES: length <= maxFrameBytes (else ERR_TOO_LARGE, nothing written); open (else ERR_CLOSED).
   */
  reply(frame: Uint8Array, offset = 0, length: number = frame.length - offset): void {
    if (length > this.replies.maxRecordBytes && offset >= 0 && offset + length <= frame.length) {
      this.replyBig(frame, offset, length);
      return;
    }
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
    try {
      await this.serveLoop(handler, this.joining(handler.onRequest.bind(handler)));
    } catch (err) {
      // A reply written after the coordinator closed: the link is gone, not the shard.
      if (hasCode(err, ErrorCode.CLOSED) && this.requests.closed) return;
      throw err;
    } finally {
      this.reassembler.reset(); // a big request cut off by a close is dropped, never handed on
    }
  }

  /**
   * `onRequest` behind a check for fragments: whole frames go straight to it (views into the
   * queue until the batch ends), fragments are copied out and joined first. While the batch
   * holds no view into the queue, each fragment's space is released at once, so a big request
   * streams through a queue smaller than itself without waiting for the batch to end.
   */
  private joining(onRequest: RecordHandler): RecordHandler {
    const requests = this.requests;
    const reassembler = this.reassembler;
    return (buf, at, length) => {
      if (buf[at + 3] !== FRAGMENT_MARKER_BYTE3 || !isFragment(buf, at, length)) {
        this.ringViews++;
        onRequest(buf, at, length);
        return;
      }
      const frame = reassembler.add(buf, at, length);
      if (this.ringViews === 0) requests.release();
      if (frame !== undefined) onRequest(frame, 0, frame.length);
    };
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
        this.ringViews = 0;
        this.reassembler.release();
        replies.publish();
        const now = performance.now();
        if (now - lastYield >= this.yieldEveryMs) {
          await nextImmediate();
          lastYield = performance.now();
        }
        continue;
      }
      replies.publish();
      const slept = performance.now();
      const s = requests.consumerSleepSync(this.idleWaitMs);
      this.waitedMs += performance.now() - slept;
      if (s === 'closed') return;
      if (s === 'idle') {
        await nextImmediate();
        lastYield = performance.now();
      }
    }
  }

  /** Closes both queues (the coordinator's reply loop ends after the replies published so far). */
  close(): void {
    if (!this.replies.closed) this.replies.close();
    this.requests.close();
  }

  private waitForReplySpace(length: number): void {
    const waited = performance.now();
    const s = this.replies.waitForSpaceSync(length, this.idleWaitMs);
    this.waitedMs += performance.now() - waited;
    if (s === 'closed') throw closedError();
  }

  /** Writes a big reply as fragments, blocking while the queue is full; publishes each so the coordinator copies while the next is written. */
  private replyBig(frame: Uint8Array, offset: number, length: number): void {
    const dataBytes = this.fragmentBytes;
    if (length > this.maxFrameBytes || dataBytes === 0) throw frameTooLarge(length, this.maxFrameBytes, dataBytes);
    if (this.replies.closed) throw closedError();
    const seq = (this.replySeq = (this.replySeq + 1) >>> 0 || 1);
    let done = 0;
    while (done < length) {
      const n = writeFragment(this.replies, frame, offset, length, done, seq, dataBytes);
      if (n === 0) {
        this.waitForReplySpace(FRAGMENT_HEADER_BYTES + Math.min(dataBytes, length - done));
        continue;
      }
      done += n;
      this.replies.publish();
    }
    this.bigFramesWritten++;
  }
}
