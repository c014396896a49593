// SpscQueue on one thread: the record format, wrap-around, full/empty, publish, close,
// errors. Cross-thread behaviour (sleeping, waking, back-pressure) is in queue-threads.test.ts.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ErrorCode, RingkvError } from '../../src/errors.js';
import { SpscQueue, type WaitResult } from '../../src/ipc/queue.js';
import { Random } from '../../src/storage/env/random.js';
import { DATA_OFFSET, HEADER_INTS, Slot, WRAP_MARKER, initQueue, recordBytes, queueBytes } from '../../src/ipc/queue-layout.js';
import { patternLength, readPattern, writePattern } from './echo-worker.js';

function pair(capacity: number, options = {}): { p: SpscQueue; c: SpscQueue; sab: SharedArrayBuffer } {
  const { sab } = SpscQueue.create(capacity);
  return { sab, p: new SpscQueue(sab, 'producer', options), c: new SpscQueue(sab, 'consumer', options) };
}

/** Drains `c` into an array of copies. */
function drainAll(c: SpscQueue, max?: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  c.drain((buf, at, length) => out.push(buf.slice(at, at + length)), max);
  return out;
}

function bytes(length: number, seed: number): Uint8Array {
  const b = new Uint8Array(length);
  for (let i = 0; i < length; i++) b[i] = (seed * 13 + i * 5) & 255;
  return b;
}

/** Fills `buf[at, at + length)` with record `seq`'s bytes. */
function fill(buf: Uint8Array, at: number, length: number, seq: number): void {
  for (let k = 0; k < length; k++) buf[at + k] = (seq * 31 + k * 7) & 255;
}

function isFill(buf: Uint8Array, at: number, length: number, seq: number): boolean {
  for (let k = 0; k < length; k++) if (buf[at + k] !== ((seq * 31 + k * 7) & 255)) return false;
  return true;
}

function code(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return err instanceof RingkvError ? err.code : `not a RingkvError: ${String(err)}`;
  }
  return undefined;
}

test('records of 0..max bytes come out in order, byte for byte', () => {
  const { p, c } = pair(4096);
  const max = p.maxRecordBytes;
  assert.is(max, 2044);
  let next = 0;
  for (let length = 0; length <= max; length++) {
    const check = (): void => {
      for (const got of drainAll(c)) {
        assert.equal(got, bytes(next, next), `record ${next}`);
        next++;
      }
    };
    if (!p.tryWrite(bytes(length, length))) {
      check();
      assert.ok(p.tryWrite(bytes(length, length)), `record of ${length} bytes fits after a drain`);
    }
    if (length % 3 === 2) p.publish();
  }
  p.publish();
  check2();
  function check2(): void {
    for (const got of drainAll(c)) {
      assert.equal(got, bytes(next, next), `record ${next}`);
      next++;
    }
  }
  assert.is(next, max + 1);
  assert.is(c.hasRecords(), false);
});

test('wrap-around: records start at every 8-aligned offset and wrap from every offset near the end', () => {
  for (const capacity of [64, 256]) {
    const { p, c } = pair(capacity);
    const random = new Random(capacity);
    const lengths: number[] = [];
    const starts = new Set<number>();
    const wrapsFrom = new Set<number>();
    let end = 0; // where the previous record ended (offset in the data area)
    let written = 0;
    let read = 0;
    for (let round = 0; round < 5000; round++) {
      const length = (lengths[written] ??= random.int(8) === 0 ? random.int(4) : random.int(p.maxRecordBytes + 1));
      const r = p.reserve(length);
      if (r === undefined) {
        // Full: drain a varying number of records, checking each.
        c.drain((buf, at, len) => {
          assert.ok(isFill(buf, at, len, read), `record ${read} intact`);
          assert.is(len, lengths[read]);
          read++;
        }, 1 + random.int(3));
        round--;
        continue;
      }
      const start = r.at - 4;
      if (start !== end % capacity) wrapsFrom.add(end % capacity);
      starts.add(start);
      fill(r.buf, r.at, length, written++);
      p.commit();
      end = start + recordBytes(length);
      if (round % 7 === 0) p.publish();
    }
    p.publish();
    c.drain((buf, at, len) => {
      assert.ok(isFill(buf, at, len, read) && len === lengths[read], `record ${read} intact`);
      read++;
    });
    assert.is(read, written);
    assert.is(starts.size, capacity / 8, `records started at every offset of a ${capacity}-byte queue: ${[...starts].sort((a, b) => a - b)}`);
    // A record wraps when it does not fit before the end: possible from every offset within
    // the largest record's size of the end; each of them was hit.
    const maxNeed = recordBytes(p.maxRecordBytes);
    for (let off = capacity - maxNeed + 8; off < capacity; off += 8) {
      assert.ok(wrapsFrom.has(off), `wrapped from offset ${off} of ${capacity}`);
    }
  }
});

