// The Vfs seam: one conformance suite of the contract in src/storage/env/vfs.ts run against every
// implementation (RealVfs, MemoryVfs, FaultyVfs), then MemoryVfs's durability model (what
// survives powerLoss), then FaultyVfs's faults (crash at every op, EIO/ENOSPC, a full disk).
import * as fs from 'node:fs';
import * as os from 'node:os';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Random } from '../../src/storage/env/random.js';
import { CrashError, FaultyVfs } from '../../src/storage/env/vfs-faulty.js';
import { MemoryVfs } from '../../src/storage/env/vfs-memory.js';
import { RealVfs } from '../../src/storage/env/vfs-real.js';
import { readWholeFile, writeFileAtomic, type Vfs, type VfsFile } from '../../src/storage/env/vfs.js';

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);
const text = (vfs: Vfs, path: string): string => new TextDecoder().decode(readWholeFile(vfs, path));

function throwsCode(fn: () => unknown, code: string, what = ''): void {
  try {
    fn();
  } catch (err) {
    assert.is((err as { code?: unknown }).code, code, `${what}: wrong error ${String(err)}`);
    return;
  }
  assert.unreachable(`${what}: expected an error with code ${code}`);
}

function appendAll(vfs: Vfs, path: string, ...chunks: string[]): void {
  const f = vfs.open(path, 'append');
  for (const c of chunks) f.append(bytes(c));
  f.close();
}

function randomBytes(rng: Random, n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = rng.int(256);
  return out;
}

// ---------------------------------------------------------------------------------------
// The contract, for every implementation.

interface Fixture {
  vfs: Vfs;
  /** An existing, empty directory to work in. */
  root: string;
  cleanup(): void;
}

