// Runs on: main thread of a bench child process. The timed loops: one scenario against one
// engine, the same code for every engine.
//
// Throughput is wall-clock over the whole loop (from the first call to the last completion,
// including the harness's key/value generation and a yield to the event loop every 1000 ops
// or every batch, which every engine gets alike so background work can run).
//
// Latency: single-op loops time every SAMPLE_STRIDE-th call on its own with
// process.hrtime.bigint(), minus the timer's own cost (calibrated at start); batch loops time
// every batch call (the latency unit is then one batch of 1000).

import { hrtime } from 'node:process';
import { setImmediate as yieldTurn } from 'node:timers/promises';
import type { BenchAdapter, PutOp } from './adapters.js';
import { KEY_BYTES, Permutation, ValuePool, keyOf } from './keyspace.js';
import type { Scenario } from './plan.js';
import { LatencySampler, timerOverheadNs, type LatencySummary } from './stats.js';

/** One in this many single ops is timed individually. */
export const SAMPLE_STRIDE = 8;
/** Single-op loops yield to the event loop this often. */
const YIELD_EVERY = 1000;
/** One in this many gets has its bytes compared with what was written. */
const CHECK_STRIDE = 64;

export interface PhaseResult {
  ops: number;
  seconds: number;
  opsPerSec: number;
  /** Bytes of keys + values moved per second. */
  bytesPerSec: number;
  latency: LatencySummary;
  /** What one latency sample covers. */
  latencyUnit: 'op' | 'batch';
}

export interface GetPhaseResult extends PhaseResult {
  misses: number;
  mismatches: number;
}

export interface MemorySnapshot {
  /** The phase that had just ended. */
  after: string;
  rssBytes: number;
  heapUsedBytes: number;
  /** C++ objects bound to JS plus ArrayBuffer backing stores (Buffers, Uint8Arrays). */
  externalBytes: number;
}

export interface ChildResult {
  scenario: string;
  /** The phase the row reports: the puts, or the gets. */
  main: PhaseResult;
  /** The load before the gets (get and large scenarios). */
  load?: PhaseResult;
  misses: number;
  mismatches: number;
  settle: string;
  describe: string;
  timerOverheadNs: number;
  /** Memory at the end of each phase. */
  memory: MemorySnapshot[];
  /** RSS of the child before opening the engine: node + harness. */
  baselineRssBytes: number;
  /** process.resourceUsage().maxRSS at the end, in bytes. */
  maxRssBytes: number;
}

export function snapshot(after: string): MemorySnapshot {
  const m = process.memoryUsage();
  return { after, rssBytes: m.rss, heapUsedBytes: m.heapUsed, externalBytes: m.external };
}

/**
 * Runs scenario `s` on an open engine. `enter(phase)` is called as each phase starts, so the
 * parent can attribute the RSS it samples.
 */
export async function runScenario(
  adapter: BenchAdapter,
  s: Scenario,
  seed: number,
  enter: (phase: string) => void,
): Promise<Omit<ChildResult, 'baselineRssBytes' | 'maxRssBytes'>> {
  const overhead = timerOverheadNs();
  const values = new ValuePool(s.valueSize, seed);
  const memory: MemorySnapshot[] = [snapshot('open')];
  if (s.kind === 'put') {
    enter('puts');
    const main = await putPhase(adapter, s, values, seed, overhead);
    memory.push(snapshot('puts'));
    return { scenario: s.id, main, misses: 0, mismatches: 0, settle: '', describe: adapter.describe(), timerOverheadNs: overhead, memory };
  }
  enter('load');
  const load = await putPhase(adapter, { ...s, order: 'rand', batch: Math.max(s.batch, 1000) }, values, seed, overhead);
  memory.push(snapshot('load'));
  enter('settle');
  const settle = await adapter.settle();
  globalThis.gc?.();
  memory.push(snapshot('settle'));
  enter('gets');
  const main = await getPhase(adapter, s, values, seed, overhead);
  memory.push(snapshot('gets'));
  return {
    memory,
    scenario: s.id,
    main,
    load,
    misses: main.misses,
    mismatches: main.mismatches,
    settle,
    describe: adapter.describe(),
    timerOverheadNs: overhead,
  };
}