test('a record exactly filling the space to the end needs no wrap marker', () => {
  const { p, c } = pair(64);
  assert.ok(p.tryWrite(bytes(20, 1))); // 24 bytes: 0..24
  assert.ok(p.tryWrite(bytes(20, 2))); // 24 bytes: 24..48
  p.publish();
  assert.is(drainAll(c).length, 2);
  const r = p.reserve(12)!; // 16 bytes: 48..64, exactly to the end
  assert.is(r.at, 52);
  p.commit();
  const r2 = p.reserve(0)!;
  assert.is(r2.at, 4, 'the next record starts at offset 0');
  p.commit();
  p.publish();
  assert.equal(drainAll(c).map((b) => b.length), [12, 0]);
});

test('a full queue refuses a write, then takes it after the consumer drains', () => {
  const { p, c } = pair(64);
  const rec = bytes(12, 3); // 16 bytes a record: 4 fill the queue
  for (let i = 0; i < 4; i++) assert.ok(p.tryWrite(rec), `record ${i}`);
  assert.is(p.tryWrite(rec), false, 'full');
  assert.is(p.reserve(0), undefined, 'no room even for an empty record');
  assert.is(c.hasRecords(), true, 'a refused write publishes what is pending, so the consumer can make room');
  assert.is(drainAll(c, 1).length, 1);
  assert.ok(p.tryWrite(rec), 'room again after one record was drained');
  assert.is(p.tryWrite(rec), false);
  assert.is(drainAll(c).length, 4);
  assert.is(c.stats().usedBytes, 0);
});

test('payloads are 8-aligned in the SharedArrayBuffer, whatever their lengths', () => {
  const { p, c } = pair(256);
  for (let round = 0; round < 100; round++) {
    const r = p.reserve(round % 13);
    if (r === undefined) {
      c.drain((buf, at) => assert.is((buf.byteOffset + at) % 8, 0));
      round--;
      continue;
    }
    assert.is((r.buf.byteOffset + r.at) % 8, 0);
    p.commit();
    p.publish();
  }
});

test('drain with release=false keeps every view valid until release()', () => {
  const { p, c } = pair(64);
  for (let i = 0; i < 4; i++) assert.ok(p.tryWrite(bytes(12, i)));
  p.publish();
  const views: [Uint8Array, number, number][] = [];
  assert.is(c.drain((buf, at, len) => views.push([buf, at, len]), Infinity, false), 4);
  assert.is(p.tryWrite(bytes(12, 9)), false, 'no space given back yet');
  views.forEach(([buf, at, len], i) => assert.equal(buf.slice(at, at + len), bytes(12, i)));
  c.release();
  assert.ok(p.tryWrite(bytes(12, 9)));
});

test('records are invisible until published; the producer publishes every publishEvery records by itself', () => {
  const { p, c } = pair(4096, { publishEvery: 8 });
  for (let i = 0; i < 7; i++) p.tryWrite(bytes(4, i));
  assert.is(c.hasRecords(), false);
  assert.is(p.pendingRecords, 7);
  p.tryWrite(bytes(4, 7));
  assert.is(p.pendingRecords, 0);
  assert.is(drainAll(c).length, 8);
  p.tryWrite(bytes(4, 8));
  assert.is(drainAll(c).length, 0);
  p.publish();
  assert.is(drainAll(c).length, 1);
});

test('reserve/commit encodes in place; commit may shorten the record', () => {
  const { p, c } = pair(256);
  const r = p.reserve(100)!;
  r.buf.set(bytes(10, 4), r.at);
  p.commit(10);
  const r2 = p.reserve(3)!;
  r2.buf.set([7, 8, 9], r2.at);
  p.commit();
  p.publish();
  assert.equal(drainAll(c), [bytes(10, 4), new Uint8Array([7, 8, 9])]);
  assert.is(code(() => p.commit()), ErrorCode.INVALID_ARGUMENT, 'commit without reserve');
  p.reserve(4);
  assert.is(code(() => p.commit(5)), ErrorCode.INVALID_ARGUMENT, 'commit beyond the reservation');
});

