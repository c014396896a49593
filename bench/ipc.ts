// Runs on: main thread (the coordinator's side) and, as its own worker entry, the worker
// side. The SAB queue (src/ipc) against postMessage, 100-byte frames, main <-> one worker:
//
//   one-way    frames/s main -> worker: one frame per publish/message, and batches of 16
//              and 64 (one publish, or one message carrying the packed frames)
//   1 in flight     round trips/s and p50/p99 latency: one async client that sends a
//                   request, awaits a promise its echo resolves, repeats
//   1000 in flight  the same with 1000 such clients
//
// The SAB side uses what the store uses: SpscQueue for one-way, CoordinatorChannel +
// ShardChannel for round trips. postMessage "batched per tick" packs every frame sent in
// one microtask turn into one message; the echo worker answers a message with one message.
// Each case gets a fresh worker; ~1 s per case.
//
//   node build.mjs && node dist/bench/ipc.js [--seconds S] [--repeats N] [--only one-way|rt1|rtk]
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { CoordinatorChannel, ShardChannel, createChannelBuffer, suggestedSpinMicros } from '../src/ipc/channel.js';
import { SpscQueue } from '../src/ipc/queue.js';
import { describeMachine, machineInfo } from './lib/machine.js';
import { LatencySampler, formatNs, formatOps } from './lib/stats.js';

const FRAME_BYTES = 100;
/** postMessage one-way: the worker acks every this many frames; the main thread keeps at most WINDOW unacked. */
const ACK_EVERY = 4096;
const WINDOW = 8 * ACK_EVERY;
const WARMUP_MS = 200;

type WorkerMode = 'sab-sink' | 'pm-sink' | 'sab-echo' | 'pm-echo';
interface BenchWorkerData {
  mode: WorkerMode;
  sab?: SharedArrayBuffer;
  spinMicros: number;
}

// ---- worker side -------------------------------------------------------------------------

function workerMain(data: BenchWorkerData): void {
  const port = parentPort!;
  if (data.mode === 'sab-sink') {
    const queue = new SpscQueue(data.sab!, 'consumer', { spinMicros: data.spinMicros });
    let count = 0;
    let sum = 0;
    const handler = (buf: Uint8Array, at: number, length: number): void => {
      sum += buf[at]! + length;
      count++;
    };
    port.postMessage('ready');
    for (;;) {
      queue.drain(handler);
      if (queue.consumerSleepSync(100) === 'closed') break;
    }
    port.postMessage({ count, sum });
  } else if (data.mode === 'pm-sink') {
    let count = 0;
    let sum = 0;
    let acked = 0;
    port.on('message', (m: Uint8Array | 'end') => {
      if (m === 'end') {
        port.postMessage({ count, sum });
        port.close();
        return;
      }
      if (m.length === FRAME_BYTES) {
        sum += m[0]! + m.length;
        count++;
      } else {
        // Packed frames: [u32 length][bytes] each.
        const dv = new DataView(m.buffer, m.byteOffset, m.byteLength);
        for (let at = 0; at < m.length; ) {
          const length = dv.getUint32(at, true);
          sum += m[at + 4]! + length;
          count++;
          at += 4 + length;
        }
      }
      if (count - acked >= ACK_EVERY) {
        acked = count;
        port.postMessage(count);
      }
    });
    port.postMessage('ready');
  } else if (data.mode === 'sab-echo') {
    const channel = new ShardChannel(data.sab!, { spinMicros: data.spinMicros });
    port.postMessage('ready');
    void channel
      .serve({
        onRequest(buf, at, length) {
          channel.reply(buf, at, length);
        },
      })
      .then(() => port.close());
  } else {
    port.on('message', (m: Uint8Array | 'end') => {
      if (m === 'end') port.close();
      else port.postMessage(m);
    });
    port.postMessage('ready');
  }
}

// ---- main side ---------------------------------------------------------------------------

let measureMs = 1000;
const spinMicros = suggestedSpinMicros(1, machineInfo().cores);

async function startWorker(data: BenchWorkerData): Promise<Worker> {
  const worker = new Worker(new URL(import.meta.url), { workerData: data });
  await new Promise<void>((resolve, reject) => {
    worker.once('message', () => resolve());
    worker.once('error', reject);
  });
  return worker;
}

