// Issue 17's "a table whose block fails its CRC ... is reported, and the shard repairs the
// range from replicas", from the outside: real shard workers, real files, real restarts.
// - N=3: a byte flipped in a data block of s0's only table; without reading a key, s0's own
//   scans (anti-entropy's Merkle build, or the stats sample the store takes at its start and
//   each round) meet the damage, s0 quarantines the table
//   (`<n>.sst.damaged` kept) and marks itself, the exchanges restore every key of the table
//   on s0 and the mark goes; then a read needing all three replicas (R=3) succeeds for every
//   key, and s0's own engine holds them all. With quarantine off (tableDamage 'keep') the
//   same damage survives every anti-entropy round: R=3 reads of its keys keep failing.
// - N=1: nothing to repair from, so the table stays in service: the damaged block's keys
//   answer ERR_CORRUPTION on every read and after a restart, never an older value or
//   not-found; every other key answers its value; stats and /metrics report the table.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { open, type OpenOptions, type Store } from '../../src/index.js';
import { ErrorCode } from '../../src/errors.js';
import { startAdminServer } from '../../src/server/admin/index.js';
import { openEngine, type DamagedTable } from '../../src/storage/index.js';
import { parseTableFileName } from '../../src/storage/table/sstable-format.js';

const enc = new TextEncoder();
const dec = new TextDecoder();
const KEYS = 300;
/** Generous: anti-entropy rounds on a loaded 2-core machine. */
const REPAIR_DEADLINE_MS = 120_000;
const dirs: string[] = [];
const stores: Store[] = [];
test.after(async () => {
  for (const s of stores) await s.close().catch(() => {});
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const key = (i: number) => `key-${String(i).padStart(4, '0')}`;
const value = (i: number) => `value of ${i}`;

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'ringkv-table-quarantine-'));
  dirs.push(d);
  return d;
}

function storeOptions(dir: string, n: number, extra: Partial<OpenOptions> = {}): OpenOptions {
  return { dir, shards: n, n, r: n, w: n, partitions: 8, timeoutMs: 10_000, antiEntropyIntervalMs: 0, storage: { syncMode: 'periodic', compression: 'none' }, ...extra };
}

async function openStore(o: OpenOptions): Promise<Store> {
  const s = await open(o);
  stores.push(s);
  return s;
}

async function closeStore(s: Store): Promise<void> {
  await s.close();
  stores.splice(stores.indexOf(s), 1);
}

/** Writes KEYS keys and closes; opens and closes once more so recovery moves them into one table per shard. */
async function storeWithTable(o: OpenOptions): Promise<void> {
  const store = await openStore(o);
  for (let i = 0; i < KEYS; i++) await store.put(key(i), value(i));
  await closeStore(store);
  await closeStore(await openStore(o));
}

/** Flips a byte inside data block 0 of the only table in `dataDir`; returns the table's name. */
function flipInFirstBlock(dataDir: string): string {
  const tables = readdirSync(dataDir).filter((n) => parseTableFileName(n) !== undefined);
  assert.is(tables.length, 1, `one table in ${dataDir}: ${readdirSync(dataDir)}`);
  const path = join(dataDir, tables[0]!);
  const bytes = readFileSync(path);
  bytes[40]! ^= 0x10;
  writeFileSync(path, bytes);
  return tables[0]!;
}

/** Reads every key at R=`r`: the keys that failed (with their error codes), and any wrong answer. */
async function readAll(store: Store, r: number): Promise<{ failed: Map<number, string>; wrong: string[] }> {
  const failed = new Map<number, string>();
  const wrong: string[] = [];
  for (let i = 0; i < KEYS; i++) {
    try {
      const got = await store.get(key(i), { r });
      const values = got?.values.map((v) => dec.decode(v));
      if (values === undefined || values.length !== 1 || values[0] !== value(i)) wrong.push(`${key(i)}: ${JSON.stringify(values)}`);
    } catch (err) {
      failed.set(i, `${(err as { code?: string }).code}: ${(err as Error).message}`);
    }
  }
  return { failed, wrong };
}

