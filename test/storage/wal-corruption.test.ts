// Loud corruption at open, on real files with a real restart (issue 17): a damaged WAL record
// with valid records after it refuses the open with ERR_CORRUPTION naming the file, the offset
// and how many records follow (nothing on disk changed); walRecovery 'skip-damaged' keeps
// every valid record after the damage, keeps the segment aside as `<n>.log.damaged` and marks
// the engine needsRepair, and the next restart is clean. A torn last record is dropped with
// the earlier ones kept. A flipped byte in a table block makes gets of that block's keys
// ERR_CORRUPTION, never a wrong value.
//
// Record boundaries come from the test's own reading of the documented format (wal-format.ts).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { testStorageOptions, type StorageOptions } from '../../src/storage/db/options.js';
import { ErrorCode, RingkvError } from '../../src/errors.js';
import { openEngine, type LsmEngine } from '../../src/storage/index.js';
import { parseTableFileName } from '../../src/storage/table/sstable-format.js';
import { parseWalFileName } from '../../src/storage/wal/wal-format.js';

const enc = new TextEncoder();
const dec = new TextDecoder();
const KEYS = 2000;
const dirs: string[] = [];
test.after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const d = mkdtempSync(`${tmpdir()}/ringkv-walcorrupt-`);
  dirs.push(d);
  return d;
}

const key = (i: number) => `key-${String(i).padStart(5, '0')}`;
const value = (i: number) => `value ${i} ${'x'.repeat(i % 50)}`;

/** One memtable for everything: all writes stay in one WAL segment. */
function options(dir: string, extra: Partial<StorageOptions> = {}) {
  return { ...testStorageOptions(), dir, memtableBytes: 64 << 20, ...extra };
}

/** Writes KEYS single-put batches (one WAL record each), closes; returns the segment's path. */
async function walStore(dir: string): Promise<string> {
  const db = await openEngine(options(dir, { syncMode: 'periodic' })); // close syncs; 2000 fsyncs would only slow the test
  for (let i = 0; i < KEYS; i++) db.put(enc.encode(key(i)), enc.encode(value(i)));
  await db.close();
  const logs = readdirSync(dir).filter((n) => parseWalFileName(n) !== undefined && readFileSync(`${dir}/${n}`).length > 0);
  assert.is(logs.length, 1, `one segment holds the writes: ${readdirSync(dir)}`);
  return `${dir}/${logs[0]}`;
}

/** Record [start, end) offsets of a segment, as the format documents them. */
function walRecords(bytes: Uint8Array): { start: number; end: number }[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: { start: number; end: number }[] = [];
  for (let at = 0; at < bytes.length; ) {
    const end = at + 9 + view.getUint32(at + 4, true);
    out.push({ start: at, end });
    at = end;
  }
  return out;
}

async function rejection(p: Promise<unknown>): Promise<RingkvError> {
  try {
    const db = await p;
    await (db as LsmEngine).close();
  } catch (err) {
    return err as RingkvError;
  }
  throw new Error('expected the open to fail');
}

function listing(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const n of readdirSync(dir).sort()) out[n] = readFileSync(`${dir}/${n}`).toString('base64');
  return out;
}