function nextMessage<T>(worker: Worker): Promise<T> {
  return new Promise((resolve) => worker.once('message', resolve));
}

function frame(seq: number): Uint8Array {
  const f = new Uint8Array(FRAME_BYTES);
  new DataView(f.buffer).setUint32(0, seq, true);
  return f;
}

/** One-way frames/s through the queue, publishing every `batch` frames. */
async function sabOneWay(batch: number): Promise<number> {
  const { sab } = SpscQueue.create();
  const worker = await startWorker({ mode: 'sab-sink', sab, spinMicros });
  const queue = new SpscQueue(sab, 'producer', { publishEvery: batch });
  const src = frame(7);
  const report = nextMessage<{ count: number }>(worker);
  const start = performance.now();
  const end = start + measureMs;
  let sent = 0;
  while (performance.now() < end) {
    for (let i = 0; i < 4096; i++) {
      while (!queue.tryWrite(src)) await queue.waitForSpaceAsync(FRAME_BYTES);
    }
    sent += 4096;
  }
  queue.close();
  const { count } = await report;
  const seconds = (performance.now() - start) / 1000;
  await worker.terminate();
  if (count !== sent) throw new Error(`sab one-way lost frames: ${count} of ${sent}`);
  return count / seconds;
}

/** One-way frames/s through postMessage: one frame per message, or `batch` frames packed in one. */
async function pmOneWay(batch: number): Promise<number> {
  const worker = await startWorker({ mode: 'pm-sink', spinMicros });
  let acked = 0;
  let wake: (() => void) | undefined;
  worker.on('message', (m: unknown) => {
    if (typeof m === 'number') {
      acked = m;
      wake?.();
    }
  });
  const single = frame(7);
  const packed = new Uint8Array(batch * (4 + FRAME_BYTES));
  const dv = new DataView(packed.buffer);
  for (let i = 0; i < batch; i++) dv.setUint32(i * (4 + FRAME_BYTES), FRAME_BYTES, true);
  const start = performance.now();
  const end = start + measureMs;
  let sent = 0;
  while (performance.now() < end) {
    while (sent - acked >= WINDOW) await new Promise<void>((resolve) => (wake = resolve));
    for (let i = 0; i < 1024; i += batch) {
      if (batch === 1) {
        worker.postMessage(single);
      } else {
        // Copy each frame into the pack, as a sender batching real frames would.
        for (let j = 0; j < batch; j++) packed.set(single, j * (4 + FRAME_BYTES) + 4);
        worker.postMessage(packed);
      }
      sent += batch;
    }
  }
  const report = new Promise<{ count: number }>((resolve) =>
    worker.on('message', (m: unknown) => typeof m === 'object' && resolve(m as { count: number })),
  );
  worker.postMessage('end');
  const { count } = await report;
  const seconds = (performance.now() - start) / 1000;
  await worker.terminate();
  if (count !== sent) throw new Error(`postMessage one-way lost frames: ${count} of ${sent}`);
  return count / seconds;
}

interface RoundTrips {
  opsPerSec: number;
  p50Ns: number;
  p99Ns: number;
}

/** The two ends a round-trip case drives: `send(seq)` and a reply callback registered by `onReply`. */
interface Transport {
  send(seq: number): void;
  onReply(handler: (seq: number) => void): void;
  close(): Promise<void>;
}

async function sabTransport(): Promise<Transport> {
  const sab = createChannelBuffer();
  const worker = await startWorker({ mode: 'sab-echo', sab, spinMicros });
  const channel = new CoordinatorChannel(sab);
  const src = frame(0);
  const dv = new DataView(src.buffer);
  return {
    send(seq) {
      const r = channel.reserve(FRAME_BYTES);
      if (r === undefined) {
        dv.setUint32(0, seq, true);
        channel.send(src);
        return;
      }
      const b = r.buf;
      b[r.at] = seq & 255;
      b[r.at + 1] = (seq >>> 8) & 255;
      b[r.at + 2] = (seq >>> 16) & 255;
      b[r.at + 3] = (seq >>> 24) & 255;
      channel.commit();
    },
    onReply(handler) {
      void channel.onReplies((buf, at) => handler((buf[at]! | (buf[at + 1]! << 8) | (buf[at + 2]! << 16) | (buf[at + 3]! << 24)) >>> 0));
    },
    async close() {
      await channel.close();
      await worker.terminate();
    },
  };
}

