// The issue-17 scenario through the real server (`ringkv start` as a child process, SETs over
// RESP with ioredis, a real restart): 2000 SETs, 8 bytes flipped in the middle of
// shard-0/data's WAL segment. The restart refuses to start with ERR_CORRUPTION naming the
// segment, the offset and how many records follow (not "shard s0 exited while starting");
// `--wal-recovery skip-damaged` starts, logs a warning, answers every key but the damaged
// record's, keeps the segment aside, and /readyz, `ringkv status` and /metrics say it needs repair.
// A torn last record is dropped with one info line.
// A flipped byte in a table block answers `-CORRUPTION ...` for its keys, never a wrong value.
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runCli, startServer, type Server } from '../support/cli-harness.js';
import { parseTableFileName } from '../../src/storage/table/sstable-format.js';
import { parseWalFileName } from '../../src/storage/wal/wal-format.js';

const KEYS = 2000;
const dirs: string[] = [];
const servers: Server[] = [];

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'ringkv-walsrv-'));
  dirs.push(dir);
  return dir;
}

/** One shard, N=1, on free ports; periodic sync keeps 2000 SETs quick (stop syncs the WAL). */
function serverArgs(dir: string, ...extra: string[]): string[] {
  return ['--dir', dir, '--port', '0', '--admin-port', '0', '--shards', '1', '--n', '1', '--sync-mode', 'periodic', ...extra];
}

async function start(args: string[]): Promise<Server> {
  const s = await startServer(args);
  servers.push(s);
  return s;
}

function client(port: number): Redis {
  const redis = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: () => null });
  redis.on('error', () => {});
  return redis;
}

const value = (i: number) => `value-${i}-${'y'.repeat(i % 40)}`;

