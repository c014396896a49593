// Corruption through the store (open(), real shard workers, real files, real restarts):
// - a WAL damaged in the middle makes open() reject with the shard's ERR_CORRUPTION (file,
//   offset, records after it), not "shard s0 exited while starting"; storage.walRecovery
//   'skip-damaged' opens it, keeps every valid record and reports needsRepair in stats,
//   /readyz (503 unless ?exclude=repair) and /metrics;
// - a table block failing its CRC makes a read at N=1 fail with ERR_CORRUPTION, not
//   ERR_QUORUM; at N=3 with the table kept in service (tableDamage 'keep'; the store's default
//   at N>1 quarantines it instead: table-quarantine.test.ts) the read succeeds from the
//   healthy replicas and read repair writes the object to the corrupt one, so a later read
//   needing all three succeeds.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { open, type OpenOptions } from '../../src/index.js';
import { ErrorCode } from '../../src/errors.js';
import { startAdminServer } from '../../src/server/admin/index.js';
import { parseTableFileName } from '../../src/storage/table/sstable-format.js';
import { parseWalFileName } from '../../src/storage/wal/wal-format.js';

const enc = new TextEncoder();
const dec = new TextDecoder();
const KEYS = 300;
/** Reads after the repair may race its REPLICATE: retried until this generous deadline. */
const REPAIR_DEADLINE_MS = 30_000;
const dirs: string[] = [];
test.after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const d = mkdtempSync(`${tmpdir()}/ringkv-corrupt-store-`);
  dirs.push(d);
  return d;
}

const key = (i: number) => `key-${String(i).padStart(4, '0')}`;
const value = (i: number) => `value of ${i}`;

function storeOptions(dir: string, n: number, extra: Partial<OpenOptions> = {}): OpenOptions {
  return { dir, shards: n, n, r: n, w: n, timeoutMs: 10_000, storage: { syncMode: 'periodic', compression: 'none' }, ...extra };
}

/** Writes KEYS keys and closes; opens and closes once more so recovery moves them into a table. */
async function storeWithTable(o: OpenOptions): Promise<void> {
  const store = await open(o);
  for (let i = 0; i < KEYS; i++) await store.put(enc.encode(key(i)), enc.encode(value(i)));
  await store.close();
  await (await open(o)).close();
}

function flipInFirstBlock(dataDir: string): string {
  const tables = readdirSync(dataDir).filter((n) => parseTableFileName(n) !== undefined);
  assert.is(tables.length, 1, `one table in ${dataDir}: ${readdirSync(dataDir)}`);
  const path = `${dataDir}/${tables[0]}`;
  const bytes = readFileSync(path);
  bytes[40]! ^= 0x10; // inside data block 0
  writeFileSync(path, bytes);
  return tables[0]!;
}

test('open() of a store whose WAL is damaged in the middle rejects with the shard\'s ERR_CORRUPTION; skip-damaged opens it and stats report needsRepair', async () => {
  const dir = tempDir();
  const o = storeOptions(dir, 1);
  const store = await open(o);
  for (let i = 0; i < KEYS; i++) await store.put(enc.encode(key(i)), enc.encode(value(i)));
  await store.close();
  const dataDir = `${dir}/shard-0/data`;
  const logs = readdirSync(dataDir).filter((n) => parseWalFileName(n) !== undefined).sort((a, b) => readFileSync(`${dataDir}/${b}`).length - readFileSync(`${dataDir}/${a}`).length);
  const log = `${dataDir}/${logs[0]}`;
  const bytes = readFileSync(log);
  const mid = Math.floor(bytes.length / 2);
  for (let i = 0; i < 8; i++) bytes[mid + i]! ^= 0xff;
  writeFileSync(log, bytes);

  let err: (Error & { code?: string }) | undefined;
  try {
    await (await open(o)).close();
  } catch (e) {
    err = e as Error & { code?: string };
  }
  assert.ok(err !== undefined, 'open() refused');
  assert.is(err.code, ErrorCode.CORRUPTION, err.message);
  assert.ok(err.message.includes(log), `names the segment: ${err.message}`);
  assert.match(err.message, /offset \d+ with \d+ valid records after it/);
  assert.not.match(err.message, /exited while starting/);

  const salvaged = await open({ ...o, storage: { ...o.storage, walRecovery: 'skip-damaged' } });
  try {
    const shards = (await salvaged.stats()).shards as { data: { recovery: { needsRepair: boolean; salvagedRecords: number } } }[];
    assert.is(shards[0]!.data.recovery.needsRepair, true);
    assert.ok(shards[0]!.data.recovery.salvagedRecords > 0);
    let present = 0;
    for (let i = 0; i < KEYS; i++) {
      const got = await salvaged.get(enc.encode(key(i)));
      if (got !== undefined) {
        assert.is(dec.decode(got.values[0]!), value(i));
        present++;
      }
    }
    assert.ok(present >= KEYS - 2, `every key but the damaged record's is kept (${present} of ${KEYS})`);
    // /readyz says the shard needs repair (unless excluded); /metrics exposes it.
    const admin = await startAdminServer(salvaged, { host: '127.0.0.1', port: 0, draining: () => false });
    try {
      const base = `http://127.0.0.1:${admin.port}`;
      const ready = await fetch(`${base}/readyz`);
      const body = await ready.text();
      assert.is(ready.status, 503, body);
      assert.match(body, /\[-\]repair s0 failed: WAL recovery skipped damaged records/);
      assert.is((await fetch(`${base}/readyz?exclude=repair`)).status, 200);
      assert.match(await (await fetch(`${base}/metrics`)).text(), /ringkv_shard_recovery_needs_repair\{shard="s0",engine="data"\} 1/);
    } finally {
      await admin.close();
    }
  } finally {
    await salvaged.close();
  }
  assert.ok(readdirSync(dataDir).includes(`${logs[0]}.damaged`), 'the damaged segment is kept aside');
});