function conformance(name: string, make: () => Fixture): void {
  const s = suite(`Vfs contract (${name})`);
  let fx!: Fixture;
  s.before.each(() => {
    fx = make();
  });
  s.after.each(() => fx.cleanup());

  s('read mode on a missing file throws ENOENT', () => {
    throwsCode(() => fx.vfs.open(`${fx.root}/nope`, 'read'), 'ENOENT');
    assert.not.ok(fx.vfs.exists(`${fx.root}/nope`));
  });

  s('opening in a missing directory throws ENOENT in every mode', () => {
    for (const mode of ['read', 'create', 'append'] as const) {
      throwsCode(() => fx.vfs.open(`${fx.root}/missing/f`, mode), 'ENOENT', mode);
    }
  });

  s('create makes an empty file and truncates an existing one', () => {
    const p = `${fx.root}/f`;
    const f = fx.vfs.open(p, 'create');
    assert.is(f.size(), 0);
    f.append(bytes('old contents'));
    f.close();
    const g = fx.vfs.open(p, 'create');
    assert.is(g.size(), 0);
    g.append(bytes('new'));
    g.close();
    assert.is(text(fx.vfs, p), 'new');
  });

  s('append creates a missing file, keeps existing bytes and writes at the end', () => {
    const p = `${fx.root}/log`;
    appendAll(fx.vfs, p, 'ab', 'cd');
    assert.ok(fx.vfs.exists(p));
    const f = fx.vfs.open(p, 'append');
    assert.is(f.size(), 4);
    f.append(bytes('ef'));
    assert.is(f.size(), 6);
    f.close();
    assert.is(text(fx.vfs, p), 'abcdef');
  });

  s('read copies from a position into a buffer offset and returns 0 at end of file', () => {
    const p = `${fx.root}/f`;
    appendAll(fx.vfs, p, '0123456789');
    const f = fx.vfs.open(p, 'read');
    const buf = new Uint8Array(8).fill(0x2e); // '.'
    assert.is(f.read(buf, 2, 3, 4), 3);
    assert.is(new TextDecoder().decode(buf), '..456...');
    assert.is(f.read(buf, 0, 8, 7), 3, 'short read at the tail');
    assert.is(f.read(buf, 0, 8, 10), 0, 'at end of file');
    assert.is(f.read(buf, 0, 8, 50), 0, 'past end of file');
    f.close();
  });

  s('size and stat include unsynced appends', () => {
    const p = `${fx.root}/f`;
    const f = fx.vfs.open(p, 'create');
    f.append(bytes('12345'));
    assert.is(f.size(), 5);
    assert.is(fx.vfs.stat(p).size, 5);
    f.sync();
    f.append(bytes('678'));
    assert.is(fx.vfs.stat(p).size, 8);
    f.close();
  });

  s('appending through a read handle throws EBADF', () => {
    const p = `${fx.root}/f`;
    appendAll(fx.vfs, p, 'x');
    const f = fx.vfs.open(p, 'read');
    throwsCode(() => f.append(bytes('y')), 'EBADF');
    f.close();
    assert.is(text(fx.vfs, p), 'x');
  });

  s('truncate shrinks, extending pads with zeros, and appends go after the new end', () => {
    const p = `${fx.root}/f`;
    const f = fx.vfs.open(p, 'create');
    f.append(bytes('abcdef'));
    f.truncate(2);
    assert.is(f.size(), 2);
    f.append(bytes('XY'));
    assert.is(text(fx.vfs, p), 'abXY');
    f.truncate(6);
    f.append(bytes('!'));
    f.close();
    assert.equal([...readWholeFile(fx.vfs, p)], [...bytes('abXY'), 0, 0, ...bytes('!')]);
  });

  s('rename moves a file and atomically replaces an existing target', () => {
    const from = `${fx.root}/new`;
    const to = `${fx.root}/current`;
    appendAll(fx.vfs, to, 'old');
    appendAll(fx.vfs, from, 'new');
    const oldHandle = fx.vfs.open(to, 'read');
    fx.vfs.rename(from, to);
    assert.not.ok(fx.vfs.exists(from));
    assert.is(text(fx.vfs, to), 'new');
    const buf = new Uint8Array(3);
    assert.is(oldHandle.read(buf, 0, 3, 0), 3);
    assert.is(new TextDecoder().decode(buf), 'old', 'a handle on the replaced file still reads it');
    oldHandle.close();
    throwsCode(() => fx.vfs.rename(from, to), 'ENOENT', 'missing source');
  });

  s('unlink removes the name but a handle opened before stays readable', () => {
    const p = `${fx.root}/f`;
    appendAll(fx.vfs, p, 'still here');
    const f = fx.vfs.open(p, 'read');
    fx.vfs.unlink(p);
    assert.not.ok(fx.vfs.exists(p));
    assert.equal(fx.vfs.readdir(fx.root), []);
    const buf = new Uint8Array(10);
    assert.is(f.read(buf, 0, 10, 0), 10);
    assert.is(new TextDecoder().decode(buf), 'still here');
    f.close();
    throwsCode(() => fx.vfs.unlink(p), 'ENOENT', 'unlink twice');
  });

  s('readdir lists the names of files and subdirectories; a missing directory is ENOENT', () => {
    appendAll(fx.vfs, `${fx.root}/b.log`, 'x');
    appendAll(fx.vfs, `${fx.root}/a.sst`, 'y');
    fx.vfs.mkdirp(`${fx.root}/sub`);
    assert.equal(fx.vfs.readdir(fx.root).sort(), ['a.sst', 'b.log', 'sub']);
    throwsCode(() => fx.vfs.readdir(`${fx.root}/nope`), 'ENOENT');
  });

  s('mkdirp creates missing parents and is idempotent', () => {
    const deep = `${fx.root}/a/b/c`;
    fx.vfs.mkdirp(deep);
    fx.vfs.mkdirp(deep);
    assert.ok(fx.vfs.exists(`${fx.root}/a`));
    assert.ok(fx.vfs.exists(deep));
    appendAll(fx.vfs, `${deep}/f`, 'z');
    assert.equal(fx.vfs.readdir(`${fx.root}/a/b`), ['c']);
    assert.is(text(fx.vfs, `${deep}/f`), 'z');
  });

  s('stat of a missing file throws ENOENT', () => {
    throwsCode(() => fx.vfs.stat(`${fx.root}/nope`), 'ENOENT');
  });

  s('readWholeFile returns every byte of a large file', () => {
    const p = `${fx.root}/big`;
    const data = randomBytes(new Random(7), 300_000);
    const f = fx.vfs.open(p, 'create');
    for (let at = 0; at < data.length; at += 4096) f.append(data.subarray(at, at + 4096));
    f.sync();
    f.close();
    assert.ok(Buffer.from(readWholeFile(fx.vfs, p)).equals(data));
  });

  s('writeFileAtomic creates, then replaces, and leaves no temporary file', () => {
    writeFileAtomic(fx.vfs, fx.root, 'CURRENT', bytes('MANIFEST-1'));
    assert.is(text(fx.vfs, `${fx.root}/CURRENT`), 'MANIFEST-1');
    writeFileAtomic(fx.vfs, fx.root, 'CURRENT', bytes('MANIFEST-22'));
    assert.is(text(fx.vfs, `${fx.root}/CURRENT`), 'MANIFEST-22');
    assert.equal(fx.vfs.readdir(fx.root), ['CURRENT']);
  });

  s.run();
}

