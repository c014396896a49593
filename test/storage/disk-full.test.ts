// The engine on a full disk and a failing one: ENOSPC in WAL appends, background flushes,
// compactions and manifest writes; EIO in table reads, WAL fsyncs and directory syncs. A write
// that fails throws ERR_NO_SPACE / ERR_IO with a clear message and is not applied; earlier
// data stays readable; once the disk recovers writes, flushes and compactions succeed again,
// and after a reopen (clean, or after a power loss) every acknowledged write is there and no
// write whose append failed is.
//
// The contract for a failed WAL fsync (engine.ts): the write is not applied and not visible,
// but its record may have reached the file, so a restart may replay it: its outcome is
// unknown until then, as for a timed-out request. A later acknowledged write wins over it.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { testStorageOptions } from '../../src/storage/db/options.js';
import { ErrorCode, RingkvError } from '../../src/errors.js';
import { TOKEN_END } from '../../src/hash/index.js';
import { FaultyVfs, openEngine, type LsmEngine, type Vfs, type WriteOp } from '../../src/storage/index.js';
import { MANIFEST_NAME, readManifest } from '../../src/storage/db/manifest.js';
import { Random } from '../../src/storage/env/random.js';
import { tableFileName } from '../../src/storage/table/sstable-format.js';
import type { VfsOpName } from '../../src/storage/env/vfs-faulty.js';
import { parseWalFileName } from '../../src/storage/wal/wal-format.js';

const DIR = '/db';
const enc = new TextEncoder();
const dec = new TextDecoder();
const NO_AUTO_COMPACTION = { minMergeWidth: 1000, tierRatio: 4, maxRuns: 1000, maxSpaceAmpPercent: 1e9 };
/** Tiny memtables, inline merges, flush retries every 10 ms; compaction only when asked. */
const options = (vfs: Vfs) => ({ ...testStorageOptions(), dir: DIR, vfs, compaction: NO_AUTO_COMPACTION });

/** Every engine a test opens, closed after it even if it failed (no retry timer runs on). */
const opened: LsmEngine[] = [];
async function open(vfs: Vfs): Promise<LsmEngine> {
  const db = await openEngine(options(vfs));
  opened.push(db);
  return db;
}
test.after.each(async () => {
  for (const db of opened.splice(0)) await db.close().catch(() => {});
});

type Model = Map<string, Uint8Array | undefined>;
const key = (i: number) => `key-${String(i).padStart(4, '0')}`;
const value = (i: number, version: number, length = 100) =>
  enc.encode(`v${version}:${key(i)}:`.padEnd(length, String.fromCharCode(97 + ((i + version) % 26)))).subarray(0, length);
const put = (i: number, version: number, length?: number): WriteOp => ({ type: 'put', key: enc.encode(key(i)), value: value(i, version, length) });
const del = (i: number): WriteOp => ({ type: 'delete', key: enc.encode(key(i)) });

function write(db: LsmEngine, model: Model, ...ops: WriteOp[]): void {
  db.write(ops);
  for (const op of ops) model.set(dec.decode(op.key), op.type === 'put' ? op.value : undefined);
}

/** Writes `ops`, which must fail with `code`; records their keys as never written if new. Returns the error. */
function writeFails(db: LsmEngine, model: Model, code: string, ...ops: WriteOp[]): RingkvError {
  try {
    db.write(ops);
  } catch (err) {
    assert.instance(err, RingkvError);
    assert.is((err as RingkvError).code, code, (err as Error).message);
    for (const op of ops) if (!model.has(dec.decode(op.key))) model.set(dec.decode(op.key), undefined);
    return err as RingkvError;
  }
  assert.unreachable(`a write was acknowledged where it should fail with ${code}`);
  throw new Error('unreachable');
}

const same = (a: Uint8Array | undefined, b: Uint8Array | undefined) =>
  a === undefined || b === undefined ? a === b : Buffer.from(a).equals(Buffer.from(b));
const show = (v: Uint8Array | undefined) => (v === undefined ? 'undefined' : JSON.stringify(dec.decode(v.subarray(0, 24))));

