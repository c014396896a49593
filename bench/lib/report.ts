// Runs on: main thread of the bench parent process. Turns results into markdown, and writes
// them into BENCHMARKS.md as sections that a later run with the same flags replaces.

import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { MAPPING_NOTES, methodLabel, syncLabel, type EngineName } from './adapters.js';
import { describeMachine, type MachineInfo } from './machine.js';
import type { Scenario } from './plan.js';
import { formatBytes, formatCount, formatNs, formatOps } from './stats.js';
import { SAMPLE_STRIDE, type ChildResult } from './workloads.js';

export interface Row {
  scenario: Scenario;
  engine: EngineName;
  result?: ChildResult;
  error?: string;
  /** Peak RSS of the child, sampled by the parent from /proc every 100 ms. */
  sampledPeakRssBytes: number;
  /** Peak of its anonymous part (RssAnon: not file pages mapped by lmdb or LevelDB). */
  sampledPeakAnonBytes: number;
  /** The same, per phase the child announced (open, load, settle, gets, close). */
  phasePeakRssBytes: Record<string, number>;
}

export interface RunInfo {
  command: string;
  date: string;
  machine: MachineInfo;
  seed: number;
  compression: 'lz4' | 'none';
  /** Engines asked for but not run, and why. */
  skipped: string[];
  /** Harness cost per random put (key + value generation), by value size. */
  harnessNs: Array<{ valueSize: number; ns: number }>;
}

/** Headroom over memtable + block cache that the large run's peak RSS should stay within. */
export const RSS_HEADROOM_BYTES = 200 * 1e6;

export function header(info: RunInfo): string {
  const lines = [
    `- Command: \`${info.command}\``,
    `- Date: ${info.date}`,
    `- Machine: ${describeMachine(info.machine)}`,
    `- Keys: 16 bytes (hex digits of a counter; "rand" = the counter through a seeded permutation, seed ${info.seed}); values: seeded random bytes (incompressible); ringkv compression ${info.compression}.`,
    `- Every row is a fresh child process and a fresh data directory under ${'`os.tmpdir()`'}, deleted after; rows run scenario by scenario, the engines side by side, so drift hits them alike.`,
    `- ops/s: wall clock over the whole loop (includes generating keys/values and a yield to the event loop every 1000 ops or every batch). Latency: every ${SAMPLE_STRIDE}th single op timed on its own with process.hrtime.bigint() (timer cost subtracted); batch rows time every batch call, so p50/p99 are per batch of 1000.`,
    '- ringkv/peer: ringkv ops/s divided by that peer\'s ops/s in the same scenario (above 1: ringkv is faster). Peak RSS: sampled from /proc every 100 ms by the parent, and `process.resourceUsage().maxRSS` of the child, the larger of the two; anon = its RssAnon part.',
    `- Gets: every key read once in a second random permutation, after loading the set with batched unsynced puts and settling (see notes); each row checks that no get misses and that sampled values match.`,
    `- Harness alone (permutation + key + value view, no engine): ${info.harnessNs.map((h) => `${formatNs(h.ns)}/put at ${h.valueSize} B`).join(', ')}.`,
    ...MAPPING_NOTES.map((n) => `- ${n}`),
  ];
  for (const s of info.skipped) lines.push(`- Not run: ${s}`);
  return lines.join('\n');
}

