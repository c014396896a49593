// `ringkv start` as a child process: the ready line, clean shutdown under a write load with
// no acknowledged write lost, the data dir lock, and a port already in use.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server as NetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ErrorCode, open, RingkvError } from '../../src/index.js';
import { takeDirLock } from '../../src/storage/env/dir-lock.js';
import { runCli, startServer, type Server } from '../support/cli-harness.js';

const dirs: string[] = [];
const servers: Server[] = [];

/** Whether nobody holds the dir's lock (takes it and lets go at once). */
function lockFree(dir: string): boolean {
  try {
    takeDirLock(dir).release();
    return true;
  } catch {
    return false;
  }
}

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'ringkv-cli-'));
  dirs.push(dir);
  return dir;
}

/** The flags of a small server on free ports in `dir`. */
function serverArgs(dir: string): string[] {
  return ['--dir', dir, '--port', '0', '--admin-port', '0', '--shards', '2', '--memtable-bytes', '256KiB'];
}

async function start(args: string[]): Promise<Server> {
  const s = await startServer(args);
  servers.push(s);
  return s;
}

function client(port: number): Redis {
  const redis = new Redis({
    port,
    host: '127.0.0.1',
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null,
  });
  redis.on('error', () => {});
  return redis;
}

function listen(): Promise<NetServer> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => resolve(s));
  });
}

function portOf(s: NetServer): number {
  const a = s.address();
  if (typeof a !== 'object' || a === null) throw new Error('no address');
  return a.port;
}

