import * as fs from 'node:fs';
import * as os from 'node:os';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ErrorCode, RingkvError } from '../../src/errors.js';
import { Random } from '../../src/storage/env/random.js';
import type { OpenMode, Vfs, VfsFile } from '../../src/storage/env/vfs.js';
import { RealVfs } from '../../src/storage/env/vfs-real.js';
import {
  MAX_WAL_PAYLOAD,
  WAL_HEADER_BYTES,
  WalRecordType,
  encodeWalHeader,
  parseWalFileName,
  walFileName,
} from '../../src/storage/wal/wal-format.js';
import { type WalReadReport, readWal } from '../../src/storage/wal/wal-reader.js';
import { WalWriter } from '../../src/storage/wal/wal-writer.js';

// ---- helpers ---------------------------------------------------------------------------

/** A minimal in-memory Vfs: each file is one growable byte array; sync is a no-op. */
class TinyVfs implements Vfs {
  readonly files = new Map<string, { data: Uint8Array; length: number }>();

  /** Makes `path` hold exactly `data` (not copied: a cheap way to serve a cut-down copy). */
  put(path: string, data: Uint8Array): void {
    this.files.set(path, { data, length: data.length });
  }

  bytes(path: string): Uint8Array {
    const f = this.files.get(path);
    if (f === undefined) throw new Error(`no file ${path}`);
    return f.data.subarray(0, f.length);
  }

  open(path: string, mode: OpenMode): VfsFile {
    let f = this.files.get(path);
    if (f === undefined || mode === 'create') {
      if (f === undefined && mode === 'read') throw Object.assign(new Error(`ENOENT ${path}`), { code: 'ENOENT' });
      f = { data: new Uint8Array(64), length: 0 };
      this.files.set(path, f);
    }
    const entry = f;
    return {
      path,
      read(buf, offset, length, position) {
        const n = Math.max(0, Math.min(length, entry.length - position));
        buf.set(entry.data.subarray(position, position + n), offset);
        return n;
      },
      append(data) {
        if (entry.length + data.length > entry.data.length) {
          const grown = new Uint8Array(Math.max(entry.data.length * 2, entry.length + data.length));
          grown.set(entry.data.subarray(0, entry.length));
          entry.data = grown;
        }
        entry.data.set(data, entry.length);
        entry.length += data.length;
      },
      sync() {},
      truncate(length) {
        if (length > entry.length) throw new Error('TinyVfs only shrinks files');
        entry.length = length;
      },
      size: () => entry.length,
      close() {},
    };
  }

  exists(path: string): boolean { return this.files.has(path); }
  readdir(): string[] { return [...this.files.keys()]; }
  mkdirp(): void {}
  rename(from: string, to: string): void {
    const f = this.files.get(from);
    if (f === undefined) throw new Error(`no file ${from}`);
    this.files.set(to, f);
    this.files.delete(from);
  }
  unlink(path: string): void { this.files.delete(path); }
  syncDir(): void {}
  stat(path: string): { size: number } { return { size: this.bytes(path).length }; }
}

function osError(code: string): Error {
  return Object.assign(new Error(`${code}: simulated failure`), { code });
}

/**
 * Wraps a Vfs: the disk holds `capacity` bytes in all; the append that would pass it writes
 * the part that fits, then throws ENOSPC. Optionally every sync throws EIO. Counts appends.
 */
class FullDiskVfs implements Vfs {
  used = 0;
  appends = 0;
  failSync = false;

  constructor(private readonly inner: Vfs, public capacity: number) {}

  open(path: string, mode: OpenMode): VfsFile {
    const file = this.inner.open(path, mode);
    const self = this;
    return {
      path,
      read: (buf, offset, length, position) => file.read(buf, offset, length, position),
      append(data) {
        self.appends++;
        const room = self.capacity - self.used;
        if (data.length > room) {
          file.append(data.subarray(0, room));
          self.used += room;
          throw osError('ENOSPC');
        }
        file.append(data);
        self.used += data.length;
      },
      sync() {
        if (self.failSync) throw osError('EIO');
        file.sync();
      },
      truncate(length) {
        self.used -= file.size() - length;
        file.truncate(length);
      },
      size: () => file.size(),
      close: () => file.close(),
    };
  }

