// Storage faults that last (descriptors exhausted, a full disk, a failing device): every
// failed write says what happened (ERR_IO / ERR_NO_SPACE naming the operation, the path and
// the OS error), the engine reports the fault in stats().ioFault while it lasts and clears it
// once writes work again (even with no write arriving: a probe), and a retry loop burns no
// file numbers and leaves no trail of empty WAL segments.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { testStorageOptions } from '../../src/storage/db/options.js';
import { ErrorCode, RingkvError } from '../../src/errors.js';
import { FaultyVfs, openEngine, type LsmEngine, type Vfs } from '../../src/storage/index.js';
import { parseTableFileName } from '../../src/storage/table/sstable-format.js';
import { parseWalFileName } from '../../src/storage/wal/wal-format.js';

const DIR = '/db';
const enc = new TextEncoder();
const dec = new TextDecoder();
/** Generous: the assertions are on outcomes, the deadline only stops a hung test. */
const DEADLINE_MS = 30_000;

const opened: LsmEngine[] = [];
async function open(vfs: Vfs): Promise<LsmEngine> {
  const db = await openEngine({ ...testStorageOptions(), dir: DIR, vfs });
  opened.push(db);
  return db;
}
test.after.each(async () => {
  for (const db of opened.splice(0)) await db.close().catch(() => {});
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(what: string, check: () => boolean): Promise<void> {
  const end = Date.now() + DEADLINE_MS;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

function put(db: LsmEngine, i: number): void {
  db.put(enc.encode(`key-${i}`), enc.encode(`value-${i}-${'x'.repeat(200)}`));
}

/** Tries `count` writes; returns the errors (each must be a RingkvError). */
function failingWrites(db: LsmEngine, from: number, count: number): RingkvError[] {
  const errors: RingkvError[] = [];
  for (let i = from; i < from + count; i++) {
    try {
      put(db, i);
    } catch (err) {
      assert.instance(err, RingkvError);
      errors.push(err as RingkvError);
    }
  }
  return errors;
}

function files(vfs: Vfs): { wals: number[]; tables: number[]; max: number } {
  const names = vfs.readdir(DIR);
  const wals = names.map(parseWalFileName).filter((n): n is number => n !== undefined);
  const tables = names.map(parseTableFileName).filter((n): n is number => n !== undefined);
  return { wals, tables, max: Math.max(0, ...wals, ...tables) };
}

test('descriptors exhausted (EMFILE on every open): writes fail with ERR_IO naming the file; no number is burned; the fault clears', async () => {
  const vfs = new FaultyVfs();
  const db = await open(vfs);
  for (let i = 0; i < 20; i++) put(db, i);
  const before = files(vfs);
  vfs.failWith('EMFILE', (op) => op === 'open');
  // Enough writes to fill the memtable many times over: each needs a new WAL segment (and
  // flushes need new tables), and every one of those opens fails.
  const errors = failingWrites(db, 1000, 2000);
  assert.ok(errors.length > 1000, `${errors.length} writes failed`);
  for (const e of errors) assert.is(e.code, ErrorCode.IO);
  assert.match(errors[0]!.message, /EMFILE/);
  assert.match(errors[0]!.message, /out of file descriptors/);
  assert.match(errors.at(-1)!.message, /\/db\/\d{6}\.(log|sst)/);
  const fault = db.stats().ioFault;
  assert.ok(fault, 'stats().ioFault is set');
  assert.is(fault!.code, ErrorCode.IO);
  assert.match(fault!.message, /EMFILE/);
  await sleep(200); // background flush retries run meanwhile (every 10 ms, backing off)

  const during = files(vfs);
  assert.ok(during.max <= before.max + 3, `file numbers ${before.max} -> ${during.max}: burned in the retry loop`);
  vfs.failWith(undefined);
  await until('the probe to clear the fault with no write arriving', () => db.stats().ioFault === undefined);
  for (let i = 5000; i < 5300; i++) put(db, i); // writes work again (several memtables' worth)
  await db.flush();
  assert.is(db.stats().ioFault, undefined);
  assert.is(dec.decode(db.get(enc.encode('key-19'))!), `value-19-${'x'.repeat(200)}`);
  assert.is(dec.decode(db.get(enc.encode('key-5299'))!), `value-5299-${'x'.repeat(200)}`);
  const after = files(vfs);
  assert.ok(after.wals.length <= 2, `WAL segments left: ${after.wals.join(', ')}`);
});

test('a full disk (ENOSPC on every append): ERR_NO_SPACE; no empty WAL segments pile up, no numbers burned; writes work once space returns', async () => {
  const vfs = new FaultyVfs();
  const db = await open(vfs);
  for (let i = 0; i < 20; i++) put(db, i);
  const before = files(vfs);
  vfs.spaceLimit = vfs.totalBytes() + 100;
  const errors = failingWrites(db, 1000, 500);
  assert.is(errors.length, 500, 'every write fails');
  for (const e of errors) assert.is(e.code, ErrorCode.NO_SPACE);
  assert.match(errors[0]!.message, /append to WAL segment \/db\/\d{6}\.log failed: ENOSPC/);
  assert.is(db.stats().ioFault?.code, ErrorCode.NO_SPACE);
  const during = files(vfs);
  assert.ok(during.wals.length <= before.wals.length + 1, `WAL segments: ${before.wals.join(',')} -> ${during.wals.join(',')}`);
  assert.ok(during.max <= before.max + 2, `file numbers ${before.max} -> ${during.max}`);

  vfs.spaceLimit = undefined;
  put(db, 7);
  assert.is(db.stats().ioFault, undefined, 'a write that succeeds ends the fault');
  for (let i = 0; i < 400; i++) put(db, 2000 + i);
  await db.flush();
  assert.ok(db.get(enc.encode('key-2399')));
  assert.is(db.get(enc.encode('key-1000')), undefined, 'a failed write is not applied');
});

test('a failing flush (EIO creating its table) is retried with the same file number, backing off; the fault shows until it succeeds', async () => {
  const vfs = new FaultyVfs();
  const db = await open(vfs);
  const tableOpens: string[] = [];
  vfs.failWith('EIO', (op, path) => {
    const failing = op === 'open' && path.endsWith('.sst');
    if (failing) tableOpens.push(path);
    return failing;
  });
  // A few memtables: frozen ones wait for a flush; once too many wait, a write that needs
  // room fails with the flush's error (at once while the retry backs off).
  const errors = failingWrites(db, 0, 120);
  for (const e of errors) assert.match(e.message, /EIO/, e.message);
  const written = new Set(Array.from({ length: 120 }, (_, i) => i));
  await until('a few flush attempts', () => tableOpens.length >= 4);
  const stats = db.stats();
  assert.match(String(stats.backgroundError), /EIO/);
  assert.is(stats.ioFault?.code, ErrorCode.IO);
  assert.is(new Set(tableOpens).size, 1, `every retry used one table number: ${[...new Set(tableOpens)].join(', ')}`);
  vfs.failWith(undefined);
  await until('the flush to succeed and the fault to clear', () => {
    const now = db.stats();
    return now.backgroundError === undefined && now.frozenMemtables === 0 && now.ioFault === undefined;
  });
  assert.ok(db.stats().flushes >= 1);
  const failed = errors.length;
  let found = 0;
  for (const i of written) if (db.get(enc.encode(`key-${i}`))) found++;
  assert.is(found, 120 - failed, 'every write that succeeded is readable');
});

test('EIO on every WAL fsync: ERR_IO naming the segment; the fault clears once fsync works', async () => {
  const vfs = new FaultyVfs();
  const db = await open(vfs);
  put(db, 0);
  vfs.failWith('EIO', (op, path) => op === 'sync' && path.endsWith('.log'));
  const errors = failingWrites(db, 1, 50);
  assert.is(errors.length, 50);
  assert.is(errors[0]!.code, ErrorCode.IO);
  assert.match(errors[0]!.message, /sync WAL segment \/db\/\d{6}\.log failed: EIO/);
  assert.ok(db.stats().ioFault);
  const during = files(vfs);
  assert.ok(during.wals.length <= 3, `WAL segments: ${during.wals.join(', ')}`);
  vfs.failWith(undefined);
  await until('the probe to clear the fault', () => db.stats().ioFault === undefined);
  put(db, 99);
  assert.ok(db.get(enc.encode('key-99')));
});

test.run();