export function standardTable(rows: readonly Row[]): string {
  const out = [
    '| workload | values | ops | memtable / cache | engine | call | sync | ops/s | p50 | p99 | latency per | ringkv/peer | peak RSS |',
    '|---|---|---:|---|---|---|---|---:|---:|---:|---|---:|---:|',
  ];
  for (const row of rows) {
    const s = row.scenario;
    if (s.kind === 'large') continue;
    const r = row.result;
    const workload =
      s.kind === 'get' ? `get ${s.order}` : `put ${s.order}, ${s.batch === 1 ? 'single' : `batch ${s.batch}`}`;
    const ops = s.kind === 'get' ? s.gets : s.keys;
    const call = methodLabel(row.engine, s.kind === 'get' ? 'get' : s.batch === 1 ? 'single' : 'batch');
    const sync = s.kind === 'get' ? `${syncLabel(row.engine, 'none')} (load)` : syncLabel(row.engine, s.sync);
    const sizes = `${formatBytes(s.memtableBytes)} / ${formatBytes(s.blockCacheBytes)}`;
    const cells = [workload, `${s.valueSize} B`, formatCount(ops) + (s.note ? ` (${s.note})` : ''), sizes, row.engine, call, sync];
    if (r === undefined) {
      cells.push(`error: ${oneLine(row.error ?? 'no result')}`, '', '', '', '', '');
    } else {
      const flags = r.misses > 0 || r.mismatches > 0 ? ` (${r.misses} misses, ${r.mismatches} wrong values!)` : '';
      cells.push(
        formatOps(r.main.opsPerSec) + flags,
        formatNs(r.main.latency.p50Ns),
        formatNs(r.main.latency.p99Ns),
        r.main.latencyUnit === 'op' ? 'op' : `batch of ${s.batch}`,
        ratio(rows, row),
        `${formatBytes(Math.max(row.sampledPeakRssBytes, r.maxRssBytes))} (anon ${formatBytes(row.sampledPeakAnonBytes)})`,
      );
    }
    out.push(`| ${cells.join(' | ')} |`);
  }
  return out.join('\n');
}

export function largeTable(rows: readonly Row[]): string {
  const out = [
    '| engine | data | memtable + cache | sync (load) | load (batches of 1000) | load MB/s | gets | get p50 | get p99 | peak RSS (sampled / maxRSS) | of which anon | peak RSS in load / gets | RSS before open | budget + 200 MB | within (RSS / anon) |',
    '|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|',
  ];
  for (const row of rows) {
    const s = row.scenario;
    if (s.kind !== 'large') continue;
    const r = row.result;
    const budget = s.memtableBytes + s.blockCacheBytes;
    const limit = budget + RSS_HEADROOM_BYTES;
    const data = `${formatCount(s.keys)} x ${s.valueSize} B = ${formatBytes(s.dataBytes)} (${(s.dataBytes / budget).toFixed(1)}x budget)`;
    const cells = [row.engine, data, formatBytes(budget), syncLabel(row.engine, s.sync)];
    if (r === undefined || r.load === undefined) {
      cells.push(`error: ${oneLine(row.error ?? 'no result')}`, '', '', '', '', '', '', '', '', '', '');
    } else {
      const peak = Math.max(row.sampledPeakRssBytes, r.maxRssBytes);
      const flags = r.misses > 0 || r.mismatches > 0 ? ` (${r.misses} misses, ${r.mismatches} wrong values!)` : '';
      cells.push(
        `${formatOps(r.load.opsPerSec)} puts/s`,
        (r.load.bytesPerSec / 1e6).toFixed(0),
        `${formatOps(r.main.opsPerSec)}/s x ${formatCount(r.main.ops)}${flags}`,
        formatNs(r.main.latency.p50Ns),
        formatNs(r.main.latency.p99Ns),
        `${formatBytes(row.sampledPeakRssBytes)} / ${formatBytes(r.maxRssBytes)}`,
        formatBytes(row.sampledPeakAnonBytes),
        `${formatBytes(row.phasePeakRssBytes['load'] ?? 0)} / ${formatBytes(row.phasePeakRssBytes['gets'] ?? 0)}`,
        formatBytes(r.baselineRssBytes),
        formatBytes(limit),
        `${within(peak, limit)} / ${within(row.sampledPeakAnonBytes, limit)}`,
      );
    }
    out.push(`| ${cells.join(' | ')} |`);
  }
  return out.join('\n');
}