conformance('RealVfs', () => {
  const root = fs.mkdtempSync(`${os.tmpdir()}/ringkv-vfs-`);
  return { vfs: new RealVfs(), root, cleanup: () => fs.rmSync(root, { recursive: true, force: true }) };
});

conformance('MemoryVfs', () => {
  const vfs = new MemoryVfs();
  vfs.mkdirp('/t');
  return { vfs, root: '/t', cleanup: () => {} };
});

conformance('FaultyVfs', () => {
  const vfs = new FaultyVfs();
  vfs.mkdirp('/t');
  return { vfs, root: '/t', cleanup: () => {} };
});

// ---------------------------------------------------------------------------------------
// MemoryVfs: what survives powerLoss.

const durability = suite('MemoryVfs durability');

/** A MemoryVfs with /db holding `name` whose entry is durable and whose bytes `synced` are synced. */
function withDurableFile(name: string, synced: string): { vfs: MemoryVfs; path: string } {
  const vfs = new MemoryVfs();
  vfs.mkdirp('/db');
  const path = `/db/${name}`;
  const f = vfs.open(path, 'create');
  f.append(bytes(synced));
  f.sync();
  f.close();
  vfs.syncDir('/db');
  return { vfs, path };
}

durability('unsynced appends are lost on power loss; synced ones are kept', () => {
  const { vfs, path } = withDurableFile('000001.log', 'synced');
  const f = vfs.open(path, 'append');
  f.append(bytes('+kept'));
  f.sync();
  f.append(bytes('+lost'));
  assert.is(text(vfs, path), 'synced+kept+lost');
  vfs.powerLoss();
  assert.is(text(vfs, path), 'synced+kept');
});

durability('a synced file whose directory was not synced is gone after power loss', () => {
  const vfs = new MemoryVfs();
  vfs.mkdirp('/db');
  const f = vfs.open('/db/x', 'create');
  f.append(bytes('data'));
  f.sync();
  f.close();
  vfs.powerLoss();
  assert.not.ok(vfs.exists('/db/x'));
  assert.equal(vfs.readdir('/db'), []);
});

durability('a file created and made durable by syncDir keeps only its synced bytes', () => {
  const vfs = new MemoryVfs();
  vfs.mkdirp('/db');
  const f = vfs.open('/db/x', 'create');
  vfs.syncDir('/db');
  f.append(bytes('never synced'));
  vfs.powerLoss();
  assert.ok(vfs.exists('/db/x'));
  assert.is(vfs.stat('/db/x').size, 0);
});

