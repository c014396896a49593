// Runs on: any thread; one SpscQueue object per side (the producer on one thread, the
// consumer on another), both over the same SharedArrayBuffer. Layout: queue-layout.ts.
//
// Single producer, single consumer: exactly one thread writes records and one reads them.
// Neither object is safe to share between threads or to call re-entrantly (a drain handler
// must not drain the same queue). close() and wakeConsumer() may be called from any thread
// holding a SpscQueue over the buffer.
//
// Waits: a consumer with nothing to read and a producer with no room spin or poll a bounded
// time, then say they sleep and sleep on Atomics.wait (workers) or Atomics.waitAsync (main
// thread); the other side notifies only a sleeper. The protocol, and why it cannot lose a
// wake-up, is in queue-wait.ts.
import { ErrorCode, RingkvError } from '../errors.js';
import {
  DATA_OFFSET,
  DEFAULT_CAPACITY,
  HEADER_INTS,
  LENGTH_BYTES,
  Slot,
  WRAP_MARKER,
  initQueue,
  maxRecordBytes,
  readCapacity,
  recordBytes,
  queueBytes,
} from './queue-layout.js';
import { type WaitCheck, type WaitResult, sleepAsync, sleepSync, wake, wakeAll } from './queue-wait.js';

export type { WaitResult } from './queue-wait.js';

/** Sync waits spin this long before sleeping: a wake-up costs 50-150 µs here (docs/notes.md). */
export const DEFAULT_SPIN_MICROS = 50;
/** Async waits poll this long before Atomics.waitAsync: 50 µs parked too often (docs/notes.md). */
export const DEFAULT_POLL_MICROS = 200;
/** Of the async poll, the first part yields only to microtasks (no I/O runs meanwhile). */
export const DEFAULT_MICRO_POLL_MICROS = 20;
/** The producer publishes on its own every this many records: a consumer starts on a batch early. */
export const DEFAULT_PUBLISH_EVERY = 64;
/** A drain releases space every this many records, so a producer waiting for space resumes early. */
export const DEFAULT_RELEASE_EVERY = 64;

export type Role = 'producer' | 'consumer';

/** Called for each record by drain(): the payload is `buf[at, at + length)`, a view into the queue. */
export type RecordHandler = (buf: Uint8Array, at: number, length: number) => void;

/** Space handed out by reserve(): write the payload at `buf[at, at + length)`, then commit(). */
export interface Reservation {
  /** The queue's data area (the same object for every reservation of a queue). */
  readonly buf: Uint8Array;
  at: number;
  length: number;
}

export interface QueueOptions {
  /** Where the queue starts in its SharedArrayBuffer (a multiple of 64). Default 0. */
  byteOffset?: number;
  /** Sync waits spin this long first. Short (~10-20 µs) when spinning threads outnumber cores. */
  spinMicros?: number;
  /** Async waits poll this long before parking on Atomics.waitAsync. */
  pollMicros?: number;
  /** Of pollMicros, this much polls with microtasks only. */
  microPollMicros?: number;
  /** Producer: publish on its own after this many records. */
  publishEvery?: number;
  /** Consumer: a drain releases space after this many records (and at its end). */
  releaseEvery?: number;
}

/** Counters kept in the queue's header (either side can read them). */
export interface QueueStats {
  /** Times the producer woke a sleeping consumer. */
  consumerWakes: number;
  /** Times the consumer went to sleep waiting for records. */
  consumerSleeps: number;
  /** Times the consumer woke a producer waiting for space. */
  producerWakes: number;
  /** Times the producer went to sleep waiting for space. */
  producerSleeps: number;
  /** Bytes published and not yet released. */
  usedBytes: number;
}

function tooLarge(length: number, max: number): RingkvError {
  return new RingkvError(
    ErrorCode.TOO_LARGE,
    `a queue record of ${length} bytes exceeds this queue's limit of ${max} bytes (half its capacity): split it or send it another way`,
  );
}

function closedError(): RingkvError {
  return new RingkvError(ErrorCode.CLOSED, 'the queue is closed');
}

export class SpscQueue {
  /** A new SharedArrayBuffer holding one empty queue of `capacity` data bytes. */
  static create(capacity: number = DEFAULT_CAPACITY): { sab: SharedArrayBuffer } {
    const sab = new SharedArrayBuffer(queueBytes(capacity));
    initQueue(sab, 0, capacity);
    return { sab };
  }

