// Runs on: main thread. The embedded-store bench: ringkv's `open()` (shard worker threads,
// coordinator, N/R/W) with 1, 2 and 4 shards, N=1 and N=3/W=2, sync `batch` and `none`,
// against lmdb (get, auto-batched put) and classic-level (getSync, put, batch), side by side
// in one run. `node dist/bench/engine.js --help` for flags.
//
// The parent runs each row (one engine configuration) in a child process of its own (this
// file with `--child <row id> --dir D`), so one engine's heap, GC, threads and page-cache
// habits do not leak into the next row. A child loads the keys (putMany / batches of 1000),
// settles, then times gets at 1000, 256, 16 and 1 requests in flight and through
// getMany(1000), then puts (overwrites) the same way, and prints one JSON result line. The
// parent prints a markdown report (and with --write puts it into BENCHMARKS.md).

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openSubject, SUBJECTS, syncLabel, type Subject, type SubjectName, type SyncChoice } from './lib/engine-subjects.js';
import { KEY_BYTES, Permutation, ValuePool, keyOf } from './lib/keyspace.js';
import { describeMachine, machineInfo, type MachineInfo } from './lib/machine.js';
import { writeSection } from './lib/report.js';
import { LatencySampler, formatCount, formatNs, formatOps, type LatencySummary } from './lib/stats.js';

const RESULT_MARKER = '@@engine-result ';
const ERROR_MARKER = '@@engine-error ';
/** Requests in flight of the timed phases, largest first (the issue's levels). */
const IN_FLIGHT = [1000, 256, 16, 1] as const;
/** Keys per getMany / putMany call (and per peer batch). */
const MANY = 1000;
const VALUE_BYTES = 100;
/** One in this many ops is timed on its own (timing every op would add ~5% at 0.5M ops/s). */
const SAMPLE_STRIDE = 8;
/** One in this many gets has its value compared with what was written. */
const CHECK_STRIDE = 64;
/** A phase stops after this long even if keys remain: fsynced puts at 1 in flight do ~3k/s. */
const PHASE_SECONDS = 3;
const QUICK_PHASE_SECONDS = 0.5;
const DEFAULT_KEYS = 1_000_000;
const QUICK_KEYS = 50_000;
/** A child that takes longer is killed and its row reported as an error. */
const CHILD_TIMEOUT_MS = 20 * 60_000;

// ---- flags and rows ------------------------------------------------------------------------

interface Args {
  quick: boolean;
  keys: number;
  seconds: number;
  seed: number;
  write: boolean;
  only: SubjectName[];
  /** Substring filter on row ids (development). */
  rows: string | undefined;
  /** Flags to pass on to children. */
  forwarded: string[];
  child: { row: string; dir: string } | undefined;
}

const USAGE = `usage: node dist/bench/engine.js [--quick] [--keys N] [--seconds S] [--only ringkv,lmdb,level] [--rows SUBSTR] [--seed N] [--write]
  --quick        ${QUICK_KEYS} keys and ${QUICK_PHASE_SECONDS} s phases (a smoke run, ~2 minutes)
  --keys N       keys of ${KEY_BYTES} bytes with ${VALUE_BYTES}-byte values (default ${DEFAULT_KEYS})
  --seconds S    longest time of one timed phase (default ${PHASE_SECONDS})
  --only LIST    engines to run (default all)
  --rows SUBSTR  only rows whose id contains SUBSTR (e.g. ringkv-s4)
  --write        put the report into BENCHMARKS.md`;

