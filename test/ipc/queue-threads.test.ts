// SpscQueue between the main thread and a real worker thread over a real SharedArrayBuffer:
// back-pressure both ways, the sleep/wake protocol (and its notify counts), close.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Worker } from 'node:worker_threads';
import { ErrorCode, RingkvError } from '../../src/errors.js';
import { SpscQueue } from '../../src/ipc/queue.js';
import { HEADER_INTS, Slot } from '../../src/ipc/queue-layout.js';
import { type EchoWorkerData, type WorkerReport, patternLength, readPattern, writePattern } from './echo-worker.js';
import { within } from './echo-harness.js';

const workers = new Set<Worker>();
/** Generous: every outcome here arrives in milliseconds on an idle machine. */
const DEADLINE_MS = 20_000;

/** Starts the test worker in `data.mode` and waits for its 'ready'. */
async function start(data: EchoWorkerData): Promise<{ worker: Worker; report: Promise<WorkerReport> }> {
  const worker = new Worker(new URL('./echo-worker.js', import.meta.url), { workerData: data });
  workers.add(worker);
  let ready!: () => void;
  const isReady = new Promise<void>((resolve) => (ready = resolve));
  const report = new Promise<WorkerReport>((resolve, reject) => {
    worker.on('message', (m: unknown) => (m === 'ready' ? ready() : resolve(m as WorkerReport)));
    worker.on('error', reject);
    worker.on('exit', (code) => reject(new Error(`worker exited (${code}) without a report`)));
  });
  report.catch(() => {}); // observed by the tests that await it
  await within(30_000, isReady, 'worker start');
  return { worker, report };
}

async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = performance.now() + ms;
  while (!cond()) {
    if (performance.now() > end) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 1));
  }
}

test.after(async () => {
  await Promise.all([...workers].map((w) => w.terminate()));
});

test('a worker producer blocked on a full queue resumes as the main thread drains (sync wait vs async drain)', async () => {
  const { sab } = SpscQueue.create(256);
  const count = 20_000;
  const { report } = await start({ mode: 'produce', sab, count, maxLength: 100 });
  const queue = new SpscQueue(sab, 'consumer');
  let next = 0;
  let bad = 0;
  const handler = (buf: Uint8Array, at: number, length: number): void => {
    if (readPattern(buf, at, length) !== next || length !== patternLength(next, 100)) bad++;
    next++;
  };
  await within(20_000, (async () => {
    for (let round = 0; ; round++) {
      queue.drain(handler, 1 + (round % 5));
      if (round % 500 === 0) await new Promise((r) => setTimeout(r, 2)); // a slow consumer now and then
      if ((await queue.consumerSleepAsync(1000)) === 'closed') break;
    }
  })(), 'drain');
  const r = await within(10_000, report, 'producer report');
  assert.is(r.count, count);
  assert.is(next, count, 'every record arrived once');
  assert.is(bad, 0, 'in order and intact');
  const stats = queue.stats();
  assert.ok(stats.producerSleeps > 0, `the producer slept for space (${stats.producerSleeps} times)`);
  // Woken, not counted against its sleeps: a wake can land as a sleeper finds space on its
  // own and returns without sleeping, so wakes may exceed sleeps by a few under load.
  assert.ok(stats.producerWakes > 0, 'and was woken');
});

test('a main-thread producer waits for space asynchronously while a worker drains', async () => {
  const { sab } = SpscQueue.create(256);
  const count = 20_000;
  const { report } = await start({ mode: 'consume', sab, maxLength: 100 });
  const queue = new SpscQueue(sab, 'producer');
  let waits = 0;
  await within(20_000, (async () => {
    for (let seq = 0; seq < count; seq++) {
      const length = patternLength(seq, 100);
      let r = queue.reserve(length);
      while (r === undefined) {
        waits++;
        assert.is(await queue.waitForSpaceAsync(length, DEADLINE_MS), 'ready');
        r = queue.reserve(length);
      }
      writePattern(r.buf, r.at, length, seq);
      queue.commit();
    }
    queue.close();
  })(), 'produce');
  const r = await within(10_000, report, 'consumer report');
  assert.is(r.count, count);
  assert.is(r.bad, 0);
  assert.ok(waits > 0, 'the queue filled up');
});

test('a sleeping consumer is woken by a write; an awake one gets no notify', async () => {
  const { sab } = SpscQueue.create(64 * 1024);
  // The worker spins 300 ms after each drain before it sleeps, and then sleeps until woken
  // (no timeout): a write that failed to notify a sleeper would never be drained.
  const { report } = await start({ mode: 'consume', sab, spinMicros: 300_000, waitMs: Infinity, maxLength: 50 });
  const queue = new SpscQueue(sab, 'producer');
  const write = (seq: number): void => {
    const length = patternLength(seq, 50);
    const r = queue.reserve(length)!;
    writePattern(r.buf, r.at, length, seq);
    queue.commit();
    queue.publish();
  };
  for (let seq = 0; seq < 200; seq++) write(seq); // each published alone, in one burst, the consumer awake
  await until(() => queue.stats().usedBytes === 0, DEADLINE_MS, 'consumer drained');
  // Not an exact count: the consumer may have fallen asleep before the burst began (a late
  // 'ready'), which costs one notify. One notify per write would be 200.
  assert.ok(queue.stats().consumerWakes < 20, `200 writes to an awake consumer notified it ${queue.stats().consumerWakes} times`);
  // Asleep: its sleeping flag is up, and only a wake-up takes it down (no timeout).
  const hdr = new Int32Array(sab, 0, HEADER_INTS);
  await until(() => Atomics.load(hdr, Slot.CONSUMER_SLEEPING) === 1, DEADLINE_MS, 'consumer asleep');
  const wakes = queue.stats().consumerWakes;
  write(200);
  await until(() => queue.stats().usedBytes === 0, DEADLINE_MS, 'the sleeping consumer woke and drained the new record');
  assert.ok(queue.stats().consumerWakes > wakes, 'the write to a sleeper notified it');
  for (let seq = 201; seq < 300; seq++) write(seq);
  queue.close();
  const r = await within(DEADLINE_MS, report, 'consumer report');
  assert.is(r.count, 300);
  assert.is(r.bad, 0);
});