test('a flipped byte in a table block at N=1: reads of its keys fail with ERR_CORRUPTION, never ERR_QUORUM or a wrong value', async () => {
  const dir = tempDir();
  const o = storeOptions(dir, 1);
  await storeWithTable(o);
  const table = flipInFirstBlock(`${dir}/shard-0/data`);
  const store = await open(o);
  let corrupt = 0;
  const wrong: string[] = [];
  try {
    for (let i = 0; i < KEYS; i++) {
      try {
        const got = await store.get(enc.encode(key(i)));
        if (got === undefined || dec.decode(got.values[0]!) !== value(i)) wrong.push(`${key(i)}: ${got === undefined ? 'missing' : dec.decode(got.values[0]!)}`);
      } catch (err) {
        const e = err as Error & { code?: string };
        if (e.code === ErrorCode.CORRUPTION && e.message.includes(table)) corrupt++;
        else wrong.push(`${key(i)} failed with ${e.code}: ${e.message}`);
      }
    }
  } finally {
    await store.close();
  }
  assert.equal(wrong.slice(0, 5), [], `${wrong.length} reads wrong`);
  assert.ok(corrupt > 0 && corrupt < KEYS, `the damaged block's keys fail with ERR_CORRUPTION (${corrupt})`);
});

test('a flipped byte in one replica\'s table at N=3, kept in service: reads succeed from the others, and read repair fixes the corrupt replica', async () => {
  const dir = tempDir();
  const o = storeOptions(dir, 3, { storage: { syncMode: 'periodic', compression: 'none', tableDamage: 'keep' } });
  await storeWithTable(o);
  flipInFirstBlock(`${dir}/shard-0/data`);
  const store = await open(o);
  try {
    // R=3 first: the corrupt replica's keys fail with ERR_CORRUPTION (not ERR_QUORUM).
    const failing: number[] = [];
    for (let i = 0; i < KEYS; i++) {
      try {
        await store.get(enc.encode(key(i)), { r: 3 });
      } catch (err) {
        assert.is((err as { code?: string }).code, ErrorCode.CORRUPTION, String(err));
        failing.push(i);
      }
    }
    assert.ok(failing.length > 0, 'some keys sit in the damaged block of shard s0');
    // R=2: those reads succeed from the healthy replicas; each read repairs s0.
    for (const i of failing) {
      const got = await store.get(enc.encode(key(i)), { r: 2 });
      assert.is(dec.decode(got!.values[0]!), value(i));
    }
    const until = Date.now() + REPAIR_DEADLINE_MS;
    let left = failing;
    while (left.length > 0 && Date.now() < until) {
      const next: number[] = [];
      for (const i of left) {
        try {
          const got = await store.get(enc.encode(key(i)), { r: 3 });
          assert.is(dec.decode(got!.values[0]!), value(i));
        } catch {
          next.push(i);
        }
      }
      left = next;
      if (left.length > 0) await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(left, [], 'after read repair, every replica answers the keys');
    assert.ok((await store.stats()).readRepairs >= failing.length);
  } finally {
    await store.close();
  }
});

test.run();