function parseArgs(argv: string[]): Args {
  const args: Args = { quick: false, keys: 0, seconds: 0, seed: 1, write: false, only: [...SUBJECTS], rows: undefined, forwarded: [], child: undefined };
  let keys: number | undefined;
  let seconds: number | undefined;
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    const take = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${flag} needs a value\n${USAGE}`);
      return v;
    };
    const num = (): number => {
      const v = Number(take());
      if (!(v > 0)) throw new Error(`${flag} needs a positive number\n${USAGE}`);
      return v;
    };
    switch (flag) {
      case '--quick':
        args.quick = true;
        args.forwarded.push(flag);
        break;
      case '--keys':
        keys = Math.floor(num());
        args.forwarded.push(flag, String(keys));
        break;
      case '--seconds':
        seconds = num();
        args.forwarded.push(flag, String(seconds));
        break;
      case '--seed':
        args.seed = Math.floor(num());
        args.forwarded.push(flag, String(args.seed));
        break;
      case '--only': {
        const list = take().split(',');
        for (const s of list) if (!(SUBJECTS as readonly string[]).includes(s)) throw new Error(`unknown engine ${s}\n${USAGE}`);
        args.only = list as SubjectName[];
        args.forwarded.push(flag, list.join(','));
        break;
      }
      case '--rows':
        args.rows = take();
        args.forwarded.push(flag, args.rows);
        break;
      case '--write':
        args.write = true;
        args.forwarded.push(flag);
        break;
      case '--child':
        args.child = { row: take(), dir: args.child?.dir ?? '' };
        break;
      case '--dir':
        if (args.child === undefined) throw new Error('--dir comes after --child');
        args.child.dir = take();
        break;
      case '--help':
      case '-h':
        throw new Error(USAGE);
      default:
        throw new Error(`unknown flag ${flag}\n${USAGE}`);
    }
  }
  args.keys = keys ?? (args.quick ? QUICK_KEYS : DEFAULT_KEYS);
  args.seconds = seconds ?? (args.quick ? QUICK_PHASE_SECONDS : PHASE_SECONDS);
  return args;
}

interface Row {
  id: string;
  subject: SubjectName;
  sync: SyncChoice;
  shards: number;
  n: number;
  r: number;
  w: number;
}

/** Every row of the run: ringkv at 1, 2, 4 shards (N=3 needs 3 or more), then the peers. */
function plan(args: Args): Row[] {
  const rows: Row[] = [];
  for (const sync of ['none', 'batch'] as const) {
    for (const subject of args.only) {
      if (subject !== 'ringkv') {
        rows.push({ id: `${subject}-${sync}`, subject, sync, shards: 0, n: 1, r: 1, w: 1 });
        continue;
      }
      for (const shards of [1, 2, 4]) {
        rows.push({ id: `ringkv-s${shards}-n1-${sync}`, subject, sync, shards, n: 1, r: 1, w: 1 });
        if (shards >= 3) rows.push({ id: `ringkv-s${shards}-n3-${sync}`, subject, sync, shards, n: 3, r: 2, w: 2 });
      }
    }
  }
  return args.rows === undefined ? rows : rows.filter((r) => r.id.includes(args.rows!));
}

// ---- child: one row ----------------------------------------------------------------------

interface Phase {
  ops: number;
  opsPerSec: number;
  latency: LatencySummary;
  /** What one latency sample covers. */
  per: 'op' | 'batch';
}

interface ChildResult {
  row: string;
  load: Phase;
  settle: string;
  /** Keyed `get@1000`, ..., `getMany`, `put@1000`, ..., `putMany`; gets of peers: `get` (a synchronous call). */
  phases: Record<string, Phase>;
  misses: number;
  mismatches: number;
  describe: string;
  maxRssBytes: number;
}

async function child(args: Args): Promise<void> {
  const { row: id, dir } = args.child!;
  const row = plan({ ...args, rows: undefined }).find((r) => r.id === id);
  if (row === undefined) throw new Error(`no row ${id}`);
  const subject = await openSubject(row.subject, {
    dir,
    sync: row.sync,
    shards: row.shards,
    n: row.n,
    r: row.r,
    w: row.w,
    dataBytes: args.keys * (KEY_BYTES + VALUE_BYTES),
  });
  const values = new ValuePool(VALUE_BYTES, args.seed);
  const keys = args.keys;
  const budgetMs = args.seconds * 1000;
  const check = { misses: 0, mismatches: 0 };

  const load = await manyPhase(keys, Infinity, (i, ks, vs) => {
    for (let k = 0; k < ks.length; k++) {
      const j = i + k;
      ks[k] = keyOf(j);
      vs[k] = values.valueOf(j);
    }
    return subject.putMany(ks, vs);
  });
  const settle = await subject.settle();
  globalThis.gc?.();

  const phases: Record<string, Phase> = {};
  let seed = args.seed;
  const getOne = (j: number, result: unknown): void => {
    const v = subject.valueOf(result);
    if (v === undefined) check.misses++;
    else if (j % CHECK_STRIDE === 0 && !values.matches(j, v)) check.mismatches++;
  };
  if (subject.getSync !== undefined) {
    const getSync = subject.getSync;
    const perm = new Permutation(keys, ++seed);
    phases['get'] = await syncPhase(keys, budgetMs, (i) => {
      const j = perm.at(i);
      getOne(j, getSync(keyOf(j)));
    });
  } else {
    for (const c of IN_FLIGHT) {
      const perm = new Permutation(keys, ++seed);
      phases[`get@${c}`] = await closedLoop(c, keys, budgetMs, async (i) => {
        const j = perm.at(i);
        getOne(j, await subject.get(keyOf(j)));
      });
    }
  }
  {
    const perm = new Permutation(keys, ++seed);
    phases['getMany'] = await manyPhase(keys, budgetMs, async (i, ks) => {
      for (let k = 0; k < ks.length; k++) ks[k] = keyOf(perm.at(i + k));
      const results = await subject.getMany(ks);
      for (let k = 0; k < results.length; k++) getOne(perm.at(i + k), results[k]);
    });
  }
  for (const c of IN_FLIGHT) {
    const perm = new Permutation(keys, ++seed);
    phases[`put@${c}`] = await closedLoop(c, keys, budgetMs, (i) => {
      const j = perm.at(i);
      return subject.put(keyOf(j), values.valueOf(j));
    });
  }
  {
    const perm = new Permutation(keys, ++seed);
    phases['putMany'] = await manyPhase(keys, budgetMs, (i, ks, vs) => {
      for (let k = 0; k < ks.length; k++) {
        const j = perm.at(i + k);
        ks[k] = keyOf(j);
        vs[k] = values.valueOf(j);
      }
      return subject.putMany(ks, vs);
    });
  }
  const describe = await subject.describe();
  await subject.close();
  const result: ChildResult = {
    row: id, load, settle, phases, ...check, describe,
    maxRssBytes: process.resourceUsage().maxRSS * 1024,
  };
  process.stdout.write(`${RESULT_MARKER}${JSON.stringify(result)}\n`);
}

/** Cost of timing one op (two performance.now() calls), subtracted from every sample. */
function timerOverheadNs(): number {
  const s = new LatencySampler(10_000);
  for (let i = 0; i < 10_000; i++) {
    const t0 = performance.now();
    s.add((performance.now() - t0) * 1e6);
  }
  return s.summary().p50Ns;
}

/**
 * `c` callers each awaiting `op(i)` then starting the next, until `maxOps` ops or `budgetMs`.
 * Every SAMPLE_STRIDE-th op is timed from its call to its completion.
 */
async function closedLoop(c: number, maxOps: number, budgetMs: number, op: (i: number) => Promise<unknown>): Promise<Phase> {
  const sampler = new LatencySampler(Math.ceil(maxOps / SAMPLE_STRIDE) + c, timerOverheadNs());
  let next = 0;
  let stop = false;
  const start = performance.now();
  const deadline = start + budgetMs;
  const caller = async (): Promise<void> => {
    while (!stop) {
      const i = next++;
      if (i >= maxOps) {
        stop = true;
        return;
      }
      if (i % SAMPLE_STRIDE === 0) {
        const t0 = performance.now();
        await op(i);
        const t1 = performance.now();
        sampler.add((t1 - t0) * 1e6);
        if (t1 > deadline) stop = true;
      } else {
        await op(i);
      }
    }
  };
  const callers: Promise<void>[] = [];
  for (let k = 0; k < c; k++) callers.push(caller());
  await Promise.all(callers);
  const seconds = (performance.now() - start) / 1000;
  const ops = Math.min(next, maxOps);
  return { ops, opsPerSec: ops / seconds, latency: sampler.summary(), per: 'op' };
}

/** A synchronous call per op (the peers' gets), yielding to the event loop every 1000. */
async function syncPhase(maxOps: number, budgetMs: number, op: (i: number) => void): Promise<Phase> {
  const sampler = new LatencySampler(Math.ceil(maxOps / SAMPLE_STRIDE) + 1, timerOverheadNs());
  const start = performance.now();
  const deadline = start + budgetMs;
  let i = 0;
  while (i < maxOps) {
    if (i % SAMPLE_STRIDE === 0) {
      const t0 = performance.now();
      op(i);
      sampler.add((performance.now() - t0) * 1e6);
    } else {
      op(i);
    }
    i++;
    if (i % 1000 === 0) {
      if (performance.now() > deadline) break;
      await new Promise((resolve) => setImmediate(resolve));
    }
  }
  const seconds = (performance.now() - start) / 1000;
  return { ops: i, opsPerSec: i / seconds, latency: sampler.summary(), per: 'op' };
}

/** Calls of MANY keys at a time, one after the other; every call is timed. */
async function manyPhase(
  maxOps: number,
  budgetMs: number,
  call: (first: number, keys: Uint8Array[], values: Uint8Array[]) => Promise<unknown> | unknown,
): Promise<Phase> {
  const sampler = new LatencySampler(Math.ceil(maxOps / MANY) + 1, timerOverheadNs());
  const start = performance.now();
  const deadline = start + budgetMs;
  let i = 0;
  while (i < maxOps && performance.now() < deadline) {
    const n = Math.min(MANY, maxOps - i);
    const keys = new Array<Uint8Array>(n);
    const values = new Array<Uint8Array>(n);
    const t0 = performance.now();
    await call(i, keys, values);
    sampler.add((performance.now() - t0) * 1e6);
    i += n;
  }
  const seconds = (performance.now() - start) / 1000;
  return { ops: i, opsPerSec: i / seconds, latency: sampler.summary(), per: 'batch' };
}

// ---- parent: run every row in a child, report --------------------------------------------

interface RowResult {
  row: Row;
  result?: ChildResult;
  error?: string;
}

async function parent(args: Args): Promise<void> {
  const rows = plan(args);
  const command = ['node --expose-gc dist/bench/engine.js', ...args.forwarded].join(' ');
  const machine = machineInfo();
  const date = new Date().toISOString();
  const results: RowResult[] = [];
  for (const [k, row] of rows.entries()) {
    process.stderr.write(`[${k + 1}/${rows.length}] ${row.id} ... `);
    const r = await runChild(args, row);
    results.push(r);
    const p = r.result?.phases;
    process.stderr.write(
      r.result === undefined
        ? `error: ${r.error ?? ''}\n`
        : `load ${formatOps(r.result.load.opsPerSec)}/s; get ${formatOps((p?.['get@1000'] ?? p?.['get'])?.opsPerSec ?? 0)}/s; put@1000 ${formatOps(p?.['put@1000']?.opsPerSec ?? 0)}/s\n`,
    );
  }
  const body = report(args, results, { command, date, machine });
  const title = `## Embedded store${args.quick ? ' (quick)' : ''}`;
  console.log(`${title}\n\n${body}\n`);
  if (args.write) {
    const path = fileURLToPath(new URL('../../BENCHMARKS.md', import.meta.url));
    writeSection(path, `engine${args.quick ? '-quick' : ''}`, `${title}\n\n${body}`);
    console.error(`wrote the section to ${path}`);
  }
  if (results.some((r) => r.result === undefined || r.result.misses > 0 || r.result.mismatches > 0)) process.exitCode = 1;
}

