// The engine's crash catalogue. The process dies at the k-th file operation (FaultyVfs
// crashAtOp) of a flush, a compaction, a stream of writes with background flushes and
// compactions, and a recovery, for every k; then the machine either keeps running (a process
// crash: every byte written is still there) or loses power (only what was synced survives,
// with or without torn unsynced tails). In every case the next open succeeds, every
// acknowledged write (a put/delete/batch that returned) reads back exactly, deleted keys stay
// deleted, the write in flight at the crash is there entirely or not at all, nothing else
// appears, no orphan file is left, and the reopened engine takes writes that survive a
// further power loss.
//
//   RINGKV_SEED=n   seed of the write stream and of the torn tails (default 1)
import { basename } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { testStorageOptions } from '../../src/storage/db/options.js';
import { RingkvError } from '../../src/errors.js';
import { FaultyVfs, MemoryVfs, openEngine, type LsmEngine, type Vfs, type WriteOp } from '../../src/storage/index.js';
import { MANIFEST_NAME, readManifest } from '../../src/storage/db/manifest.js';
import { Random } from '../../src/storage/env/random.js';
import { tableFileName } from '../../src/storage/table/sstable-format.js';
import { readWholeFile } from '../../src/storage/env/vfs.js';
import { diff, type Model } from './acked-model.js';
import { parseWalFileName } from '../../src/storage/wal/wal-format.js';

const SEED = Number(process.env.RINGKV_SEED ?? 1);
const DIR = '/db';
const enc = new TextEncoder();
const dec = new TextDecoder();

/** Tiny memtables (16 KiB), inline merges, 10 ms flush retries; compaction only when asked. */
const NO_AUTO_COMPACTION = { minMergeWidth: 1000, tierRatio: 4, maxRuns: 1000, maxSpaceAmpPercent: 1e9 };
const quiet = (vfs: Vfs) => ({ ...testStorageOptions(), dir: DIR, vfs, compaction: NO_AUTO_COMPACTION });
/** The same with the default compaction picker: background merges happen on their own. */
const busy = (vfs: Vfs) => ({ ...testStorageOptions(), dir: DIR, vfs });

// ---- the model of acknowledged writes ----


const key = (i: number) => `key-${String(i).padStart(4, '0')}`;
function value(i: number, version: number, length = 100): Uint8Array {
  const v = enc.encode(`v${version}:${key(i)}:`.padEnd(length, String.fromCharCode(97 + ((i + version) % 26))));
  return v.subarray(0, length);
}
const put = (i: number, version: number, length?: number): WriteOp => ({ type: 'put', key: enc.encode(key(i)), value: value(i, version, length) });
const del = (i: number): WriteOp => ({ type: 'delete', key: enc.encode(key(i)) });

function apply(model: Model, ops: readonly WriteOp[]): void {
  for (const op of ops) model.set(dec.decode(op.key), op.type === 'put' ? op.value : undefined);
}

/** Writes `ops` as one batch; records it in `model` only if the write returned (was acknowledged). */
function write(db: LsmEngine, model: Model, ...ops: WriteOp[]): void {
  db.write(ops);
  apply(model, ops);
}


/**
 * Checks `db` against the acknowledged writes plus, optionally, the write that was in flight
 * at the crash: all of it or none of it. Returns the model that holds, and the differences.
 */
function match(db: LsmEngine, acked: Model, inflight: readonly WriteOp[] | undefined): { model: Model; problems: string[]; applied: boolean } {
  const without = diff(db, acked);
  if (without.length === 0 || inflight === undefined) return { model: acked, problems: without, applied: false };
  const withIt = new Map(acked);
  apply(withIt, inflight);
  if (diff(db, withIt).length === 0) return { model: withIt, problems: [], applied: true };
  return { model: acked, problems: [...without, '(nor does it match with the write in flight applied)'], applied: false };
}

// ---- files ----

