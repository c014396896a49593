#!/usr/bin/env node
// Runs every built uvu test file (dist/test/**/*.test.js) in its own Node process and
// prints one closing line, `N passed, N failed`, which uvu itself does not print.
//
// A file counts as failed when: its process exits non-zero; its summary's Total differs
// from Passed (uvu exits 0 when a `before` hook throws, leaving tests unrun); it prints no
// summary; it is still running RINGKV_TEST_TIMEOUT_S after it started (default 300); or it
// has not exited 10 s after printing its summary (a leaked worker, socket or timer).
// The default file limit (300 s) is far above any file's run time in the default run (the
// slowest take about a minute on a busy 2-core machine); with RINGKV_LONG=1 it is 1800 s.
//
//   node test/run.mjs [filter]      filter: substring of the test file path
//   RINGKV_TEST_JOBS=2              files run in parallel (default 2)
//   RINGKV_LONG=1                   the long fault, soak and fuzz variants (not the default)
//
// Before the closing line it prints the run's wall time and its slowest files.
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join, relative } from 'node:path';

const ROOT = 'dist/test';
const LONG = process.env.RINGKV_LONG === '1';
const FILE_TIMEOUT_MS = Number(process.env.RINGKV_TEST_TIMEOUT_S ?? (LONG ? 1800 : 300)) * 1000; // long runs: 200+ seeds a file
const EXIT_GRACE_MS = 10_000; // after the summary, a clean test file exits at once
const JOBS = Number(process.env.RINGKV_TEST_JOBS ?? 2);
const filter = process.argv[2] ?? '';
const SLOWEST_SHOWN = 10; // enough to see where the time goes
const runStarted = Date.now();

function testFiles(dir) {
  const out = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...testFiles(path));
    else if (entry.name.endsWith('.test.js')) out.push(path);
  }
  return out.sort();
}

function runFile(file) {
  return new Promise((resolve) => {
    const started = Date.now();
    const child = spawn(process.execPath, ['--enable-source-maps', file], {
      env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let problem = '';
    let graceTimer;
    const kill = (why) => { problem ||= why; child.kill('SIGKILL'); };
    const fileTimer = setTimeout(() => kill(`timed out after ${FILE_TIMEOUT_MS / 1000} s`), FILE_TIMEOUT_MS);
    const onData = (chunk) => {
      out += chunk;
      if (!graceTimer && /Duration:/.test(out)) {
        graceTimer = setTimeout(() => kill('did not exit after its summary (leaked handle?)'), EXIT_GRACE_MS);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', (chunk) => { out += chunk; });
    child.on('close', (code, signal) => {
      clearTimeout(fileTimer);
      clearTimeout(graceTimer);
      const total = Number(/Total:\s+(\d+)/.exec(out)?.[1] ?? NaN);
      const passed = Number(/Passed:\s+(\d+)/.exec(out)?.[1] ?? NaN);
      if (!problem && Number.isNaN(total)) problem = 'printed no summary';
      if (!problem && code !== 0) problem = `exited with ${signal ?? code}`;
      if (!problem && total !== passed) problem = `${total - passed} of ${total} tests did not pass (a throwing hook?)`;
      const ok = Number.isNaN(passed) ? 0 : passed;
      const failed = problem ? Math.max(1, (Number.isNaN(total) ? 1 : total) - ok) : 0;
      resolve({ file, out, problem, passed: ok, failed, seconds: (Date.now() - started) / 1000 });
    });
  });
}

/**
 * The longest files (about 20-60 s each, mostly real clusters) start first, so that the
 * run does not end with one of them alone on a core while the other idles; the rest follow
 * in path order. A file missing here only starts later.
 */
const LONGEST_FIRST = [
  'cluster/process-rmw', 'cluster/process-faults', 'store/wal-recovery-server', 'store/store-contract',
  'cluster/process-membership', 'store/big-values', 'cluster/process-transfer', 'cluster/anti-entropy-shards',
  'cluster/transfer-cli', 'server/dashboard-cluster', 'cluster/table-quarantine-cluster', 'cluster/repair-mark-cluster', 'cli/start', 'cluster/kv-sim',
  'server/dashboard-browser',
];
const rank = (f) => {
  const i = LONGEST_FIRST.findIndex((p) => f.includes(p));
  return i === -1 ? LONGEST_FIRST.length : i;
};
const files = testFiles(ROOT).filter((f) => f.includes(filter)).sort((a, b) => rank(a) - rank(b) || (a < b ? -1 : 1));
const results = [];
let next = 0;
async function worker() {
  while (next < files.length) {
    const file = files[next++];
    const r = await runFile(file);
    results.push(r);
    const name = relative(ROOT, file);
    if (r.problem) {
      process.stdout.write(`\n--- FAIL ${name}: ${r.problem}\n${r.out}\n`);
    } else {
      process.stdout.write(`ok   ${name}  ${r.passed} passed  (${r.seconds.toFixed(1)} s)\n`);
    }
  }
}
await Promise.all(Array.from({ length: Math.max(1, JOBS) }, worker));
const passed = results.reduce((s, r) => s + r.passed, 0);
const failed = results.reduce((s, r) => s + r.failed, 0);
if (files.length === 0) console.log('no test files found under ' + ROOT);
if (results.length > 1) {
  const slowest = [...results].sort((a, b) => b.seconds - a.seconds).slice(0, SLOWEST_SHOWN);
  console.log(`\nslowest files:`);
  for (const r of slowest) console.log(`  ${r.seconds.toFixed(1).padStart(6)} s  ${relative(ROOT, r.file)}`);
}
const wall = (Date.now() - runStarted) / 1000;
console.log(`\n${files.length} files in ${Math.floor(wall / 60)} min ${(wall % 60).toFixed(1)} s wall time, ${JOBS} at a time${LONG ? ' (RINGKV_LONG=1)' : ''}`);
console.log(`\n${passed} passed, ${failed} failed`);
process.exitCode = failed > 0 || files.length === 0 ? 1 : 0;
