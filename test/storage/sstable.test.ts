import * as fs from 'node:fs';
import * as os from 'node:os';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ErrorCode, RingkvError } from '../../src/errors.js';
import { BlockCache } from '../../src/storage/table/block-cache.js';
import { FOOTER_SIZE, TABLE_FORMAT_VERSION, parseTableFileName, tableFileName } from '../../src/storage/table/sstable-format.js';
import { TableReader, newTableGetResult } from '../../src/storage/table/sstable-reader.js';
import { TableWriter, type TableProperties, type TableWriterOptions } from '../../src/storage/table/sstable-writer.js';
import { Random } from '../../src/storage/env/random.js';
import { RecordKind, ikeyHi, ikeyLo, makeIkey } from '../../src/storage/record/record.js';
import { MemoryVfs } from '../../src/storage/env/vfs-memory.js';
import { RealVfs } from '../../src/storage/env/vfs-real.js';
import type { Vfs } from '../../src/storage/env/vfs.js';

// ---- helpers ---------------------------------------------------------------------------

interface Rec {
  ikey: Uint8Array;
  kind: RecordKind;
  seq: number;
  value: Uint8Array;
}

const dir = fs.mkdtempSync(os.tmpdir() + '/ringkv-sst-');
test.after(() => fs.rmSync(dir, { recursive: true, force: true }));
const real = new RealVfs();
const memory = new MemoryVfs();
memory.mkdirp('/db');
const backends: [string, Vfs, string][] = [['RealVfs', real, dir], ['MemoryVfs', memory, '/db']];
let fileCounter = 0;

function u32(rnd: Random): number {
  return rnd.int(0x10000) * 0x10000 + rnd.int(0x10000);
}

function randomBytes(rnd: Random, n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = rnd.int(256);
  return b;
}

/** Text-like bytes: words from a small vocabulary, as JSON documents compress. */
function compressibleBytes(rnd: Random, n: number): Uint8Array {
  const words = ['"name":', '"user-', 'id', '"status":"active"', ',', '{', '}', '"count":', '0', '42', '"ringkv"', ' '];
  const b = new Uint8Array(n);
  let i = 0;
  while (i < n) {
    const w = words[rnd.int(words.length)]!;
    for (let j = 0; j < w.length && i < n; j++) b[i++] = w.charCodeAt(j);
  }
  return b;
}

/** n records with random tokens, sorted by ikey; every 7th a DELETE; value sizes from `size(i)`. */
function makeRecords(n: number, seed: number, size: (i: number) => number, fill = randomBytes): Rec[] {
  const rnd = new Random(seed);
  const recs: Rec[] = [];
  for (let i = 0; i < n; i++) {
    const key = new TextEncoder().encode(`key-${i.toString().padStart(8, '0')}`);
    const del = i % 7 === 3;
    recs.push({
      ikey: makeIkey(key, u32(rnd), u32(rnd)),
      kind: del ? RecordKind.DELETE : RecordKind.PUT,
      seq: rnd.int(2 ** 40) + 1,
      value: del ? new Uint8Array(0) : fill(rnd, size(i)),
    });
  }
  return recs.sort((a, b) => Buffer.compare(a.ikey, b.ikey));
}

function newPath(base: string): string {
  return `${base}/${tableFileName(++fileCounter)}`;
}

function writeTable(vfs: Vfs, path: string, recs: Rec[], options: Partial<TableWriterOptions> = {}): TableProperties {
  const file = vfs.open(path, 'create');
  try {
    const w = new TableWriter(file, { expectedKeys: recs.length, ...options });
    for (const r of recs) w.add(r.ikey, r.kind, r.seq, r.value);
    assert.is(w.entries, recs.length);
    const props = w.finish();
    assert.is(w.fileSize, props.fileSize);
    assert.is(file.size(), props.fileSize);
    return props;
  } finally {
    file.close();
  }
}

function same(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.compare(a, b) === 0;
}

/** The ikey right after `ikey` in byte order: ikey ‖ 0x00 (same token, so past the Bloom filter). */
function justAfter(ikey: Uint8Array): Uint8Array {
  const k = new Uint8Array(ikey.length + 1);
  k.set(ikey);
  return k;
}

