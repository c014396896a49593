// The engine's corruption catalogue: damaged bytes in a closed store's WAL segments, SSTables
// and MANIFEST. The engine never returns a value different from the last one written: a
// damaged WAL record is dropped with everything after it in its segment, and reported
// (`stats().recovery`: droppedBytes, damage naming the file); damage in a table or the
// manifest is an ERR_CORRUPTION naming the file, at open or at the read that meets it;
// a damaged manifest never lets the store open empty.
//
// Expectations come from the test's own reading of the documented formats (wal-format.ts,
// write-batch.ts), not from the engine's decoder.
//
//   RINGKV_SEED=n   seed of the bit-flip positions (default 1)
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { testStorageOptions } from '../../src/storage/db/options.js';
import { ErrorCode, RingkvError } from '../../src/errors.js';
import { TOKEN_END } from '../../src/hash/index.js';
import { MemoryVfs, openEngine, type LsmEngine, type Vfs, type WriteOp } from '../../src/storage/index.js';
import { MANIFEST_NAME } from '../../src/storage/db/manifest.js';
import { Random } from '../../src/storage/env/random.js';
import { parseTableFileName } from '../../src/storage/table/sstable-format.js';
import { readWholeFile } from '../../src/storage/env/vfs.js';
import { diff, same, show, type Model } from './acked-model.js';
import { parseWalFileName } from '../../src/storage/wal/wal-format.js';

const SEED = Number(process.env.RINGKV_SEED ?? 1);
const DIR = '/db';
const enc = new TextEncoder();
const dec = new TextDecoder();
const options = (vfs: Vfs, memtableBytes = testStorageOptions().memtableBytes) => ({ ...testStorageOptions(), dir: DIR, vfs, memtableBytes });

// ---- acknowledged batches and the model they make ----

interface Batch {
  /** Sequence number of its first op. */
  seq: number;
  ops: WriteOp[];
}

const key = (i: number) => `key-${String(i).padStart(4, '0')}`;
/** Compressible when `i` is even (lz4 blocks), noise when odd. */
function value(i: number, version: number, length: number, rnd: Random): Uint8Array {
  const v = new Uint8Array(length);
  const head = enc.encode(`v${version}:${key(i)}:`);
  for (let j = 0; j < length; j++) v[j] = j < head.length ? head[j]! : i % 2 === 0 ? 97 + (j % 7) : rnd.int(256);
  return v;
}

/** Writes one batch and records it with its first sequence number. */
function write(db: LsmEngine, batches: Batch[], ops: WriteOp[]): void {
  const seq = db.stats().lastSeq + 1;
  db.write(ops);
  batches.push({ seq, ops });
}

/** The state after applying `batches` in order, except those whose first seq is in `skip`. */
function modelOf(batches: readonly Batch[], skip: ReadonlySet<number> = new Set()): Model {
  const model: Model = new Map();
  for (const b of batches) {
    if (skip.has(b.seq)) continue;
    for (const op of b.ops) model.set(dec.decode(op.key), op.type === 'put' ? op.value : undefined);
  }
  return model;
}

const varintBytes = (n: number) => (n < 0x80 ? 1 : n < 0x4000 ? 2 : n < 0x200000 ? 3 : 4);
/** Bytes of the WAL record of a batch: 9-byte header, then the batch (12-byte header and its ops). */
function walRecordBytes(ops: readonly WriteOp[]): number {
  let n = 9 + 12;
  for (const op of ops) {
    n += 1 + varintBytes(op.key.length) + op.key.length;
    if (op.type === 'put') n += varintBytes(op.value.length) + op.value.length;
  }
  return n;
}

/** The records of a WAL segment as the format documents them: [start, end) and first seq. */
function walRecords(bytes: Uint8Array): { start: number; end: number; seq: number }[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: { start: number; end: number; seq: number }[] = [];
  for (let at = 0; at < bytes.length; ) {
    const end = at + 9 + view.getUint32(at + 4, true);
    out.push({ start: at, end, seq: Number(view.getBigUint64(at + 9, true)) });
    at = end;
  }
  return out;
}


// ---- images of a closed store ----

type Image = Map<string, Uint8Array>;

function imageOf(vfs: Vfs): Image {
  const image: Image = new Map();
  for (const name of vfs.readdir(DIR)) image.set(name, readWholeFile(vfs, `${DIR}/${name}`));
  return image;
}