durability('a rename not followed by syncDir reverts, with the old target contents back', () => {
  const { vfs } = withDurableFile('CURRENT', 'v1');
  const f = vfs.open('/db/CURRENT.tmp', 'create');
  f.append(bytes('v2'));
  f.sync();
  f.close();
  vfs.rename('/db/CURRENT.tmp', '/db/CURRENT');
  assert.is(text(vfs, '/db/CURRENT'), 'v2');
  vfs.powerLoss();
  assert.is(text(vfs, '/db/CURRENT'), 'v1');
  assert.not.ok(vfs.exists('/db/CURRENT.tmp'), 'the tmp entry was never durable either');
});

durability('a rename followed by syncDir survives power loss', () => {
  const { vfs } = withDurableFile('CURRENT', 'v1');
  writeFileAtomic(vfs, '/db', 'CURRENT', bytes('v2'));
  vfs.powerLoss();
  assert.is(text(vfs, '/db/CURRENT'), 'v2');
  assert.equal(vfs.readdir('/db'), ['CURRENT']);
});

durability('a cross-directory rename is durable on each side only with that side synced', () => {
  const vfs = new MemoryVfs();
  vfs.mkdirp('/a');
  vfs.mkdirp('/b');
  appendAll(vfs, '/a/f', 'x');
  vfs.open('/a/f', 'append').sync();
  vfs.syncDir('/a');
  vfs.rename('/a/f', '/b/f');
  vfs.syncDir('/b');
  vfs.powerLoss();
  assert.ok(vfs.exists('/a/f') && vfs.exists('/b/f'), 'removal from /a not durable yet');
  vfs.rename('/a/f', '/b/f');
  vfs.syncDir('/a');
  vfs.syncDir('/b');
  vfs.powerLoss();
  assert.not.ok(vfs.exists('/a/f'));
  assert.is(text(vfs, '/b/f'), 'x');
});

durability('an unlink reverts without syncDir and is permanent with it', () => {
  const { vfs, path } = withDurableFile('old.sst', 'table');
  vfs.unlink(path);
  vfs.powerLoss();
  assert.is(text(vfs, path), 'table');
  vfs.unlink(path);
  vfs.syncDir('/db');
  vfs.powerLoss();
  assert.not.ok(vfs.exists(path));
});

durability('an unsynced truncate reverts to the synced bytes; a synced one is kept', () => {
  const { vfs, path } = withDurableFile('f', 'abcdef');
  const f = vfs.open(path, 'append');
  f.truncate(2);
  f.append(bytes('XYZW'));
  vfs.powerLoss();
  assert.is(text(vfs, path), 'abcdef');
  const g = vfs.open(path, 'append');
  g.truncate(3);
  g.sync();
  g.append(bytes('!'));
  vfs.powerLoss();
  assert.is(text(vfs, path), 'abc');
});

durability('create on an existing file is an unsynced truncate', () => {
  const { vfs, path } = withDurableFile('f', 'durable');
  vfs.open(path, 'create').append(bytes('new'));
  vfs.powerLoss();
  assert.is(text(vfs, path), 'durable');
});

durability('many small appends across buffer growth keep every byte and the sync point', () => {
  const { vfs, path } = withDurableFile('wal', '');
  const data = randomBytes(new Random(3), 30_000);
  const f = vfs.open(path, 'append');
  for (let at = 0; at < data.length; at += 3) {
    f.append(data.subarray(at, at + 3));
    if (at === 12_000) f.sync();
  }
  assert.ok(Buffer.from(readWholeFile(vfs, path)).equals(data));
  vfs.powerLoss();
  assert.ok(Buffer.from(readWholeFile(vfs, path)).equals(data.subarray(0, 12_003)));
});

/**
 * A deadline for a million one-byte appends, not a speed limit: growing geometrically they
 * take well under a second, copying the whole file on each append (5 * 10^11 bytes) minutes.
 */
const MILLION_APPENDS_DEADLINE_MS = 60_000;