async function putPhase(adapter: BenchAdapter, s: Scenario, values: ValuePool, seed: number, overheadNs: number): Promise<PhaseResult> {
  const n = s.keys;
  const perm = s.order === 'rand' ? new Permutation(n, seed) : undefined;
  const keyNumber = (i: number): number => (perm === undefined ? i : perm.at(i));
  globalThis.gc?.();
  if (s.batch === 1) {
    const sampler = new LatencySampler(Math.ceil(n / SAMPLE_STRIDE), overheadNs);
    const start = hrtime.bigint();
    for (let i = 0; i < n; i++) {
      const j = keyNumber(i);
      const key = keyOf(j);
      const value = values.valueOf(j);
      if (i % SAMPLE_STRIDE === 0) {
        const t0 = hrtime.bigint();
        const r = adapter.put(key, value);
        if (r !== undefined) await r;
        sampler.add(Number(hrtime.bigint() - t0));
      } else {
        const r = adapter.put(key, value);
        if (r !== undefined) await r;
      }
      if (i % YIELD_EVERY === YIELD_EVERY - 1) await yieldTurn();
    }
    return phase(n, start, sampler.summary(), 'op', KEY_BYTES + s.valueSize);
  }
  const sampler = new LatencySampler(Math.ceil(n / s.batch), overheadNs);
  const start = hrtime.bigint();
  for (let i = 0; i < n; i += s.batch) {
    const end = Math.min(n, i + s.batch);
    const ops: PutOp[] = new Array<PutOp>(end - i);
    for (let k = i; k < end; k++) {
      const j = keyNumber(k);
      ops[k - i] = { type: 'put', key: keyOf(j), value: values.valueOf(j) };
    }
    const t0 = hrtime.bigint();
    const r = adapter.write(ops);
    if (r !== undefined) await r;
    sampler.add(Number(hrtime.bigint() - t0));
    await yieldTurn();
  }
  return phase(n, start, sampler.summary(), 'batch', KEY_BYTES + s.valueSize);
}

async function getPhase(adapter: BenchAdapter, s: Scenario, values: ValuePool, seed: number, overheadNs: number): Promise<GetPhaseResult> {
  const perm = new Permutation(s.keys, seed + 0x9e37);
  const sampler = new LatencySampler(Math.ceil(s.gets / SAMPLE_STRIDE), overheadNs);
  let misses = 0;
  let mismatches = 0;
  const start = hrtime.bigint();
  for (let i = 0; i < s.gets; i++) {
    const j = perm.at(i % s.keys);
    const key = keyOf(j);
    let v: Uint8Array | undefined;
    if (i % SAMPLE_STRIDE === 0) {
      const t0 = hrtime.bigint();
      v = adapter.get(key);
      sampler.add(Number(hrtime.bigint() - t0));
    } else {
      v = adapter.get(key);
    }
    if (v === undefined) misses++;
    else if (i % CHECK_STRIDE === 0 && !values.matches(j, v)) mismatches++;
    if (i % YIELD_EVERY === YIELD_EVERY - 1) await yieldTurn();
  }
  return { ...phase(s.gets, start, sampler.summary(), 'op', KEY_BYTES + s.valueSize), misses, mismatches };
}

function phase(ops: number, start: bigint, latency: LatencySummary, latencyUnit: 'op' | 'batch', recordBytes: number): PhaseResult {
  const seconds = Number(hrtime.bigint() - start) / 1e9;
  return { ops, seconds, opsPerSec: ops / seconds, bytesPerSec: (ops * recordBytes) / seconds, latency, latencyUnit };
}

/**
 * What the harness itself spends per random put (permutation, key, value copy), timed in the
 * calling process: the floor under every put row's per-op cost.
 */
export function harnessCostNs(valueSize: number, seed: number, n = 200_000, warm = false): number {
  if (!warm) harnessCostNs(valueSize, seed, n >>> 2, true);
  const values = new ValuePool(valueSize, seed);
  const perm = new Permutation(n, seed);
  let sink = 0;
  const start = hrtime.bigint();
  for (let i = 0; i < n; i++) {
    const j = perm.at(i);
    sink += keyOf(j).length + values.valueOf(j).length;
  }
  const ns = Number(hrtime.bigint() - start) / n;
  return sink > 0 ? ns : 0;
}