/** A MemoryVfs durably holding `image`, with `name` replaced by `bytes` if given. */
function restore(image: Image, name?: string, bytes?: Uint8Array): MemoryVfs {
  const vfs = new MemoryVfs();
  vfs.mkdirp(DIR);
  for (const [n, b] of image) {
    const f = vfs.open(`${DIR}/${n}`, 'create');
    f.append(n === name && bytes !== undefined ? bytes : b);
    f.sync();
    f.close();
  }
  vfs.syncDir(DIR);
  return vfs;
}

/** True if `err` is ERR_CORRUPTION naming the file `name` (in its message or its `file`). */
function namesCorruption(err: unknown, name: string): boolean {
  return err instanceof RingkvError && err.code === ErrorCode.CORRUPTION &&
    (err.message.includes(name) || (err.file ?? '').endsWith(`/${name}`));
}

const describe = (err: unknown) => (err instanceof Error ? `${(err as { code?: string }).code ?? err.name}: ${err.message}` : String(err));

/**
 * A closed store of four tables (overwrites and deletes across them, lz4 and plain blocks)
 * and two WAL segments (the frozen memtable's and the current one's, not yet flushed).
 */
async function storeImage(): Promise<{ image: Image; batches: Batch[] }> {
  const rnd = new Random(SEED);
  const vfs = new MemoryVfs();
  const db = await openEngine(options(vfs));
  const batches: Batch[] = [];
  let version = 0;
  for (let t = 0; t < 4; t++) {
    for (let i = t * 20; i < t * 20 + 45; i++) write(db, batches, [{ type: 'put', key: enc.encode(key(i)), value: value(i, ++version, 40 + rnd.int(160), rnd) }]);
    write(db, batches, [{ type: 'delete', key: enc.encode(key(t * 20 + 3)) }]);
    await db.flush();
  }
  // Past one memtable rotation, without an event-loop turn: the frozen memtable stays unflushed.
  for (let n = 0; n < 120; n++) {
    const ops: WriteOp[] = [];
    for (let j = rnd.int(3); j >= 0; j--) {
      const i = rnd.int(150);
      ops.push(rnd.int(6) === 0 ? { type: 'delete', key: enc.encode(key(i)) } : { type: 'put', key: enc.encode(key(i)), value: value(i, ++version, 20 + rnd.int(200), rnd) });
    }
    write(db, batches, ops);
  }
  await db.close();
  return { image: imageOf(vfs), batches };
}

// ---- the catalogue ----

test('a WAL tail cut by every k in 1..4096 bytes keeps exactly the batches before the cut, and reports the rest', async () => {
  const rnd = new Random(SEED);
  const vfs = new MemoryVfs();
  const db = await openEngine(options(vfs, 1 << 20)); // one segment for all that follows the flush
  const batches: Batch[] = [];
  for (let i = 0; i < 60; i++) write(db, batches, [{ type: 'put', key: enc.encode(key(i)), value: value(i, 0, 100, rnd) }]);
  await db.flush();
  const inTables = batches.length;
  const ends: number[] = []; // end offset of each batch's record in the segment
  let size = 0;
  for (let n = 0; size < 4096 + 2000; n++) {
    const ops: WriteOp[] = [];
    for (let j = rnd.int(3); j >= 0; j--) {
      const i = rnd.int(90);
      ops.push(rnd.int(5) === 0 ? { type: 'delete', key: enc.encode(key(i)) } : { type: 'put', key: enc.encode(key(i)), value: value(i, n + 1, 1 + rnd.int(120), rnd) });
    }
    write(db, batches, ops);
    size += walRecordBytes(ops);
    ends.push(size);
  }
  await db.close();
  const image = imageOf(vfs);
  const logs = [...image.keys()].filter((n) => parseWalFileName(n) !== undefined);
  assert.is(logs.length, 1);
  const log = logs[0]!;
  const full = image.get(log)!;
  assert.is(full.length, size, 'the segment is the records of the batches written after the flush');

  const problems: string[] = [];
  let atBoundary = 0;
  for (let k = 1; k <= 4096; k++) {
    const cut = size - k;
    const kept = ends.filter((end) => end <= cut).length; // batches wholly before the cut
    const keptEnd = kept === 0 ? 0 : ends[kept - 1]!;
    const want = modelOf(batches.slice(0, inTables + kept));
    const label = `cut ${k} bytes (at ${cut}: ${kept} of ${ends.length} batches whole)`;
    let reopened: LsmEngine | undefined;
    try {
      reopened = await openEngine(options(restore(image, log, full.slice(0, cut)), 1 << 20));
      const r = reopened.stats().recovery;
      const dropped = cut - keptEnd;
      if (dropped === 0) atBoundary++;
      if (r.droppedBytes !== dropped) problems.push(`${label}: droppedBytes ${r.droppedBytes}, want ${dropped}`);
      if (r.walRecords !== kept) problems.push(`${label}: replayed ${r.walRecords} records, want ${kept}`);
      if (dropped > 0 && !(r.damage.length === 1 && r.damage[0]!.includes(log) && r.damage[0]!.includes(`offset ${keptEnd}`))) {
        problems.push(`${label}: damage report ${JSON.stringify(r.damage)} does not name ${log} at offset ${keptEnd}`);
      }
      if (dropped === 0 && r.damage.length !== 0) problems.push(`${label}: damage reported at a record boundary: ${r.damage}`);
      problems.push(...diff(reopened, want).map((p) => `${label}: ${p}`));
    } catch (err) {
      problems.push(`${label}: ${describe(err)}`);
    } finally {
      await reopened?.close();
    }
  }
  assert.equal(problems.slice(0, 8), [], `${problems.length} problems`);
  assert.ok(atBoundary > 10, 'some cuts fall on record boundaries');
  console.log(`  WAL tail cuts: 4096 reopens of a ${size}-byte segment of ${ends.length} batches, ${atBoundary} cuts on record boundaries`);
});