let current: { kill: () => void; dir: string } | undefined;

async function runChild(args: Args, row: Row): Promise<RowResult> {
  const dir = mkdtempSync(join(os.tmpdir(), `ringkv-engine-bench-${row.subject}-`));
  const script = fileURLToPath(import.meta.url);
  const execArgv = process.execArgv.includes('--expose-gc') ? process.execArgv : [...process.execArgv, '--expose-gc'];
  const argv = [...execArgv, script, ...args.forwarded.filter((f) => f !== '--write'), '--child', row.id, '--dir', dir];
  const proc = spawn(process.execPath, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    proc.kill('SIGKILL');
  }, CHILD_TIMEOUT_MS);
  current = { kill: () => proc.kill('SIGKILL'), dir };
  let stdout = '';
  let stderr = '';
  proc.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  proc.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const code = await new Promise<number | null>((resolve) => proc.on('close', (c) => resolve(c)));
  clearTimeout(timer);
  current = undefined;
  rmSync(dir, { recursive: true, force: true });
  const line = stdout.split('\n').find((l) => l.startsWith(RESULT_MARKER));
  if (line !== undefined && code === 0) return { row, result: JSON.parse(line.slice(RESULT_MARKER.length)) as ChildResult };
  const reported = stdout.split('\n').find((l) => l.startsWith(ERROR_MARKER));
  const detail = reported !== undefined
    ? (JSON.parse(reported.slice(ERROR_MARKER.length)) as string).split('\n').slice(0, 2).join(' / ')
    : stderr.trim().split('\n').filter((l) => l.trim() !== '').slice(-3).join(' / ');
  return { row, error: `${timedOut ? 'timed out' : `exit ${code}`}${detail ? `: ${detail}` : ''}` };
}