/** Files in DIR that the manifest does not account for (anything but it, its tables and live WAL segments). */
function orphans(vfs: Vfs): string[] {
  const state = readManifest(vfs, DIR);
  if (state === undefined) return ['(no MANIFEST)'];
  const live = new Set(state.tables.map((t) => tableFileName(t.fileNumber)));
  return vfs.readdir(DIR).filter((name) => {
    const wal = parseWalFileName(name);
    return name !== MANIFEST_NAME && !live.has(name) && !(wal !== undefined && wal >= state.logNumber);
  });
}

/**
 * Records, from now on, a description (`op file`) of each counted operation of `vfs`:
 * trace[i] is the (i+1)-th, the one crashAtOp(i + 1) would kill. Uses failWith's filter as
 * a tap (it sees every counted operation after it is counted, and never fails one).
 */
function traceOps(vfs: FaultyVfs): string[] {
  const base = vfs.ops;
  const trace: string[] = [];
  vfs.failWith('EIO', (op, path) => {
    const n = vfs.ops - base;
    if (n > trace.length) trace[n - 1] = `${op} ${basename(path)}`;
    return false;
  });
  return trace;
}

/** `{ append: 4, sync: 2, ... }` of a trace, for the log and for coverage checks. */
function opKinds(trace: readonly string[]): Record<string, number> {
  const kinds: Record<string, number> = {};
  for (const t of trace) {
    const kind = t.split(' ')[0]!;
    kinds[kind] = (kinds[kind] ?? 0) + 1;
  }
  return kinds;
}

/** A MemoryVfs image: the bytes of every file in DIR. */
type Image = Map<string, Uint8Array>;

function imageOf(vfs: Vfs): Image {
  const image: Image = new Map();
  for (const name of vfs.readdir(DIR)) image.set(name, readWholeFile(vfs, `${DIR}/${name}`));
  return image;
}

/** A fresh FaultyVfs whose disk durably holds `image`. */
function restore(image: Image): FaultyVfs {
  const mem = new MemoryVfs();
  mem.mkdirp(DIR);
  for (const [name, bytes] of image) {
    const f = mem.open(`${DIR}/${name}`, 'create');
    f.append(bytes);
    f.sync();
    f.close();
  }
  mem.syncDir(DIR);
  return new FaultyVfs(mem);
}

// ---- dying and coming back ----

const AFTERMATHS = ['process crash', 'power loss', 'power loss with torn tails'] as const;
type Aftermath = (typeof AFTERMATHS)[number];

/**
 * The process dies (if the crash point was not reached, it dies at its next file operation):
 * its engine is closed so that no timer of it runs on, every call failing. Then the machine
 * goes on (`process crash`: a new FaultyVfs over the same disk) or loses power. Returns the
 * Vfs to reopen on.
 */
async function die(db: LsmEngine | undefined, vfs: FaultyVfs, how: Aftermath, rnd: Random): Promise<FaultyVfs> {
  if (!vfs.crashed) vfs.crashAtOp(1);
  await db?.close().catch(() => {});
  vfs.crashAtOp(undefined);
  if (how === 'process crash') return new FaultyVfs(vfs.inner);
  vfs.powerLoss(how === 'power loss with torn tails' ? { tornTails: rnd } : {});
  return vfs;
}

/** Tallies of which way the writes in flight went (both are allowed). */
const inflightOutcomes = { applied: 0, absent: 0 };

/**
 * Reopens after a crash and checks everything the catalogue promises: the open succeeds,
 * the acknowledged writes (plus or minus the one in flight) are exactly there, no orphans,
 * and new writes work and survive another power loss. Returns the problems found, labelled.
 */