test('tryWrite copies a sub-range of its source', () => {
  const { p, c } = pair(1024);
  const src = bytes(300, 5);
  p.tryWrite(src, 10, 20);
  p.tryWrite(src, 100, 150);
  p.publish();
  assert.equal(drainAll(c), [src.slice(10, 30), src.slice(100, 250)]);
  assert.is(code(() => p.tryWrite(src, 290, 20)), ErrorCode.INVALID_ARGUMENT);
});

test('a record larger than half the queue is ERR_TOO_LARGE; the largest allowed fits even at a bad offset', () => {
  const { p, c } = pair(1024);
  const max = p.maxRecordBytes;
  assert.is(max, 508);
  const err = (() => {
    try {
      p.tryWrite(new Uint8Array(max + 1));
    } catch (e) {
      return e as RingkvError;
    }
    return undefined;
  })();
  assert.ok(err instanceof RingkvError);
  assert.is(err.code, ErrorCode.TOO_LARGE);
  assert.match(err.message, /509 bytes exceeds .* 508 bytes .* split it/);
  assert.is(code(() => p.waitForSpaceSync(max + 1, 0)), ErrorCode.TOO_LARGE);
  // Move head to 520 (8 bytes past the middle), empty the queue, then write the largest
  // record: 504 bytes are left before the end, so it wraps.
  p.tryWrite(new Uint8Array(max));
  p.tryWrite(new Uint8Array(4));
  p.publish();
  drainAll(c);
  assert.ok(p.tryWrite(bytes(max, 1)), 'the largest record fits an empty queue wherever head is');
  p.publish();
  assert.equal(drainAll(c), [bytes(max, 1)]);
});

test('indices wrap past 2^32 without losing a record', () => {
  const sab = new SharedArrayBuffer(queueBytes(256));
  initQueue(sab, 0, 256);
  const hdr = new Int32Array(sab, 0, HEADER_INTS);
  const start = 2 ** 32 - 296; // 8-aligned, 40 bytes before a data-area boundary
  hdr[Slot.HEAD] = start | 0;
  hdr[Slot.TAIL] = start | 0;
  const p = new SpscQueue(sab, 'producer');
  const c = new SpscQueue(sab, 'consumer');
  let written = 0;
  let read = 0;
  for (let i = 0; i < 200; i++) {
    const length = patternLength(i, 60);
    const r = p.reserve(length);
    if (r === undefined) {
      c.drain((buf, at, len) => assert.is(readPattern(buf, at, len), read++));
      i--;
      continue;
    }
    writePattern(r.buf, r.at, length, written++);
    p.commit();
    p.publish();
  }
  c.drain((buf, at, len) => assert.is(readPattern(buf, at, len), read++));
  assert.is(read, 200);
  assert.ok(Atomics.load(hdr, Slot.HEAD) >>> 0 < 100_000, 'head went past 2^32 and wrapped');
});

test('a wrap marker is a u32 0xFFFFFFFF at the end of the data area', () => {
  const { sab, p, c } = pair(128);
  p.tryWrite(new Uint8Array(52)); // 56 bytes: 0..56
  p.tryWrite(new Uint8Array(52)); // 56 bytes: 56..112
  p.publish();
  assert.is(drainAll(c, 1).length, 1);
  p.tryWrite(new Uint8Array(20)); // 24 bytes do not fit in the 16 left: marker at 112, record at 0
  p.publish();
  const words = new Uint32Array(sab, DATA_OFFSET, 32);
  assert.is(words[14], 52);
  assert.is(words[28], WRAP_MARKER);
  assert.is(words[0], 20);
  assert.equal(drainAll(c).map((b) => b.length), [52, 20]);
});

test('closed: writes throw ERR_CLOSED; the consumer still gets what was published, then waits end with closed', async () => {
  const { p, c } = pair(256);
  p.tryWrite(bytes(5, 1));
  p.tryWrite(bytes(6, 2)); // unpublished: close publishes it
  p.close();
  assert.is(p.closed, true);
  assert.is(c.closed, true);
  assert.is(code(() => p.tryWrite(bytes(1, 1))), ErrorCode.CLOSED);
  assert.is(code(() => p.reserve(1)), ErrorCode.CLOSED);
  assert.is(c.consumerSleepSync(1000), 'ready', 'records before the close are still there');
  assert.equal(drainAll(c), [bytes(5, 1), bytes(6, 2)]);
  assert.is(c.consumerSleepSync(1000), 'closed');
  assert.is(await c.consumerSleepAsync(1000), 'closed');
  assert.is(p.waitForSpaceSync(4, 1000), 'closed');
  assert.is(await p.waitForSpaceAsync(4, 1000), 'closed');
  p.close(); // idempotent
});

