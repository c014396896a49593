// Runs on: main thread. The storage-engine bench: ringkv's engine against classic-level
// (LevelDB) and lmdb, side by side in one run. `npm run bench:storage -- --help` for flags.
//
// The parent process plans the scenarios (bench/lib/plan.ts) and runs each (scenario, engine)
// pair in a child process of its own (this file with `--child <engine> <scenario> --dir D`),
// so one engine's heap, GC and page-cache habits do not leak into the next row. It samples the
// child's RSS from /proc every 100 ms, collects one JSON result line, deletes the data
// directory, and prints a markdown report (and with --write puts it into BENCHMARKS.md).

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openAdapter, ringkvAvailable, type EngineName } from './lib/adapters.js';
import { freeDiskBytes, machineInfo, RssSampler } from './lib/machine.js';
import { parseArgs, plan, type Args, type Scenario } from './lib/plan.js';
import { header, largeTable, notes, standardTable, writeSection, type Row, type RunInfo } from './lib/report.js';
import { formatBytes, formatNs, formatOps } from './lib/stats.js';
import { harnessCostNs, runScenario, type ChildResult } from './lib/workloads.js';

const RESULT_MARKER = '@@bench-result ';
const ERROR_MARKER = '@@bench-error ';
const PHASE_MARKER = '@@bench-phase ';
/** A row that takes longer than this is killed and reported as an error. */
const CHILD_TIMEOUT_MS = 30 * 60_000;
const LARGE_CHILD_TIMEOUT_MS = 120 * 60_000;
/** Disk the large run wants free beyond its data set (LSM space amplification, WAL, lmdb's tree). */
const LARGE_DISK_FACTOR = 1.6;
const RSS_SAMPLE_MS = 100;

async function main(): Promise<void> {
  let args: Args;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (err) {
    console.error((err as Error).message);
    process.exit(2);
  }
  if (args.child === undefined) return parent(args);
  try {
    await child(args);
  } catch (err) {
    process.stdout.write(`${ERROR_MARKER}${JSON.stringify(String((err as Error).stack ?? err))}\n`);
    process.exit(1);
  }
}

// ---- child: one scenario against one engine ---------------------------------------------

async function child(args: Args): Promise<void> {
  const { engine, scenario: id, dir } = args.child!;
  const scenario = plan(args).find((s) => s.id === id);
  if (scenario === undefined) throw new Error(`no scenario ${id} under these flags`);
  if (!dir) throw new Error('--child needs --dir');
  // stdout is a pipe: writes to it are synchronous on Linux, so the parent hears at once.
  const enter = (phase: string): void => void process.stdout.write(`${PHASE_MARKER}${phase}\n`);
  globalThis.gc?.();
  const baselineRssBytes = process.memoryUsage.rss();
  enter('open');
  const adapter = await openAdapter(engine, {
    dir,
    sync: scenario.sync,
    memtableBytes: scenario.memtableBytes,
    blockCacheBytes: scenario.blockCacheBytes,
    compression: args.compression,
    dataBytes: scenario.dataBytes,
  });
  const partial = await runScenario(adapter, scenario, args.seed, enter);
  enter('close');
  await adapter.close();
  const result: ChildResult = {
    ...partial,
    baselineRssBytes,
    maxRssBytes: process.resourceUsage().maxRSS * 1024,
  };
  process.stdout.write(`${RESULT_MARKER}${JSON.stringify(result)}\n`);
}

// ---- parent: plan, run every row in a child, report ------------------------------------