  readonly role: Role;
  /** Bytes of the data area. */
  readonly capacity: number;
  /** Largest payload of one record (capacity / 2 - 4). */
  readonly maxRecordBytes: number;
  /** The data area; drain() handlers and reservations index into it. */
  readonly data: Uint8Array;

  private readonly hdr: Int32Array;
  private readonly words: Uint32Array;
  private readonly mask: number;
  private readonly isProducer: boolean;
  private readonly spinMs: number;
  private readonly pollMs: number;
  private readonly microPollMs: number;
  private readonly publishEvery: number;
  private readonly releaseEvery: number;

  // Producer state (u32 counters as numbers in [0, 2^32)).
  private head: number;
  private publishedHead: number;
  private cachedTail: number;
  private unpublished = 0;
  private readonly reservation: Reservation;
  /** Payload length reserved, or -1 when no reservation is open. */
  private reservedLength = -1;
  /** Bytes the open reservation skips at the end of the data area (a wrap marker), else 0. */
  private reservedSkip = 0;

  /** Length the producer waits to fit (read by spaceCheck). */
  private waitLength = 0;
  private readonly spaceCheck: WaitCheck = () => this.spaceState(this.waitLength);

  // Consumer state.
  private readonly consumerCheck: WaitCheck = () => this.consumerState();
  private tail: number;
  private releasedTail: number;
  private unreleased = 0;

  constructor(sab: SharedArrayBuffer, role: Role, options: QueueOptions = {}) {
    if (role !== 'producer' && role !== 'consumer') {
      throw new RingkvError(ErrorCode.INVALID_ARGUMENT, `queue role '${String(role)}' (use producer or consumer)`);
    }
    const byteOffset = options.byteOffset ?? 0;
    this.capacity = readCapacity(sab, byteOffset);
    this.role = role;
    this.isProducer = role === 'producer';
    this.maxRecordBytes = maxRecordBytes(this.capacity);
    this.mask = this.capacity - 1;
    this.hdr = new Int32Array(sab, byteOffset, HEADER_INTS);
    this.data = new Uint8Array(sab, byteOffset + DATA_OFFSET, this.capacity);
    this.words = new Uint32Array(sab, byteOffset + DATA_OFFSET, this.capacity / 4);
    this.spinMs = nonNegative(options.spinMicros ?? DEFAULT_SPIN_MICROS, 'spinMicros') / 1000;
    this.pollMs = nonNegative(options.pollMicros ?? DEFAULT_POLL_MICROS, 'pollMicros') / 1000;
    this.microPollMs = nonNegative(options.microPollMicros ?? DEFAULT_MICRO_POLL_MICROS, 'microPollMicros') / 1000;
    this.publishEvery = Math.max(1, options.publishEvery ?? DEFAULT_PUBLISH_EVERY);
    this.releaseEvery = Math.max(1, options.releaseEvery ?? DEFAULT_RELEASE_EVERY);
    const head = Atomics.load(this.hdr, Slot.HEAD) >>> 0;
    const tail = Atomics.load(this.hdr, Slot.TAIL) >>> 0;
    this.head = this.publishedHead = head;
    this.cachedTail = this.tail = this.releasedTail = tail;
    this.reservation = { buf: this.data, at: 0, length: 0 };
  }

  // ---- producer ------------------------------------------------------------------------

  /**
   * Copies `src[offset, offset + length)` into the queue as one record. False when the queue
   * has no room for it now (after publishing what is pending, so the consumer can make
   * room); the record is then not written. The record becomes visible at the next publish().
   * REQUIRES: producer; length <= maxRecordBytes (else ERR_TOO_LARGE); queue open (else ERR_CLOSED).
   */
  tryWrite(src: Uint8Array, offset = 0, length: number = src.length - offset): boolean {
    if (offset < 0 || length < 0 || offset + length > src.length) {
      throw new RingkvError(ErrorCode.INVALID_ARGUMENT, `tryWrite range [${offset}, ${offset + length}) outside a ${src.length}-byte source`);
    }
    const r = this.reserve(length);
    if (r === undefined) return false;
    const data = this.data;
    const at = r.at;
    if (offset === 0 && length === src.length) data.set(src, at);
    else if (length <= 64) for (let i = 0; i < length; i++) data[at + i] = src[offset + i]!;
    else data.set(src.subarray(offset, offset + length), at);
    this.commit(length);
    return true;
  }