// ---- report --------------------------------------------------------------------------------

function report(args: Args, results: RowResult[], info: { command: string; date: string; machine: MachineInfo }): string {
  const lines = [
    `- Command: \`${info.command}\``,
    `- Date: ${info.date}`,
    `- Machine: ${describeMachine(info.machine)}`,
    `- Data: ${formatCount(args.keys)} keys of ${KEY_BYTES} bytes (hex digits of a counter), ${VALUE_BYTES}-byte seeded random values, loaded with putMany(${MANY}) (peers: ${MANY} puts / one batch), then settled; every row is a fresh child process and data directory.`,
    `- Each cell: ops/s, then p50 / p99 latency. Gets and puts at 1000, 256, 16 and 1 requests in flight (that many callers each awaiting its request, then issuing the next), random keys; many = getMany/putMany(${MANY}) one call at a time, latency per call of ${MANY} keys. Puts overwrite loaded keys. A phase ends after ${args.seconds} s or ${formatCount(args.keys)} ops. Every ${SAMPLE_STRIDE}th op is timed; every ${CHECK_STRIDE}th get's value is checked.`,
    `- ringkv: \`open({ shards, n, r, w, storage: { syncMode } })\` with default engine options (64 MiB memtable, 128 MiB block cache per shard); N=3 rows use R=2, W=2 and need 3+ shards. lmdb: \`get()\` (synchronous), \`put()\` (asynchronous, auto-batched per event turn). classic-level: \`getSync()\`, \`await put()\`, \`batch()\`. A peer's get is a synchronous call: "requests in flight" does not apply, so it has one column (sync).`,
    `- Sync: ringkv \`batch\` = WAL fsynced per shard batch (group commit) before the reply; lmdb ${syncLabel('lmdb', 'batch')} / ${syncLabel('lmdb', 'none')}; level ${syncLabel('level', 'batch')} / ${syncLabel('level', 'none')}.`,
    '',
    '### Gets',
    '',
    table(results, ['get@1000', 'get@256', 'get@16', 'get@1', 'getMany'], ['1000 in flight', '256', '16', '1', `getMany(${MANY})`]),
    '',
    '### Puts',
    '',
    table(results, ['load', 'put@1000', 'put@256', 'put@16', 'put@1', 'putMany'], ['load (many, inserts)', '1000 in flight', '256', '16', '1', `putMany(${MANY})`]),
    '',
    '### Targets (issue)',
    '',
    targets(results),
    '',
    '### Notes',
    '',
    ...results.map((r) =>
      r.result === undefined
        ? `- ${r.row.id}: error: ${r.error ?? ''}`
        : `- ${r.row.id}: settle: ${r.result.settle}; after: ${r.result.describe}; peak RSS ${(r.result.maxRssBytes / 2 ** 20).toFixed(0)} MiB${r.result.misses + r.result.mismatches > 0 ? `; ${r.result.misses} misses, ${r.result.mismatches} wrong values!` : ''}`,
    ),
  ];
  return lines.join('\n');
}

