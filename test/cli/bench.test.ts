// `ringkv bench` against a RESP server in this process: a line per test with requests per
// second and p50/p99, the writes really land, and an absent server is reported.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { open, type Store } from '../../src/index.js';
import { startRespServer, type RespServer } from '../../src/server/resp/index.js';
import { runCli } from './cli-harness.js';

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
  for (const t of ['SET', 'GET', 'PING']) {
    assert.match(r.stdout, new RegExp(`^${t}: \\d+\\.\\d{2} requests per second, p50=\\d+\\.\\d{3} msec, p99=\\d+\\.\\d{3} msec$`, 'm'));
  }
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

test.run();
