// `ringkv bench` against a RESP server in this process: a line per test with requests per
// second and p50/p99, the writes really land, and an absent server is reported. With
// --embedded <dir>: the same lines from a store the command opens itself, whose keys are
// there when the dir is reopened; and the live progress line.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { open, type Store } from '../../src/index.js';
import { startRespServer, type RespServer } from '../../src/server/resp/index.js';
import { formatProgress, showProgress, TestRun } from '../../src/cli/bench-report.js';
import { takeDirLock } from '../../src/storage/env/dir-lock.js';
import { runCli } from '../support/cli-harness.js';

/** A result line of `ringkv bench`, as redis-benchmark -q prints it plus p50/p99. */
function resultLine(test: string): RegExp {
  return new RegExp(`^${test}: \\d+\\.\\d{2} requests per second, p50=\\d+\\.\\d{3} msec, p99=\\d+\\.\\d{3} msec$`, 'm');
}

const dir = mkdtempSync(join(tmpdir(), 'ringkv-bench-'));
let store: Store;
let server: RespServer;

test.before(async () => {
  store = await open({ dir, shards: 2, storage: { syncMode: 'none' } });
  server = await startRespServer(store, { port: 0, requirepass: 'sekret' });
});

test.after(async () => {
  await server.close();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

test('prints redis-benchmark-like lines with p50/p99 for SET, GET and PING', async () => {
  const r = await runCli(['bench', '-p', String(server.port), '-a', 'sekret', '-c', '4', '-n', '2000', '-P', '4', '-r', '100', '-t', 'set,get,ping']);
  assert.is(r.code, 0, r.stderr);
  for (const t of ['SET', 'GET', 'PING']) assert.match(r.stdout, resultLine(t));
  assert.ok((await store.stats()).puts >= 2000);
});

test('a wrong password and an absent server fail with exit 1', async () => {
  const auth = await runCli(['bench', '-p', String(server.port), '-a', 'wrong', '-c', '1', '-n', '10']);
  assert.is(auth.code, 1);
  assert.match(auth.stderr, 'server answered -');
  const absent = await runCli(['bench', '-p', '1', '-n', '10']);
  assert.is(absent.code, 1);
  assert.match(absent.stderr, 'cannot connect to 127.0.0.1:1');
});

test('--embedded <dir> opens the store itself, prints the same lines, and the keys are there on reopening', async () => {
  const embedded = join(dir, 'embedded');
  const r = await runCli(['bench', '--embedded', embedded, '--shards', '2', '--n', '2', '--w', '1', '--sync-mode', 'batch',
    '-c', '4', '-P', '8', '-n', '600', '-r', '10', '-d', '7', '-t', 'set,get']);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, /^# embedded store in .*: 2 shards, N=2 R=2 W=1, sync-mode batch; 4 callers x 8 in flight/m);
  assert.match(r.stdout, resultLine('SET'));
  assert.match(r.stdout, resultLine('GET'));
  assert.not.match(r.stdout, 'errors');
  // 600 SETs over 10 keys: every key was written (missing one has odds of 10 * 0.9^600).
  const reopened = await open({ dir: embedded, shards: 2, n: 2 });
  try {
    for (let i = 0; i < 10; i++) {
      const read = await reopened.get(`key:${String(i).padStart(12, '0')}`);
      assert.ok(read, `key ${i} is in the store`);
      assert.equal(read!.values.map((v) => Buffer.from(v).toString()), ['xxxxxxx'], 'one value: SET overwrites, no siblings');
    }
  } finally {
    await reopened.close();
  }
});

test('--embedded refuses server flags, PING, flags without --embedded, bad quorums and a locked dir', async () => {
  const embedded = join(dir, 'embedded-bad');
  const cases: [string[], string][] = [
    [['--embedded', embedded, '-p', '6379'], '--port does not apply with --embedded'],
    [['--embedded', embedded, '-t', 'ping'], 'unknown test "ping" (known with --embedded: set, get)'],
    [['--shards', '2'], '--shards applies only with --embedded'],
    [['--embedded', embedded, '--shards', '1', '--n', '2'], 'N (2) cannot exceed the shard count (1)'],
    [['--embedded', embedded, '--sync-mode', 'sometimes'], '--sync-mode: expected one of batch, periodic, none'],
  ];
  for (const [args, message] of cases) {
    const r = await runCli(['bench', ...args]);
    assert.is(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message);
  }
  // A live process holds the dir (this test's own pid stands in for a running server).
  const locked = join(dir, 'embedded-locked');
  await runCli(['bench', '--embedded', locked, '--shards', '1', '-n', '1', '-c', '1', '-t', 'set']);
  const lock = takeDirLock(locked);
  try {
    const r = await runCli(['bench', '--embedded', locked, '-n', '10']);
    assert.is(r.code, 1);
    assert.match(r.stderr, `in use by pid ${process.pid}`);
  } finally {
    lock.release();
  }
});

test('the progress line: rate and mean latency of the last interval and overall, rewritten in place', async () => {
  assert.is(formatProgress('SET', 1234.56, 1000, 0.5, 0.75), 'SET: rps=1234.6 (overall: 1000.0) avg_msec=0.500 (overall: 0.750)');
  const run = new TestRun('GET', 100);
  const written: string[] = [];
  const stop = showProgress(run, { write: (t: string) => written.push(t) });
  for (let i = 0; i < 10; i++) run.record(2, false);
  const deadline = Date.now() + 10_000;
  while (written.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  stop();
  assert.match(written[0]!, /^\r\x1b\[KGET: rps=\d+\.\d \(overall: \d+\.\d\) avg_msec=2\.000 \(overall: 2\.000\)$/);
  assert.is(written[written.length - 1], '\r\x1b[K', 'stopping clears the line');
  assert.equal(run.result().p50Ms, 2);
});

test.run();
