// Runs on: a worker thread started by the ipc tests (and imported by them on the main thread
// for the record helpers below, where it does nothing else).
//
// Modes (workerData.mode):
//   echo     serve a shard channel, replying to each request with its own bytes (big ones
//            arrive joined and go back as fragments); three requests are commands: BYE
//            (close the channel), STALL (sleep STALL_MS first, as a busy shard would) and
//            DIE (write half of a big reply's fragments, then exit the thread). When serve()
//            returns it posts an EchoReport, then 'served'.
//   consume  drain a queue, checking each record against the test pattern; report on close
//   produce  write `count` pattern records into a queue (waiting for space), then close it
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { ShardChannel } from '../../src/ipc/channel.js';
import { fragmentDataBytes, writeFragment } from '../../src/ipc/fragment.js';
import { SpscQueue } from '../../src/ipc/queue.js';

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
  /** produce: the queue was closed under it. */
  closed: boolean;
}

function consume(data: EchoWorkerData): void {
  const queue = new SpscQueue(data.sab, 'consumer', { spinMicros: data.spinMicros ?? 50 });
  let count = 0;
  let bad = 0;
  const handler = (buf: Uint8Array, at: number, length: number): void => {
    if (readPattern(buf, at, length) !== count || length !== patternLength(count, data.maxLength)) bad++;
    count++;
  };
  parentPort!.postMessage('ready');
  for (;;) {
    queue.drain(handler);
    if (queue.consumerSleepSync(data.waitMs ?? 1000) === 'closed') break;
  }
  queue.drain(handler);
  const report: WorkerReport = { count, bad, closed: true };
  parentPort!.postMessage(report);
}

function produce(data: EchoWorkerData): void {
  const queue = new SpscQueue(data.sab, 'producer', { spinMicros: data.spinMicros ?? 50 });
  const total = data.count ?? 0;
  parentPort!.postMessage('ready');
  let sent = 0;
  let closed = false;
  outer: while (sent < total) {
    const length = patternLength(sent, data.maxLength);
    for (;;) {
      const r = queue.closed ? undefined : queue.reserve(length);
      if (r !== undefined) {
        writePattern(r.buf, r.at, length, sent);
        queue.commit();
        break;
      }
      if (queue.waitForSpaceSync(length, data.waitMs ?? 10_000) === 'closed') {
        closed = true;
        break outer;
      }
    }
    sent++;
  }
  if (!closed) queue.close();
  const report: WorkerReport = { count: sent, bad: 0, closed };
  parentPort!.postMessage(report);
}

/** echo: a request of exactly these bytes makes the shard close the channel instead. */
export const BYE = new Uint8Array([0x62, 0x79, 0x65]);
/** echo: a request of exactly these bytes makes the shard sleep STALL_MS, then echo it. */
export const STALL = new Uint8Array([0x73, 0x74, 0x6c]);
export const STALL_MS = 300;
/** echo: a request of exactly these bytes makes the shard write half of a DIE_REPLY_BYTES reply, then exit. */
export const DIE = new Uint8Array([0x64, 0x69, 0x65]);
export const DIE_REPLY_BYTES = 4 << 20;

/** What an echo shard posts when serve() returned. */
export interface EchoReport {
  /** Requests handed to onRequest (joined ones included). */
  requests: number;
  /** The longest request seen. */
  largest: number;
  /** Fragments the shard read, and frames it joined from them. */
  fragments: number;
  joined: number;
}

function isCommand(buf: Uint8Array, at: number, length: number, cmd: Uint8Array): boolean {
  return length === 3 && buf[at] === cmd[0] && buf[at + 1] === cmd[1] && buf[at + 2] === cmd[2];
}

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
  const report: EchoReport = { requests: 0, largest: 0, fragments: 0, joined: 0 };
  await channel.serve({
    onRequest(buf, at, length) {
      report.requests++;
      report.largest = Math.max(report.largest, length);
      if (isCommand(buf, at, length, BYE)) {
        channel.close();
        return;
      }
      if (isCommand(buf, at, length, STALL)) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, STALL_MS);
      if (isCommand(buf, at, length, DIE)) {
        const frame = new Uint8Array(DIE_REPLY_BYTES);
        const dataBytes = fragmentDataBytes(channel.replies.maxRecordBytes);
        let offset = 0;
        while (offset < DIE_REPLY_BYTES / 2) {
          const n = writeFragment(channel.replies, frame, 0, DIE_REPLY_BYTES, offset, 1, dataBytes);
          if (n === 0) channel.replies.waitForSpaceSync(dataBytes + 16, 1000);
          offset += n;
          channel.replies.publish();
        }
        process.exit(3);
      }
      channel.reply(buf, at, length);
    },
  });
  report.fragments = channel.reassembler.fragments;
  report.joined = channel.reassembler.frames;
  parentPort!.postMessage(report);
  parentPort!.postMessage('served');
  parentPort!.close();
}

if (!isMainThread && parentPort !== null) {
  const data = workerData as EchoWorkerData;
  if (data.mode === 'consume') consume(data);
  else if (data.mode === 'produce') produce(data);
  else await echo(data);
}