durability('appends grow the buffer geometrically (a million one-byte appends finish)', () => {
  const { vfs, path } = withDurableFile('wal', '');
  const f = vfs.open(path, 'append');
  const one = new Uint8Array([0x61]);
  const deadline = performance.now() + MILLION_APPENDS_DEADLINE_MS;
  for (let i = 0; i < 1_000_000; i++) {
    f.append(one);
    if (i % 65_536 === 0 && performance.now() > deadline) assert.unreachable(`only ${i} appends in ${MILLION_APPENDS_DEADLINE_MS} ms: per-append reallocation?`);
  }
  assert.is(f.size(), 1_000_000);
});

durability('torn tails keep a prefix of the unsynced appends, of varying length', () => {
  const lengths = new Set<number>();
  for (let seed = 1; seed <= 40; seed++) {
    const { vfs, path } = withDurableFile('wal', 'SYNCED:');
    appendAll(vfs, path, 'unsynced-', 'tail');
    vfs.powerLoss({ tornTails: new Random(seed) });
    const got = text(vfs, path);
    assert.ok('SYNCED:unsynced-tail'.startsWith(got) && got.startsWith('SYNCED:'), `seed ${seed}: ${got}`);
    lengths.add(got.length);
  }
  assert.ok(lengths.size >= 4, `only ${lengths.size} distinct torn lengths`);
});

durability('a torn tail never holds bytes that were truncated away before power loss', () => {
  for (let seed = 1; seed <= 30; seed++) {
    const vfs = new MemoryVfs();
    vfs.mkdirp('/db');
    const f = vfs.open('/db/f', 'create');
    vfs.syncDir('/db');
    f.append(bytes('SECRET-BYTES'));
    f.truncate(0);
    f.append(bytes('ok'));
    vfs.powerLoss({ tornTails: new Random(seed) });
    const got = text(vfs, '/db/f');
    assert.ok('ok'.startsWith(got), `seed ${seed}: ${got}`);
  }
});

durability('the same seed tears the same way', () => {
  const run = (seed: number): string => {
    const { vfs, path } = withDurableFile('wal', '');
    appendAll(vfs, path, 'abcdefghijklmnopqrstuvwxyz');
    vfs.powerLoss({ tornTails: new Random(seed) });
    return text(vfs, path);
  };
  for (let seed = 1; seed <= 10; seed++) assert.is(run(seed), run(seed));
});

durability('every handle opened before power loss throws EBADF', () => {
  const { vfs, path } = withDurableFile('f', 'x');
  const f = vfs.open(path, 'append');
  vfs.powerLoss();
  throwsCode(() => f.read(new Uint8Array(1), 0, 1, 0), 'EBADF', 'read');
  throwsCode(() => f.append(bytes('y')), 'EBADF', 'append');
  throwsCode(() => f.sync(), 'EBADF', 'sync');
  throwsCode(() => f.truncate(0), 'EBADF', 'truncate');
  throwsCode(() => f.size(), 'EBADF', 'size');
  throwsCode(() => f.close(), 'EBADF', 'close');
  assert.is(text(vfs, path), 'x', 'new handles work');
});

durability('directories made by mkdirp survive power loss', () => {
  const vfs = new MemoryVfs();
  vfs.mkdirp('/data/shard-0');
  vfs.powerLoss();
  assert.ok(vfs.exists('/data/shard-0'));
});

durability('totalBytes sums current file sizes, not unlinked files', () => {
  const vfs = new MemoryVfs();
  vfs.mkdirp('/db');
  appendAll(vfs, '/db/a', '12345');
  appendAll(vfs, '/db/b', '678');
  assert.is(vfs.totalBytes(), 8);
  vfs.unlink('/db/a');
  assert.is(vfs.totalBytes(), 3);
});

durability.run();

// ---------------------------------------------------------------------------------------
// FaultyVfs: crashes, injected errors, a full disk.

const faults = suite('FaultyVfs faults');

/** Contents of the files in /db, or null when /db does not exist. */
type Snapshot = Record<string, string> | null;