function label(row: Row): string {
  if (row.subject !== 'ringkv') return `${row.subject} | - | - | ${syncLabel(row.subject, row.sync)}`;
  return `ringkv | ${row.shards} | N=${row.n}${row.n > 1 ? `/R=${row.r}/W=${row.w}` : ''} | ${syncLabel(row.subject, row.sync)}`;
}

function cell(p: Phase | undefined): string {
  if (p === undefined) return '';
  return `${formatOps(p.opsPerSec)} · ${formatNs(p.latency.p50Ns)} / ${formatNs(p.latency.p99Ns)}`;
}

function phaseOf(r: RowResult, key: string): Phase | undefined {
  if (r.result === undefined) return undefined;
  if (key === 'load') return r.result.load;
  // A peer's get is a synchronous call: shown as its "1 in flight".
  return r.result.phases[key] ?? (key === 'get@1' ? r.result.phases['get'] : undefined);
}

function table(results: RowResult[], keys: string[], heads: string[]): string {
  const out = [`| engine | shards | replication | sync | ${heads.join(' | ')} |`, `|---|---:|---|---|${heads.map(() => '---:').join('|')}|`];
  for (const r of results) {
    if (r.result === undefined) {
      out.push(`| ${label(r.row)} | error: ${(r.error ?? '').replace(/\|/g, '/').slice(0, 100)} |${heads.slice(1).map(() => ' |').join('')}`);
      continue;
    }
    const sync = r.result.phases['get'] !== undefined;
    const cells = keys.map((k) => {
      const p = phaseOf(r, k);
      if (p === undefined) return '-';
      return cell(p) + (k === 'get@1' && sync ? ' (sync call)' : '');
    });
    out.push(`| ${label(r.row)} | ${cells.join(' | ')} |`);
  }
  return out.join('\n');
}