  exists(path: string): boolean { return this.inner.exists(path); }
  readdir(dir: string): string[] { return this.inner.readdir(dir); }
  mkdirp(dir: string): void { this.inner.mkdirp(dir); }
  rename(from: string, to: string): void { this.inner.rename(from, to); }
  unlink(path: string): void { this.inner.unlink(path); }
  syncDir(dir: string): void { this.inner.syncDir(dir); }
  stat(path: string): { size: number } { return this.inner.stat(path); }
}

function withTempDir(fn: (dir: string) => void): void {
  const dir = fs.mkdtempSync(os.tmpdir() + '/ringkv-wal-');
  try {
    fn(dir);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function payload(rnd: Random, size: number): Uint8Array {
  const p = new Uint8Array(size);
  for (let i = 0; i < size; i++) p[i] = rnd.int(256);
  return p;
}

/** Reads every record of `path`, copying each payload (the reader reuses its buffer). */
function readAll(vfs: Vfs, path: string): { payloads: Uint8Array[]; report: WalReadReport } {
  const payloads: Uint8Array[] = [];
  const report = readWal(vfs, path, (p) => payloads.push(p.slice()));
  return { payloads, report };
}

function same(a: Uint8Array | undefined, b: Uint8Array | undefined): boolean {
  return a !== undefined && b !== undefined && Buffer.compare(a, b) === 0;
}

function assertRecords(got: Uint8Array[], want: Uint8Array[], what: string): void {
  assert.is(got.length, want.length, `${what}: record count`);
  for (let i = 0; i < want.length; i++) {
    assert.ok(same(got[i], want[i]), `${what}: record ${i} (${want[i]!.length} bytes) differs`);
  }
}

function throwsCode(fn: () => unknown, code: string, what: string): void {
  try {
    fn();
  } catch (err) {
    assert.instance(err, RingkvError, what);
    assert.is((err as RingkvError).code, code, what);
    return;
  }
  assert.unreachable(`${what}: did not throw`);
}

/**
 * A segment of records whose sizes mix empty, tiny and multi-KiB payloads, the last ones
 * together spanning more than 4096 bytes. Built once in memory; `ends[i]` is the file
 * offset just past record i.
 */
function buildCatalogueSegment(): { bytes: Uint8Array; payloads: Uint8Array[]; ends: number[] } {
  const rnd = new Random(7);
  const sizes = [0, 1, 5, 100, 1000, 3, 2500, 0, 8, 9, 10, 3000, 0, 1, 700, 1500, 17, 0, 2];
  const vfs = new TinyVfs();
  const w = WalWriter.create(vfs, 'seg.log');
  const payloads: Uint8Array[] = [];
  const ends: number[] = [];
  for (const size of sizes) {
    const p = payload(rnd, size);
    w.add(p);
    payloads.push(p);
    ends.push(w.size);
  }
  w.close();
  return { bytes: vfs.bytes('seg.log').slice(), payloads, ends };
}

// ---- file names ------------------------------------------------------------------------

test('segment names are zero-padded to six digits and parse back', () => {
  assert.is(walFileName(7), '000007.log');
  assert.is(walFileName(0), '000000.log');
  assert.is(walFileName(1234567), '1234567.log');
  for (const n of [0, 7, 999999, 1000000, 2 ** 40]) assert.is(parseWalFileName(walFileName(n)), n);
});

test('names that are not canonical segment names do not parse', () => {
  for (const name of ['7.log', '00007.log', '0000007.log', '000007.sst', '000007.log.tmp', 'abcdef.log', 'MANIFEST', '']) {
    assert.is(parseWalFileName(name), undefined, name);
  }
});

test('format constants are the documented on-disk values', () => {
  assert.is(WAL_HEADER_BYTES, 9);
  assert.is(MAX_WAL_PAYLOAD, 64 * 1024 * 1024);
  assert.is(WalRecordType.FULL, 1);
});

test('header is masked crc32c, length, type, and the crc covers the length', () => {
  const vfs = new TinyVfs();
  const w = WalWriter.create(vfs, 'a.log');
  w.add(new Uint8Array([0xaa, 0xbb]));
  const b = vfs.bytes('a.log');
  assert.equal([...b.subarray(4)], [2, 0, 0, 0, 1, 0xaa, 0xbb]);
  // Swap in a length of 1 (and a payload of 1 byte): the old crc no longer matches.
  const tampered = new Uint8Array([...b.subarray(0, 4), 1, 0, 0, 0, 1, 0xaa]);
  vfs.put('b.log', tampered);
  const { payloads, report } = readAll(vfs, 'b.log');
  assert.is(payloads.length, 0);
  assert.match(report.damage ?? '', /checksum/);
});

// ---- round trips -------------------------------------------------------------------------

test('round trip: records of 0 B, 1 B, 100 KiB, 16 MiB+ and many small ones come back in order', () => {
  withTempDir((dir) => {
    const vfs = new RealVfs();
    const path = `${dir}/${walFileName(1)}`;
    const rnd = new Random(1);
    const sizes = [0, 1, 100 * 1024, 16 * 1024 * 1024 + 3, 0, 1];
    // Then ~3 MiB of small records, so the reader's window slides over several chunks.
    for (let i = 0; i < 3000; i++) sizes.push(rnd.int(2000));
    sizes.push(2 * 1024 * 1024 + 1, 5);
    const want = sizes.map((s) => payload(rnd, s));
    const w = WalWriter.create(vfs, path);
    for (const p of want) w.add(p);
    w.sync();
    w.close();
    const total = sizes.reduce((s, n) => s + n + WAL_HEADER_BYTES, 0);
    assert.is(fs.statSync(path).size, total);
    const { payloads, report } = readAll(vfs, path);
    assertRecords(payloads, want, 'round trip');
    assert.equal(report, { file: path, records: want.length, goodBytes: total, droppedBytes: 0, recordsAfterDamage: 0, skippedBytes: 0 });
  });
});

test('several adds then one sync: size and unsynced bytes track the records', () => {
  withTempDir((dir) => {
    const vfs = new RealVfs();
    const path = `${dir}/${walFileName(2)}`;
    const w = WalWriter.create(vfs, path);
    const want = [new Uint8Array(10).fill(1), new Uint8Array(0), new Uint8Array(300).fill(3)];
    for (const p of want) w.add(p);
    const bytes = 10 + 0 + 300 + 3 * WAL_HEADER_BYTES;
    assert.is(w.size, bytes);
    assert.is(w.unsyncedBytes, bytes);
    w.sync();
    assert.is(w.unsyncedBytes, 0);
    assert.is(w.size, bytes);
    w.add(new Uint8Array(1));
    assert.is(w.unsyncedBytes, 1 + WAL_HEADER_BYTES);
    w.sync();
    w.close();
    want.push(new Uint8Array(1));
    assertRecords(readAll(vfs, path).payloads, want, 'after syncs');
  });
});

test('each add of a batch is one append call (group commit), big records at most two', () => {
  const vfs = new FullDiskVfs(new TinyVfs(), Infinity);
  const w = WalWriter.create(vfs, 'g.log');
  const rnd = new Random(3);
  for (let i = 0; i < 200; i++) w.add(payload(rnd, rnd.int(70_000)));
  assert.is(vfs.appends, 200);
  w.add(new Uint8Array(3 * 1024 * 1024));
  assert.ok(vfs.appends <= 202);
  w.close();
});

test('records added across interleaved syncs read back as separate records', () => {
  const vfs = new TinyVfs();
  const w = WalWriter.create(vfs, 'm.log');
  const rnd = new Random(4);
  const want: Uint8Array[] = [];
  for (let i = 0; i < 500; i++) {
    const p = payload(rnd, rnd.int(300));
    w.add(p);
    want.push(p);
    if (rnd.int(10) === 0) w.sync();
  }
  w.close();
  const { payloads, report } = readAll(vfs, 'm.log');
  assertRecords(payloads, want, 'interleaved');
  assert.is(report.damage, undefined);
});

test('an empty segment reads as zero records and no damage', () => {
  const vfs = new TinyVfs();
  WalWriter.create(vfs, 'e.log').close();
  const { payloads, report } = readAll(vfs, 'e.log');
  assert.is(payloads.length, 0);
  assert.equal(report, { file: 'e.log', records: 0, goodBytes: 0, droppedBytes: 0, recordsAfterDamage: 0, skippedBytes: 0 });
});

test('creating a segment over an existing file is refused', () => {
  const vfs = new TinyVfs();
  vfs.put('x.log', new Uint8Array([1, 2, 3]));
  throwsCode(() => WalWriter.create(vfs, 'x.log'), ErrorCode.INVALID_ARGUMENT, 'create over existing');
  assert.is(vfs.bytes('x.log').length, 3);
});

test('a payload over the maximum is refused with ERR_TOO_LARGE and the writer stays usable', () => {
  const vfs = new TinyVfs();
  const w = WalWriter.create(vfs, 'big.log');
  throwsCode(() => w.add(new Uint8Array(MAX_WAL_PAYLOAD + 1)), ErrorCode.TOO_LARGE, 'oversize add');
  assert.is(w.size, 0);
  w.add(new Uint8Array([9]));
  w.close();
  assertRecords(readAll(vfs, 'big.log').payloads, [new Uint8Array([9])], 'after oversize');
});

test('a closed writer refuses add and sync with ERR_CLOSED', () => {
  const w = WalWriter.create(new TinyVfs(), 'c.log');
  w.close();
  w.close();
  throwsCode(() => w.add(new Uint8Array(1)), ErrorCode.CLOSED, 'add after close');
  throwsCode(() => w.sync(), ErrorCode.CLOSED, 'sync after close');
});

// ---- damage ------------------------------------------------------------------------------

test('torn tail catalogue: every cut of the last 4096 bytes keeps exactly the whole records before it', () => {
  const { bytes, payloads, ends } = buildCatalogueSegment();
  const size = bytes.length;
  const firstTorn = ends.findIndex((e) => e > size - 4096);
  assert.ok(firstTorn > 0 && ends.length - firstTorn >= 6, 'the cuts tear several records, the first of them > 4096 bytes from the end');
  const vfs = new TinyVfs();
  let boundaries = 0;
  for (let k = 1; k <= 4096; k++) {
    const cut = size - k;
    vfs.put('cut.log', bytes.subarray(0, cut));
    const kept = ends.filter((e) => e <= cut).length;
    const goodBytes = kept === 0 ? 0 : ends[kept - 1]!;
    let n = 0;
    const report = readWal(vfs, 'cut.log', (p) => {
      assert.ok(same(p, payloads[n]), `cut ${cut}: record ${n} differs`);
      n++;
    });
    assert.is(n, kept, `cut ${cut}: records`);
    assert.is(report.records, kept);
    assert.is(report.goodBytes, goodBytes, `cut ${cut}: goodBytes`);
    assert.is(report.droppedBytes, cut - goodBytes, `cut ${cut}: droppedBytes`);
    if (cut === goodBytes) {
      boundaries++;
      assert.is(report.damage, undefined, `cut ${cut} on a record boundary`);
    } else {
      assert.type(report.damage, 'string', `cut ${cut}: damage reported`);
    }
  }
  assert.ok(boundaries >= 5, 'some cuts fell on record boundaries');
});

test('1000 single-bit flips: the reader returns the unchanged records before the flipped one', () => {
  const { bytes, payloads, ends } = buildCatalogueSegment();
  const copy = bytes.slice();
  const vfs = new TinyVfs();
  vfs.put('flip.log', copy);
  const rnd = new Random(1000);
  for (let i = 0; i < 1000; i++) {
    const pos = rnd.int(copy.length);
    const bit = 1 << rnd.int(8);
    copy[pos]! ^= bit;
    const hit = ends.findIndex((e) => e > pos); // the record holding the flipped byte
    const start = hit === 0 ? 0 : ends[hit - 1]!;
    let n = 0;
    const report = readWal(vfs, 'flip.log', (p) => {
      assert.ok(same(p, payloads[n]), `flip at ${pos}: record ${n} changed`);
      n++;
    });
    // Resync: every record after the flipped one is found again; salvage returns them all.
    const salvaged: Uint8Array[] = [];
    const again = readWal(vfs, 'flip.log', (p) => salvaged.push(p.slice()), { salvage: true });
    copy[pos]! ^= bit;
    assert.is(n, hit, `flip at ${pos}: records kept`);
    assert.is(report.goodBytes, start);
    assert.is(report.droppedBytes, copy.length - start);
    assert.type(report.damage, 'string', `flip at ${pos}: damage reported`);
    assert.is(report.recordsAfterDamage, ends.length - hit - 1, `flip at ${pos}: records found after the damage`);
    assert.is(report.skippedBytes, ends[hit]! - start, `flip at ${pos}: only the flipped record skipped`);
    assert.is(again.records, ends.length - 1);
    assertRecords(salvaged, [...payloads.slice(0, hit), ...payloads.slice(hit + 1)], `flip at ${pos}: salvage`);
  }
});

test('garbage in the middle: resync finds the next good record; a torn tail has none after it', () => {
  const { bytes, payloads, ends } = buildCatalogueSegment();
  const vfs = new TinyVfs();
  const rnd = new Random(9);
  const cut = ends[Math.floor(ends.length / 2)]!; // a record boundary
  for (const len of [1, 8, 9, 100, 5000]) {
    const junk = payload(rnd, len);
    junk[0] = 1 + rnd.int(255);
    const file = new Uint8Array(bytes.length + len);
    file.set(bytes.subarray(0, cut));
    file.set(junk, cut);
    file.set(bytes.subarray(cut), cut + len);
    vfs.put('m.log', file);
    const kept: Uint8Array[] = [];
    const report = readWal(vfs, 'm.log', (p) => kept.push(p.slice()), { salvage: true });
    const before = ends.indexOf(cut) + 1;
    assert.is(report.goodBytes, cut, `junk ${len}`);
    assert.is(report.recordsAfterDamage, payloads.length - before, `junk ${len}`);
    assert.is(report.skippedBytes, len, `junk ${len}`);
    assertRecords(kept, payloads, `junk ${len}: salvage keeps every record`);
  }
  // The same junk at the end: a torn tail, nothing after it.
  const tail = new Uint8Array(bytes.length + 100);
  tail.set(bytes);
  tail.fill(7, bytes.length);
  vfs.put('t.log', tail);
  const report = readWal(vfs, 't.log', () => {});
  assert.is(report.recordsAfterDamage, 0);
  assert.is(report.droppedBytes, 100);
});

test('a zero-filled tail is dropped and named as such', () => {
  const { bytes, payloads } = buildCatalogueSegment();
  const vfs = new TinyVfs();
  for (const zeros of [3, WAL_HEADER_BYTES, 10_000, 3 * 1024 * 1024]) {
    const withZeros = new Uint8Array(bytes.length + zeros);
    withZeros.set(bytes);
    vfs.put('z.log', withZeros);
    const { payloads: got, report } = readAll(vfs, 'z.log');
    assertRecords(got, payloads, `zero tail ${zeros}`);
    assert.is(report.goodBytes, bytes.length);
    assert.is(report.droppedBytes, zeros);
    assert.match(report.damage ?? '', /zero-filled tail/, `zero tail ${zeros}`);
  }
});

test('garbage after a valid prefix is dropped and reported, the prefix kept', () => {
  const { bytes, payloads } = buildCatalogueSegment();
  const vfs = new TinyVfs();
  const rnd = new Random(5);
  for (const len of [1, 8, 9, 100, 5000]) {
    const junk = payload(rnd, len);
    junk[0] = 1 + rnd.int(255); // not a zero tail
    const file = new Uint8Array(bytes.length + len);
    file.set(bytes);
    file.set(junk, bytes.length);
    vfs.put('g.log', file);
    const { payloads: got, report } = readAll(vfs, 'g.log');
    assertRecords(got, payloads, `garbage ${len}`);
    assert.is(report.droppedBytes, len);
    assert.type(report.damage, 'string');
    assert.not.match(report.damage ?? '', /zero-filled/);
  }
});

test('a record with an unknown type but a good crc ends the log', () => {
  const vfs = new TinyVfs();
  const w = WalWriter.create(vfs, 't.log');
  w.add(new Uint8Array([1]));
  w.add(new Uint8Array([2]));
  const b = vfs.bytes('t.log').slice();
  // Re-encode record 2's header as type 7 with a matching crc, as a newer version might.
  const second = b.subarray(WAL_HEADER_BYTES + 1);
  encodeWalHeader(second, second.subarray(4, WAL_HEADER_BYTES), 7 as WalRecordType, new Uint8Array([2]));
  vfs.put('t.log', b);
  const { payloads, report } = readAll(vfs, 't.log');
  assertRecords(payloads, [new Uint8Array([1])], 'unknown type');
  assert.is(report.goodBytes, WAL_HEADER_BYTES + 1);
  assert.match(report.damage ?? '', /unknown record type 7/);
});

// ---- writer failures ---------------------------------------------------------------------

test('ENOSPC in the middle of a record: the writer cuts it off, breaks, and readers see only whole records', () => {
  withTempDir((dir) => {
    const vfs = new FullDiskVfs(new RealVfs(), 10_000);
    const path = `${dir}/${walFileName(3)}`;
    const w = WalWriter.create(vfs, path);
    const rnd = new Random(6);
    const written: Uint8Array[] = [];
    let failure: unknown;
    for (let i = 0; i < 100 && failure === undefined; i++) {
      const p = payload(rnd, 700);
      try {
        w.add(p);
        written.push(p);
      } catch (err) {
        failure = err;
      }
    }
    assert.instance(failure, RingkvError);
    assert.is((failure as RingkvError).code, ErrorCode.NO_SPACE);
    assert.is(written.length, Math.floor(10_000 / (700 + WAL_HEADER_BYTES)));
    assert.is(fs.statSync(path).size, w.size, 'file cut back to the last whole record');
    assert.is(w.size, written.length * (700 + WAL_HEADER_BYTES));
    vfs.capacity = Infinity; // space returns, but the writer stays broken
    throwsCode(() => w.add(new Uint8Array(1)), ErrorCode.NO_SPACE, 'add after failure');
    throwsCode(() => w.sync(), ErrorCode.NO_SPACE, 'sync after failure');
    w.close();
    const { payloads, report } = readAll(new RealVfs(), path);
    assertRecords(payloads, written, 'after ENOSPC');
    assert.is(report.droppedBytes, 0);
    assert.is(report.damage, undefined);
  });
});

test('ENOSPC between the header and payload of a big record is cut off too', () => {
  const vfs = new FullDiskVfs(new TinyVfs(), Infinity);
  const w = WalWriter.create(vfs, 'big.log');
  w.add(new Uint8Array([1, 2, 3]).fill(4));
  vfs.capacity = vfs.used + WAL_HEADER_BYTES + 1000; // the header fits, the 2 MiB payload does not
  throwsCode(() => w.add(new Uint8Array(2 * 1024 * 1024)), ErrorCode.NO_SPACE, 'big add');
  assert.is(vfs.stat('big.log').size, 3 + WAL_HEADER_BYTES);
  throwsCode(() => w.add(new Uint8Array(1)), ErrorCode.NO_SPACE, 'add after failure');
  const { payloads, report } = readAll(vfs, 'big.log');
  assertRecords(payloads, [new Uint8Array(3).fill(4)], 'after big ENOSPC');
  assert.is(report.damage, undefined);
});

test('EIO from sync breaks the writer with ERR_IO', () => {
  const vfs = new FullDiskVfs(new TinyVfs(), Infinity);
  const w = WalWriter.create(vfs, 's.log');
  w.add(new Uint8Array(5));
  vfs.failSync = true;
  throwsCode(() => w.sync(), ErrorCode.IO, 'failing sync');
  vfs.failSync = false;
  throwsCode(() => w.sync(), ErrorCode.IO, 'sync after failure');
  throwsCode(() => w.add(new Uint8Array(1)), ErrorCode.IO, 'add after failure');
  w.close();
});

test('an I/O error while reading throws ERR_IO; a missing file too', () => {
  const vfs = new TinyVfs();
  throwsCode(() => readWal(vfs, 'missing.log', () => {}), ErrorCode.IO, 'missing');
  class EioVfs extends TinyVfs {
    override open(path: string, mode: OpenMode): VfsFile {
      return { ...super.open(path, mode), read: () => { throw osError('EIO'); } };
    }
  }
  const broken = new EioVfs();
  broken.put('r.log', new Uint8Array(100));
  throwsCode(() => readWal(broken, 'r.log', () => {}), ErrorCode.IO, 'read EIO');
});

test.run();
