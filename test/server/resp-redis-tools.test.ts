// redis-cli and redis-benchmark (Debian's redis-tools) against the server. Skipped only
// when the binaries are not on PATH (CI installs redis-tools).
import { execFile } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type Harness, startHarness } from './resp-harness.js';

function onPath(name: string): boolean {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    try {
      accessSync(join(dir, name), constants.X_OK);
      return true;
    } catch {
      // not in this directory
    }
  }
  return false;
}

/** Runs a tool without blocking this process's event loop (the server runs in it). */
function run(file: string, args: string[], timeoutMs = 120_000): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1;
      resolve({ code, stdout, stderr });
    });
  });
}

const haveCli = onPath('redis-cli');
const haveBenchmark = onPath('redis-benchmark');
let h: Harness;

test.before(async () => {
  h = await startHarness({ store: { shards: 2, n: 1, r: 1, w: 1 } });
});

test.after(async () => {
  await h.close();
});

const cli = async (...args: string[]) => {
  const r = await run('redis-cli', ['-p', String(h.port), ...args]);
  assert.is(r.code, 0, r.stderr);
  return r.stdout.trimEnd();
};

test('redis-cli one-shot commands', async () => {
  if (!haveCli) return console.log('  (skipped: redis-cli is not on PATH)');
  assert.is(await cli('PING'), 'PONG');
  assert.is(await cli('SET', 'cli', 'hello world'), 'OK');
  assert.is(await cli('GET', 'cli'), 'hello world');
  assert.is(await cli('INCR', 'cli-n'), '1');
  assert.is(await cli('MSET', 'a', '1', 'b', '2'), 'OK');
  assert.is(await cli('MGET', 'a', 'b'), '1\n2');
  assert.is(await cli('DEL', 'a', 'b', 'c'), '2');
  assert.is(await cli('VSET', 'cli-v', 'x').then((s) => typeof s), 'string');
  assert.match(await cli('VGET', 'cli-v'), /\nx$/);
  assert.match(await cli('INFO', 'server'), /redis_version:/);
  assert.is(await cli('-3', 'GET', 'cli'), 'hello world');
  assert.match(await cli('NOSUCH'), /ERR unknown command/);
});

test('redis-cli with a password (-a) against requirepass', async () => {
  if (!haveCli) return console.log('  (skipped: redis-cli is not on PATH)');
  const locked = await startHarness({ server: { requirepass: 'pw' } });
  try {
    const ok = await run('redis-cli', ['-p', String(locked.port), '--no-auth-warning', '-a', 'pw', 'PING']);
    assert.is(ok.stdout.trim(), 'PONG');
    const denied = await run('redis-cli', ['-p', String(locked.port), 'PING']);
    assert.match(denied.stdout + denied.stderr, /NOAUTH/);
  } finally {
    await locked.close();
  }
});

test('redis-benchmark -t ping,set,get,incr,mset completes without an error', async () => {
  if (!haveBenchmark) return console.log('  (skipped: redis-benchmark is not on PATH)');
  const r = await run('redis-benchmark', ['-p', String(h.port), '-t', 'ping,set,get,incr,mset', '-n', '20000', '-q'], 300_000);
  const out = (r.stdout + r.stderr).replace(/\r/g, '\n');
  assert.is(r.code, 0, out);
  assert.not.match(out, /error/i);
  for (const t of ['PING_INLINE', 'PING_MBULK', 'SET', 'GET', 'INCR', 'MSET']) assert.match(out, new RegExp(`${t}[^\\n]*: [\\d.]+ requests per second`));
  // The INCR test increments one key 20000 times from 50 clients: nothing is lost.
  assert.is(await cli('GET', 'counter:__rand_int__'), '20000');
});

test.run();