async function pmTransport(batched: boolean): Promise<Transport> {
  const worker = await startWorker({ mode: 'pm-echo', spinMicros });
  const single = new Uint8Array(FRAME_BYTES);
  let pending = new Uint8Array(64 * FRAME_BYTES);
  let pendingLength = 0;
  let flushQueued = false;
  const flush = (): void => {
    flushQueued = false;
    worker.postMessage(pending.slice(0, pendingLength)); // a view would clone its whole buffer
    pendingLength = 0;
  };
  return {
    send(seq) {
      if (!batched) {
        const f = single; // postMessage copies it
        f[0] = seq & 255;
        f[1] = (seq >>> 8) & 255;
        f[2] = (seq >>> 16) & 255;
        f[3] = (seq >>> 24) & 255;
        worker.postMessage(f);
        return;
      }
      if (pendingLength + FRAME_BYTES > pending.length) {
        const bigger = new Uint8Array(pending.length * 2);
        bigger.set(pending.subarray(0, pendingLength));
        pending = bigger;
      }
      const at = pendingLength;
      pending[at] = seq & 255;
      pending[at + 1] = (seq >>> 8) & 255;
      pending[at + 2] = (seq >>> 16) & 255;
      pending[at + 3] = (seq >>> 24) & 255;
      pendingLength += FRAME_BYTES;
      if (!flushQueued) {
        flushQueued = true;
        queueMicrotask(flush);
      }
    },
    onReply(handler) {
      worker.on('message', (m: Uint8Array) => {
        for (let at = 0; at < m.length; at += FRAME_BYTES) {
          handler((m[at]! | (m[at + 1]! << 8) | (m[at + 2]! << 16) | (m[at + 3]! << 24)) >>> 0);
        }
      });
    },
    async close() {
      worker.postMessage('end');
      await worker.terminate();
    },
  };
}

/**
 * `inFlight` async clients, each looping: send a request, await its reply (a promise, as a
 * store client would), repeat. Runs WARMUP_MS + measureMs; counts the replies and their
 * latencies (send to the awaiting client resuming) in the measured part.
 */
async function roundTrips(t: Transport, inFlight: number): Promise<RoundTrips> {
  const slots = 1 << 20;
  const mask = slots - 1;
  const sentAt = new Float64Array(slots);
  const waiters: ((() => void) | undefined)[] = new Array(slots).fill(undefined);
  const latencies = new LatencySampler(4_000_000);
  let seq = 0;
  let measuring = false;
  let stopping = false;
  let replies = 0;
  t.onReply((s) => {
    const w = waiters[s & mask];
    waiters[s & mask] = undefined;
    w!();
  });
  const client = async (): Promise<void> => {
    while (!stopping) {
      const s = seq++;
      const reply = new Promise<void>((resolve) => (waiters[s & mask] = resolve));
      sentAt[s & mask] = performance.now();
      t.send(s);
      await reply;
      if (measuring) {
        latencies.add((performance.now() - sentAt[s & mask]!) * 1e6);
        replies++;
      }
    }
  };
  const clients = Array.from({ length: inFlight }, client);
  await new Promise((r) => setTimeout(r, WARMUP_MS));
  measuring = true;
  const start = performance.now();
  await new Promise((r) => setTimeout(r, measureMs));
  const seconds = (performance.now() - start) / 1000;
  const counted = replies;
  measuring = false;
  stopping = true;
  await Promise.all(clients);
  await t.close();
  const s = latencies.summary();
  return { opsPerSec: counted / seconds, p50Ns: s.p50Ns, p99Ns: s.p99Ns };
}

let repeats = 3;