function snapshot(vfs: Vfs): Snapshot {
  if (!vfs.exists('/db')) return null;
  const out: Record<string, string> = {};
  for (const name of vfs.readdir('/db')) out[name] = text(vfs, `/db/${name}`);
  return out;
}

type Handles = Map<string, VfsFile>;
const handle = (h: Handles, name: string): VfsFile => {
  const f = h.get(name);
  if (f === undefined) throw new Error(`script bug: no handle ${name}`);
  return f;
};

/** One mutating op each; `current` and `durable` are the states right after it. */
const SCRIPT: { name: string; run(v: Vfs, h: Handles): void; current: Snapshot; durable: Snapshot }[] = [
  { name: 'mkdirp /db', run: (v) => v.mkdirp('/db'), current: {}, durable: {} },
  { name: 'create a', run: (v, h) => void h.set('a', v.open('/db/a', 'create')), current: { a: '' }, durable: {} },
  { name: 'append hello', run: (_, h) => handle(h, 'a').append(bytes('hello')), current: { a: 'hello' }, durable: {} },
  { name: 'sync a', run: (_, h) => handle(h, 'a').sync(), current: { a: 'hello' }, durable: {} },
  { name: 'syncDir', run: (v) => v.syncDir('/db'), current: { a: 'hello' }, durable: { a: 'hello' } },
  { name: 'append world', run: (_, h) => handle(h, 'a').append(bytes(' world')), current: { a: 'hello world' }, durable: { a: 'hello' } },
  { name: 'create b', run: (v, h) => void h.set('b', v.open('/db/b', 'create')), current: { a: 'hello world', b: '' }, durable: { a: 'hello' } },
  { name: 'append bee', run: (_, h) => handle(h, 'b').append(bytes('bee')), current: { a: 'hello world', b: 'bee' }, durable: { a: 'hello' } },
  { name: 'sync b', run: (_, h) => handle(h, 'b').sync(), current: { a: 'hello world', b: 'bee' }, durable: { a: 'hello' } },
  { name: 'rename b c', run: (v) => v.rename('/db/b', '/db/c'), current: { a: 'hello world', c: 'bee' }, durable: { a: 'hello' } },
  { name: 'syncDir', run: (v) => v.syncDir('/db'), current: { a: 'hello world', c: 'bee' }, durable: { a: 'hello', c: 'bee' } },
  { name: 'sync a', run: (_, h) => handle(h, 'a').sync(), current: { a: 'hello world', c: 'bee' }, durable: { a: 'hello world', c: 'bee' } },
  { name: 'truncate a 5', run: (_, h) => handle(h, 'a').truncate(5), current: { a: 'hello', c: 'bee' }, durable: { a: 'hello world', c: 'bee' } },
  { name: 'append !', run: (_, h) => handle(h, 'a').append(bytes('!')), current: { a: 'hello!', c: 'bee' }, durable: { a: 'hello world', c: 'bee' } },
  { name: 'sync a', run: (_, h) => handle(h, 'a').sync(), current: { a: 'hello!', c: 'bee' }, durable: { a: 'hello!', c: 'bee' } },
  { name: 'unlink c', run: (v) => v.unlink('/db/c'), current: { a: 'hello!' }, durable: { a: 'hello!', c: 'bee' } },
  { name: 'syncDir', run: (v) => v.syncDir('/db'), current: { a: 'hello!' }, durable: { a: 'hello!' } },
];

faults('the script counts one op per step and ends in its last durable state', () => {
  const v = new FaultyVfs();
  const h: Handles = new Map();
  for (const step of SCRIPT) step.run(v, h);
  assert.is(v.ops, SCRIPT.length);
  v.powerLoss();
  assert.equal(snapshot(v), SCRIPT[SCRIPT.length - 1]?.durable);
});