/** Asserts `db` holds exactly `model`: a get of every key and a scan of the whole ring. */
function holds(db: LsmEngine, model: Model, when: string): void {
  const out: string[] = [];
  let live = 0;
  for (const [k, want] of model) {
    if (want !== undefined) live++;
    const got = db.get(enc.encode(k));
    if (!same(got, want)) out.push(`get ${k} = ${show(got)}, want ${show(want)}`);
  }
  const scanned = [...db.scan(0n, TOKEN_END)];
  if (scanned.length !== live) out.push(`scan finds ${scanned.length} live keys, want ${live}`);
  assert.equal(out.slice(0, 5), [], when);
}

/** Table files in DIR that the manifest does not name (a partial flush or merge output left behind). */
function strayTables(vfs: Vfs): string[] {
  const live = new Set(readManifest(vfs, DIR)!.tables.map((t) => tableFileName(t.fileNumber)));
  return vfs.readdir(DIR).filter((n) => n.endsWith('.sst') && !live.has(n));
}

/** Loses power (after which the next open recovers), then reopens. */
async function powerCycle(db: LsmEngine, vfs: FaultyVfs, rnd?: Random): Promise<LsmEngine> {
  vfs.crashAtOp(1);
  await db.close().catch(() => {});
  vfs.crashAtOp(undefined);
  vfs.powerLoss(rnd ? { tornTails: rnd } : {});
  return open(vfs);
}

const only = (op: VfsOpName, suffix: string) => (o: VfsOpName, path: string) => o === op && path.endsWith(suffix);
const tick = () => new Promise((r) => setImmediate(r));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Some acknowledged data: a table, overwrites and deletes in a second one, and a memtable. */
async function seeded(vfs: FaultyVfs): Promise<{ db: LsmEngine; model: Model }> {
  const db = await open(vfs);
  const model: Model = new Map();
  for (let i = 0; i < 60; i++) write(db, model, put(i, 1));
  await db.flush();
  for (let i = 0; i < 20; i++) write(db, model, put(i, 2));
  write(db, model, del(20), del(21), put(60, 1));
  await db.flush();
  for (let i = 22; i < 40; i++) write(db, model, put(i, 3));
  return { db, model };
}

for (const partialWrites of [false, true]) {
  test(`a full disk fails puts with ERR_NO_SPACE and applies none of them; space back, puts work and all acknowledged data survives reopens${partialWrites ? ' (short writes)' : ''}`, async () => {
    const vfs = new FaultyVfs();
    vfs.partialWrites = partialWrites;
    let { db, model } = await seeded(vfs);
    const newestLog = () => Math.max(...vfs.readdir(DIR).map((n) => parseWalFileName(n) ?? -1));
    const logBefore = newestLog();

    vfs.spaceLimit = vfs.totalBytes() + 64;
    for (let n = 0; n < 12; n++) {
      // Overwrites of keys in tables and in the memtable, new keys, a batch.
      const ops = n % 3 === 0 ? [put(n, 9, 300)] : n % 3 === 1 ? [put(200 + n, 9, 300)] : [put(30 + n, 9, 50), del(1), put(300 + n, 9, 200)];
      const err = writeFails(db, model, ErrorCode.NO_SPACE, ...ops);
      assert.match(err.message, /disk full/);
      assert.match(err.message, /\.log/);
      holds(db, model, `reads after failed write ${n}`);
    }

    vfs.spaceLimit = undefined;
    write(db, model, put(500, 1), put(1, 5));
    write(db, model, del(2));
    assert.ok(newestLog() > logBefore, 'the writes after the failure go to a new WAL segment');
    holds(db, model, 'after space returned');

    await db.close();
    db = await open(vfs);
    assert.is(db.stats().recovery.droppedBytes, 0, 'failed appends were cut back, leaving no torn record');
    holds(db, model, 'after a reopen');
    write(db, model, put(501, 1));
    db = await powerCycle(db, vfs, new Random(7));
    holds(db, model, 'after a power loss');
    await db.close();
  });
}