/** Runs `fn` `repeats` times and keeps the run with the median score (other work shares these cores). */
async function median<T>(fn: () => Promise<T>, score: (t: T) => number): Promise<T> {
  const runs: T[] = [];
  for (let i = 0; i < repeats; i++) runs.push(await fn());
  runs.sort((a, b) => score(a) - score(b));
  return runs[Math.floor(runs.length / 2)]!;
}

function flag(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : undefined;
}

async function main(): Promise<void> {
  measureMs = Number(flag('--seconds') ?? 0.5) * 1000;
  repeats = Number(flag('--repeats') ?? 3);
  const only = flag('--only');
  const machine = machineInfo();
  const date = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  const log = (what: string): void => void process.stderr.write(`  ${what}...\n`);

  const rate = (x: number): number => x;
  const ops = (r: RoundTrips): number => r.opsPerSec;
  const skip = (what: string): boolean => only !== undefined && !what.includes(only);
  const none: RoundTrips = { opsPerSec: 0, p50Ns: 0, p99Ns: 0 };
  log('one-way, SAB queue');
  const sab1 = skip('one-way') ? 0 : await median(() => sabOneWay(1), rate);
  const sab16 = skip('one-way') ? 0 : await median(() => sabOneWay(16), rate);
  const sab64 = skip('one-way') ? 0 : await median(() => sabOneWay(64), rate);
  log('one-way, postMessage');
  const pm1 = skip('one-way') ? 0 : await median(() => pmOneWay(1), rate);
  const pm16 = skip('one-way') ? 0 : await median(() => pmOneWay(16), rate);
  const pm64 = skip('one-way') ? 0 : await median(() => pmOneWay(64), rate);
  log('round trips, 1 in flight');
  const sabRt1 = skip('rt1') ? none : await median(async () => roundTrips(await sabTransport(), 1), ops);
  const pmRt1 = skip('rt1') ? none : await median(async () => roundTrips(await pmTransport(false), 1), ops);
  log('round trips, 1000 in flight');
  const sabRtK = skip('rtk') ? none : await median(async () => roundTrips(await sabTransport(), 1000), ops);
  const pmRtK = skip('rtk') ? none : await median(async () => roundTrips(await pmTransport(false), 1000), ops);
  const pmRtKb = skip('rtk') ? none : await median(async () => roundTrips(await pmTransport(true), 1000), ops);

  const rt = (r: RoundTrips): string => `${formatOps(r.opsPerSec)}/s (p50 ${formatNs(r.p50Ns)}, p99 ${formatNs(r.p99Ns)})`;
  const lines = [
    `### IPC: SAB queue vs postMessage (${FRAME_BYTES}-byte frames, main thread <-> one worker)`,
    '',
    `\`node build.mjs && node dist/bench/ipc.js\`, ${date}, ${describeMachine(machine)}; worker spin ${spinMicros} µs, main-thread poll 200 µs; median of ${repeats} runs of ${measureMs / 1000} s per cell.`,
    '',
    '| measurement | SAB queue | postMessage, per message | postMessage, batched |',
    '|---|---|---|---|',
    `| one-way frames/s, 1 frame per publish / message | ${formatOps(sab1)} | ${formatOps(pm1)} | - |`,
    `| one-way frames/s, batches of 16 | ${formatOps(sab16)} | - | ${formatOps(pm16)} |`,
    `| one-way frames/s, batches of 64 | ${formatOps(sab64)} | - | ${formatOps(pm64)} |`,
    `| round trips, 1 in flight | ${rt(sabRt1)} | ${rt(pmRt1)} | - |`,
    `| round trips, 1000 in flight | ${rt(sabRtK)} | ${rt(pmRtK)} | ${rt(pmRtKb)} |`,
    '',
    'One-way: the main thread writes for the measured time, then waits for the worker to count every frame.',
    'SAB batches publish head once per 16/64 frames; postMessage batches pack 16/64 length-prefixed frames in',
    'one Uint8Array. Round trips: the worker echoes; SAB requests are published once per microtask turn and',
    'replies every 64 frames and at the end of each batch; "batched" postMessage packs every frame sent in one',
    'microtask turn into one message and the worker answers each message with one message.',
  ];
  console.log(lines.join('\n'));
}

if (isMainThread) await main();
else workerMain(workerData as BenchWorkerData);
