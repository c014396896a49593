// Runs on: a worker thread started by the ipc tests (and imported by them on the main thread
// for the record helpers below, where it does nothing else).
//
// Modes (workerData.mode):
//   echo     serve a shard channel, replying to each request with its own bytes
//   consume  drain a ring, checking each record against the test pattern; report on close
//   produce  write `count` pattern records into a ring (waiting for space), then close it
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { ShardChannel } from '../../src/ipc/channel.js';
import { SpscRing } from '../../src/ipc/ring.js';

// ---- the test pattern ------------------------------------------------------------------

/** Payload length of test record `seq`: 4 .. 200 bytes, every residue mod 4 in turn. */
export function patternLength(seq: number, maxLength = 200): number {
  return 4 + ((seq * 37) % (maxLength - 3));
}

/** Writes record `seq` (u32 LE seq, then pattern bytes) into `buf[at, at + length)`. REQUIRES: length >= 4. */
export function writePattern(buf: Uint8Array, at: number, length: number, seq: number): void {
  buf[at] = seq & 255;
  buf[at + 1] = (seq >>> 8) & 255;
  buf[at + 2] = (seq >>> 16) & 255;
  buf[at + 3] = (seq >>> 24) & 255;
  for (let k = 4; k < length; k++) buf[at + k] = (seq * 31 + k * 7) & 255;
}

/** The seq a pattern record carries, or -1 if its bytes are not exactly writePattern's. */
export function readPattern(buf: Uint8Array, at: number, length: number): number {
  if (length < 4) return -1;
  const seq = (buf[at]! | (buf[at + 1]! << 8) | (buf[at + 2]! << 16) | (buf[at + 3]! << 24)) >>> 0;
  for (let k = 4; k < length; k++) if (buf[at + k] !== ((seq * 31 + k * 7) & 255)) return -1;
  return seq;
}

// ---- worker modes ----------------------------------------------------------------------

export interface EchoWorkerData {
  mode: 'echo' | 'consume' | 'produce';
  sab: SharedArrayBuffer;
  spinMicros?: number;
  /** produce: records to write. */
  count?: number;
  /** produce: largest payload. */
  maxLength?: number;
  /** consume, produce: timeout of each sleep (Infinity: only a wake-up ends it). */
  waitMs?: number;
  /** echo: the shard's idle wait (how long it sleeps before running its event loop). */
  idleWaitMs?: number;
}

/** What consume and produce post when they end. */
export interface WorkerReport {
  /** Records seen in order (consume) or written (produce). */
  count: number;
  /** consume: records out of order, duplicated or with wrong bytes. */
  bad: number;
  /** produce: the ring was closed under it. */
  closed: boolean;
}

function consume(data: EchoWorkerData): void {
  const ring = new SpscRing(data.sab, 'consumer', { spinMicros: data.spinMicros ?? 50 });
  let count = 0;
  let bad = 0;
  const handler = (buf: Uint8Array, at: number, length: number): void => {
    if (readPattern(buf, at, length) !== count || length !== patternLength(count, data.maxLength)) bad++;
    count++;
  };
  parentPort!.postMessage('ready');
  for (;;) {
    ring.drain(handler);
    if (ring.consumerSleepSync(data.waitMs ?? 1000) === 'closed') break;
  }
  ring.drain(handler);
  const report: WorkerReport = { count, bad, closed: true };
  parentPort!.postMessage(report);
}

function produce(data: EchoWorkerData): void {
  const ring = new SpscRing(data.sab, 'producer', { spinMicros: data.spinMicros ?? 50 });
  const total = data.count ?? 0;
  parentPort!.postMessage('ready');
  let sent = 0;
  let closed = false;
  outer: while (sent < total) {
    const length = patternLength(sent, data.maxLength);
    for (;;) {
      const r = ring.closed ? undefined : ring.reserve(length);
      if (r !== undefined) {
        writePattern(r.buf, r.at, length, sent);
        ring.commit();
        break;
      }
      if (ring.waitForSpaceSync(length, data.waitMs ?? 10_000) === 'closed') {
        closed = true;
        break outer;
      }
    }
    sent++;
  }
  if (!closed) ring.close();
  const report: WorkerReport = { count: sent, bad: 0, closed };
  parentPort!.postMessage(report);
}

/** echo: a request of exactly these bytes makes the shard close the channel instead. */
export const BYE = new Uint8Array([0x62, 0x79, 0x65]);

async function echo(data: EchoWorkerData): Promise<void> {
  const channel = new ShardChannel(data.sab, {
    ...(data.spinMicros === undefined ? {} : { spinMicros: data.spinMicros }),
    ...(data.idleWaitMs === undefined ? {} : { idleWaitMs: data.idleWaitMs }),
  });
  // A control-plane stand-in: answered only when the shard runs its event loop.
  parentPort!.on('message', (m: unknown) => {
    if (m === 'ping') parentPort!.postMessage('pong');
  });
  parentPort!.postMessage('ready');
  await channel.serve({
    onRequest(buf, at, length) {
      if (length === 3 && buf[at] === BYE[0] && buf[at + 1] === BYE[1] && buf[at + 2] === BYE[2]) channel.close();
      else channel.reply(buf, at, length);
    },
  });
  parentPort!.postMessage('served');
  parentPort!.close();
}

if (!isMainThread && parentPort !== null) {
  const data = workerData as EchoWorkerData;
  if (data.mode === 'consume') consume(data);
  else if (data.mode === 'produce') produce(data);
  else await echo(data);
}