async function parent(args: Args): Promise<void> {
  const scenarios = plan(args);
  const skipped: string[] = [];
  let engines = args.only;
  if (engines.includes('ringkv')) {
    const why = await ringkvAvailable();
    if (why !== undefined) {
      skipped.push(`ringkv (${why}); the ringkv/peer column stays n/a`);
      engines = engines.filter((e) => e !== 'ringkv');
    }
  }
  const large = scenarios.find((s) => s.kind === 'large');
  if (large !== undefined) {
    const free = freeDiskBytes(os.tmpdir());
    const need = large.dataBytes * LARGE_DISK_FACTOR;
    if (free < need) {
      console.error(`not enough disk under ${os.tmpdir()} for the large run: ${formatBytes(free)} free, want ${formatBytes(need)}`);
      process.exit(1);
    }
  }
  const command = ['node --expose-gc dist/bench/storage.js', ...args.forwarded].join(' ');
  const info: RunInfo = {
    command,
    date: new Date().toISOString(),
    machine: machineInfo(),
    seed: args.seed,
    compression: args.compression,
    skipped,
    harnessNs: [...new Set(scenarios.map((s) => s.valueSize))].map((valueSize) => ({ valueSize, ns: harnessCostNs(valueSize, args.seed) })),
  };
  for (const s of skipped) console.error(`not running ${s}`);

  const rows: Row[] = [];
  const total = scenarios.length * engines.length;
  for (const scenario of scenarios) {
    for (const engine of engines) {
      process.stderr.write(`[${rows.length + 1}/${total}] ${scenario.id} ${engine} ... `);
      const row = await runChild(args, scenario, engine);
      rows.push(row);
      const r = row.result;
      process.stderr.write(
        r === undefined
          ? `error: ${row.error ?? ''}\n`
          : `${formatOps(r.main.opsPerSec)} ops/s, p50 ${formatNs(r.main.latency.p50Ns)}, p99 ${formatNs(r.main.latency.p99Ns)} (${r.main.seconds.toFixed(1)} s)\n`,
      );
    }
  }

  const sections: Array<{ id: string; title: string; body: string }> = [];
  const suffix = args.quick ? ' (quick)' : '';
  if (rows.some((r) => r.scenario.kind !== 'large')) {
    sections.push({
      id: `storage${args.quick ? '-quick' : ''}`,
      title: `## Storage engines${suffix}`,
      body: [header(info), '', standardTable(rows), '', '### Notes', '', notes(rows.filter((r) => r.scenario.kind !== 'large'))].join('\n'),
    });
  }
  if (large !== undefined) {
    sections.push({
      id: `storage-large${args.quick ? '-quick' : ''}`,
      title: `## Storage engines, data 10x the memory budget${suffix}`,
      body: [header(info), '', largeTable(rows), '', '### Notes', '', notes(rows.filter((r) => r.scenario.kind === 'large'))].join('\n'),
    });
  }
  for (const s of sections) console.log(`${s.title}\n\n${s.body}\n`);
  if (args.write) {
    const path = fileURLToPath(new URL('../../BENCHMARKS.md', import.meta.url));
    for (const s of sections) writeSection(path, s.id, `${s.title}\n\n${s.body}`);
    console.error(`wrote ${sections.length} section(s) to ${path}`);
  }
  if (rows.some((r) => r.result === undefined || r.result.misses > 0 || r.result.mismatches > 0)) process.exitCode = 1;
}

/** The running child, to kill (and its data to delete) on Ctrl-C. */
let current: { kill: () => void; dir: string } | undefined;

async function runChild(args: Args, scenario: Scenario, engine: EngineName): Promise<Row> {
  const dir = mkdtempSync(join(os.tmpdir(), `ringkv-bench-${engine}-`));
  const script = fileURLToPath(import.meta.url);
  const execArgv = process.execArgv.includes('--expose-gc') ? process.execArgv : [...process.execArgv, '--expose-gc'];
  const argv = [...execArgv, script, ...args.forwarded.filter((f) => f !== '--write'), '--child', engine, scenario.id, '--dir', dir];
  const proc = spawn(process.execPath, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
  const sampler = new RssSampler(proc.pid ?? -1, RSS_SAMPLE_MS);
  sampler.start();
  const timeoutMs = scenario.kind === 'large' ? LARGE_CHILD_TIMEOUT_MS : CHILD_TIMEOUT_MS;
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    proc.kill('SIGKILL');
  }, timeoutMs);
  current = { kill: () => proc.kill('SIGKILL'), dir };
  let stdout = '';
  let stderr = '';
  let scanned = 0;
  proc.stdout.setEncoding('utf8').on('data', (d: string) => {
    stdout += d;
    for (let nl = stdout.indexOf('\n', scanned); nl >= 0; nl = stdout.indexOf('\n', scanned)) {
      const line = stdout.slice(scanned, nl);
      scanned = nl + 1;
      if (line.startsWith(PHASE_MARKER)) sampler.enter(line.slice(PHASE_MARKER.length));
    }
  });
  proc.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const code = await new Promise<number | null>((resolve) => proc.on('close', (c) => resolve(c)));
  clearTimeout(timer);
  sampler.stop();
  current = undefined;
  rmSync(dir, { recursive: true, force: true });
  const line = stdout.split('\n').find((l) => l.startsWith(RESULT_MARKER));
  const row: Row = {
    scenario,
    engine,
    sampledPeakRssBytes: sampler.peakBytes,
    sampledPeakAnonBytes: sampler.peakAnonBytes,
    phasePeakRssBytes: Object.fromEntries(sampler.phasePeaks),
  };
  if (line !== undefined && code === 0) {
    row.result = JSON.parse(line.slice(RESULT_MARKER.length)) as ChildResult;
  } else {
    const why = timedOut ? `timed out after ${timeoutMs / 60_000} min` : `exit ${code}`;
    const reported = stdout.split('\n').find((l) => l.startsWith(ERROR_MARKER));
    const detail = reported !== undefined
      ? (JSON.parse(reported.slice(ERROR_MARKER.length)) as string).split('\n').slice(0, 2).join(' / ')
      : stderr.trim().split('\n').filter((l) => l.trim() !== '').slice(-3).join(' / ');
    row.error = `${why}${detail ? `: ${detail}` : ''}`;
  }
  return row;
}

process.on('SIGINT', () => {
  current?.kill();
  if (current !== undefined) rmSync(current.dir, { recursive: true, force: true });
  process.exit(130);
});

await main();