async function recoverAndCheck(vfs: FaultyVfs, acked: Model, label: string, inflight?: readonly WriteOp[]): Promise<string[]> {
  let db: LsmEngine | undefined;
  try {
    db = await openEngine(quiet(vfs));
    const { model, problems, applied } = match(db, acked, inflight);
    if (inflight !== undefined && problems.length === 0) inflightOutcomes[applied ? 'applied' : 'absent']++;
    const left = orphans(vfs);
    if (left.length > 0) problems.push(`orphans left after open: ${left.join(', ')}`);
    if (problems.length > 0) return problems.map((p) => `${label}: ${p}`);

    const after = new Map(model);
    write(db, after, put(9001, 1), put(9002, 1, 3000));
    write(db, after, put(9001, 2), del(9002), put(9003, 1));
    vfs.crashAtOp(1);
    await db.close().catch(() => {});
    vfs.crashAtOp(undefined);
    vfs.powerLoss();
    db = await openEngine(quiet(vfs));
    return diff(db, after).map((p) => `${label}, after new writes and another power loss: ${p}`);
  } catch (err) {
    return [`${label}: ${err instanceof Error ? err.stack : String(err)}`];
  } finally {
    await db?.close().catch(() => {});
  }
}

/** Fails the test with the first problems, if any; else logs `summary`. */
function report(problems: string[], summary: string): void {
  assert.equal(problems.slice(0, 8), [], `${problems.length} problems (replay with RINGKV_SEED=${SEED})`);
  console.log(`  ${summary}`);
}

// ---- scenarios (deterministic: the same calls, the same file operations) ----

/**
 * Two tables and a memtable waiting to be flushed, over a memtable being filled: overwrites
 * and deletes of keys in the tables, and a batch. No event-loop turn is taken, so the frozen
 * memtable's background flush has not run when the caller flushes.
 */
async function flushScenario(vfs: FaultyVfs): Promise<{ db: LsmEngine; model: Model }> {
  const db = await openEngine(quiet(vfs));
  const model: Model = new Map();
  for (let i = 0; i < 80; i++) write(db, model, put(i, 1));
  await db.flush();
  for (let i = 0; i < 30; i++) write(db, model, put(i, 2));
  for (let i = 30; i < 40; i++) write(db, model, del(i));
  write(db, model, put(80, 1), del(40), put(81, 1, 2000), del(41), put(0, 3));
  for (let i = 90; i < 130; i++) write(db, model, put(i, 1));
  return { db, model };
}

/** Four tables of overlapping keys with overwrites and deletes; tombstones may be purged. */
async function compactionScenario(vfs: FaultyVfs): Promise<{ db: LsmEngine; model: Model }> {
  const db = await openEngine(quiet(vfs));
  const model: Model = new Map();
  for (let t = 0; t < 4; t++) {
    for (let i = t * 15; i < t * 15 + 40; i++) write(db, model, put(i, t, 80 + ((i * 37) % 200)));
    for (let i = t * 15 - 10; i < t * 15; i += 3) if (i >= 0) write(db, model, del(i));
    await db.flush();
  }
  db.setPurgeHorizon(db.stats().lastSeq + 1);
  return { db, model };
}

/**
 * A store whose WAL holds writes not in any table (two segments: the power went off while a
 * frozen memtable waited for its flush), for crashes during the recovery that replays them.
 */
async function recoveryImage(): Promise<{ image: Image; model: Model }> {
  const vfs = new FaultyVfs();
  const { db, model } = await flushScenario(vfs);
  vfs.crashAtOp(1);
  await db.close().catch(() => {});
  vfs.crashAtOp(undefined);
  vfs.powerLoss();
  const image = imageOf(vfs);
  const logs = [...image.keys()].filter((n) => parseWalFileName(n) !== undefined);
  assert.ok(logs.length >= 2, `the recovery image has ${logs.length} WAL segments, want >= 2`);
  return { image, model };
}

/**
 * A stream of puts, deletes and batches (sizes from 20 B to 3 KB over 200 keys) with event-loop
 * turns between them, so memtables rotate, flushes run in the background and compactions
 * start. With `crashAt`, the process dies at that file operation after the open; the stream
 * stops at the first write that throws: that one is in flight, the rest are acknowledged.
 */