test.after(async () => {
  await Promise.all(servers.map((s) => s.stop('SIGKILL')));
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** Runs a server, SETs key:0..KEYS-1 one by one, stops it cleanly; returns the WAL segment's path. */
async function filledDir(): Promise<{ dir: string; log: string }> {
  const dir = tempDir();
  const s = await start(serverArgs(dir));
  const redis = client(s.respPort);
  await redis.connect();
  for (let i = 0; i < KEYS; i++) assert.is(await redis.set(`key:${i}`, value(i)), 'OK');
  redis.disconnect();
  assert.is((await s.stop('SIGTERM')).code, 0);
  const data = join(dir, 'shard-0', 'data');
  const logs = readdirSync(data).filter((n) => parseWalFileName(n) !== undefined && readFileSync(join(data, n)).length > 0);
  assert.is(logs.length, 1, `one WAL segment with the SETs: ${readdirSync(data)}`);
  return { dir, log: join(data, logs[0]!) };
}

/** How many of the keys answer their value; fails on a wrong value. */
async function countKeys(port: number): Promise<number> {
  const redis = client(port);
  await redis.connect();
  const pipeline = redis.pipeline();
  for (let i = 0; i < KEYS; i++) pipeline.get(`key:${i}`);
  const answers = (await pipeline.exec()) ?? [];
  redis.disconnect();
  let found = 0;
  answers.forEach(([err, v], i) => {
    assert.is(err, null);
    if (v === null) return;
    assert.is(v, value(i), `key:${i}`);
    found++;
  });
  return found;
}

test('8 bytes flipped in the middle of the WAL: the server refuses to start with ERR_CORRUPTION; --wal-recovery skip-damaged starts, keeps the rest, keeps the segment aside', async () => {
  const { dir, log } = await filledDir();
  const bytes = readFileSync(log);
  const mid = Math.floor(bytes.length / 2);
  for (let i = 0; i < 8; i++) bytes[mid + i]! ^= 0xff;
  writeFileSync(log, bytes);

  const refused = await runCli(['start', ...serverArgs(dir)]);
  assert.is.not(refused.code, 0);
  assert.match(refused.stderr, /ERR_CORRUPTION/);
  assert.ok(refused.stderr.includes(log), `names the segment: ${refused.stderr}`);
  assert.match(refused.stderr, /offset \d+ with \d+ valid records after it/);
  assert.match(refused.stderr, /--wal-recovery skip-damaged/);
  assert.not.match(refused.stderr, /exited while starting/);
  assert.ok(existsSync(log), 'the refused start left the segment in place');

  const s = await start(serverArgs(dir, '--wal-recovery', 'skip-damaged'));
  const found = await countKeys(s.respPort);
  assert.ok(found >= KEYS - 2 && found < KEYS, `every key but the damaged record's answers (${found} of ${KEYS})`);
  const warning = s.output().stdout.split('\n').filter((l) => l.includes('WAL recovery') && l.includes('skipped'));
  assert.is(warning.length, 1, s.output().stdout);
  assert.is(JSON.parse(warning[0]!).level, 40, 'logged as a warning');
  // readyz, ringkv status and /metrics say the shard needs repair.
  assert.is((await fetch(`http://127.0.0.1:${s.adminPort}/readyz`)).status, 503);
  const status = await runCli(['status', '--admin', `http://127.0.0.1:${s.adminPort}`]);
  assert.match(status.stdout, /Repair: s0 skipped damaged WAL records/);
  assert.match(await (await fetch(`http://127.0.0.1:${s.adminPort}/metrics`)).text(), /ringkv_shard_recovery_needs_repair\{shard="s0",engine="data"\} 1/);
  assert.is((await s.stop('SIGTERM')).code, 0);
  assert.ok(existsSync(`${log}.damaged`), 'the damaged segment is kept aside');

  // Strict again: a clean start with the same keys.
  const again = await start(serverArgs(dir));
  assert.is(await countKeys(again.respPort), found);
  assert.is((await again.stop('SIGTERM')).code, 0);
});

test('the last record torn: the server starts, keeps the earlier records and logs one info line', async () => {
  const { dir, log } = await filledDir();
  truncateSync(log, readFileSync(log).length - 5);
  const s = await start(serverArgs(dir));
  assert.is(await countKeys(s.respPort), KEYS - 1);
  const lines = s.output().stdout.split('\n').filter((l) => l.includes('WAL recovery'));
  assert.is(lines.length, 1, s.output().stdout);
  const entry = JSON.parse(lines[0]!) as { level: number; msg: string };
  assert.is(entry.level, 30, 'info');
  assert.ok(entry.msg.includes('torn tail') && entry.msg.includes(log), entry.msg);
  assert.is((await s.stop('SIGTERM')).code, 0);
});

test('a flipped byte in a table block: GET of its keys answers -CORRUPTION, never a wrong value or -QUORUM', async () => {
  const { dir } = await filledDir();
  // A restart moves the WAL into a table.
  const s1 = await start(serverArgs(dir));
  assert.is((await s1.stop('SIGTERM')).code, 0);
  const data = join(dir, 'shard-0', 'data');
  const tables = readdirSync(data).filter((n) => parseTableFileName(n) !== undefined);
  assert.is(tables.length, 1);
  const path = join(data, tables[0]!);
  const bytes = readFileSync(path);
  bytes[40]! ^= 0x10;
  writeFileSync(path, bytes);

  const s = await start(serverArgs(dir));
  const redis = client(s.respPort);
  await redis.connect();
  const pipeline = redis.pipeline();
  for (let i = 0; i < KEYS; i++) pipeline.get(`key:${i}`);
  const answers = (await pipeline.exec()) ?? [];
  redis.disconnect();
  let corrupt = 0;
  answers.forEach(([err, v], i) => {
    if (err !== null) {
      assert.match(String(err.message), /^CORRUPTION /, `key:${i}: ${err.message}`);
      corrupt++;
    } else {
      assert.is(v, value(i), `key:${i}`);
    }
  });
  assert.ok(corrupt > 0 && corrupt < KEYS, `the damaged block's keys answer -CORRUPTION (${corrupt})`);
  assert.is((await s.stop('SIGTERM')).code, 0);
});

test.run();