test('a consumer closing wakes and fails a producer: its waits return closed', () => {
  const { p, c } = pair(64);
  for (let i = 0; i < 4; i++) p.tryWrite(bytes(12, i));
  c.close();
  assert.is(p.waitForSpaceSync(12, 1000), 'closed');
  assert.is(code(() => p.tryWrite(bytes(1, 1))), ErrorCode.CLOSED);
});

/**
 * Calls `wait` (each call must return 'idle') until `sleeps()` has grown, so a wait really
 * went to sleep: under load a short wait can spend its whole timeout spinning and return
 * 'idle' without sleeping, which is right, so one call proves nothing. Gives up after
 * DEADLINE_MS of waits that never sleep (a wait that returns at once, never sleeping).
 */
async function waitsUntilOneSleeps(wait: () => WaitResult | Promise<WaitResult>, sleeps: () => number, what: string): Promise<void> {
  const before = sleeps();
  const end = performance.now() + DEADLINE_MS;
  while (sleeps() === before) {
    assert.is(await wait(), 'idle', what);
    if (performance.now() > end) assert.unreachable(`${what}: no wait slept in ${DEADLINE_MS} ms of idle waits`);
  }
}

/** Generous: a wait that sleeps at all does so within its first few 20 ms calls. */
const DEADLINE_MS = 30_000;

test('waits time out as idle, after sleeping; consumer wakes see records as ready', async () => {
  const { p, c } = pair(64, { spinMicros: 100, pollMicros: 100 });
  const consumerSleeps = (): number => c.stats().consumerSleeps;
  const producerSleeps = (): number => c.stats().producerSleeps;
  await waitsUntilOneSleeps(() => c.consumerSleepSync(20), consumerSleeps, 'an empty ring: the sync consumer wait');
  await waitsUntilOneSleeps(() => c.consumerSleepAsync(20), consumerSleeps, 'an empty ring: the async consumer wait');
  for (let i = 0; i < 4; i++) p.tryWrite(bytes(12, i));
  await waitsUntilOneSleeps(() => p.waitForSpaceSync(12, 20), producerSleeps, 'full and nobody drains: the sync producer wait');
  await waitsUntilOneSleeps(() => p.waitForSpaceAsync(12, 20), producerSleeps, 'full and nobody drains: the async producer wait');
  assert.is(c.consumerSleepSync(20), 'ready', 'waiting for space published the records');
  assert.is(drainAll(c).length, 4);
});

test('a kick before the consumer waits is not lost: its next wait returns idle at once, records first', () => {
  // "At once" is checked as an outcome, not a time: the wait sees the kick before it
  // sleeps, so it counts no sleep. A lost kick would sleep (and count one) for 60 s.
  const { p, c } = pair(64, { spinMicros: 0 });
  const sleeps = (): number => c.stats().consumerSleeps;
  p.wakeConsumer();
  assert.is(c.consumerSleepSync(60_000), 'idle');
  assert.is(sleeps(), 0, 'it returned without sleeping its timeout');
  assert.is(c.consumerSleepSync(20), 'idle', 'one kick ends one wait');
  const afterTimeout = sleeps();
  p.wakeConsumer();
  p.tryWrite(bytes(4, 1));
  p.publish();
  assert.is(c.consumerSleepSync(60_000), 'ready', 'records come before the kick');
  drainAll(c);
  assert.is(c.consumerSleepSync(60_000), 'idle', 'the kick is still there');
  assert.is(sleeps(), afterTimeout, 'neither wait slept');
});

test('bad arguments are ERR_INVALID_ARGUMENT', () => {
  assert.is(code(() => SpscQueue.create(100)), ErrorCode.INVALID_ARGUMENT, 'capacity not a power of two');
  assert.is(code(() => SpscQueue.create(32)), ErrorCode.INVALID_ARGUMENT, 'capacity too small');
  assert.is(code(() => new SpscQueue(new SharedArrayBuffer(4096), 'producer')), ErrorCode.INVALID_ARGUMENT, 'no queue there');
  const { p, c } = pair(64);
  assert.is(code(() => c.tryWrite(new Uint8Array(1))), ErrorCode.INVALID_ARGUMENT, 'consumer writes');
  assert.is(code(() => p.drain(() => {})), ErrorCode.INVALID_ARGUMENT, 'producer drains');
  assert.is(code(() => p.reserve(-1)), ErrorCode.INVALID_ARGUMENT);
  assert.is(code(() => p.reserve(1.5)), ErrorCode.INVALID_ARGUMENT);
});

test.run();