faults('crash at op k: earlier ops applied, op k not, and power loss keeps what was synced before it', () => {
  for (let k = 1; k <= SCRIPT.length; k++) {
    const v = new FaultyVfs();
    const h: Handles = new Map();
    v.crashAtOp(k);
    for (const step of SCRIPT.slice(0, k - 1)) step.run(v, h);
    assert.not.ok(v.crashed, `k=${k}: crashed early`);
    const step = SCRIPT[k - 1];
    const before = SCRIPT[k - 2];
    throwsCode(() => step?.run(v, h), 'ECRASH', `k=${k} (${step?.name})`);
    assert.ok(v.crashed);
    assert.is(v.ops, k);
    assert.equal(snapshot(v.inner), before?.current ?? null, `k=${k} (${step?.name}): current state before power loss`);
    v.powerLoss();
    assert.not.ok(v.crashed);
    assert.equal(snapshot(v), before?.durable ?? null, `k=${k} (${step?.name}): durable state after power loss`);
  }
});

faults('crashAtOp counts from the call and undefined cancels it', () => {
  const v = new FaultyVfs();
  v.mkdirp('/db');
  v.mkdirp('/db');
  v.crashAtOp(2);
  v.mkdirp('/x');
  throwsCode(() => v.mkdirp('/y'), 'ECRASH');
  assert.is(v.ops, 4);
  v.powerLoss();
  assert.not.ok(v.exists('/y'));
  v.crashAtOp(1);
  v.crashAtOp(undefined);
  v.mkdirp('/z');
  assert.not.ok(v.crashed);
});

faults('after a crash every call throws CrashError until power loss', () => {
  const v = new FaultyVfs();
  v.mkdirp('/db');
  const f = v.open('/db/f', 'create');
  v.crashAtOp(1);
  throwsCode(() => f.append(bytes('x')), 'ECRASH');
  const calls: [string, () => unknown][] = [
    ['exists', () => v.exists('/db/f')],
    ['readdir', () => v.readdir('/db')],
    ['stat', () => v.stat('/db/f')],
    ['open read', () => v.open('/db/f', 'read')],
    ['handle read', () => f.read(new Uint8Array(1), 0, 1, 0)],
    ['handle size', () => f.size()],
    ['handle close', () => f.close()],
    ['syncDir', () => v.syncDir('/db')],
  ];
  for (const [name, call] of calls) {
    try {
      call();
      assert.unreachable(`${name} ran on a crashed Vfs`);
    } catch (err) {
      assert.instance(err, CrashError, name);
    }
  }
  v.powerLoss();
  assert.ok(v.exists('/db'));
  throwsCode(() => f.size(), 'EBADF', 'handles from before the crash are dead');
});

faults('reads are not counted; each mutating op is', () => {
  const v = new FaultyVfs();
  v.mkdirp('/db');
  appendAll(v, '/db/f', 'abc'); // open append + append
  assert.is(v.ops, 3);
  const f = v.open('/db/f', 'read');
  f.read(new Uint8Array(3), 0, 3, 0);
  f.size();
  f.close();
  v.exists('/db/f');
  v.readdir('/db');
  v.stat('/db/f');
  readWholeFile(v, '/db/f');
  assert.is(v.ops, 3);
  const g = v.open('/db/f', 'append');
  g.sync();
  g.truncate(1);
  v.rename('/db/f', '/db/g');
  v.syncDir('/db');
  v.unlink('/db/g');
  assert.is(v.ops, 9);
});

faults('failWith EIO fails only the ops its filter matches, and they have no effect', () => {
  const v = new FaultyVfs();
  v.mkdirp('/db');
  appendAll(v, '/db/a', 'a1');
  appendAll(v, '/db/b', 'b1');
  v.syncDir('/db');
  v.failWith('EIO', (op, path) => (op === 'sync' || op === 'rename') && path === '/db/a');
  const a = v.open('/db/a', 'append');
  const b = v.open('/db/b', 'append');
  throwsCode(() => a.sync(), 'EIO', 'sync a');
  b.sync();
  throwsCode(() => v.rename('/db/a', '/db/c'), 'EIO', 'rename a');
  assert.equal(v.readdir('/db'), ['a', 'b'], 'failed rename changed nothing');
  v.failWith(undefined);
  a.append(bytes('a2'));
  v.powerLoss();
  assert.equal(snapshot(v), { a: '', b: 'b1' }, 'the failed sync made nothing durable');
});