  /**
   * Opens room for a record of up to `length` payload bytes for the caller to encode into
   * directly; commit() then makes it a record. Returns the queue's single Reservation object
   * (valid until commit or the next reserve), or undefined when the queue has no room now
   * (after publishing what is pending). A second reserve() replaces an uncommitted one.
   * REQUIRES: producer; length <= maxRecordBytes (else ERR_TOO_LARGE); queue open (else ERR_CLOSED).
   */
  reserve(length: number): Reservation | undefined {
    if (!this.isProducer) throw wrongRole('reserve', 'producer');
    if ((length >>> 0) !== length || length > this.maxRecordBytes) {
      if (Number.isInteger(length) && length > 0) throw tooLarge(length, this.maxRecordBytes);
      throw new RingkvError(ErrorCode.INVALID_ARGUMENT, `queue record length ${length}`);
    }
    if (Atomics.load(this.hdr, Slot.CLOSED) !== 0) throw closedError();
    const off = this.place(recordBytes(length));
    if (off < 0) {
      this.reservedLength = -1;
      this.publish();
      return undefined;
    }
    this.reservedLength = length;
    const r = this.reservation;
    r.at = off + LENGTH_BYTES;
    r.length = length;
    return r;
  }

  /**
   * Turns the open reservation into a record of `length` payload bytes (at most the length
   * reserved). Publishes by itself every `publishEvery` records.
   * REQUIRES: producer; a reservation open.
   */
  commit(length: number = this.reservedLength): void {
    const reserved = this.reservedLength;
    if (reserved < 0) throw new RingkvError(ErrorCode.INVALID_ARGUMENT, 'commit() without an open reserve()');
    if (!(length >= 0 && length <= reserved) || (length >>> 0) !== length) {
      throw new RingkvError(ErrorCode.INVALID_ARGUMENT, `commit(${length}) of a ${reserved}-byte reservation`);
    }
    if (this.reservedSkip !== 0) {
      this.words[(this.head & this.mask) >>> 2] = WRAP_MARKER;
      this.head = (this.head + this.reservedSkip) >>> 0;
    }
    this.words[(this.reservation.at - LENGTH_BYTES) >>> 2] = length;
    this.head = (this.head + recordBytes(length)) >>> 0;
    this.reservedLength = -1;
    if (++this.unpublished >= this.publishEvery) this.publish();
  }

  /**
   * Makes every committed record visible to the consumer (one Atomics.store of head) and
   * wakes the consumer if, and only if, it said it sleeps. Cheap when nothing is pending.
   * REQUIRES: producer.
   */
  publish(): void {
    this.unpublished = 0;
    if (this.head === this.publishedHead) return;
    this.publishedHead = this.head;
    Atomics.store(this.hdr, Slot.HEAD, this.head | 0);
    if (Atomics.load(this.hdr, Slot.CONSUMER_SLEEPING) !== 0) this.wakeConsumer();
  }

  /** Committed records not yet published. */
  get pendingRecords(): number {
    return this.unpublished;
  }

  /**
   * Waits (blocking this thread) until a record of `length` bytes fits: spins spinMicros,
   * then sleeps on Atomics.wait until the consumer releases space, the queue closes, or
   * `timeoutMs` passes ('idle'). Publishes pending records first. Never spins unbounded.
   * For worker threads only: the main thread uses waitForSpaceAsync.
   * REQUIRES: producer; length <= maxRecordBytes (else ERR_TOO_LARGE).
   */
  waitForSpaceSync(length: number, timeoutMs = Infinity): WaitResult {
    this.startSpaceWait(length);
    return sleepSync(this.hdr, Slot.PRODUCER_WAITING, Slot.STAT_PRODUCER_SLEEPS, this.spaceCheck, this.spinMs, timeoutMs, true);
  }

  /**
   * waitForSpaceSync for the main thread: polls (microtasks, then setImmediate turns) for
   * pollMicros, then parks on Atomics.waitAsync; never blocks the event loop.
   */
  waitForSpaceAsync(length: number, timeoutMs = Infinity): Promise<WaitResult> {
    this.startSpaceWait(length);
    const { hdr, spaceCheck, microPollMs, pollMs } = this;
    return sleepAsync(hdr, Slot.PRODUCER_WAITING, Slot.STAT_PRODUCER_SLEEPS, spaceCheck, microPollMs, pollMs, timeoutMs, true);
  }

  /**
   * Kicks the consumer: its current wait, or its next one if it is awake, returns 'idle'
   * (records still come first: a wait with records returns 'ready' and the kick waits for
   * the next). A shard uses the 'idle' to run its event loop. Never lost: the kick flag is
   * set before the sleeping flag is read, the mirror of publish(). Any thread.
   */
  wakeConsumer(): void {
    Atomics.store(this.hdr, Slot.CONSUMER_KICKED, 1);
    wake(this.hdr, Slot.CONSUMER_SLEEPING, Slot.STAT_CONSUMER_WAKES);
  }