async function shardStats(store: Store, id: string): Promise<{ needsRepair?: boolean; data?: { damagedTables?: DamagedTable[] } }> {
  return ((await store.stats()).shards ?? []).find((s) => (s as { id?: string }).id === id) as never;
}

async function until(what: string, done: () => boolean | Promise<boolean>): Promise<void> {
  const end = Date.now() + REPAIR_DEADLINE_MS;
  while (!(await done())) {
    if (Date.now() > end) assert.unreachable(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('N=3: anti-entropy meets a damaged table block, s0 quarantines the table and is repaired from its replicas without a read', async () => {
  const dir = tempDir();
  await storeWithTable(storeOptions(dir, 3));
  const data = join(dir, 'shard-0', 'data');
  const table = flipInFirstBlock(data);

  const store = await openStore(storeOptions(dir, 3, { antiEntropyIntervalMs: 100 }));
  const repaired: string[] = [];
  store.onRepaired((replica) => repaired.push(replica));
  // No GET before the repair: anti-entropy's own scan of s0 meets the damage.
  await until('s0 quarantined its table and anti-entropy repaired it', () => repaired.includes('s0'));
  assert.ok(existsSync(join(data, `${table}.damaged`)), 'the damaged table is kept aside');
  assert.not.ok(existsSync(join(data, table)), 'and out of service');
  assert.not.ok(existsSync(join(dir, 'shard-0', 'NEEDS_REPAIR')), 'the mark is gone');
  const s0 = await shardStats(store, 's0');
  assert.is(s0.needsRepair, false);
  assert.is(s0.data?.damagedTables?.[0]?.quarantinedAs, join(data, `${table}.damaged`), 'stats name the quarantined table');

  // Every key, each needing all three replicas' answers.
  const { failed, wrong } = await readAll(store, 3);
  assert.equal([...failed.values()].slice(0, 5), [], `${failed.size} R=3 reads failed`);
  assert.equal(wrong.slice(0, 5), [], `${wrong.length} R=3 reads wrong`);
  await closeStore(store);

  // s0's own engine holds every key of the quarantined table again.
  const engine = await openEngine({ dir: data });
  try {
    const missing = [];
    for (let i = 0; i < KEYS; i++) if (engine.get(enc.encode(key(i))) === undefined) missing.push(key(i));
    assert.equal(missing.slice(0, 5), [], `s0 misses ${missing.length} keys`);
  } finally {
    await engine.close();
  }
  assert.ok(existsSync(join(data, `${table}.damaged`)), 'still kept after the restart');
});

test('N=3: a read that meets the damage quarantines the table at once; while s0 is marked, a SCAN walk lists every key from the other replicas', async () => {
  const dir = tempDir();
  await storeWithTable(storeOptions(dir, 3));
  const data = join(dir, 'shard-0', 'data');
  const table = flipInFirstBlock(data);
  const store = await openStore(storeOptions(dir, 3)); // no anti-entropy: the mark stays
  // R=2 reads until s0 has met the damage (the table may already be aside: the store's start
  // reads the shards' stats, whose sample scans s0). Each read succeeds from the others.
  for (let i = 0; i < KEYS && !existsSync(join(data, `${table}.damaged`)); i++) {
    const got = await store.get(key(i), { r: 2 });
    assert.is(dec.decode(got!.values[0]!), value(i));
  }
  assert.ok(existsSync(join(data, `${table}.damaged`)), 'quarantined');
  assert.ok(existsSync(join(dir, 'shard-0', 'NEEDS_REPAIR')), 'marked');
  await until('the store learnt the mark', async () => (await shardStats(store, 's0')).needsRepair === true);
  // s0 holds (almost) nothing now: the walk must not ask it for its partitions.
  const seen = new Set<string>();
  let cursor = '0';
  do {
    const page = await store.scan({ cursor, count: 50 });
    for (const k of page.keys) seen.add(dec.decode(k));
    cursor = page.cursor;
  } while (cursor !== '0');
  const missing = Array.from({ length: KEYS }, (_, i) => key(i)).filter((k) => !seen.has(k));
  assert.equal(missing.slice(0, 5), [], `the walk missed ${missing.length} keys`);
  await closeStore(store);
});

test("N=3 with tableDamage 'keep': the damaged block survives anti-entropy rounds, R=3 reads of its keys keep failing", async () => {
  const dir = tempDir();
  const keep = { storage: { syncMode: 'periodic' as const, compression: 'none' as const, tableDamage: 'keep' as const } };
  await storeWithTable(storeOptions(dir, 3, keep));
  const data = join(dir, 'shard-0', 'data');
  const table = flipInFirstBlock(data);
  const store = await openStore(storeOptions(dir, 3, { ...keep, antiEntropyIntervalMs: 100 }));
  await until('two anti-entropy rounds ran', async () => (await store.stats()).antiEntropy.rounds >= 2);
  const { failed, wrong } = await readAll(store, 3);
  assert.equal(wrong, []);
  assert.ok(failed.size > 0 && failed.size < KEYS, `the damaged block's keys fail (${failed.size})`);
  for (const why of failed.values()) assert.ok(why.startsWith(`${ErrorCode.CORRUPTION}:`) && why.includes(table), why);
  assert.not.ok(existsSync(join(data, `${table}.damaged`)), 'not quarantined');
  assert.is((await shardStats(store, 's0')).needsRepair, false, 'not marked');
  await closeStore(store);
});

test('N=1: the table stays in service, its damaged block\'s keys answer ERR_CORRUPTION on every read and after a restart', async () => {
  const dir = tempDir();
  const o = storeOptions(dir, 1);
  await storeWithTable(o);
  const data = join(dir, 'shard-0', 'data');
  const table = flipInFirstBlock(data);
  let first: Map<number, string> | undefined;
  for (let life = 0; life < 2; life++) {
    const store = await openStore(o);
    const told: string[] = [];
    store.onTableDamage((replica, d) => told.push(`${replica} ${d.table}`));
    for (let pass = 0; pass < 2; pass++) {
      const { failed, wrong } = await readAll(store, 1);
      assert.equal(wrong.slice(0, 5), [], `life ${life} pass ${pass}: ${wrong.length} wrong answers (never an older value or not-found)`);
      assert.ok(failed.size > 0 && failed.size < KEYS, `the damaged block's keys fail (${failed.size})`);
      for (const why of failed.values()) assert.ok(why.startsWith(`${ErrorCode.CORRUPTION}:`) && why.includes(table), why);
      first ??= failed;
      assert.equal([...failed.keys()], [...first.keys()], 'the same keys fail, every time');
    }
    // Told once (the log line of `ringkv start`), learnt at the store's start or after a failed read.
    await until('the store told the damaged table', () => told.length > 0);
    assert.equal(told, [`s0 ${join(data, table)}`]);
    const s0 = await shardStats(store, 's0');
    assert.is(s0.needsRepair, false, 'not marked: nothing could repair it');
    assert.is(s0.data?.damagedTables?.length, 1, 'reported');
    assert.is(s0.data?.damagedTables?.[0]?.table, join(data, table));
    assert.is(s0.data?.damagedTables?.[0]?.quarantinedAs, undefined);
    const admin = await startAdminServer(store, { host: '127.0.0.1', port: 0, draining: () => false });
    try {
      const metrics = await (await fetch(`http://127.0.0.1:${admin.port}/metrics`)).text();
      assert.match(metrics, /ringkv_shard_damaged_tables\{shard="s0",engine="data"\} 1/);
      assert.match(metrics, /ringkv_shard_recovery_needs_repair\{shard="s0",engine="data"\} 0/);
    } finally {
      await admin.close();
    }
    await closeStore(store);
    assert.ok(existsSync(join(data, table)), 'the table stays');
    assert.not.ok(existsSync(join(data, `${table}.damaged`)));
  }
});

test.run();