test('8 bytes flipped in the middle of a WAL: refused with ERR_CORRUPTION naming file, offset and count; skip-damaged keeps every valid record, keeps the segment aside; the next restart is clean', async () => {
  const dir = tempDir();
  const log = await walStore(dir);
  const bytes = readFileSync(log);
  const records = walRecords(bytes);
  assert.is(records.length, KEYS);
  const hit = Math.floor(KEYS / 2);
  const rec = records[hit]!;
  for (let i = 0; i < 8; i++) bytes[rec.start + 14 + i]! ^= 0xff; // inside the record's batch
  writeFileSync(log, bytes);
  const before = listing(dir);

  // Default (strict): refused, and nothing on disk changed.
  const err = await rejection(openEngine(options(dir)));
  assert.instance(err, RingkvError);
  assert.is(err.code, ErrorCode.CORRUPTION, err.message);
  assert.ok(err.message.includes(log), `names the file: ${err.message}`);
  assert.ok(err.message.includes(`offset ${rec.start}`), `names the offset ${rec.start}: ${err.message}`);
  assert.ok(err.message.includes(`${KEYS - hit - 1} valid records`), `says how many follow: ${err.message}`);
  assert.ok(err.message.includes('--wal-recovery skip-damaged'), err.message);
  assert.equal(listing(dir), before, 'a refused open changes no file');

  // skip-damaged: every record but the damaged one is kept.
  const db = await openEngine(options(dir, { walRecovery: 'skip-damaged' }));
  const r = db.stats().recovery;
  assert.is(r.needsRepair, true);
  assert.is(r.salvagedRecords, KEYS - hit - 1);
  assert.is(r.walRecords, KEYS - 1);
  assert.equal(r.damagedSegments, [`${log}.damaged`]);
  assert.is(r.damage.length, 1);
  assert.ok(r.damage[0]!.includes(log) && r.damage[0]!.includes(`offset ${rec.start}`), r.damage[0]);
  const wrong: string[] = [];
  for (let i = 0; i < KEYS; i++) {
    const got = db.get(enc.encode(key(i)));
    const want = i === hit ? undefined : value(i);
    if ((got === undefined ? undefined : dec.decode(got)) !== want) wrong.push(`${key(i)}: ${got === undefined ? 'missing' : dec.decode(got)}`);
  }
  assert.equal(wrong.slice(0, 5), [], `${wrong.length} keys wrong after salvage`);
  assert.ok(existsSync(`${log}.damaged`), 'the damaged segment is kept aside');
  assert.equal(readFileSync(`${log}.damaged`), bytes, 'the copy aside is the damaged segment, byte for byte');
  assert.not.ok(existsSync(log), 'the segment itself is gone (its records are in a table)');
  db.put(enc.encode('after'), enc.encode('restart'));
  await db.close();

  // A second restart, strict again: clean, nothing replayed twice, the copy aside untouched.
  const again = await openEngine(options(dir));
  const r2 = again.stats().recovery;
  assert.equal(r2.damage, []);
  assert.is(r2.needsRepair, false);
  assert.is(r2.walRecords, 1, 'only the write made after the salvage is replayed');
  assert.is(again.get(enc.encode(key(hit))), undefined);
  assert.is(dec.decode(again.get(enc.encode(key(KEYS - 1)))!), value(KEYS - 1));
  assert.is(dec.decode(again.get(enc.encode(key(0)))!), value(0));
  assert.is(dec.decode(again.get(enc.encode('after'))!), 'restart');
  await again.close();
  assert.equal(readFileSync(`${log}.damaged`), bytes, 'the copy aside survives later opens');
});

test('the last record torn: the earlier records are kept, the open succeeds and reports one torn tail', async () => {
  const dir = tempDir();
  const log = await walStore(dir);
  const records = walRecords(readFileSync(log));
  const last = records[records.length - 1]!;
  const cut = last.start + Math.floor((last.end - last.start) / 2);
  truncateSync(log, cut);
  const db = await openEngine(options(dir));
  const r = db.stats().recovery;
  assert.is(r.walRecords, KEYS - 1);
  assert.is(r.droppedBytes, cut - last.start);
  assert.is(r.needsRepair, false);
  assert.equal(r.damagedSegments, []);
  assert.is(r.damage.length, 1);
  assert.ok(r.damage[0]!.includes('torn tail') && r.damage[0]!.includes(log) && r.damage[0]!.includes(`offset ${last.start}`), r.damage[0]);
  for (let i = 0; i < KEYS - 1; i++) assert.is(dec.decode(db.get(enc.encode(key(i)))!), value(i));
  assert.is(db.get(enc.encode(key(KEYS - 1))), undefined);
  await db.close();
  assert.not.ok(readdirSync(dir).some((n) => n.includes('.damaged')), 'a torn tail is not kept aside');
});

test('a flipped byte in a table block: gets of that block\'s keys throw ERR_CORRUPTION naming the table, never a wrong value', async () => {
  const dir = tempDir();
  const db = await openEngine(options(dir, { memtableBytes: 1 << 20, compression: 'none' }));
  for (let i = 0; i < 300; i++) db.put(enc.encode(key(i)), enc.encode(value(i)));
  await db.flush();
  await db.close();
  const tables = readdirSync(dir).filter((n) => parseTableFileName(n) !== undefined);
  assert.is(tables.length, 1);
  const path = `${dir}/${tables[0]}`;
  const bytes = readFileSync(path);
  bytes[40]! ^= 0x10; // inside data block 0
  writeFileSync(path, bytes);

  const reopened = await openEngine(options(dir, { memtableBytes: 1 << 20, compression: 'none' }));
  let corrupt = 0;
  const wrong: string[] = [];
  for (let i = 0; i < 300; i++) {
    try {
      const got = reopened.get(enc.encode(key(i)));
      if (got === undefined || dec.decode(got) !== value(i)) wrong.push(`${key(i)} = ${got === undefined ? 'missing' : dec.decode(got)}`);
    } catch (err) {
      if (err instanceof RingkvError && err.code === ErrorCode.CORRUPTION && err.message.includes(tables[0]!)) corrupt++;
      else wrong.push(`${key(i)} threw ${String(err)}`);
    }
  }
  await reopened.close();
  assert.equal(wrong, []);
  assert.ok(corrupt > 0 && corrupt < 300, `the keys of the damaged block fail (${corrupt}), the others read`);
});

test.run();