  /** Where a record of `need` bytes (header included) would start, or -1 if it does not fit. */
  private place(need: number): number {
    const head = this.head;
    const off = head & this.mask;
    const toEnd = this.capacity - off;
    const skip = need > toEnd ? toEnd : 0;
    const total = skip + need;
    if (((head - this.cachedTail) >>> 0) + total > this.capacity) {
      this.cachedTail = Atomics.load(this.hdr, Slot.TAIL) >>> 0;
      if (((head - this.cachedTail) >>> 0) + total > this.capacity) return -1;
    }
    this.reservedSkip = skip;
    return skip === 0 ? off : 0;
  }

  /** Checks the arguments, cancels an open reservation and publishes before a wait for space. */
  private startSpaceWait(length: number): void {
    if (!this.isProducer) throw wrongRole('waitForSpace', 'producer');
    if (length > this.maxRecordBytes) throw tooLarge(length, this.maxRecordBytes);
    if ((length >>> 0) !== length) throw new RingkvError(ErrorCode.INVALID_ARGUMENT, `queue record length ${length}`);
    this.reservedLength = -1;
    this.waitLength = length;
    this.publish();
  }

  private spaceState(length: number): WaitResult | undefined {
    if (Atomics.load(this.hdr, Slot.CLOSED) !== 0) return 'closed';
    return this.place(recordBytes(length)) >= 0 ? 'ready' : undefined;
  }

  // ---- consumer ------------------------------------------------------------------------

  /**
   * Hands each published record, oldest first, to `handler` as a view `buf[at, at+length)`
   * into the queue, until the queue is empty (re-reading head when it catches up, so records
   * published meanwhile join this batch) or `max` records were handled. Returns the count.
   *
   * With `release` (the default) the space of a record is given back to the producer after
   * its handler returns (every releaseEvery records and at the end): a view is valid only
   * during its handler call. With `release = false` nothing is given back until release():
   * every view stays valid until then, so a batch can be decoded first and handled after.
   * A record whose handler throws counts as consumed; the error propagates.
   * REQUIRES: consumer; not called from inside a handler.
   */
  drain(handler: RecordHandler, max = Number.MAX_SAFE_INTEGER, release = true): number {
    if (this.isProducer) throw wrongRole('drain', 'consumer');
    const hdr = this.hdr;
    const words = this.words;
    const data = this.data;
    const mask = this.mask;
    const maxRecord = this.maxRecordBytes;
    let head = Atomics.load(hdr, Slot.HEAD) >>> 0;
    let n = 0;
    while (n < max) {
      let tail = this.tail;
      if (tail === head) {
        head = Atomics.load(hdr, Slot.HEAD) >>> 0;
        if (tail === head) break;
      }
      const off = tail & mask;
      const length = words[off >>> 2]!;
      if (length === WRAP_MARKER) {
        this.tail = (tail + this.capacity - off) >>> 0;
        continue;
      }
      if (length > maxRecord) {
        throw new RingkvError(ErrorCode.CORRUPTION, `queue record length ${length} at offset ${off} exceeds ${maxRecord}: the queue is corrupt`);
      }
      tail = (tail + recordBytes(length)) >>> 0;
      this.tail = tail;
      n++;
      handler(data, off + LENGTH_BYTES, length);
      if (release && ++this.unreleased >= this.releaseEvery) this.release();
    }
    if (release) this.release();
    return n;
  }

  /**
   * Gives the space of every drained record back to the producer (one Atomics.store of
   * tail), waking the producer if, and only if, it said it waits for space.
   * REQUIRES: consumer.
   */
  release(): void {
    this.unreleased = 0;
    const tail = this.tail;
    if (tail === this.releasedTail) return;
    this.releasedTail = tail;
    Atomics.store(this.hdr, Slot.TAIL, tail | 0);
    if (Atomics.load(this.hdr, Slot.PRODUCER_WAITING) !== 0) this.wakeProducer();
  }

  /** True when published records wait to be drained. */
  hasRecords(): boolean {
    return Atomics.load(this.hdr, Slot.HEAD) >>> 0 !== this.tail;
  }

