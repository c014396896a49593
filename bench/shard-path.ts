// Runs on: main thread (one thread plays the shard worker). The shard worker's request path
// without rings or threads: PUT and GET frames, encoded as the coordinator encodes them, are
// decoded, staged on a Replica over a real LSM engine (commit every 64, as the worker does in
// `periodic` sync) and answered into a reply buffer. Prints µs per PUT and per GET and the
// time spent in GC, so a change to the worker's hot path (decodeRequest, Replica, version
// codec, memtable, WAL) can be measured without the noise of a server, sockets and two
// threads fighting for two cores.
//
//   node --expose-gc dist/bench/shard-path.js [--keys N] [--ops N] [--rounds N] [--sync periodic|batch|none]
//
// The key space and values match redis-benchmark's `-r 100000 -d 100` (key:000000012345).
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { PerformanceObserver, constants } from 'node:perf_hooks';
import { XxHash64 } from '../src/hash/index.js';
import { FrameReader, FrameType, decodeRequest, encodeReplyInto, encodeRequestInto, replyFrameSize, requestFrameSize, type Request } from '../src/protocol/index.js';
import { Replica } from '../src/shard/replica.js';
import { openEngine, type SyncMode } from '../src/storage/index.js';

const COMMIT_EVERY = 64;

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1]! : fallback;
}

const KEYS = Number(arg('keys', '100000'));
const OPS = Number(arg('ops', '300000'));
const ROUNDS = Number(arg('rounds', '3'));
const SYNC = arg('sync', 'periodic') as SyncMode;

let gcNs = 0;
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) gcNs += e.duration * 1e6;
}).observe({ entryTypes: ['gc'] });
void constants;

async function main(): Promise<void> {
  const dir = mkdtempSync(join(os.tmpdir(), 'ringkv-shard-path-'));
  try {
    const data = await openEngine({ dir: join(dir, 'data'), syncMode: SYNC });
    const hints = await openEngine({ dir: join(dir, 'hints'), syncMode: SYNC });
    const replica = new Replica({ replica: 1, epoch: 1 }, { data, hints });
    const hasher = new XxHash64();
    const value = new Uint8Array(100).fill(0x78);
    // The request frames, built once: a ring of them the loop walks (random keys, as -r).
    // All frames in one buffer, as a ring holds them (one DataView for the FrameReader).
    const frames = { put: [] as number[], get: [] as number[] };
    const FRAME_BYTES = 256;
    let seed = 12345;
    const rand = (): number => (seed = (seed * 1103515245 + 12345) >>> 0) % KEYS;
    const FRAMES = Math.min(OPS, 200_000);
    const ring = new Uint8Array(FRAMES * 2 * FRAME_BYTES);
    for (let i = 0; i < FRAMES; i++) {
      const key = new TextEncoder().encode(`key:${String(rand()).padStart(12, '0')}`);
      hasher.hash(key);
      const base = { hi: hasher.hi, lo: hasher.lo, key };
      const put: Request = { type: FrameType.PUT, ...base, context: new Uint8Array(0), value, writtenAt: Date.now(), expiresAt: 0, maxSiblings: 64, lww: false, overwrite: true };
      const get: Request = { type: FrameType.GET, ...base };
      for (const [req, list] of [[put, frames.put], [get, frames.get]] as const) {
        const at = (i * 2 + (req.type === FrameType.PUT ? 0 : 1)) * FRAME_BYTES;
        encodeRequestInto(ring, at, i, req, requestFrameSize(req));
        list.push(at);
      }
    }
    const reader = new FrameReader();
    const out = new Uint8Array(1 << 20);
    let staged = 0;
    const answer = (id: number, reply: ReturnType<Replica['stage']>): void => {
      if (reply === undefined) return;
      const size = replyFrameSize(reply);
      if (size > 0 && size <= out.length) encodeReplyInto(out, 0, id, reply, size);
    };
    const run = (list: number[], n: number): void => {
      for (let i = 0; i < n; i++) {
        reader.reset(ring, list[i % list.length]!, FRAME_BYTES);
        const reply = replica.stage(decodeRequest(reader));
        if (reply !== undefined) answer(i, reply);
        else if (++staged >= COMMIT_EVERY) {
          for (const r of replica.commit()) answer(i, r);
          staged = 0;
        }
      }
      for (const r of replica.commit()) answer(n, r);
      staged = 0;
    };
    // Load every key once (cold inserts), then time overwrites and reads.
    run(frames.put, Math.min(FRAMES, KEYS * 3));
    for (let round = 0; round < ROUNDS; round++) {
      for (const [name, list] of [['PUT', frames.put], ['GET', frames.get]] as const) {
        (globalThis as { gc?: () => void }).gc?.();
        await new Promise((r) => setImmediate(r));
        const gc0 = gcNs;
        const cpu0 = process.cpuUsage();
        const t0 = process.hrtime.bigint();
        run(list, OPS);
        const ns = Number(process.hrtime.bigint() - t0);
        const cpu = process.cpuUsage(cpu0);
        await new Promise((r) => setImmediate(r)); // let GC entries arrive
        // CPU time (all of the process's threads: GC helpers too) is what a loaded machine does not blur.
        const cpuUs = (cpu.user + cpu.system) / OPS;
        console.log(`round ${round} ${name}: ${cpuUs.toFixed(2)} µs CPU/op, ${(ns / OPS / 1000).toFixed(2)} µs wall/op (gc pauses ${((gcNs - gc0) / OPS / 1000).toFixed(2)}), ${(OPS / (ns / 1e9) / 1000).toFixed(0)}k ops/s`);
      }
    }
    await data.close();
    await hints.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