test('a failed WAL fsync fails the write, which stays invisible; after a restart it is there entirely or not at all, and later writes win', async () => {
  const outcomes: string[] = [];
  for (const restart of ['process restart', 'power loss'] as const) {
    const vfs = new FaultyVfs();
    let { db, model } = await seeded(vfs);
    vfs.failWith('EIO', only('sync', '.log'));
    const failed = [put(700, 1), put(5, 9), del(30)];
    writeFails(db, model, ErrorCode.IO, ...failed);
    holds(db, model, 'right after the failed fsync');
    vfs.failWith(undefined);
    write(db, model, put(5, 10)); // a later acknowledged write to a key of the failed batch
    holds(db, model, 'after a later write');

    if (restart === 'power loss') db = await powerCycle(db, vfs);
    else {
      await db.close();
      db = await open(vfs);
    }
    const applied = same(db.get(enc.encode(key(700))), value(700, 1));
    const expected = new Map(model);
    if (applied) {
      expected.set(key(700), value(700, 1));
      expected.set(key(30), undefined);
    }
    holds(db, expected, `after a ${restart} (the failed write ${applied ? 'applied' : 'absent'})`);
    assert.ok(same(db.get(enc.encode(key(5))), value(5, 10)), 'the later write wins');
    outcomes.push(`${restart}: ${applied ? 'replayed' : 'gone'}`);
    await db.close();
  }
  console.log(`  failed fsync, outcome after ${outcomes.join(', ')}`);
});

test('ENOSPC in a background flush: writes go on until the memtables stall, then fail with ERR_NO_SPACE; space back, the flush retries and nothing is lost', async () => {
  const vfs = new FaultyVfs();
  let { db, model } = await seeded(vfs);
  await db.flush();
  vfs.failWith('ENOSPC', only('append', '.sst'));
  let accepted = 0;
  let stallError: RingkvError | undefined;
  for (let n = 0; n < 1000 && stallError === undefined; n++) {
    try {
      write(db, model, put(1000 + n, 1, 200));
      accepted++;
    } catch (err) {
      assert.instance(err, RingkvError);
      stallError = err as RingkvError;
      model.set(key(1000 + n), undefined);
    }
    await tick(); // let the background flush run (and fail)
  }
  assert.ok(stallError, 'writes stall once the frozen memtable cannot be flushed');
  assert.is(stallError.code, ErrorCode.NO_SPACE, stallError.message);
  assert.match(stallError.message, /\.sst.*disk full/);
  const s = db.stats();
  assert.ok(accepted > 40 && s.frozenMemtables === 1, `accepted ${accepted}: ${JSON.stringify(s)}`);
  assert.match(s.backgroundError ?? '', /\.sst.*ENOSPC.*disk full/);
  assert.equal(strayTables(vfs), [], 'the failed flush leaves no partial table');
  writeFails(db, model, ErrorCode.NO_SPACE, put(2000, 1, 200));
  holds(db, model, 'while stalled');

  const flushes = s.flushes;
  vfs.failWith(undefined);
  for (const until = Date.now() + 30_000; db.stats().frozenMemtables > 0 && Date.now() < until; ) await sleep(5); // a generous deadline
  const after = db.stats();
  assert.ok(after.frozenMemtables === 0 && after.flushes > flushes, `the retry flushed: ${JSON.stringify(after)}`);
  assert.is(after.backgroundError, undefined);
  for (let n = 0; n < 100; n++) write(db, model, put(3000 + n, 1, 200));
  holds(db, model, 'after the retry');
  db = await powerCycle(db, vfs, new Random(3));
  holds(db, model, 'after a power loss');
  await db.close();
});

test('EIO reading a table fails that get with ERR_IO naming the file; other keys, scans elsewhere and writes go on', async () => {
  const vfs = new FaultyVfs();
  let { db, model } = await seeded(vfs);
  await db.close();
  db = await open(vfs); // an empty block cache
  const tables = readManifest(vfs, DIR)!.tables;
  const oldest = tableFileName(tables[tables.length - 1]!.fileNumber); // holds keys 40..59 alone
  vfs.failWith('EIO', only('read', oldest));
  try {
    db.get(enc.encode(key(45)));
    assert.unreachable('a failed read returned');
  } catch (err) {
    assert.instance(err, RingkvError);
    assert.is((err as RingkvError).code, ErrorCode.IO);
    assert.ok((err as RingkvError).file?.endsWith(oldest) && (err as Error).message.includes(oldest), (err as Error).message);
  }
  assert.throws(() => [...db.scan(0n, TOKEN_END)], (err: unknown) => err instanceof RingkvError && err.code === ErrorCode.IO && err.message.includes(oldest));
  for (let i = 0; i < 40; i++) assert.ok(same(db.get(enc.encode(key(i))), model.get(key(i))), key(i));
  write(db, model, put(45, 7), put(800, 1));
  assert.ok(same(db.get(enc.encode(key(45))), value(45, 7)), 'a newer write of a key in the bad table reads');
  vfs.failWith(undefined);
  holds(db, model, 'once the disk reads again');
  await db.close();
});

