// REPLICATE_MANY at the replica (src/shard/replica.ts) over LSM engines on an in-memory file
// system: a batch stores exactly what one REPLICATE per entry stores (entries of one key and
// earlier writes of the batch seen), and a batch with an entry that cannot be applied is
// refused whole: ERROR naming the entry, nothing of it stored, the rest of the shard's batch
// unaffected.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createTokenHasher } from '../../src/hash/index.js';
import { FrameType, type RangeEntry, type Reply, type Request } from '../../src/protocol/index.js';
import { Replica } from '../../src/shard/replica.js';
import { MemoryVfs, openEngine } from '../../src/storage/index.js';
import type { StorageEngine } from '../../src/storage/db/types.js';
import { EMPTY_CLOCK, coordinatePut, decodeObject, encodeObject, visibleValues } from '../../src/version/index.js';

const hasher = await createTokenHasher();
const enc = new TextEncoder();
const dec = new TextDecoder();
const NOW = 1_800_000_000_000;

const engines: StorageEngine[] = [];
test.after.each(async () => {
  for (const e of engines.splice(0)) await e.close();
});

async function replica(name: string): Promise<Replica> {
  const vfs = new MemoryVfs();
  const data = await openEngine({ dir: `/${name}/data`, vfs, syncMode: 'none' });
  const hints = await openEngine({ dir: `/${name}/hints`, vfs, syncMode: 'none' });
  engines.push(data, hints);
  return new Replica({ replica: 1, epoch: 1 }, { data, hints });
}

/** An object for `key` holding `value`, coordinated by actor `writer` (distinct writers: concurrent siblings). */
function entry(key: string, value: string, writer: number): RangeEntry {
  const k = enc.encode(key);
  const t = hasher.token(k);
  const obj = coordinatePut(undefined, EMPTY_CLOCK, { replica: writer, epoch: 1 }, { value: enc.encode(value), writtenAt: NOW, expiresAt: 0 }, { maxSiblings: 64, lww: false });
  return { hi: Number(t >> 32n), lo: Number(t & 0xffffffffn), key: k, object: encodeObject(obj) };
}

const replicate = (e: RangeEntry): Request => ({ type: FrameType.REPLICATE, ...e });
const many = (entries: RangeEntry[]): Request => ({ type: FrameType.REPLICATE_MANY, entries });

/** The values `r` holds for `key`, sorted ([] when it holds nothing). */
function valuesOf(r: Replica, key: string): string[] {
  const e = entry(key, '', 1);
  const [reply] = r.handleBatch([{ type: FrameType.GET, hi: e.hi, lo: e.lo, key: e.key }]);
  if (reply!.type !== FrameType.OBJECT) throw new Error(`GET answered type ${reply!.type}`);
  if (reply!.object.length === 0) return [];
  return visibleValues(decodeObject(reply!.object), NOW).map((v) => dec.decode(v)).sort();
}

test('a REPLICATE_MANY stores what one REPLICATE per entry stores; entries of one key and earlier writes of the batch are merged', async () => {
  const one = await replica('one');
  const batched = await replica('batched');
  // Both already hold an older, concurrent version of k1.
  for (const r of [one, batched]) assert.equal(r.handleBatch([replicate(entry('k1', 'stored', 7))]).map((x) => x.type), [FrameType.ACK]);
  const entries: RangeEntry[] = [];
  for (let i = 0; i < 50; i++) entries.push(entry(`k${i}`, `v${i}`, 9));
  entries.push(entry('k0', 'concurrent', 8)); // a second entry of k0 in the same frame
  const earlier = entry('k2', 'earlier in the batch', 6);

  const singles = one.handleBatch([replicate(earlier), ...entries.map(replicate)]);
  assert.ok(singles.every((x) => x.type === FrameType.ACK));
  const replies = batched.handleBatch([replicate(earlier), many(entries)]);
  assert.equal(replies.map((x) => x.type), [FrameType.ACK, FrameType.ACK]);

  for (let i = 0; i < 50; i++) assert.equal(valuesOf(batched, `k${i}`), valuesOf(one, `k${i}`), `k${i}`);
  assert.equal(valuesOf(batched, 'k0'), ['concurrent', 'v0']);
  assert.equal(valuesOf(batched, 'k1'), ['stored', 'v1']);
  assert.equal(valuesOf(batched, 'k2'), ['earlier in the batch', 'v2']);
  // Sent again, the same frame changes nothing and is acknowledged.
  assert.equal(batched.handleBatch([many(entries)]).map((x) => x.type), [FrameType.ACK]);
  assert.equal(valuesOf(batched, 'k0'), ['concurrent', 'v0']);
});

test('a REPLICATE_MANY with an entry that does not decode applies nothing, names the entry, and leaves the rest of the batch alone', async () => {
  const r = await replica('bad');
  const entries = [entry('a', 'va', 9), entry('b', 'vb', 9), { ...entry('c', 'vc', 9), object: new Uint8Array([0xff, 1, 2, 3]) }, entry('d', 'vd', 9)];
  const other = entry('other', 'v', 9);
  const [refused, beside] = r.handleBatch([many(entries), replicate(other)]) as [Reply, Reply];
  assert.is(refused.type, FrameType.ERROR);
  if (refused.type !== FrameType.ERROR) return;
  assert.is(refused.code, 'ERR_CORRUPTION');
  assert.match(refused.message, 'REPLICATE_MANY entry 2 of 4 (key "c")');
  assert.match(refused.message, 'nothing of the frame was applied');
  assert.is(beside.type, FrameType.ACK);
  for (const key of ['a', 'b', 'c', 'd']) assert.equal(valuesOf(r, key), [], `${key} must not be stored`);
  assert.equal(valuesOf(r, 'other'), ['v']);
  // The sender resends the page without the bad object: all of it is stored.
  entries[2] = entry('c', 'vc', 9);
  assert.equal(r.handleBatch([many(entries)]).map((x) => x.type), [FrameType.ACK]);
  for (const key of ['a', 'b', 'c', 'd']) assert.equal(valuesOf(r, key), [`v${key}`]);
});

test('a REPLICATE_MANY whose merge would exceed the object limit applies nothing (ERR_TOO_LARGE)', async () => {
  const r = await replica('large');
  // Two concurrent 9 MiB values of one key: each fits alone, their merge does not (16 MiB limit).
  const big = 'x'.repeat(9 * 1024 * 1024);
  const entries = [entry('small', 'v', 9), entry('huge', big, 8), entry('huge', big, 9)];
  const reply = r.handleBatch([{ type: FrameType.REPLICATE_MANY, entries }])[0]!;
  assert.is(reply.type, FrameType.ERROR);
  if (reply.type !== FrameType.ERROR) return;
  assert.is(reply.code, 'ERR_TOO_LARGE');
  assert.match(reply.message, 'REPLICATE_MANY entry 1 of 3 (key "huge")');
  assert.equal(valuesOf(r, 'small'), []);
  assert.equal(valuesOf(r, 'huge'), []);
});

test.run();