async function stream(
  vfs: FaultyVfs,
  writes: number,
  at: { crashAt?: number; afterOpen?: () => void } = {},
): Promise<{ db: LsmEngine; model: Model; inflight?: WriteOp[] }> {
  const rnd = new Random(SEED);
  const db = await openEngine(busy(vfs));
  if (at.crashAt !== undefined) vfs.crashAtOp(at.crashAt);
  at.afterOpen?.();
  const model: Model = new Map();
  let version = 0;
  const length = () => (rnd.int(20) === 0 ? 1000 + rnd.int(2000) : 20 + rnd.int(300));
  for (let n = 0; n < writes; n++) {
    const r = rnd.int(10);
    const ops: WriteOp[] = [];
    if (r < 7) ops.push(put(rnd.int(200), ++version, length()));
    else if (r < 8) ops.push(del(rnd.int(200)));
    else for (let j = 2 + rnd.int(6); j > 0; j--) ops.push(rnd.int(4) === 0 ? del(rnd.int(200)) : put(rnd.int(200), ++version, length()));
    try {
      write(db, model, ...ops);
    } catch (err) {
      if (!(err instanceof RingkvError)) throw err;
      return { db, model, inflight: ops };
    }
    if (rnd.int(3) === 0) await new Promise((r) => setImmediate(r));
  }
  return { db, model };
}

// ---- the catalogue ----

/**
 * For every op k of `trace` (and a few past its end) and every aftermath: build the scenario
 * afresh, crash at op k while `action` runs, then recover and check against the model.
 */
async function crashAtEveryOp(
  name: string,
  trace: readonly string[],
  scenario: (vfs: FaultyVfs) => Promise<{ db: LsmEngine; model: Model }>,
  action: (db: LsmEngine) => Promise<void>,
): Promise<{ problems: string[]; threw: number }> {
  const K = trace.length;
  const rnd = new Random(SEED);
  const problems: string[] = [];
  let threw = 0;
  for (let k = 1; k <= K + 3; k++) {
    for (const how of AFTERMATHS) {
      const vfs = new FaultyVfs();
      const { db, model } = await scenario(vfs);
      vfs.crashAtOp(k);
      try {
        await action(db);
      } catch (err) {
        threw++;
        if (!(err instanceof RingkvError)) problems.push(`${name} crashed at op ${k} threw a non-RingkvError: ${String(err)}`);
      }
      if (vfs.crashed !== k <= K) problems.push(`${name} with a crash at op ${k} of ${K}: crashed = ${vfs.crashed}`);
      const label = `${name}, crash at op ${k} (${trace[k - 1] ?? `after the ${name}`}), ${how}`;
      problems.push(...(await recoverAndCheck(await die(db, vfs, how, rnd), model, label)));
    }
  }
  return { problems, threw };
}

test('a crash at every file operation of a flush loses no acknowledged write', async () => {
  const probe = new FaultyVfs();
  const { db: first } = await flushScenario(probe);
  const s = first.stats();
  assert.ok(s.tables >= 1 && s.frozenMemtables === 1 && s.memtableBytes > 0, `scenario: ${JSON.stringify(s)}`);
  const tap = traceOps(probe);
  await first.flush();
  const trace = tap.slice();
  const K = trace.length;
  await first.close();
  const kinds = opKinds(trace);
  for (const kind of ['open', 'append', 'sync', 'rename', 'syncDir', 'unlink']) assert.ok(kinds[kind], `a flush does ${kind}: ${trace.join(', ')}`);

  const { problems, threw } = await crashAtEveryOp('flush', trace, flushScenario, (db) => db.flush());
  report(problems, `flush: ${K} ops (${JSON.stringify(kinds)}); ${(K + 3) * AFTERMATHS.length} crash runs, flush threw in ${threw}`);
});