const compactionFaults: [string, (vfs: FaultyVfs) => void][] = [
  ['ENOSPC writing the merged table', (vfs) => vfs.failWith('ENOSPC', only('append', '.sst'))],
  ['a full disk with short writes', (vfs) => { vfs.partialWrites = true; vfs.spaceLimit = vfs.totalBytes() + 2000; }],
  ['ENOSPC writing the manifest', (vfs) => vfs.failWith('ENOSPC', only('append', `${MANIFEST_NAME}.tmp`))],
];
for (const [fault, inject] of compactionFaults) {
  test(`${fault} fails the compaction with ERR_NO_SPACE; its inputs stay live and nothing is lost; later it succeeds`, async () => {
    const vfs = new FaultyVfs();
    let db = await open(vfs);
    const model: Model = new Map();
    for (let t = 0; t < 4; t++) {
      for (let i = t * 15; i < t * 15 + 40; i++) write(db, model, put(i, t));
      write(db, model, del(t * 15));
      await db.flush();
    }
    const inputs = vfs.readdir(DIR).filter((n) => n.endsWith('.sst'));
    assert.is(inputs.length, 4);
    inject(vfs);
    try {
      await db.compact();
      assert.unreachable('the compaction succeeded on a full disk');
    } catch (err) {
      assert.instance(err, RingkvError);
      assert.is((err as RingkvError).code, ErrorCode.NO_SPACE, (err as Error).message);
    }
    assert.is(db.stats().tables, 4);
    assert.match(db.stats().backgroundError ?? '', /ENOSPC.*disk full/);
    assert.equal(vfs.readdir(DIR).filter((n) => n.endsWith('.sst')), inputs, 'the inputs stay; no partial output');
    holds(db, model, 'after the failed compaction');

    vfs.failWith(undefined);
    vfs.spaceLimit = undefined;
    await db.compact();
    assert.is(db.stats().tables, 1);
    assert.is(db.stats().backgroundError, undefined);
    assert.equal(vfs.readdir(DIR).filter((n) => inputs.includes(n)), [], 'the inputs are deleted');
    holds(db, model, 'after the compaction');
    db = await powerCycle(db, vfs, new Random(5));
    holds(db, model, 'after a power loss');
    await db.close();
  });
}

for (const job of ['flush', 'compaction'] as const) {
  test(`EIO syncing the directory after the manifest rename of a ${job} keeps every file that manifest names`, async () => {
    const vfs = new FaultyVfs();
    let { db, model } = await seeded(vfs);
    if (job === 'compaction') await db.flush();
    let renamed = false;
    vfs.failWith('EIO', (op, path) => {
      if (op === 'rename' && path.endsWith(`${MANIFEST_NAME}.tmp`)) renamed = true;
      return op === 'syncDir' && renamed;
    });
    try {
      await (job === 'flush' ? db.flush() : db.compact());
      assert.unreachable(`the ${job} succeeded`);
    } catch (err) {
      assert.instance(err, RingkvError);
      assert.is((err as RingkvError).code, ErrorCode.IO, (err as Error).message);
    }
    assert.ok(renamed);
    vfs.failWith(undefined);
    holds(db, model, `after the failed ${job}`);
    const named = readManifest(vfs, DIR)!.tables.map((t) => tableFileName(t.fileNumber));
    const missing = named.filter((n) => !vfs.readdir(DIR).includes(n));
    assert.equal(missing, [], 'the tables the manifest on disk names exist');

    // A restart now reads that manifest.
    await db.close();
    db = await open(vfs);
    holds(db, model, 'after a reopen');
    write(db, model, put(900, 1));
    await (job === 'flush' ? db.flush() : db.compact());
    db = await powerCycle(db, vfs);
    holds(db, model, 'after a retry and a power loss');
    await db.close();
  });
}

test.run();