/** Checks every way of reading the table against `recs`. */
function verifyTable(vfs: Vfs, path: string, recs: Rec[], written: TableProperties, cache?: BlockCache): void {
  const reader = TableReader.open(vfs, path, 1, cache);
  try {
    const props = reader.properties;
    assert.equal(props, written, 'reader properties equal the writer\'s');
    assert.is(props.entries, recs.length);
    if (recs.length > 0) {
      assert.ok(same(props.smallest!, recs[0]!.ikey));
      assert.ok(same(props.largest!, recs[recs.length - 1]!.ikey));
    }

    const out = newTableGetResult();
    for (const r of recs) {
      const hi = ikeyHi(r.ikey);
      const lo = ikeyLo(r.ikey);
      if (!reader.get(r.ikey, hi, lo, out)) assert.unreachable('present key not found');
      if (out.kind !== r.kind || out.seq !== r.seq || !same(out.value, r.value)) assert.unreachable('wrong record returned');
      // Same token, different key: passes the filter, must miss in the block.
      if (reader.get(justAfter(r.ikey), hi, lo, out)) assert.unreachable('absent key (same token) found');
    }
    const rnd = new Random(99);
    for (let i = 0; i < 1000; i++) {
      const hi = u32(rnd);
      const lo = u32(rnd);
      if (reader.get(makeIkey(new Uint8Array([1, 2, 3]), hi, lo), hi, lo, out)) assert.unreachable('absent key found');
    }

    const it = reader.iterator();
    it.seekToFirst();
    let n = 0;
    for (; it.valid; it.next(), n++) {
      const r = recs[n]!;
      if (!same(it.ikey, r.ikey) || it.kind !== r.kind || it.seq !== r.seq || !same(it.value, r.value)) {
        assert.unreachable(`scan differs at entry ${n}`);
      }
    }
    assert.is(n, recs.length, 'full scan sees every entry');

    it.seek(new Uint8Array(8)); // token 0, empty key: before everything
    assert.is(it.valid, recs.length > 0);
    if (recs.length > 0) assert.ok(same(it.ikey, recs[0]!.ikey));
    it.seek(new Uint8Array(9).fill(0xff)); // past the last
    assert.not.ok(it.valid);
    for (let k = 0; k < Math.min(recs.length, 200); k++) {
      const i = Math.floor((k * recs.length) / Math.min(recs.length, 200));
      it.seek(recs[i]!.ikey); // exact
      assert.ok(it.valid && same(it.ikey, recs[i]!.ikey));
      it.seek(justAfter(recs[i]!.ikey)); // between keys
      if (i + 1 < recs.length) assert.ok(it.valid && same(it.ikey, recs[i + 1]!.ikey), 'seek between keys lands on the next');
      else assert.not.ok(it.valid);
    }
  } finally {
    reader.close();
  }
}

function expectCorruption(fn: () => unknown, path: string, what: string): RingkvError {
  try {
    fn();
  } catch (err) {
    if (!(err instanceof RingkvError) || err.code !== ErrorCode.CORRUPTION) throw err;
    assert.is(err.file, path, `${what}: the error names the file`);
    assert.ok(err.message.includes(path), `${what}: the message names the file`);
    return err;
  }
  assert.unreachable(`${what}: expected ERR_CORRUPTION`);
  throw new Error('unreachable');
}

// ---- behaviour -----------------------------------------------------------------------

test('table file names: 12 <-> 000012.sst, other names are not tables', () => {
  assert.is(tableFileName(12), '000012.sst');
  assert.is(tableFileName(1234567), '1234567.sst');
  assert.is(parseTableFileName('000012.sst'), 12);
  assert.is(parseTableFileName('1234567.sst'), 1234567);
  assert.is(parseTableFileName('000012.log'), undefined);
  assert.is(parseTableFileName('12.sst'), undefined);
  assert.is(parseTableFileName('000012.sst.tmp'), undefined);
});

