// `ringkv start` as a real process under memory attacks from raw sockets, its RSS sampled
// from /proc/<pid>/status: the unfinished multibulk of issue 17 (*1000 DEL, then 16 MiB
// bulks that never end the command), the same before AUTH, a client that leaves in the
// middle of a big command (its memory given back). And the admin port on a non-loopback
// address: refused at start without a password; with one, requests need it. A cluster
// secret under 16 bytes warned about at start.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runCli, startServer, type Server } from '../support/cli-harness.js';

const MiB = 1024 * 1024;
/** The loose bound on RSS growth under the attack. */
const RSS_BOUND_BYTES = 256 * MiB;
const dirs: string[] = [];
const servers: Server[] = [];

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'ringkv-mem-'));
  dirs.push(dir);
  return dir;
}

async function start(extra: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<Server> {
  const s = await startServer(['--dir', tempDir(), '--port', '0', '--admin-port', '0', '--shards', '2', '--sync-mode', 'none', ...extra], env);
  servers.push(s);
  return s;
}

function rss(s: Server): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${s.child.pid}/status`, 'utf8'));
  if (m === null) throw new Error('no VmRSS');
  return Number(m[1]) * 1024;
}

/** A raw socket; `text()` is what the server sent, `closed` once it ended the connection. */
interface Raw {
  socket: Socket;
  closed: Promise<void>;
  isClosed(): boolean;
  text(): string;
}

async function raw(port: number): Promise<Raw> {
  const socket = connect({ port, host: '127.0.0.1' });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  let got = '';
  let closed = false;
  socket.on('data', (d: Buffer) => (got += d.toString('latin1')));
  socket.on('error', () => {});
  const whenClosed = new Promise<void>((resolve) => socket.once('close', () => {
    closed = true;
    resolve();
  }));
  return { socket, closed: whenClosed, isClosed: () => closed, text: () => got };
}

/** Writes and waits until the kernel took it (or the socket closed). */
function write(r: Raw, data: Buffer | string): Promise<void> {
  return new Promise((resolve) => {
    if (r.socket.destroyed || r.socket.write(data)) return resolve();
    const done = (): void => {
      r.socket.off('drain', done);
      r.socket.off('close', done);
      resolve();
    };
    r.socket.on('drain', done);
    r.socket.on('close', done);
  });
}

/**
 * Sends `*1000 DEL` and up to `count` bulks of `size` bytes without ever finishing the
 * command, sampling the server's RSS after each bulk; resolves with the highest sample.
 */
async function unfinishedMultibulk(s: Server, r: Raw, count: number, size: number): Promise<number> {
  const bulk = Buffer.alloc(size, 0x61);
  let peak = rss(s);
  await write(r, '*1000\r\n$3\r\nDEL\r\n');
  for (let i = 0; i < count && !r.isClosed(); i++) {
    await write(r, `$${size}\r\n`);
    await write(r, bulk);
    await write(r, '\r\n');
    peak = Math.max(peak, rss(s));
  }
  return peak;
}

async function until(cond: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function stillWorks(port: number, password?: string): Promise<void> {
  const redis = new Redis({ port, host: '127.0.0.1', maxRetriesPerRequest: 0, ...(password === undefined ? {} : { password }) });
  redis.on('error', () => {});
  try {
    assert.is(await redis.set('after', 'ok'), 'OK');
    assert.is(await redis.get('after'), 'ok');
  } finally {
    redis.disconnect();
  }
}

test.after(async () => {
  for (const s of servers) await s.stop('SIGKILL');
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

test('the unfinished multibulk of 16 MiB bulks: skipped unbuffered, closed at client-query-buffer-limit, RSS within +256 MB, others served', async () => {
  const s = await start(['--client-query-buffer-limit', '64MiB']);
  const before = rss(s);
  const r = await raw(s.respPort);
  const peak = await unfinishedMultibulk(s, r, 100, 16 * MiB);
  await r.closed;
  assert.match(r.text(), /^-ERR query buffer limit reached: .*client-query-buffer-limit \(67108864 bytes\)/);
  assert.ok(peak - before <= RSS_BOUND_BYTES, `RSS grew by ${Math.round((peak - before) / MiB)} MiB`);
  await stillWorks(s.respPort);
});

test('an unfinished multibulk of bulks the store could hold: closed at the limit; a client leaving mid-command gives its memory back', async () => {
  const s = await start(['--client-query-buffer-limit', '128MiB']);
  const before = rss(s);
  const over = await raw(s.respPort);
  const peak = await unfinishedMultibulk(s, over, 100, 8 * MiB);
  await over.closed;
  assert.match(over.text(), /^-ERR query buffer limit reached/);
  assert.ok(peak - before <= RSS_BOUND_BYTES, `RSS grew by ${Math.round((peak - before) / MiB)} MiB`);
  // Under the limit, then gone: the 96 MiB it held are released, not left to a later GC.
  const leaver = await raw(s.respPort);
  await unfinishedMultibulk(s, leaver, 12, 8 * MiB);
  await until(() => rss(s) - before >= 80 * MiB, 'the server to hold the leaver\'s input');
  assert.not.ok(leaver.isClosed());
  leaver.socket.destroy();
  await until(() => rss(s) - before < 48 * MiB, `RSS back near ${Math.round(before / MiB)} MiB (now ${Math.round(rss(s) / MiB)} MiB)`);
  await stillWorks(s.respPort);
});

test('before AUTH: the same attack is closed at its header, nothing buffered', async () => {
  const s = await start([], { RINGKV_REQUIREPASS: 'secret-password' });
  const before = rss(s);
  const r = await raw(s.respPort);
  const peak = await unfinishedMultibulk(s, r, 40, 16 * MiB);
  await r.closed;
  assert.is(r.text(), '-ERR Protocol error: unauthenticated multibulk length\r\n');
  assert.ok(peak - before <= RSS_BOUND_BYTES, `RSS grew by ${Math.round((peak - before) / MiB)} MiB`);
  await stillWorks(s.respPort, 'secret-password');
});

test('admin on 0.0.0.0 without a password is refused at start, saying why', async () => {
  const r = await runCli(['start', '--dir', tempDir(), '--port', '0', '--admin-port', '0', '--shards', '1', '--admin-host', '0.0.0.0']);
  assert.is(r.code === 0, false);
  assert.match(r.stdout + r.stderr, /refusing to serve the admin port on 0\.0\.0\.0 without a password/);
});

test('admin on 0.0.0.0 with a password: 401 without it, 200 with it as a bearer token or basic auth; /livez stays open', async () => {
  const s = await start(['--admin-host', '0.0.0.0'], { RINGKV_REQUIREPASS: 'admin-pw' });
  assert.match(s.output().stdout, /the admin port on 0\.0\.0\.0 is not loopback: every request but \/livez and \/readyz needs/);
  const base = `http://127.0.0.1:${s.adminPort}`;
  const plain = await fetch(`${base}/stats`);
  assert.is(plain.status, 401);
  assert.match(plain.headers.get('www-authenticate') ?? '', /^Basic/);
  await plain.body?.cancel();
  const wrong = await fetch(`${base}/metrics`, { headers: { authorization: 'Bearer nope' } });
  assert.is(wrong.status, 401);
  await wrong.body?.cancel();
  const bearer = await fetch(`${base}/stats`, { headers: { authorization: 'Bearer admin-pw' } });
  assert.is(bearer.status, 200);
  await bearer.body?.cancel();
  const basic = await fetch(`${base}/ring`, { headers: { authorization: `Basic ${Buffer.from('ops:admin-pw').toString('base64')}` } });
  assert.is(basic.status, 200);
  await basic.body?.cancel();
  const live = await fetch(`${base}/livez`);
  assert.is(live.status, 200);
  await live.body?.cancel();
  // ringkv status sends the password from the environment.
  const status = await runCli(['status', '--admin', `127.0.0.1:${s.adminPort}`], { RINGKV_REQUIREPASS: 'admin-pw' });
  assert.is(status.code, 0, status.stderr);
  const refused = await runCli(['status', '--admin', `127.0.0.1:${s.adminPort}`], { RINGKV_REQUIREPASS: '' });
  assert.match(refused.stderr, /401/);
});

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

test('a cluster secret shorter than 16 bytes is warned about at start', async () => {
  const s = await start(['--node-id', 'n1', '--cluster-port', String(await freePort())], { RINGKV_CLUSTER_SECRET: 'short' });
  const warning = s.output().stdout.split('\n').find((l) => /cluster secret is shorter than 16 bytes/.test(l));
  assert.ok(warning !== undefined, s.output().stdout);
  assert.not.match(warning!, /short"/, 'the secret itself is not logged');
  await s.stop();
});

test.run();
