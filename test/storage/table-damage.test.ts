// A table block that fails its checksum, met by a get, a scan or a merge (issue 17), in both
// tableDamage modes, on an in-memory Vfs:
// - 'keep': the read fails with ERR_CORRUPTION naming the table, every time; the table stays
//   in service and is reported once (stats().damagedTables, onTableDamage);
// - 'quarantine': the read that meets the damage fails, the table is renamed
//   `<n>.sst.damaged` and dropped from the manifest, and later reads, scans and merges go on
//   without it (older versions from older tables answer); a restart keeps it out and the
//   file aside; a crash between the rename and the manifest write is finished at open.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { testStorageOptions, type StorageOptions } from '../../src/storage/db/options.js';
import { ErrorCode } from '../../src/errors.js';
import { TOKEN_END } from '../../src/hash/index.js';
import { MemoryVfs, openEngine, type DamagedTable, type LsmEngine, type Vfs } from '../../src/storage/index.js';
import { readManifest } from '../../src/storage/db/manifest.js';
import { parseTableFileName } from '../../src/storage/table/sstable-format.js';
import { readWholeFile } from '../../src/storage/env/vfs.js';
import { RealVfs } from '../../src/storage/env/index.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';

const DIR = '/db';
const KEYS = 100;
const enc = new TextEncoder();
const dec = new TextDecoder();
const key = (i: number) => enc.encode(`key-${String(i).padStart(4, '0')}`);
const value = (i: number, v: number) => `v${v} of ${i}`;

const options = (vfs: Vfs, tableDamage: StorageOptions['tableDamage']) => ({ ...testStorageOptions(), memtableBytes: 1 << 20, compression: 'none' as const, dir: DIR, vfs, tableDamage });

/** Two tables: the older holds v1 of every key, the newer v2 of the first half. Returns the newer one's name. */
async function twoTables(vfs: Vfs): Promise<string> {
  const db = await openEngine(options(vfs, 'keep'));
  for (let i = 0; i < KEYS; i++) db.put(key(i), enc.encode(value(i, 1)));
  await db.flush();
  for (let i = 0; i < KEYS / 2; i++) db.put(key(i), enc.encode(value(i, 2)));
  await db.flush();
  await db.close();
  return tables(vfs).sort().at(-1)!;
}

const tables = (vfs: Vfs) => vfs.readdir(DIR).filter((n) => parseTableFileName(n) !== undefined);

/** Flips one byte inside the first data block of table `name`. */
function flipFirstBlock(vfs: Vfs, name: string): void {
  const path = `${DIR}/${name}`;
  const bytes = readWholeFile(vfs, path).slice();
  bytes[40]! ^= 0x10;
  vfs.unlink(path);
  const f = vfs.open(path, 'create');
  f.append(bytes);
  f.sync();
  f.close();
  vfs.syncDir(DIR);
}

/** Reads keys 0..KEYS/2 (the newer table's): the values read, and the indexes that failed with ERR_CORRUPTION naming `table`. */
function readNewer(db: LsmEngine, table: string): { failed: number[]; got: Map<number, string | undefined> } {
  const failed: number[] = [];
  const got = new Map<number, string | undefined>();
  for (let i = 0; i < KEYS / 2; i++) {
    try {
      const v = db.get(key(i));
      got.set(i, v === undefined ? undefined : dec.decode(v));
    } catch (err) {
      const e = err as { code?: string; message?: string };
      assert.is(e.code, ErrorCode.CORRUPTION, String(err));
      assert.ok(e.message!.includes(table), e.message);
      failed.push(i);
    }
  }
  return { failed, got };
}

test("'keep': the damaged block's keys fail every time, the table stays, reported once", async () => {
  const vfs = new MemoryVfs();
  const newer = await twoTables(vfs);
  flipFirstBlock(vfs, newer);
  const db = await openEngine(options(vfs, 'keep'));
  const told: DamagedTable[] = [];
  db.onTableDamage((d) => told.push(d));
  try {
    const first = readNewer(db, newer);
    assert.ok(first.failed.length > 0, 'some keys sit in the damaged block');
    for (const [i, v] of first.got) assert.is(v, value(i, 2), 'no other key answers an older value');
    assert.equal(readNewer(db, newer).failed, first.failed, 'they fail again');
    assert.throws(() => [...db.scan(0n, TOKEN_END)], (err: { code?: string }) => err.code === ErrorCode.CORRUPTION);
    assert.is(told.length, 1, 'reported once');
    assert.is(told[0]!.table, `${DIR}/${newer}`);
    assert.is(told[0]!.quarantinedAs, undefined);
    assert.equal(db.stats().damagedTables?.length, 1);
    assert.ok(tables(vfs).includes(newer), 'the table stays in service');
  } finally {
    await db.close();
  }
});