for (const [name, vfs, base] of backends) {
  test(`${name}: empty table round trips`, () => {
    const path = newPath(base);
    const props = writeTable(vfs, path, []);
    assert.is(props.entries, 0);
    assert.is(props.smallest, undefined);
    assert.is(props.dataBlocks, 0);
    verifyTable(vfs, path, [], props);
  });

  test(`${name}: one entry round trips`, () => {
    const recs = makeRecords(1, 1, () => 100);
    const path = newPath(base);
    verifyTable(vfs, path, recs, writeTable(vfs, path, recs));
  });

  test(`${name}: 10k entries, PUT/DELETE, values of 0 B, 100 B and 1 KiB, lz4 and none`, () => {
    const sizes = [0, 100, 1024];
    for (const compression of ['lz4', 'none'] as const) {
      const recs = makeRecords(10_000, 2, (i) => sizes[i % 3]!);
      const path = newPath(base);
      const props = writeTable(vfs, path, recs, { compression });
      assert.ok(props.dataBlocks > 10_000 * 300 / 4096 / 2, 'many ~4 KiB blocks');
      verifyTable(vfs, path, recs, props, new BlockCache(1 << 20));
      verifyTable(vfs, path, recs, props, undefined);
    }
  });
}

test('200k entries round trip (RealVfs, lz4)', () => {
  const recs = makeRecords(200_000, 3, (i) => i % 101);
  const path = newPath(dir);
  const props = writeTable(real, path, recs);
  verifyTable(real, path, recs, props, new BlockCache(64 << 20));
});

test('values of 100 KiB and one of 16 MiB: a block holds one big entry', () => {
  const big = new Set([5, 17]);
  const recs = makeRecords(30, 4, (i) => (i === 11 ? 16 * 1024 * 1024 : big.has(i) ? 100 * 1024 : 100));
  for (const [name, vfs, base] of backends) {
    const path = newPath(base);
    const props = writeTable(vfs, path, recs);
    assert.ok(props.fileSize > 16 * 1024 * 1024, name);
    verifyTable(vfs, path, recs, props, new BlockCache(64 << 20));
  }
});

test('compressible values shrink with lz4; incompressible blocks are stored as they are', () => {
  const recs = makeRecords(20_000, 5, () => 200, compressibleBytes);
  const plain = writeTable(real, newPath(dir), recs, { compression: 'none' });
  const t0 = process.hrtime.bigint();
  const lz4Path = newPath(dir);
  const lz4 = writeTable(real, lz4Path, recs, { compression: 'lz4' });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  const ratio = lz4.rawDataBytes / lz4.dataBytes;
  console.log(`  lz4 on text-like values: ${lz4.rawDataBytes} -> ${lz4.dataBytes} data bytes, ratio ${ratio.toFixed(2)}x, table written in ${ms.toFixed(0)} ms`);
  assert.ok(ratio > 1.5, 'text-like data compresses');
  assert.is(plain.dataBytes, plain.rawDataBytes + 5 * plain.dataBlocks, 'none: stored = contents + trailers');
  verifyTable(real, lz4Path, recs, lz4);

  const random = makeRecords(5_000, 6, () => 200);
  const r = writeTable(real, newPath(dir), random, { compression: 'lz4' });
  assert.is(r.dataBytes, r.rawDataBytes + 5 * r.dataBlocks, 'random data: no block compressed');
});

test('blocks stay within blockSize unless one entry is bigger', () => {
  const recs = makeRecords(5_000, 7, () => 50);
  for (const blockSize of [256, 4096, 65536]) {
    const path = newPath(dir);
    const props = writeTable(real, path, recs, { blockSize, compression: 'none' });
    assert.ok(props.rawDataBytes / props.dataBlocks <= blockSize, `mean block <= ${blockSize}`);
    assert.ok(props.rawDataBytes / props.dataBlocks > blockSize * 0.75, `blocks filled near ${blockSize}`);
    verifyTable(real, path, recs, props);
  }
});