test('a crash at every file operation of a compaction loses no acknowledged write', async () => {
  const probe = new FaultyVfs();
  const { db: first, model: firstModel } = await compactionScenario(probe);
  assert.is(first.stats().tables, 4);
  const tap = traceOps(probe);
  await first.compact();
  const trace = tap.slice();
  const K = trace.length;
  assert.is(first.stats().tables, 1);
  assert.equal(diff(first, firstModel), []);
  await first.close();
  const kinds = opKinds(trace);
  assert.ok(trace.some((t) => /^append \d+\.sst$/.test(t)), `the merge writes: ${trace.join(', ')}`);
  assert.ok(trace.includes('rename MANIFEST.tmp'), `the manifest is replaced: ${trace.join(', ')}`);
  assert.is(trace.filter((t) => /^unlink \d+\.sst$/.test(t)).length, 4, `the inputs are deleted: ${trace.join(', ')}`);

  const { problems, threw } = await crashAtEveryOp('compaction', trace, compactionScenario, (db) => db.compact());
  report(problems, `compaction: ${K} ops (${JSON.stringify(kinds)}); ${(K + 3) * AFTERMATHS.length} crash runs, compact threw in ${threw}`);
});

test('a crash at every file operation of a stream of writes keeps the acknowledged ones and all or none of the one in flight', async () => {
  const WRITES = 300;
  const probe = new FaultyVfs();
  let trace: string[] = [];
  const { db: first, model: firstModel } = await stream(probe, WRITES, { afterOpen: () => { trace = traceOps(probe); } });
  trace = trace.slice();
  const K = trace.length;
  const s = first.stats();
  assert.ok(s.flushes >= 5 && s.compactions >= 1, `the stream flushes and compacts: ${JSON.stringify(s)}`);
  assert.equal(diff(first, firstModel), []);
  await first.close();
  const kinds = opKinds(trace);

  // Each crash point with one aftermath in turn: every k, and each aftermath at every third k.
  const rnd = new Random(SEED);
  const problems: string[] = [];
  for (let k = 1; k <= K + 2; k++) {
    const how = AFTERMATHS[k % AFTERMATHS.length]!;
    const vfs = new FaultyVfs();
    const { db, model, inflight } = await stream(vfs, WRITES, { crashAt: k });
    // Only the crash makes a write throw (a crash in a background job, the next write finds).
    if (inflight !== undefined && !vfs.crashed) problems.push(`stream, crash at op ${k}: a write threw without a crash`);
    const label = `stream, crash at op ${k} (${trace[k - 1] ?? 'after it'}), ${how}`;
    problems.push(...(await recoverAndCheck(await die(db, vfs, how, rnd), model, label, inflight)));
  }
  report(problems, `stream of ${WRITES} writes: ${K} ops (${JSON.stringify(kinds)}); ${K + 2} crash runs; ` +
    `the write in flight was there after ${inflightOutcomes.applied}, absent after ${inflightOutcomes.absent} (or indistinguishable)`);
});

test('a crash at every file operation of a recovery, and again in the next one, loses no acknowledged write', async () => {
  const { image, model } = await recoveryImage();
  const probe = restore(image);
  const tap = traceOps(probe);
  const first = await openEngine(quiet(probe));
  const trace = tap.slice();
  const K = trace.length;
  assert.ok(first.stats().recovery.walRecords > 0, 'the recovery replays WAL records');
  assert.equal(diff(first, model), []);
  await first.close();
  assert.ok(trace.some((t) => /^append \d+\.sst$/.test(t)), `the recovery flushes what it replayed: ${trace.join(', ')}`);
  assert.ok(trace.includes('rename MANIFEST.tmp') && trace.some((t) => /^unlink \d+\.log$/.test(t)), trace.join(', '));

  const rnd = new Random(SEED);
  const problems: string[] = [];
  for (let k = 1; k <= K + 2; k++) {
    for (const how of AFTERMATHS) {
      const vfs = restore(image);
      vfs.crashAtOp(k);
      let db: LsmEngine | undefined;
      try {
        db = await openEngine(quiet(vfs));
      } catch (err) {
        if (!(err instanceof RingkvError)) problems.push(`open crashed at op ${k} threw a non-RingkvError: ${String(err)}`);
      }
      // (An open may succeed after its crash point: failed deletions of orphans are left for later.)
      if (vfs.crashed !== k <= K) problems.push(`open with a crash at op ${k} of ${K}: crashed = ${vfs.crashed}`);
      const label = `recovery, crash at op ${k} (${trace[k - 1] ?? 'after it'}), ${how}`;
      problems.push(...(await recoverAndCheck(await die(db, vfs, how, rnd), model, label)));
    }
  }

  // A crash in the recovery of a crash in the recovery (power lost both times).
  let nested = 0;
  for (let k = 1; k <= K; k++) {
    for (let j = 1; j <= K + 1; j++) {
      const vfs = restore(image);
      vfs.crashAtOp(k);
      await openEngine(quiet(vfs)).then((db) => db.close().catch(() => {}), () => {});
      vfs.crashAtOp(undefined);
      vfs.powerLoss({ tornTails: rnd });
      vfs.crashAtOp(j);
      const db = await openEngine(quiet(vfs)).catch(() => undefined);
      const label = `recovery crashed at op ${k} (${trace[k - 1]}), its recovery at op ${j}`;
      problems.push(...(await recoverAndCheck(await die(db, vfs, 'power loss with torn tails', rnd), model, label)));
      nested++;
    }
  }
  report(problems, `recovery: ${K} ops (${JSON.stringify(opKinds(trace))}); ${(K + 2) * AFTERMATHS.length} crash runs, ${nested} nested`);
});