/** What each engine reported after its read rows: how it settled, its tables, cache hits. */
export function notes(rows: readonly Row[]): string {
  const lines: string[] = [];
  for (const row of rows) {
    const r = row.result;
    if (r === undefined || row.scenario.kind === 'put') continue;
    const load = r.load ? `load ${formatOps(r.load.opsPerSec)} puts/s; ` : '';
    lines.push(`- ${row.scenario.id} ${row.engine}: ${load}settle: ${r.settle}; after gets: ${r.describe || '-'}`);
    if (row.scenario.kind === 'large') {
      const mem = r.memory.map((m) => `after ${m.after} RSS ${formatBytes(m.rssBytes)} (JS heap ${formatBytes(m.heapUsedBytes)}, external ${formatBytes(m.externalBytes)})`);
      lines.push(`  - memory: ${mem.join('; ')}`);
    }
  }
  if (rows.some((r) => r.scenario.kind === 'large' && r.engine === 'lmdb')) {
    lines.push('- RSS counts the file pages a process maps: lmdb maps its whole file and LevelDB maps its tables for reading, so their RSS grows with the data read though the kernel can drop those pages at will. The anon column (RssAnon from /proc) leaves them out; ringkv reads with pread and maps nothing.');
  }
  return lines.join('\n');
}

function within(bytes: number, limit: number): string {
  return bytes <= limit ? 'yes' : `no (+${formatBytes(bytes - limit)})`;
}

function ratio(rows: readonly Row[], row: Row): string {
  if (row.engine === 'ringkv') return '-';
  const mine = row.result?.main.opsPerSec;
  const ours = rows.find((r) => r.engine === 'ringkv' && r.scenario.id === row.scenario.id)?.result?.main.opsPerSec;
  if (mine === undefined || ours === undefined) return 'n/a';
  return `${(ours / mine).toFixed(2)}x`;
}

function oneLine(s: string): string {
  return s.split('\n')[0]?.replace(/\|/g, '/').slice(0, 120) ?? '';
}

const BENCHMARKS_HEADER = `# Benchmarks

Results below are written by the bench scripts with \`--write\`; each section is replaced by
the next run with the same kind of flags. Absolute numbers on the shared dev machine drift by
up to 3x between hours, so compare engines within one section, never across sections.

## How to run

- \`npm run bench:storage -- --quick\`: smoke run of the storage-engine bench (seconds).
- \`npm run bench:storage\`: ringkv's engine against classic-level (LevelDB) and lmdb, 1M keys
  with 100-byte values and 250k with 1 KiB values; single fsynced puts on 20k (~10 minutes).
- \`npm run bench:storage -- --large-only\` (or \`--large\` after the standard rows): data 10x the
  engine's memory budget (4M x 1 KiB, 64 MiB memtable + 256 MiB block cache), reporting load and
  get throughput and peak RSS. Takes minutes; wants ~6.5 GB free under \`os.tmpdir()\` (checked first).
- Other flags: \`--keys N\`, \`--large-keys N\`, \`--only ringkv,level,lmdb\`, \`--compression lz4|none\`,
  \`--seed N\`, \`--write\` (update this file). Keep the machine otherwise idle: the bench runs one
  child process at a time, but other builds on the 2 cores show up in the numbers.
`;

/** Replaces (or appends) the section between this id's markers in BENCHMARKS.md. */
export function writeSection(path: string, id: string, body: string): void {
  const begin = `<!-- bench:${id}:begin -->`;
  const end = `<!-- bench:${id}:end -->`;
  const block = `${begin}\n${body.trim()}\n${end}`;
  let text = existsSync(path) ? readFileSync(path, 'utf8') : BENCHMARKS_HEADER;
  const a = text.indexOf(begin);
  const b = text.indexOf(end);
  if (a >= 0 && b > a) text = text.slice(0, a) + block + text.slice(b + end.length);
  else text = `${text.trimEnd()}\n\n${block}\n`;
  writeFileSync(path, text);
}
