// Runs on: main thread. Big values through the embedded store (worker shards, SAB rings):
// put and get throughput of 1 MiB values (frames fragmented across ring records), beside
// 100 KiB values (one ring record each) for the small-frame path, with N=1 and N=2/W=2,
// sync `none` and `batch`, at 1 and 8 requests in flight. Each cell runs for --seconds
// over KEYS keys, written once first, then overwritten again and again (memtable flushes
// and compactions included); every value read is checked (length and a marker byte).
//
//   node build.mjs && node dist/bench/big-values.js [--seconds S] [--shards K] [--sizes 1048576,102400]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { open, type Store } from '../src/index.js';
import type { SyncMode } from '../src/storage/index.js';
import { describeMachine, machineInfo } from './lib/machine.js';
import { LatencySampler, formatNs } from './lib/stats.js';

/** Distinct keys per cell: 64 MiB of 1 MiB values, the default memtable, so flushes happen. */
const KEYS = 64;
const IN_FLIGHT = [1, 8] as const;

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : undefined;
}

const seconds = Number(arg('--seconds') ?? 2);
const shards = Number(arg('--shards') ?? 2);
const sizes = (arg('--sizes') ?? '1048576,102400').split(',').map(Number);

interface Cell {
  ops: number;
  bytes: number;
  ms: number;
  p50Ns: number;
  p99Ns: number;
}

function pattern(size: number, seed: number): Uint8Array {
  const v = new Uint8Array(size);
  for (let i = 0; i < size; i += 4096) v[i] = (seed + i) & 255;
  v[size - 1] = seed & 255;
  return v;
}

async function timed(inFlight: number, size: number, op: (i: number) => Promise<unknown>): Promise<Cell> {
  const lat = new LatencySampler(1 << 20);
  let next = 0;
  const start = performance.now();
  const end = start + seconds * 1000;
  await Promise.all(Array.from({ length: inFlight }, async () => {
    while (performance.now() < end) {
      const i = next++;
      const t = performance.now();
      await op(i % KEYS);
      lat.add((performance.now() - t) * 1e6);
    }
  }));
  const ms = performance.now() - start;
  const s = lat.summary();
  return { ops: next, bytes: next * size, ms, p50Ns: s.p50Ns, p99Ns: s.p99Ns };
}

function row(label: string, c: Cell): string {
  const mbs = c.bytes / 2 ** 20 / (c.ms / 1000);
  return `| ${label} | ${(c.ops / (c.ms / 1000)).toFixed(0)}/s | ${mbs.toFixed(0)} MiB/s | ${formatNs(c.p50Ns)} | ${formatNs(c.p99Ns)} |`;
}

async function cell(store: Store, size: number, n: number, sync: SyncMode): Promise<string[]> {
  const values = Array.from({ length: KEYS }, (_, k) => pattern(size, k));
  const out: string[] = [];
  for (let k = 0; k < KEYS; k++) await store.put(`key-${k}`, values[k]!, { overwrite: true }); // every key exists before gets are timed
  for (const inFlight of IN_FLIGHT) {
    const put = await timed(inFlight, size, (k) => store.put(`key-${k}`, values[k]!, { overwrite: true }));
    out.push(row(`put ${size >= 1 << 20 ? `${size / 2 ** 20} MiB` : `${size / 1024} KiB`}, N=${n}, ${sync}, ${inFlight} in flight`, put));
    const get = await timed(inFlight, size, async (k) => {
      const r = await store.get(`key-${k}`);
      const v = r?.values[0];
      if (v === undefined || v.length !== size || v[size - 1] !== (k & 255)) throw new Error(`key-${k}: wrong value read back`);
    });
    out.push(row(`get ${size >= 1 << 20 ? `${size / 2 ** 20} MiB` : `${size / 1024} KiB`}, N=${n}, ${sync}, ${inFlight} in flight`, get));
  }
  return out;
}

const lines: string[] = [];
for (const sync of ['none', 'batch'] as const) {
  for (const n of [1, 2]) {
    const dir = mkdtempSync(`${tmpdir()}/ringkv-bigbench-`);
    const store = await open({ dir, shards, n, r: n, w: n, timeoutMs: 30_000, storage: { syncMode: sync } });
    try {
      for (const size of sizes) lines.push(...(await cell(store, size, n, sync)));
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }
}

console.log(`\`node dist/bench/big-values.js\`, ${new Date().toISOString().slice(0, 19)}Z, ${describeMachine(machineInfo())}; ${shards} shards, ${seconds} s per cell, ${KEYS} keys overwritten (overwrite: true).\n`);
console.log('| operation | ops/s | throughput | p50 | p99 |');
console.log('|---|---|---|---|---|');
for (const l of lines) console.log(l);