  /**
   * Blocks this thread until records are published ('ready'), the queue is closed and
   * drained ('closed'), or `timeoutMs` passes or wakeConsumer() kicks it ('idle'): spins
   * spinMicros re-reading head, then says it sleeps and Atomics.waits. Releases drained
   * space first. For worker threads: the main thread uses consumerSleepAsync.
   * REQUIRES: consumer.
   */
  consumerSleepSync(timeoutMs = Infinity): WaitResult {
    this.startConsumerWait();
    return sleepSync(this.hdr, Slot.CONSUMER_SLEEPING, Slot.STAT_CONSUMER_SLEEPS, this.consumerCheck, this.spinMs, timeoutMs, false);
  }

  /**
   * consumerSleepSync for the main thread: polls (microtasks for microPollMicros, then
   * setImmediate turns) up to pollMicros, then parks on Atomics.waitAsync. Never blocks the
   * event loop. With timeoutMs = Infinity the parked wait does not keep the process alive
   * (Node's waitAsync does not; the Worker on the other side normally does).
   * REQUIRES: consumer.
   */
  consumerSleepAsync(timeoutMs = Infinity): Promise<WaitResult> {
    this.startConsumerWait();
    const { hdr, consumerCheck, microPollMs, pollMs } = this;
    return sleepAsync(hdr, Slot.CONSUMER_SLEEPING, Slot.STAT_CONSUMER_SLEEPS, consumerCheck, microPollMs, pollMs, timeoutMs, false);
  }

  private startConsumerWait(): void {
    if (this.isProducer) throw wrongRole('consumerSleep', 'consumer');
    this.release();
  }

  /** 'ready' if records wait, 'closed' if closed and drained, 'idle' if kicked (clearing the kick), else undefined. */
  private consumerState(): WaitResult | undefined {
    const hdr = this.hdr;
    // closed is read before head: a producer publishes before it closes, so closed = 1
    // here means head already holds the producer's last record.
    const closed = Atomics.load(hdr, Slot.CLOSED) !== 0;
    if (Atomics.load(hdr, Slot.HEAD) >>> 0 !== this.tail) return 'ready';
    if (closed) return 'closed';
    if (Atomics.load(hdr, Slot.CONSUMER_KICKED) !== 0) {
      Atomics.store(hdr, Slot.CONSUMER_KICKED, 0);
      return 'idle';
    }
    return undefined;
  }

  private wakeProducer(): void {
    wake(this.hdr, Slot.PRODUCER_WAITING, Slot.STAT_PRODUCER_WAKES);
  }

  // ---- both sides ----------------------------------------------------------------------

  /**
   * Closes the queue for both sides and wakes whoever waits. A producer publishes its
   * pending records first: the consumer still drains everything published before the
   * close, then its waits return 'closed'. Writes after a close throw ERR_CLOSED; a
   * producer waiting for space gets 'closed'. Idempotent; any thread.
   */
  close(): void {
    if (this.isProducer && Atomics.load(this.hdr, Slot.CLOSED) === 0) {
      this.reservedLength = -1;
      this.publish();
    }
    const hdr = this.hdr;
    Atomics.store(hdr, Slot.CLOSED, 1);
    wakeAll(hdr, Slot.CONSUMER_SLEEPING);
    wakeAll(hdr, Slot.PRODUCER_WAITING);
  }

  get closed(): boolean {
    return Atomics.load(this.hdr, Slot.CLOSED) !== 0;
  }

  /** The header's counters. Allocates: not for hot paths. */
  stats(): QueueStats {
    const hdr = this.hdr;
    return {
      consumerWakes: Atomics.load(hdr, Slot.STAT_CONSUMER_WAKES),
      consumerSleeps: Atomics.load(hdr, Slot.STAT_CONSUMER_SLEEPS),
      producerWakes: Atomics.load(hdr, Slot.STAT_PRODUCER_WAKES),
      producerSleeps: Atomics.load(hdr, Slot.STAT_PRODUCER_SLEEPS),
      usedBytes: ((Atomics.load(hdr, Slot.HEAD) >>> 0) - (Atomics.load(hdr, Slot.TAIL) >>> 0)) >>> 0,
    };
  }
}

function wrongRole(op: string, role: Role): RingkvError {
  return new RingkvError(ErrorCode.INVALID_ARGUMENT, `${op}() is for the ${role} side of a queue`);
}

function nonNegative(value: number, name: string): number {
  if (!(value >= 0)) throw new RingkvError(ErrorCode.INVALID_ARGUMENT, `queue option ${name} ${value} (must be >= 0)`);
  return value;
}
