// Runs on: both sides of one shard's data link. CoordinatorChannel runs on the main thread,
// ShardChannel on the shard's worker thread; both wrap the same SharedArrayBuffer.
//
// The buffer holds two rings (ring-layout.ts), one after the other:
//
//   offset 0                      requests ring: coordinator produces, shard consumes
//   offset ringBytes(reqCapacity) replies ring:  shard produces, coordinator consumes
//
// Frames are opaque here (src/protocol defines them); a reply is matched to its request by
// whatever the frames carry, not by this layer. A frame that fits one ring record (up to
// capacity/2 - 4 bytes) is one record; a bigger one, up to maxFrameBytes (64 MiB), crosses
// as fragments (fragment.ts) that the other side joins (reassembler.ts) and hands on only
// once complete. REQUIRES of every frame: it does not start with the bytes 'FRAG' (a
// protocol frame starts with its length, below 2^26).
//
// Big frames and small ones: the coordinator streams a big request's fragments from the
// same loop that writes its backlog, as the shard makes room, one big frame at a time;
// small requests sent meanwhile go straight into the ring between fragments (they overtake
// the big frame, which is sent only once its last fragment is in), so a big frame delays
// them by at most one fragment. A shard writes a big reply's fragments in one go, blocking
// while the ring is full (the coordinator's reply loop drains it meanwhile).
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
import { DEFAULT_MAX_FRAME_BYTES, FRAGMENT_HEADER_BYTES, FRAGMENT_MARKER_BYTE3, fragmentDataBytes, isFragment, writeFragment } from './fragment.js';
import { Reassembler } from './reassembler.js';

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

/** Checks a channel's frame limit option. */
function frameLimit(value: number | undefined): number {
  const v = value ?? DEFAULT_MAX_FRAME_BYTES;
  if (!Number.isInteger(v) || v < 1 || v > 0xffffffff) throw new RingkvError(ErrorCode.INVALID_ARGUMENT, `channel option maxFrameBytes ${v} (must be 1 .. 2^32-1)`);
  return v;
}

function frameTooLarge(length: number, max: number, dataBytes: number): RingkvError {
  if (dataBytes === 0) return new RingkvError(ErrorCode.TOO_LARGE, `a frame of ${length} bytes does not fit one record of this ring, which is too small to carry fragments`);
  return new RingkvError(ErrorCode.TOO_LARGE, `a frame of ${length} bytes exceeds the shard channel's ${max}-byte frame limit`);
}

export interface CoordinatorChannelOptions {
  /** Reply loop: poll this long before parking on Atomics.waitAsync. Default 200 µs. */
  pollMicros?: number;
  /** Of pollMicros, poll with microtasks only this long. Default 20 µs. */
  microPollMicros?: number;
  /** Largest frame either way (fragmented when above a ring record). Default 64 MiB. */
  maxFrameBytes?: number;
}

/**
 * The main thread's end of a shard link: produces requests, consumes replies.
 * Main thread only; not re-entrant from inside a reply handler except for send/trySend/
 * reserve/commit, which reply handlers may call.
 */
export class CoordinatorChannel {
  readonly requests: SpscRing;
  readonly replies: SpscRing;
  /** Largest frame either way; frames above maxRecordFrameBytes cross as fragments. */
  readonly maxFrameBytes: number;
  /** Big requests written completely (their last fragment is in the ring). */
  bigFramesWritten = 0;
  /** Fragments of big requests written. */
  fragmentsWritten = 0;

  private publishQueued = false;
  private readonly publishNow = (): void => {
    this.publishQueued = false;
    this.requests.publish();
  };
  /** Frames that found the ring full, copied, in order; written by pump(). */
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

  constructor(sab: SharedArrayBuffer, options: CoordinatorChannelOptions = {}) {
    const { maxFrameBytes, ...ringOptions } = options;
    this.requests = new SpscRing(sab, 'producer');
    this.replies = new SpscRing(sab, 'consumer', { byteOffset: replyOffset(sab), ...ringOptions });
    this.maxFrameBytes = frameLimit(maxFrameBytes);
    this.fragmentBytes = fragmentDataBytes(this.requests.maxRecordBytes);
    this.reassembler = new Reassembler(this.maxFrameBytes);
  }

  /** Largest frame that goes into the ring as one record (and the largest reserve()). */
  get maxRecordFrameBytes(): number {
    return this.requests.maxRecordBytes;
  }

  /** Bytes of big requests accepted and not yet written into the ring. */
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
   * Writes a frame into the requests ring; it is published at the end of this microtask
   * turn (or after 64 frames). False when the ring is full or frames already wait in the
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
   * Writes a frame, never dropping it: true when it went into the ring, false when the
   * ring was full and the frame was copied into a backlog that drains as the shard makes
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
      this.requests.tryWrite(frame, offset, length); // throws the ring's own ERR_INVALID_ARGUMENT
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
   * Space for a frame of up to `length` bytes to encode in place, or undefined when the ring
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
   * The shard blocks when the replies ring is full: keep this loop running.
   */
  onReplies(handler: RecordHandler): Promise<void> {
    if (this.replyLoop !== undefined) throw new RingkvError(ErrorCode.INVALID_ARGUMENT, 'onReplies() called twice');
    this.replyLoop = this.runReplies(this.joining(handler));
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
  /** Largest frame either way (fragmented when above a ring record). Default 64 MiB. */
  maxFrameBytes?: number;
}

/**
 * The shard worker's end of a shard link: consumes requests, produces replies.
 * Worker thread only (it blocks on Atomics.wait while idle).
 */
export class ShardChannel {
  readonly requests: SpscRing;
  readonly replies: SpscRing;
  /** Largest frame either way; frames above a ring record cross as fragments. */
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
  /** Whole-frame requests of the current batch handed out as views into the ring. */
  private ringViews = 0;

  constructor(sab: SharedArrayBuffer, options: ShardChannelOptions = {}) {
    this.requests = new SpscRing(sab, 'consumer', { spinMicros: options.spinMicros ?? SHARD_SPIN_MICROS });
    this.replies = new SpscRing(sab, 'producer', { byteOffset: replyOffset(sab), spinMicros: options.spinMicros ?? SHARD_SPIN_MICROS });
    this.idleWaitMs = options.idleWaitMs ?? SHARD_IDLE_WAIT_MS;
    this.yieldEveryMs = options.yieldEveryMs ?? SHARD_YIELD_EVERY_MS;
    this.maxFrameBytes = frameLimit(options.maxFrameBytes);
    this.fragmentBytes = fragmentDataBytes(this.replies.maxRecordBytes);
    this.reassembler = new Reassembler(this.maxFrameBytes);
  }

  /**
   * Writes a reply, blocking this thread while the replies ring is full (the coordinator
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
   * ring until the batch ends), fragments are copied out and joined first. While the batch
   * holds no view into the ring, each fragment's space is released at once, so a big request
   * streams through a ring smaller than itself without waiting for the batch to end.
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

  /** Writes a big reply as fragments, blocking while the ring is full; publishes each so the coordinator copies while the next is written. */
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