test('orphans of a crash (a table not in the manifest, MANIFEST.tmp, old WAL segments) are removed on open and reported', async () => {
  const probe = new FaultyVfs();
  const { db: first } = await flushScenario(probe);
  const tap = traceOps(probe);
  await first.flush();
  const trace = tap.slice();
  await first.close();

  // Killed at the rename of the new manifest: the table it names and MANIFEST.tmp are orphans.
  const rename = trace.indexOf('rename MANIFEST.tmp') + 1;
  const table = trace.slice(0, rename).filter((t) => /^open \d+\.sst$/.test(t)).pop()?.split(' ')[1];
  assert.ok(rename > 0 && table !== undefined, trace.join(', '));
  let vfs = new FaultyVfs();
  let { db, model } = await flushScenario(vfs);
  vfs.crashAtOp(rename);
  await db.flush().catch(() => {});
  vfs = await die(db, vfs, 'process crash', new Random(SEED));
  assert.ok(vfs.readdir(DIR).includes('MANIFEST.tmp') && vfs.readdir(DIR).includes(table), vfs.readdir(DIR).join(' '));
  const replayed = vfs.readdir(DIR).filter((n) => parseWalFileName(n) !== undefined); // consumed by the open
  db = await openEngine(quiet(vfs));
  assert.equal(db.stats().recovery.orphansRemoved.slice().sort(), [table, 'MANIFEST.tmp', ...replayed].sort());
  assert.equal(orphans(vfs), []);
  assert.equal(diff(db, model), []);
  await db.close();

  // Killed at the deletion of the first WAL segment the new table covers: the segments are orphans.
  const unlink = trace.findIndex((t) => /^unlink \d+\.log$/.test(t)) + 1;
  assert.ok(unlink > 0, trace.join(', '));
  vfs = new FaultyVfs();
  ({ db, model } = await flushScenario(vfs));
  vfs.crashAtOp(unlink);
  await db.flush().catch(() => {});
  vfs = await die(db, vfs, 'process crash', new Random(SEED));
  const covered = readManifest(vfs, DIR)!.logNumber;
  const old = vfs.readdir(DIR).filter((n) => (parseWalFileName(n) ?? Infinity) < covered);
  const live = vfs.readdir(DIR).filter((n) => (parseWalFileName(n) ?? -1) >= covered);
  assert.ok(old.length > 0, vfs.readdir(DIR).join(' '));
  db = await openEngine(quiet(vfs));
  assert.equal(db.stats().recovery.orphansRemoved.slice().sort(), [...old, ...live].sort());
  assert.equal(orphans(vfs), []);
  assert.equal(diff(db, model), []);
  await db.close();
});

test.run();