/** The issue's targets, checked against this run (N=1 figures: the best shard count unless said). */
function targets(results: RowResult[]): string {
  const find = (subject: SubjectName, sync: SyncChoice, shards?: number, n = 1): RowResult[] =>
    results.filter((r) => r.result !== undefined && r.row.subject === subject && r.row.sync === sync && r.row.n === n && (shards === undefined || r.row.shards === shards));
  const ops = (r: RowResult | undefined, key: string): number => (r === undefined ? 0 : phaseOf(r, key)?.opsPerSec ?? 0);
  const best = (rows: RowResult[], key: string): RowResult | undefined => rows.slice().sort((a, b) => ops(b, key) - ops(a, key))[0];
  const lines = ['| target | measured | met |', '|---|---|---|'];
  const add = (what: string, measured: string, ok: boolean | undefined): void => {
    lines.push(`| ${what} | ${measured} | ${ok === undefined ? 'n/a' : ok ? 'yes' : 'no'} |`);
  };
  const ringNone = find('ringkv', 'none');
  const lmdbNone = find('lmdb', 'none')[0];
  const g = best(ringNone, 'get@1000');
  add('gets >= 0.5M/s at 1000 in flight (N=1, none)', g ? `${formatOps(ops(g, 'get@1000'))}/s (${g.row.shards} shards)` : '-', g ? ops(g, 'get@1000') >= 5e5 : undefined);
  const lg = lmdbNone ? ops(lmdbNone, 'get@1') : 0;
  add('gets >= 1.5x lmdb get', g && lg > 0 ? `${(ops(g, 'get@1000') / lg).toFixed(2)}x (lmdb ${formatOps(lg)}/s)` : '-', g && lg > 0 ? ops(g, 'get@1000') >= 1.5 * lg : undefined);
  const m = best(ringNone, 'getMany');
  add('getMany >= 1M keys/s', m ? `${formatOps(ops(m, 'getMany'))} keys/s (${m.row.shards} shards)` : '-', m ? ops(m, 'getMany') >= 1e6 : undefined);
  const p = best(ringNone, 'put@1000');
  add('puts >= 0.3M/s at 1000 in flight', p ? `${formatOps(ops(p, 'put@1000'))}/s (${p.row.shards} shards)` : '-', p ? ops(p, 'put@1000') >= 3e5 : undefined);
  const lp = lmdbNone ? ops(lmdbNone, 'put@1000') : 0;
  add('puts >= 1x lmdb auto-batched put (1000 in flight)', p && lp > 0 ? `${(ops(p, 'put@1000') / lp).toFixed(2)}x (lmdb ${formatOps(lp)}/s)` : '-', p && lp > 0 ? ops(p, 'put@1000') >= lp : undefined);
  for (const r of ringNone) {
    const get1 = phaseOf(r, 'get@1');
    const put1 = phaseOf(r, 'put@1');
    if (get1 === undefined || put1 === undefined) continue;
    const ok = get1.latency.p50Ns <= 10e3 && get1.latency.p99Ns <= 50e3 && put1.latency.p50Ns <= 10e3 && put1.latency.p99Ns <= 50e3;
    add(
      `1 in flight p50 <= 10 µs, p99 <= 50 µs (${r.row.shards} shards${r.row.shards > os.availableParallelism() ? ', more than cores' : ''}, N=1)`,
      `get ${formatNs(get1.latency.p50Ns)} / ${formatNs(get1.latency.p99Ns)}; put ${formatNs(put1.latency.p50Ns)} / ${formatNs(put1.latency.p99Ns)}`,
      ok,
    );
  }
  for (const r3 of find('ringkv', 'none', undefined, 3)) {
    const r1 = find('ringkv', 'none', r3.row.shards, 1)[0];
    for (const key of ['get@1000', 'put@1000']) {
      const a = ops(r3, key);
      const b = ops(r1, key);
      add(`N=3/W=2 >= 40% of N=1 (${key.replace('@', ' at ')}, ${r3.row.shards} shards)`, b > 0 ? `${((100 * a) / b).toFixed(0)}% (${formatOps(a)} vs ${formatOps(b)})` : '-', b > 0 ? a >= 0.4 * b : undefined);
    }
  }
  return lines.join('\n');
}

// ---- main ----------------------------------------------------------------------------------

process.on('SIGINT', () => {
  current?.kill();
  if (current !== undefined) rmSync(current.dir, { recursive: true, force: true });
  process.exit(130);
});

let parsed: Args;
try {
  parsed = parseArgs(process.argv.slice(2));
} catch (err) {
  console.error((err as Error).message);
  process.exit(2);
}
if (parsed.child === undefined) {
  await parent(parsed);
} else {
  try {
    await child(parsed);
    process.exit(0);
  } catch (err) {
    process.stdout.write(`${ERROR_MARKER}${JSON.stringify(String((err as Error).stack ?? err))}\n`);
    process.exit(1);
  }
}