test('skewed tokens: shared tokens, clusters and the extremes 0 and 2^64-1 are all found', () => {
  // Searches interpolate on the token; data that is not uniform must still be found exactly.
  const rnd = new Random(13);
  const recs: Rec[] = [];
  const tokens: [number, number][] = [[0, 0], [0xffffffff, 0xffffffff], [0x80000000, 0], [0x80000000, 1]];
  for (let i = 0; i < 30; i++) tokens.push([0x12345678, 0x9abcdef0 + i]); // a tight cluster
  for (let i = 0; i < 100; i++) tokens.push([u32(rnd), u32(rnd)]);
  let n = 0;
  for (const [hi, lo] of tokens) {
    const copies = hi === 0x80000000 ? 400 : 3; // many keys sharing one token span blocks
    for (let c = 0; c < copies; c++) {
      const key = new TextEncoder().encode(`k${n++}`);
      recs.push({ ikey: makeIkey(key, hi, lo), kind: RecordKind.PUT, seq: n, value: randomBytes(rnd, 1 + rnd.int(300)) });
    }
  }
  recs.sort((a, b) => Buffer.compare(a.ikey, b.ikey));
  for (const [name, vfs, base] of backends) {
    const path = newPath(base);
    const props = writeTable(vfs, path, recs, { blockSize: 1024 });
    assert.ok(props.dataBlocks > 50, name);
    verifyTable(vfs, path, recs, props, new BlockCache(1 << 20));
  }
});

test('long keys, up to 64 KiB, sharing tokens round trip (byte-wise comparison past the token)', () => {
  const rnd = new Random(14);
  const recs: Rec[] = [];
  const sizes = [0, 1, 33, 40, 41, 100, 1000, 65536];
  for (let t = 0; t < 40; t++) {
    const hi = t < 20 ? 0x55555555 : u32(rnd); // half of them share one token
    const lo = t < 20 ? 7 : u32(rnd);
    for (const size of sizes) {
      const key = randomBytes(rnd, size);
      recs.push({ ikey: makeIkey(key, hi, lo), kind: RecordKind.PUT, seq: recs.length + 1, value: randomBytes(rnd, 10) });
      if (size > 0) {
        const twin = key.slice(0, size - 1); // a prefix of another key
        recs.push({ ikey: makeIkey(twin, hi, lo), kind: RecordKind.DELETE, seq: recs.length + 1, value: new Uint8Array(0) });
      }
    }
  }
  recs.sort((a, b) => Buffer.compare(a.ikey, b.ikey));
  const unique = recs.filter((r, i) => i === 0 || Buffer.compare(r.ikey, recs[i - 1]!.ikey) !== 0);
  const path = newPath(dir);
  verifyTable(real, path, unique, writeTable(real, path, unique), new BlockCache(8 << 20));
});

test('writer refuses keys out of order or repeated', () => {
  const recs = makeRecords(3, 8, () => 10);
  const file = real.open(newPath(dir), 'create');
  try {
    const w = new TableWriter(file, { expectedKeys: 3 });
    w.add(recs[1]!.ikey, RecordKind.PUT, 1, recs[1]!.value);
    assert.throws(() => w.add(recs[1]!.ikey, RecordKind.PUT, 2, recs[1]!.value), /increasing/);
    assert.throws(() => w.add(recs[0]!.ikey, RecordKind.PUT, 2, recs[0]!.value), /increasing/);
    assert.throws(() => w.add(new Uint8Array(4), RecordKind.PUT, 2, recs[0]!.value), /ikey length/);
  } finally {
    file.close();
  }
});

// ---- damage ------------------------------------------------------------------------------

/** A small table on disk for damage tests; returns its bytes and layout. */
function damageFixture(compression: 'lz4' | 'none'): { recs: Rec[]; bytes: Buffer; props: TableProperties } {
  const recs = makeRecords(3_000, 9, (i) => (i % 5) * 40, compression === 'lz4' ? compressibleBytes : randomBytes);
  const path = newPath(dir);
  const props = writeTable(real, path, recs, { compression });
  return { recs, bytes: fs.readFileSync(path), props };
}