test("'quarantine' on a get: that read fails, the table goes aside, later reads answer from older tables, a restart keeps it out", async () => {
  const vfs = new MemoryVfs();
  const newer = await twoTables(vfs);
  flipFirstBlock(vfs, newer);
  let db = await openEngine(options(vfs, 'quarantine'));
  const told: DamagedTable[] = [];
  db.onTableDamage((d) => told.push(d));
  let failing: number;
  try {
    // The first get of a damaged key fails (never an older value in its place).
    failing = -1;
    for (let i = 0; i < KEYS / 2 && failing < 0; i++) {
      try {
        db.get(key(i));
      } catch (err) {
        assert.is((err as { code?: string }).code, ErrorCode.CORRUPTION);
        failing = i;
      }
    }
    assert.ok(failing >= 0, 'a key of the damaged block failed');
    assert.is(told.length, 1);
    assert.is(told[0]!.foundBy, 'get');
    assert.is(told[0]!.quarantinedAs, `${DIR}/${newer}.damaged`);
    assert.not.ok(tables(vfs).includes(newer), 'out of service');
    assert.ok(vfs.exists(`${DIR}/${newer}.damaged`), 'kept aside');
    assert.not.ok(readManifest(vfs, DIR)!.tables.some((t) => t.fileNumber === parseTableFileName(newer)), 'dropped from the manifest');
    // Later: every key answers, from the older table (v1): the repair from replicas is the owner's.
    for (let i = 0; i < KEYS; i++) assert.is(dec.decode(db.get(key(i))!), value(i, 1));
    assert.is([...db.scan(0n, TOKEN_END)].length, KEYS);
    db.put(key(0), enc.encode(value(0, 3)));
    await db.compact();
    assert.is(dec.decode(db.get(key(0))!), value(0, 3));
  } finally {
    await db.close();
  }
  db = await openEngine(options(vfs, 'quarantine'));
  try {
    assert.is(db.stats().damagedTables, undefined, 'nothing damaged in service after the restart');
    assert.is(dec.decode(db.get(key(1))!), value(1, 1));
    assert.ok(vfs.exists(`${DIR}/${newer}.damaged`), 'the copy aside is never deleted');
  } finally {
    await db.close();
  }
});

test("'quarantine' on a scan and on a merge: the scan or merge that meets it fails, the next one goes on without the table", async () => {
  for (const via of ['scan', 'merge'] as const) {
    const vfs = new MemoryVfs();
    const newer = await twoTables(vfs);
    flipFirstBlock(vfs, newer);
    const db = await openEngine(options(vfs, 'quarantine'));
    try {
      if (via === 'scan') {
        assert.throws(() => [...db.scan(0n, TOKEN_END)], (err: { code?: string }) => err.code === ErrorCode.CORRUPTION);
        assert.is([...db.scan(0n, TOKEN_END)].length, KEYS, 'the next scan goes on without it');
      } else {
        await db.compact(); // the first merge fails on the table and quarantines it: no error kept
        assert.is(db.stats().backgroundError, undefined);
        await db.compact();
      }
      const d = db.stats().damagedTables;
      assert.is(d?.length, 1, via);
      assert.is(d![0]!.foundBy, via);
      assert.ok(vfs.exists(`${DIR}/${newer}.damaged`), `${via}: kept aside`);
      for (let i = 0; i < KEYS; i++) assert.is(dec.decode(db.get(key(i))!), value(i, 1), `${via}: key ${i}`);
    } finally {
      await db.close();
    }
  }
});

test("'quarantine' on a merge in a piscina job thread (real files): the error that crossed the thread names the table, which goes aside", async () => {
  const dir = mkdtempSync(`${tmpdir()}/ringkv-table-damage-`);
  try {
    const vfs = new RealVfs();
    const real = (tableDamage: StorageOptions['tableDamage']) => ({ ...options(vfs, tableDamage), dir, jobs: 'piscina' as const });
    let db = await openEngine({ ...real('keep'), jobs: 'inline' });
    for (let i = 0; i < KEYS; i++) db.put(key(i), enc.encode(value(i, 1)));
    await db.flush();
    for (let i = 0; i < KEYS / 2; i++) db.put(key(i), enc.encode(value(i, 2)));
    await db.flush();
    await db.close();
    const newer = vfs.readdir(dir).filter((n) => parseTableFileName(n) !== undefined).sort().at(-1)!;
    const bytes = readWholeFile(vfs, `${dir}/${newer}`).slice();
    bytes[40]! ^= 0x10;
    vfs.unlink(`${dir}/${newer}`);
    const f = vfs.open(`${dir}/${newer}`, 'create');
    f.append(bytes);
    f.sync();
    f.close();
    db = await openEngine(real('quarantine'));
    try {
      await db.compact();
      const d = db.stats().damagedTables;
      assert.is(d?.length, 1);
      assert.is(d![0]!.foundBy, 'merge');
      assert.is(d![0]!.quarantinedAs, `${dir}/${newer}.damaged`);
      assert.is(db.stats().backgroundError, undefined);
      for (let i = 0; i < KEYS; i++) assert.is(dec.decode(db.get(key(i))!), value(i, 1));
    } finally {
      await db.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a crash between the rename and the manifest write: the open finishes the quarantine', async () => {
  const vfs = new MemoryVfs();
  const newer = await twoTables(vfs);
  vfs.rename(`${DIR}/${newer}`, `${DIR}/${newer}.damaged`); // what quarantine() does before its manifest write
  vfs.syncDir(DIR);
  const db = await openEngine(options(vfs, 'quarantine'));
  try {
    const d = db.stats().damagedTables;
    assert.is(d?.length, 1);
    assert.is(d![0]!.foundBy, 'open');
    assert.is(d![0]!.quarantinedAs, `${DIR}/${newer}.damaged`);
    assert.not.ok(readManifest(vfs, DIR)!.tables.some((t) => t.fileNumber === parseTableFileName(newer)));
    assert.ok(vfs.exists(`${DIR}/${newer}.damaged`));
    for (let i = 0; i < KEYS; i++) assert.is(dec.decode(db.get(key(i))!), value(i, 1));
  } finally {
    await db.close();
  }
});

test.run();