test('1000 single-bit flips in WAL segments and tables: a torn tail dropped, mid-log damage refused then salvaged with only its record lost, a table flip an ERR_CORRUPTION naming the file, never a wrong value', async () => {
  const { image, batches } = await storeImage();
  const logs = [...image.keys()].filter((n) => parseWalFileName(n) !== undefined);
  const tables = [...image.keys()].filter((n) => parseTableFileName(n) !== undefined);
  assert.ok(logs.length >= 2 && tables.length >= 4, `the store has ${logs.length} WAL segments and ${tables.length} tables`);
  const pristine = await openEngine(options(restore(image)));
  assert.equal(diff(pristine, modelOf(batches)), []);
  await pristine.close();
  const records = new Map(logs.map((n) => [n, walRecords(image.get(n)!)]));

  /** A uniformly random bit of the files `names`, as [file, byte offset, bit]. */
  const rnd = new Random(SEED);
  const pick = (names: string[]): [string, number, number] => {
    let at = rnd.int(names.reduce((s, n) => s + image.get(n)!.length, 0));
    for (const n of names) {
      const len = image.get(n)!.length;
      if (at < len) return [n, at, rnd.int(8)];
      at -= len;
    }
    throw new Error('unreachable');
  };

  const problems: string[] = [];
  const counts = { walDropped: 0, walRefusedThenSalvaged: 0, walRecordsDropped: 0, tableAtOpen: 0, tableAtGet: 0, tableAtScanOnly: 0, undetected: 0 };
  for (let n = 0; n < 1000; n++) {
    const [name, offset, bit] = pick(n < 500 ? logs : tables);
    const isLog = n < 500;
    const bytes = image.get(name)!.slice();
    bytes[offset]! ^= 1 << bit;
    const label = `flip of bit ${bit} at ${name}:${offset}`;
    let db: LsmEngine | undefined;
    try {
      const vfs = restore(image, name, bytes);
      try {
        db = await openEngine(options(vfs));
      } catch (err) {
        if (!isLog) {
          if (namesCorruption(err, name)) counts.tableAtOpen++;
          else problems.push(`${label}: open threw ${describe(err)}`);
          continue;
        }
        // Damage in the middle of a segment: refused, naming the file, the record's offset and
        // how many records follow; skip-damaged then loses the flipped record and nothing else.
        const segment = records.get(name)!;
        const hit = segment.findIndex((rec) => offset < rec.end);
        const after = segment.length - hit - 1;
        const message = err instanceof Error ? err.message : '';
        if (!namesCorruption(err, name) || !message.includes(`offset ${segment[hit]!.start}`) || !message.includes(`${after} valid records`)) {
          problems.push(`${label}: open threw ${describe(err)}, want ERR_CORRUPTION at offset ${segment[hit]!.start} with ${after} records after it`);
          continue;
        }
        db = await openEngine({ ...options(vfs), walRecovery: 'skip-damaged' });
        const r = db.stats().recovery;
        if (!r.needsRepair || r.salvagedRecords !== after || r.damagedSegments.length !== 1) problems.push(`${label}: salvage report ${JSON.stringify(r)}`);
        problems.push(...diff(db, modelOf(batches, new Set([segment[hit]!.seq]))).map((p) => `${label}: salvaged: ${p}`));
        counts.walRefusedThenSalvaged++;
        counts.walRecordsDropped++;
        continue;
      }
      const r = db.stats().recovery;
      if (isLog) {
        // The flipped record is the last of its segment (a torn tail): it alone is dropped.
        const segment = records.get(name)!;
        const hit = segment.findIndex((rec) => offset < rec.end);
        if (hit !== segment.length - 1) {
          problems.push(`${label}: damage with ${segment.length - hit - 1} records after it opened (strict)`);
          continue;
        }
        const lost = new Set([segment[hit]!.seq]);
        const dropped = image.get(name)!.length - segment[hit]!.start;
        if (r.droppedBytes !== dropped || r.damage.length !== 1 || !r.damage[0]!.includes(name) || r.needsRepair) {
          problems.push(`${label}: recovery reports ${r.droppedBytes} bytes dropped (${JSON.stringify(r.damage)}), want ${dropped} in ${name}`);
        }
        problems.push(...diff(db, modelOf(batches, lost)).map((p) => `${label}: ${p}`));
        counts.walDropped++;
        counts.walRecordsDropped += lost.size;
        continue;
      }
      if (r.droppedBytes !== 0) problems.push(`${label}: recovery dropped ${r.droppedBytes} WAL bytes`);
      // Every get is right or an ERR_CORRUPTION naming the table; so is the scan.
      const want = modelOf(batches);
      let atGet = false;
      for (const [k, v] of want) {
        try {
          const got = db.get(enc.encode(k));
          if (!same(got, v)) problems.push(`${label}: get ${k} = ${show(got)}, want ${show(v)}`);
        } catch (err) {
          if (namesCorruption(err, name)) atGet = true;
          else problems.push(`${label}: get ${k} threw ${describe(err)}`);
        }
      }
      let atScan = false;
      try {
        let live = 0;
        for (const e of db.scan(0n, TOKEN_END)) {
          live++;
          if (!same(e.value, want.get(dec.decode(e.key)))) problems.push(`${label}: scan ${dec.decode(e.key)} = ${show(e.value)}`);
        }
        if (live !== [...want.values()].filter((v) => v !== undefined).length) problems.push(`${label}: scan finds ${live} live keys`);
      } catch (err) {
        if (namesCorruption(err, name)) atScan = true;
        else problems.push(`${label}: scan threw ${describe(err)}`);
      }
      if (atGet) counts.tableAtGet++;
      else if (atScan) counts.tableAtScanOnly++;
      else {
        counts.undetected++;
        problems.push(`${label}: not detected`);
      }
    } finally {
      await db?.close();
    }
  }
  console.log(`  bit flips: ${JSON.stringify(counts)}`);
  assert.equal(problems.slice(0, 8), [], `${problems.length} problems (replay with RINGKV_SEED=${SEED})`);
  assert.is(counts.walDropped + counts.walRefusedThenSalvaged, 500);
  assert.ok(counts.walDropped > 0 && counts.walRefusedThenSalvaged > 0, 'flips hit both last records (torn tails) and records with others after them');
});