test('a truncated table is ERR_CORRUPTION naming the file', () => {
  const { bytes, props } = damageFixture('lz4');
  const cuts = [0, 1, FOOTER_SIZE - 1, FOOTER_SIZE, 4096, props.dataBytes, props.dataBytes + 3,
    props.fileSize - FOOTER_SIZE, props.fileSize - 8, props.fileSize - 1];
  for (const cut of cuts) {
    const path = `${dir}/truncated-${cut}.sst`;
    fs.writeFileSync(path, bytes.subarray(0, cut));
    expectCorruption(() => TableReader.open(real, path, 1, undefined), path, `cut at ${cut}`);
  }
});

test('a bit flipped in the filter, the index or the footer fails open with ERR_CORRUPTION', () => {
  const { bytes, props } = damageFixture('none');
  const filterAt = props.dataBytes;
  const indexAt = filterAt + props.filterBytes;
  const footerAt = props.fileSize - FOOTER_SIZE;
  const spots: [string, number][] = [
    ['filter first byte', filterAt], ['filter middle', filterAt + (props.filterBytes >> 1)], ['filter trailer', indexAt - 1],
    ['index first byte', indexAt], ['index middle', indexAt + (props.indexBytes >> 1)], ['index trailer type', footerAt - 5],
  ];
  for (let i = 0; i < FOOTER_SIZE; i += 7) spots.push([`footer byte ${i}`, footerAt + i]);
  spots.push(['footer last byte', props.fileSize - 1]);
  for (const [what, at] of spots) {
    const damaged = Buffer.from(bytes);
    damaged[at]! ^= 0x10;
    const path = `${dir}/flipped-${at}.sst`;
    fs.writeFileSync(path, damaged);
    expectCorruption(() => TableReader.open(real, path, 1, undefined), path, what);
  }
});

for (const compression of ['none', 'lz4'] as const) {
  test(`a bit flipped in a data block (${compression}) is ERR_CORRUPTION on get and scan, never a wrong value`, () => {
    const { recs, bytes, props } = damageFixture(compression);
    const rnd = new Random(10);
    for (let trial = 0; trial < 12; trial++) {
      const at = rnd.int(props.dataBytes);
      const damaged = Buffer.from(bytes);
      damaged[at]! ^= 1 << rnd.int(8);
      const path = `${dir}/data-flip-${compression}-${at}.sst`;
      fs.writeFileSync(path, damaged);
      const reader = TableReader.open(real, path, 1, new BlockCache(1 << 20));
      try {
        const out = newTableGetResult();
        let failures = 0;
        for (const r of recs) {
          try {
            if (!reader.get(r.ikey, ikeyHi(r.ikey), ikeyLo(r.ikey), out)) assert.unreachable('present key missing');
            if (out.seq !== r.seq || out.kind !== r.kind || !same(out.value, r.value)) assert.unreachable('wrong value');
          } catch (err) {
            if (!(err instanceof RingkvError)) throw err;
            assert.is(err.code, ErrorCode.CORRUPTION);
            assert.is(err.file, path);
            assert.match(err.message, /block at offset \d+/);
            failures++;
          }
        }
        assert.ok(failures > 0, `flip at ${at} is noticed by get`);
        expectCorruption(() => {
          const it = reader.iterator();
          for (it.seekToFirst(); it.valid; it.next());
        }, path, `scan after flip at ${at}`);
      } finally {
        reader.close();
      }
    }
  });
}

// ---- the block cache in use ---------------------------------------------------------

