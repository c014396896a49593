// redis-py (Debian's python3-redis, installed by .ci/run) against a real `ringkv start`:
// pipeline() with MULTI/EXEC (its default) and without, WATCH through Redis.transaction(),
// and Lock (acquire, release, extend, blocking acquire while another holder has it,
// expiry), as test/server/redis-py-client.py runs them. Skipped when no python3 on PATH
// (or Debian's /usr/bin/python3) can `import redis`.
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startServer, type Server } from '../support/cli-harness.js';

const SCRIPT = fileURLToPath(new URL('../../../test/server/redis-py-client.py', import.meta.url));
/** The whole script's deadline: its checks sleep well under a second each, the rest is a loaded machine. */
const SCRIPT_TIMEOUT_MS = 180_000;

/** A Python that has redis-py: python3 on PATH first, then Debian's own (pyenv may shadow it). */
function pythonWithRedis(): string | undefined {
  for (const python of ['python3', '/usr/bin/python3']) {
    try {
      execFileSync(python, ['-c', 'import redis'], { stdio: 'ignore' });
      return python;
    } catch {
      // not this one
    }
  }
  return undefined;
}

interface Check {
  check: string;
  ok: boolean;
  error?: string;
}

const python = pythonWithRedis();
let server: Server | undefined;
let dir = '';
let results: Map<string, Check> | undefined;

test.before(async () => {
  if (python === undefined) return;
  dir = mkdtempSync(join(tmpdir(), 'ringkv-redis-py-'));
  server = await startServer(['--dir', dir, '--port', '0', '--admin-port', '0', '--shards', '2', '--sync-mode', 'none']);
  const out = await new Promise<string>((resolve, reject) => {
    execFile(python, [SCRIPT, String(server!.respPort)], { timeout: SCRIPT_TIMEOUT_MS }, (err, stdout, stderr) => {
      if (err !== null) reject(new Error(`redis-py-client.py failed: ${err.message}\n${stdout}\n${stderr}`));
      else resolve(stdout);
    });
  });
  results = new Map();
  for (const line of out.split('\n')) {
    if (!line.startsWith('{')) continue;
    const c = JSON.parse(line) as Check;
    results.set(c.check, c);
  }
});

test.after(async () => {
  await server?.stop();
  if (dir !== '') rmSync(dir, { recursive: true, force: true });
});

function expectCheck(name: string): void {
  const c = results!.get(name);
  assert.ok(c !== undefined, `redis-py-client.py printed no result for ${name}`);
  assert.ok(c.ok, `${name} failed:\n${c.error ?? ''}`);
}

const CHECKS: Record<string, string> = {
  pipeline_transaction: 'pipeline() (MULTI/EXEC): replies in order, an error in its place, EXECABORT runs nothing',
  pipeline_plain: 'pipeline(transaction=False): 200 commands, replies in order',
  watch: 'Redis.transaction() retries on WATCH; another connection\'s write aborts EXEC (WatchError)',
  lock_acquire_release: 'Lock: acquire, a rival cannot, release frees it, a rival cannot release it',
  lock_extend: 'Lock: extend adds to the TTL, replace_ttl sets it, reacquire resets it, a released lock cannot extend',
  lock_blocking: 'Lock: a blocking acquire waits for the holder to release, a short blocking_timeout gives up',
  lock_expiry: 'Lock: an expired lock is taken by another, and its first holder cannot release it',
};

for (const [name, title] of Object.entries(CHECKS)) {
  test(`redis-py: ${title}`, () => {
    if (python === undefined) return console.log('  (skipped: no python3 with redis-py; apt-get install python3-redis)');
    expectCheck(name);
  });
}

test.run();