test('no wake-up is lost: with spinning off and unbounded waits, both directions finish', async () => {
  // Every wait goes through the flag protocol: a lost wake-up would hang (and fail here).
  const count = 30_000;
  {
    const { sab } = SpscQueue.create(1024);
    const { report } = await start({ mode: 'consume', sab, spinMicros: 0, waitMs: Infinity, maxLength: 60 });
    const queue = new SpscQueue(sab, 'producer', { pollMicros: 0, publishEvery: 1 });
    await within(30_000, (async () => {
      for (let seq = 0; seq < count; seq++) {
        const length = patternLength(seq, 60);
        let r = queue.reserve(length);
        while (r === undefined) {
          assert.is(await queue.waitForSpaceAsync(length), 'ready');
          r = queue.reserve(length);
        }
        writePattern(r.buf, r.at, length, seq);
        queue.commit();
        if (seq % 50 === 0) await new Promise((resolve) => setImmediate(resolve)); // let the consumer sleep now and then
      }
      queue.close();
    })(), 'main -> worker');
    const r = await within(30_000, report, 'consumer report');
    assert.is(r.count, count);
    assert.is(r.bad, 0);
    const stats = queue.stats();
    assert.ok(stats.consumerSleeps > 0 && stats.consumerWakes > 0, `the consumer slept (${stats.consumerSleeps}) and was woken (${stats.consumerWakes})`);
  }
  {
    const { sab } = SpscQueue.create(1024);
    const queue = new SpscQueue(sab, 'consumer', { pollMicros: 0 });
    const { report } = await start({ mode: 'produce', sab, count, spinMicros: 0, waitMs: Infinity, maxLength: 60 });
    let next = 0;
    let bad = 0;
    await within(30_000, (async () => {
      for (let round = 0; ; round++) {
        queue.drain((buf, at, length) => {
          if (readPattern(buf, at, length) !== next++) bad++;
        }, 1 + (round % 7));
        if (round % 3 === 0 && (await queue.consumerSleepAsync()) === 'closed') break;
      }
    })(), 'worker -> main');
    assert.is((await report).count, count);
    assert.is(next, count);
    assert.is(bad, 0);
    const stats = queue.stats();
    assert.ok(stats.producerSleeps > 0 && stats.producerWakes > 0, `the producer slept (${stats.producerSleeps}) and was woken (${stats.producerWakes})`);
  }
});

test('closing from the main thread ends a worker producer blocked on space', async () => {
  const { sab } = SpscQueue.create(64);
  const { report } = await start({ mode: 'produce', sab, count: 1000, maxLength: 20 });
  const queue = new SpscQueue(sab, 'consumer');
  await until(() => queue.stats().producerSleeps > 0, DEADLINE_MS, 'producer asleep on a full queue');
  queue.close();
  const r = await within(DEADLINE_MS, report, 'producer report');
  assert.is(r.closed, true);
  assert.ok(r.count < 1000);
});

test('closing from a worker producer ends a main-thread consumer parked on waitAsync, after the last record', async () => {
  const { sab } = SpscQueue.create(4096);
  const queue = new SpscQueue(sab, 'consumer', { pollMicros: 0 });
  const { report } = await start({ mode: 'produce', sab, count: 10, maxLength: 20 });
  let n = 0;
  for (;;) {
    n += queue.drain(() => {});
    const s = await within(DEADLINE_MS, queue.consumerSleepAsync(), 'consumer wait');
    if (s === 'closed') break;
  }
  assert.is(n, 10);
  assert.is((await report).count, 10);
  assert.is(queue.consumerSleepSync(0), 'closed');
});

test('closing from the consumer side fails a main-thread producer waiting for space', async () => {
  const { sab } = SpscQueue.create(64);
  const producer = new SpscQueue(sab, 'producer');
  const consumer = new SpscQueue(sab, 'consumer');
  while (producer.tryWrite(new Uint8Array(8)));
  const waiting = producer.waitForSpaceAsync(8);
  setTimeout(() => consumer.close(), 5);
  assert.is(await within(DEADLINE_MS, waiting, 'producer wait'), 'closed');
  try {
    producer.tryWrite(new Uint8Array(8));
    assert.unreachable('write after close');
  } catch (err) {
    assert.ok(err instanceof RingkvError && err.code === ErrorCode.CLOSED);
  }
});

test.run();