test.after(async () => {
  await Promise.all(servers.map((s) => s.stop('SIGKILL')));
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

test('logs a ready line with the ports actually chosen for --port 0 and --admin-port 0', async () => {
  const dir = tempDir();
  const s = await start(serverArgs(dir));
  assert.ok(s.respPort > 0 && s.adminPort > 0);
  assert.match(String(s.ready.msg), `RESP on 127.0.0.1:${s.respPort}`);
  assert.is(readFileSync(join(dir, 'LOCK'), 'utf8').trim(), String(s.child.pid));
  const redis = client(s.respPort);
  await redis.connect();
  assert.is(await redis.set('a', '1'), 'OK');
  assert.is(await redis.get('a'), '1');
  redis.disconnect();
  const r = await s.stop('SIGINT');
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, '"msg":"stopped"');
  assert.ok(lockFree(dir), 'the lock is released');
});

test('--allow-flushdb reaches the server: FLUSHDB answers OK and the keys are gone', async () => {
  const s = await start([...serverArgs(tempDir()), '--allow-flushdb']);
  const redis = client(s.respPort);
  await redis.connect();
  await redis.mset('f1', '1', 'f2', '2');
  assert.equal(await redis.config('GET', 'ringkv-flushdb-enabled'), ['ringkv-flushdb-enabled', 'yes']);
  assert.is(await redis.flushdb(), 'OK');
  assert.equal(await redis.mget('f1', 'f2'), [null, null]);
  redis.disconnect();
  assert.is((await s.stop()).code, 0);
});

test('SIGTERM during a write load exits 0, and every acknowledged SET is readable after a restart', async () => {
  const dir = tempDir();
  const args = serverArgs(dir);
  const s = await start(args);
  const redis = client(s.respPort);
  await redis.connect();
  const acked = new Map<string, string>();
  let running = true;
  const writer = async (w: number): Promise<void> => {
    for (let i = 0; running; i++) {
      const key = `w${w}:${i}`;
      const value = `value-${w}-${i}-${'x'.repeat(i % 200)}`;
      try {
        if ((await redis.set(key, value)) === 'OK') acked.set(key, value);
      } catch {
        return; // the server went away: this write was not acknowledged
      }
    }
  };
  const writers = Array.from({ length: 16 }, (_, w) => writer(w));
  while (acked.size < 300) await sleep(10);
  const result = await s.stop('SIGTERM');
  running = false;
  await Promise.all(writers);
  redis.disconnect();
  assert.is(result.code, 0, `exit ${result.code ?? result.signal}: ${result.stderr}`);
  assert.ok(lockFree(dir));

  const again = await start(args);
  const reader = client(again.respPort);
  await reader.connect();
  const keys = [...acked.keys()];
  const pipeline = reader.pipeline();
  for (const k of keys) pipeline.get(k);
  const answers = (await pipeline.exec()) ?? [];
  let lost = 0;
  keys.forEach((k, i) => {
    if (answers[i]?.[1] !== acked.get(k)) lost++;
  });
  reader.disconnect();
  assert.is(lost, 0, `${lost} of ${keys.length} acknowledged writes lost`);
  assert.is((await again.stop('SIGTERM')).code, 0);
});

test('a cluster node whose seed never answers stays up and says it is not ready (no crash on its timers)', async () => {
  const dir = tempDir();
  const free = [await listen(), await listen()];
  const [deadPort, clusterPort] = free.map(portOf);
  for (const f of free) f.close();
  const s = await startServer(
    [...serverArgs(dir), '--node-id', 'lonely', '--cluster-port', String(clusterPort), '--seeds', `127.0.0.1:${deadPort}`, '--gossip-interval-ms', '100'],
    { RINGKV_CLUSTER_SECRET: 'x' },
  );
  servers.push(s);
  await sleep(6500); // past the first hinted-handoff sweep (5 s) and many gossip rounds
  assert.is(s.child.exitCode, null, `exited: ${s.output().stderr}`);
  const ready = await fetch(`http://127.0.0.1:${s.adminPort}/readyz`);
  assert.is(ready.status, 503);
  assert.match(await ready.text(), /no ring yet/);
  const redis = client(s.respPort);
  await redis.connect();
  await redis.get('k').then(() => assert.unreachable('a node without a ring cannot serve'), (err: Error) => assert.match(err.message, /no ring yet/));
  redis.disconnect();
});

test('a second server on the same dir fails with "data dir in use by pid N"; after kill -9 a restart needs nothing deleted', async () => {
  const dir = tempDir();
  const first = await start(serverArgs(dir));
  const second = await runCli(['start', ...serverArgs(dir)]);
  assert.is(second.code, 1);
  assert.match(second.stderr, `data dir ${dir} in use by pid ${first.child.pid}`);
  assert.match(second.stderr, 'ERR_LOCKED');
  assert.not.match(second.stderr, /remove|delete/i, 'the message never tells the operator to delete the lock');

  // The server crashes: the kernel drops its lock; LOCK (with the dead PID) stays, untouched.
  const killed = await first.stop('SIGKILL');
  assert.is(killed.signal, 'SIGKILL');
  assert.is(readFileSync(join(dir, 'LOCK'), 'utf8').trim(), String(first.child.pid));
  const third = await start(serverArgs(dir));
  assert.is(readFileSync(join(dir, 'LOCK'), 'utf8').trim(), String(third.child.pid));
  assert.is((await third.stop('SIGTERM')).code, 0);
});

test('the server and an embedded open() exclude each other, both ways', async () => {
  const dir = tempDir();
  const s = await start(serverArgs(dir));
  await open({ dir, shards: 2 }).then(
    () => assert.unreachable('open() of a running server\'s dir succeeded'),
    (err: RingkvError) => {
      assert.is(err.code, ErrorCode.LOCKED);
      assert.match(err.message, `in use by pid ${s.child.pid}`);
    },
  );
  assert.is((await s.stop('SIGTERM')).code, 0);

  const db = await open({ dir, shards: 2, antiEntropyIntervalMs: 0 });
  try {
    const refused = await runCli(['start', ...serverArgs(dir)]);
    assert.is(refused.code, 1);
    assert.match(refused.stderr, `ERR_LOCKED: data dir ${dir} in use by pid ${process.pid}`);
    // A cluster node takes the same lock (in start.ts rather than open()).
    const free = await listen();
    const clusterPort = portOf(free);
    free.close();
    const node = await runCli(['start', ...serverArgs(dir), '--node-id', 'n1', '--cluster-port', String(clusterPort), '--seeds', `127.0.0.1:${clusterPort}`], { RINGKV_CLUSTER_SECRET: 'x'.repeat(16) });
    assert.is(node.code, 1);
    assert.match(node.stderr, `in use by pid ${process.pid}`);
  } finally {
    await db.close();
  }
});

test('a RESP or admin port in use fails with a message naming the port and the flag; the lock is released', async () => {
  const taken = await listen();
  const port = portOf(taken);
  try {
    const dir = tempDir();
    const resp = await runCli(['start', '--dir', dir, '--port', String(port), '--admin-port', '0', '--shards', '1']);
    assert.is(resp.code, 1);
    assert.match(resp.stderr, `RESP port ${port} on 127.0.0.1 is already in use`);
    assert.match(resp.stderr, '--port');
    assert.ok(lockFree(dir));

    const admin = await runCli(['start', '--dir', dir, '--port', '0', '--admin-port', String(port), '--shards', '1']);
    assert.is(admin.code, 1);
    assert.match(admin.stderr, `admin port ${port} on 127.0.0.1 is already in use`);
    assert.match(admin.stderr, '--admin-port');
    assert.ok(lockFree(dir));
  } finally {
    await new Promise((resolve) => taken.close(resolve));
  }
});

test.run();