test('a MANIFEST with any bit flipped or cut at any length fails the open with ERR_CORRUPTION naming it', async () => {
  const { image } = await storeImage();
  const manifest = image.get(MANIFEST_NAME)!;
  const problems: string[] = [];
  const attempt = async (label: string, bytes: Uint8Array) => {
    try {
      const db = await openEngine(options(restore(image, MANIFEST_NAME, bytes)));
      await db.close();
      problems.push(`${label}: the store opened`);
    } catch (err) {
      if (!namesCorruption(err, MANIFEST_NAME)) problems.push(`${label}: ${describe(err)}`);
    }
  };
  for (let bit = 0; bit < manifest.length * 8; bit++) {
    const bytes = manifest.slice();
    bytes[bit >> 3]! ^= 1 << (bit & 7);
    await attempt(`bit ${bit} flipped`, bytes);
  }
  for (let length = 0; length < manifest.length; length++) await attempt(`cut to ${length} bytes`, manifest.slice(0, length));
  assert.equal(problems.slice(0, 8), [], `${problems.length} problems`);
  console.log(`  MANIFEST: ${manifest.length * 8} bit flips and ${manifest.length} cuts, all refused`);
});

test('a missing MANIFEST beside tables and WAL segments fails the open instead of starting empty', async () => {
  const { image } = await storeImage();
  const without = new Map(image);
  without.delete(MANIFEST_NAME);
  const vfs = restore(without);
  try {
    await openEngine(options(vfs));
    assert.unreachable('the store opened without its manifest');
  } catch (err) {
    assert.ok(namesCorruption(err, MANIFEST_NAME), describe(err));
  }
  assert.equal(vfs.readdir(DIR), [...without.keys()].sort(), 'no file was deleted');
});

test.run();
