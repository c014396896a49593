// kill -9 of `ringkv start` (sync mode batch: fsync before OK) in the middle of a hot-key
// write load: blind writes of one key are no longer serialised behind each other's fsync
// (KeyLocks, INCR at the replica), so many are in flight and group-committed together; none
// acknowledged may be lost. After the restart the counter holds at least the highest
// count an INCR was answered with, and every SET that was answered OK reads its value.
// (kill -9 keeps the page cache: this checks that a reply never leaves before its write
// reached the WAL; fsync discipline itself is the fault Vfs's test in test/storage.)
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startServer, type Server } from '../support/cli-harness.js';

const dirs: string[] = [];
const servers: Server[] = [];

test.after(async () => {
  await Promise.all(servers.map((s) => s.stop('SIGKILL')));
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function client(port: number): Redis {
  const redis = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: () => null });
  redis.on('error', () => {});
  return redis;
}

async function start(dir: string): Promise<Server> {
  const s = await startServer(['--dir', dir, '--port', '0', '--admin-port', '0', '--shards', '2', '--sync-mode', 'batch']);
  servers.push(s);
  return s;
}

test('kill -9 during pipelined INCR and SET of one hot key loses no acknowledged write (batch sync)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ringkv-hotkey-'));
  dirs.push(dir);
  const first = await start(dir);
  const CLIENTS = 8;
  const PIPELINE = 16;
  let maxCount = 0;
  let incrAcks = 0;
  /** SETs answered OK: key -> value (each key is written once). */
  const acked = new Map<string, string>();
  const clients = Array.from({ length: CLIENTS }, () => client(first.respPort));
  await Promise.all(clients.map((c) => c.connect()));
  const loads = clients.map(async (c, ci) => {
    for (let round = 0; ; round++) {
      const p = c.pipeline();
      for (let i = 0; i < PIPELINE; i++) {
        if (i % 2 === 0) p.incr('hot');
        else p.set(`hot:${ci}:${round}:${i}`, `v${ci}.${round}.${i}`);
      }
      let results: [Error | null, unknown][];
      let failed = false;
      try {
        results = (await p.exec())!;
      } catch {
        return; // the connection died with the server
      }
      for (let i = 0; i < results.length; i++) {
        const [err, value] = results[i]!;
        if (err) {
          failed = true; // the server is gone: this client stops (a loop of instant rejections would starve the event loop)
          continue;
        }
        if (i % 2 === 0) {
          incrAcks++;
          maxCount = Math.max(maxCount, value as number);
        } else {
          acked.set(`hot:${ci}:${round}:${i}`, `v${ci}.${round}.${i}`);
        }
      }
      if (failed) return;
    }
  });
  // Let the load run, then kill the server mid-flight (not at a round boundary); each client
  // stops at its first failed command.
  const until = Date.now() + 60_000;
  while (incrAcks < 500 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
  const killed = first.stop('SIGKILL');
  await Promise.all(loads);
  for (const c of clients) c.disconnect();
  assert.is((await killed).signal, 'SIGKILL');
  assert.ok(maxCount >= 500, `the load was answered before the kill (${maxCount})`);

  const second = await start(dir);
  const reader = client(second.respPort);
  await reader.connect();
  try {
    const count = Number(await reader.get('hot'));
    assert.ok(count >= maxCount, `the counter (${count}) holds every acknowledged increment (${maxCount} answered)`);
    const keys = [...acked.keys()];
    for (let i = 0; i < keys.length; i += 500) {
      const slice = keys.slice(i, i + 500);
      const values = await reader.mget(...slice);
      for (let j = 0; j < slice.length; j++) assert.is(values[j], acked.get(slice[j]!), `acknowledged SET ${slice[j]} survived`);
    }
    // Still serving after recovery: the counter moves on from what it holds.
    assert.is(await reader.incr('hot'), count + 1);
  } finally {
    reader.disconnect();
  }
  await second.stop('SIGTERM');
});

test.run();