faults('failWith without a filter fails every named op but never exists, readdir, stat or size', () => {
  const v = new FaultyVfs();
  v.mkdirp('/db');
  const f = v.open('/db/f', 'create');
  v.failWith('EIO');
  throwsCode(() => v.open('/db/f', 'read'), 'EIO', 'open');
  throwsCode(() => f.read(new Uint8Array(1), 0, 1, 0), 'EIO', 'read');
  throwsCode(() => v.unlink('/db/f'), 'EIO', 'unlink');
  throwsCode(() => v.mkdirp('/db/x'), 'EIO', 'mkdirp');
  assert.ok(v.exists('/db/f'));
  assert.equal(v.readdir('/db'), ['f']);
  assert.is(v.stat('/db/f').size, 0);
  assert.is(f.size(), 0);
});

faults('an append failing with ENOSPC writes nothing, or half with partialWrites', () => {
  const v = new FaultyVfs();
  v.mkdirp('/db');
  const f = v.open('/db/f', 'create');
  v.failWith('ENOSPC', (op) => op === 'append');
  throwsCode(() => f.append(bytes('12345678')), 'ENOSPC');
  assert.is(f.size(), 0);
  v.partialWrites = true;
  throwsCode(() => f.append(bytes('12345678')), 'ENOSPC');
  assert.is(text(v.inner, '/db/f'), '1234');
  v.failWith(undefined);
  f.append(bytes('!'));
  assert.is(text(v, '/db/f'), '1234!');
});

faults('spaceLimit fails appends past it with ENOSPC; clearing it lets appends work again', () => {
  const v = new FaultyVfs();
  v.mkdirp('/db');
  appendAll(v, '/db/other', '1234');
  const f = v.open('/db/f', 'create');
  v.spaceLimit = 10;
  f.append(bytes('abc'));
  throwsCode(() => f.append(bytes('defghi')), 'ENOSPC');
  assert.is(f.size(), 3, 'no partial write by default');
  v.spaceLimit = undefined;
  f.append(bytes('defghi'));
  assert.is(text(v, '/db/f'), 'abcdefghi');
});

faults('under spaceLimit with partialWrites an append stores what fits before ENOSPC', () => {
  const v = new FaultyVfs();
  v.mkdirp('/db');
  v.partialWrites = true;
  v.spaceLimit = 5;
  const f = v.open('/db/f', 'create');
  throwsCode(() => f.append(bytes('abcdefgh')), 'ENOSPC');
  assert.is(text(v, '/db/f'), 'abcde');
  throwsCode(() => f.append(bytes('x')), 'ENOSPC', 'disk stays full');
  assert.is(v.totalBytes(), 5);
});

faults.run();

// ---------------------------------------------------------------------------------------
// Random: the seeded source every seeded test relies on.

const random = suite('Random');

random('the same seed gives the same sequence; different seeds differ', () => {
  const a = new Random(42);
  const b = new Random(42);
  const c = new Random(43);
  const seqA = Array.from({ length: 20 }, () => a.next());
  assert.equal(Array.from({ length: 20 }, () => b.next()), seqA);
  assert.not.equal(Array.from({ length: 20 }, () => c.next()), seqA);
});

random('int(n) stays in [0, n) and hits every value', () => {
  const rng = new Random(1);
  const counts = new Array<number>(10).fill(0);
  for (let i = 0; i < 10_000; i++) {
    const x = rng.int(10);
    assert.ok(Number.isInteger(x) && x >= 0 && x < 10, String(x));
    counts[x] = (counts[x] ?? 0) + 1;
  }
  for (const n of counts) assert.ok(n > 800 && n < 1200, `skewed: ${counts.join(',')}`);
});

random.run();