test('gets fill the block cache within its byte budget; repeats hit; close evicts', () => {
  const recs = makeRecords(20_000, 11, () => 100);
  const path = newPath(dir);
  const props = writeTable(real, path, recs, { compression: 'none' });
  const capacity = 64 * 1024; // ~15 of the table's blocks
  const cache = new BlockCache(capacity);
  const reader = TableReader.open(real, path, 1, cache);
  const out = newTableGetResult();
  assert.ok(cache.stats.pinnedBytes >= props.filterBytes, 'the filter and index are charged to the budget');
  for (const r of recs) {
    assert.ok(reader.get(r.ikey, ikeyHi(r.ikey), ikeyLo(r.ikey), out));
    assert.ok(cache.stats.bytes <= capacity);
  }
  const slab = cache.stats.slabBytes;
  assert.ok(slab > 0 && slab + cache.stats.pinnedBytes <= capacity);
  assert.ok(cache.stats.evictions > props.dataBlocks - 20, 'a small cache evicts');
  const r0 = recs[0]!;
  reader.get(r0.ikey, ikeyHi(r0.ikey), ikeyLo(r0.ikey), out);
  const hits = cache.stats.hits;
  reader.get(r0.ikey, ikeyHi(r0.ikey), ikeyLo(r0.ikey), out);
  assert.is(cache.stats.hits, hits + 1, 'a repeated get hits');
  const held = out.value;
  reader.close();
  assert.is(cache.size, 0, 'close drops the table\'s blocks');
  assert.is(cache.stats.pinnedBytes, 0, 'and unpins its filter and index');
  assert.is(cache.stats.slabBytes, slab, 'the slab stays for the next table');
  assert.ok(same(held, r0.value), 'a value stays valid after close (it is a copy)');
  assert.throws(() => reader.get(r0.ikey, ikeyHi(r0.ikey), ikeyLo(r0.ikey), out), (e: unknown) => e instanceof RingkvError && e.code === ErrorCode.CLOSED);
});

test('format version 1 tables (standard Bloom filter) are still read; new tables are version 2 (blocked)', () => {
  const recs = makeRecords(3_000, 21, (i) => i % 200);
  for (const version of [1, 2]) {
    const path = newPath(dir);
    const props = writeTable(real, path, recs, { formatVersion: version });
    const bytes = fs.readFileSync(path);
    assert.is(bytes.readUInt32LE(bytes.length - FOOTER_SIZE + 64), version, 'the footer says its version');
    verifyTable(real, path, recs, props, new BlockCache(1 << 20));
  }
  const path = newPath(dir);
  writeTable(real, path, recs);
  const bytes = fs.readFileSync(path);
  assert.is(bytes.readUInt32LE(bytes.length - FOOTER_SIZE + 64), TABLE_FORMAT_VERSION);
  assert.is(TABLE_FORMAT_VERSION, 2);
});

test('a hit served from the cache is the block checked when it was read: a flip on disk after that is not seen, a flip before is', () => {
  const recs = makeRecords(2_000, 22, () => 50);
  const path = newPath(dir);
  writeTable(real, path, recs, { compression: 'none' });
  const cache = new BlockCache(1 << 20);
  const reader = TableReader.open(real, path, 1, cache);
  const out = newTableGetResult();
  const r0 = recs[0]!;
  assert.ok(reader.get(r0.ikey, ikeyHi(r0.ikey), ikeyLo(r0.ikey), out));
  const fd = fs.openSync(path, 'r+');
  const b = Buffer.alloc(1);
  fs.readSync(fd, b, 0, 1, 10);
  b[0]! ^= 0x10;
  fs.writeSync(fd, b, 0, 1, 10);
  fs.closeSync(fd);
  assert.ok(reader.get(r0.ikey, ikeyHi(r0.ikey), ikeyLo(r0.ikey), out), 'served from the cache');
  assert.ok(same(out.value, r0.value));
  reader.close();
  const again = TableReader.open(real, path, 1, new BlockCache(1 << 20));
  expectCorruption(() => again.get(r0.ikey, ikeyHi(r0.ikey), ikeyLo(r0.ikey), out), path, 'a flip in an uncached block');
  again.close();
});

test('an iterator does not touch the block cache', () => {
  const recs = makeRecords(5_000, 12, () => 100);
  const path = newPath(dir);
  writeTable(real, path, recs);
  const cache = new BlockCache(1 << 20);
  const reader = TableReader.open(real, path, 1, cache);
  const it = reader.iterator();
  let n = 0;
  for (it.seekToFirst(); it.valid; it.next()) n++;
  assert.is(n, recs.length);
  assert.is(cache.size, 0);
  assert.is(cache.stats.misses + cache.stats.hits, 0);
  reader.close();
});

test.run();
