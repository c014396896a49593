// Test helpers (main thread): an echo shard (echo-worker.ts) on a new channel, and a bound on
// how long a promise may take (a deadlock shows as a clear failure, not a hung test file).
import { Worker } from 'node:worker_threads';
import { CoordinatorChannel, type CoordinatorChannelOptions, createChannelBuffer } from '../../src/ipc/channel.js';
import type { EchoReport, EchoWorkerData } from './echo-worker.js';

export interface Echo {
  channel: CoordinatorChannel;
  worker: Worker;
  /** Resolves with the shard's report when its serve() returned; rejects if the thread exits first. */
  served: Promise<EchoReport>;
  /** Resolves with the thread's exit code. */
  exited: Promise<number>;
}

const workers = new Set<Worker>();

/** Terminates every echo worker still running (call from test.after). */
export async function stopEchoes(): Promise<void> {
  await Promise.all([...workers].map((w) => w.terminate()));
  workers.clear();
}

export async function startEcho(
  capacity: number,
  options: { spinMicros?: number; idleWaitMs?: number } = {},
  coordinator: CoordinatorChannelOptions = {},
): Promise<Echo> {
  const sab = createChannelBuffer({ requestCapacity: capacity, replyCapacity: capacity });
  const data: EchoWorkerData = { mode: 'echo', sab, ...options };
  const worker = new Worker(new URL('./echo-worker.js', import.meta.url), { workerData: data });
  workers.add(worker);
  let ready!: () => void;
  const isReady = new Promise<void>((resolve) => (ready = resolve));
  let report: EchoReport | undefined;
  const exited = new Promise<number>((resolve) => worker.on('exit', resolve));
  const served = new Promise<EchoReport>((resolve, reject) => {
    worker.on('message', (m: unknown) => {
      if (m === 'ready') ready();
      else if (m === 'served') resolve(report!);
      else if (typeof m === 'object' && m !== null && 'requests' in m) report = m as EchoReport;
    });
    worker.on('error', reject);
    worker.on('exit', (code) => reject(new Error(`echo worker exited (${code}) before serve() returned`)));
  });
  served.catch(() => {});
  await within(30_000, isReady, 'worker start');
  return { channel: new CoordinatorChannel(sab, coordinator), worker, served, exited };
}

export async function within<T>(ms: number, p: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no result within ${ms} ms (deadlock?)`)), ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** A frame of `length` bytes whose content is a function of (seed, offset); first 4 bytes = seed (u32 LE, < 2^24). */
export function bigFrame(length: number, seed: number): Uint8Array {
  const f = new Uint8Array(length);
  for (let i = 0; i < length; i++) f[i] = (seed * 131 + i * 7 + (i >>> 11)) & 255;
  f[0] = seed & 255;
  f[1] = (seed >>> 8) & 255;
  f[2] = (seed >>> 16) & 255;
  f[3] = 0;
  return f;
}

/** True when buf[at, at + length) is bigFrame(length, seed) for the seed in its first bytes; returns that seed or -1. */
export function checkBigFrame(buf: Uint8Array, at: number, length: number): number {
  if (length < 4 || buf[at + 3] !== 0) return -1;
  const seed = buf[at]! | (buf[at + 1]! << 8) | (buf[at + 2]! << 16);
  for (let i = 4; i < length; i++) if (buf[at + i] !== ((seed * 131 + i * 7 + (i >>> 11)) & 255)) return -1;
  return seed;
}
