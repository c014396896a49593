// Merkle trees over replicas' token ranges: equal data gives equal roots; a difference is
// found by walking down only where hashes differ, and its leaf range holds the key.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { TOKEN_END } from '../../src/hash/index.js';
import { MerkleBuilder, diffLeaves, leafRange, root } from '../../src/shard/merkle.js';
import { Replica } from '../../src/shard/replica.js';
import { MemoryEngine } from '../../src/storage/index.js';
import { FrameType } from '../../src/protocol/index.js';
import { createTokenHasher } from '../../src/hash/index.js';
import { EMPTY_CLOCK, encodeContext } from '../../src/version/index.js';

const builder = await MerkleBuilder.create();
const hasher = await createTokenHasher();
const enc = new TextEncoder();

async function replica(id: number): Promise<Replica> {
  return new Replica({ replica: id, epoch: 1 }, { data: await MemoryEngine.open(), hints: await MemoryEngine.open() });
}

function put(r: Replica, key: string, value: string): Uint8Array {
  const k = enc.encode(key);
  hasher.hash(k);
  const [reply] = r.handleBatch([{ type: FrameType.PUT, hi: hasher.hi, lo: hasher.lo, key: k, context: encodeContext(EMPTY_CLOCK), value: enc.encode(value), writtenAt: 1, expiresAt: 0, maxSiblings: 8, lww: false }]);
  assert.is(reply!.type, FrameType.OBJECT);
  return (reply as { object: Uint8Array }).object;
}

function replicate(r: Replica, key: string, object: Uint8Array): void {
  const k = enc.encode(key);
  hasher.hash(k);
  r.handleBatch([{ type: FrameType.REPLICATE, hi: hasher.hi, lo: hasher.lo, key: k, object }]);
}

test('replicas with the same objects have the same root; one missing key differs in exactly its leaf', async () => {
  const a = await replica(0);
  const b = await replica(1);
  for (let i = 0; i < 2000; i++) replicate(b, `k${i}`, put(a, `k${i}`, `v${i}`));
  const ta = a.merkle(builder, 0n, TOKEN_END, 8);
  const tb = b.merkle(builder, 0n, TOKEN_END, 8);
  assert.equal(root(ta), root(tb));
  assert.is(ta.counts.reduce((x, y) => x + y, 0), 2000);

  replicate(a, 'extra', put(b, 'extra', 'only-on-a'));
  a.handleBatch([]); // nothing pending
  const b2 = b.merkle(builder, 0n, TOKEN_END, 8);
  const a2 = a.merkle(builder, 0n, TOKEN_END, 8);
  const diff = diffLeaves(a2, b2);
  assert.ok(diff.length === 0, 'extra went to both (put on b, replicated to a)');

  put(a, 'solo', 'x');
  const diff2 = diffLeaves(a.merkle(builder, 0n, TOKEN_END, 8), b2);
  assert.is(diff2.length, 1);
  const range = leafRange(a2, diff2[0]!);
  const token = hasher.token(enc.encode('solo'));
  assert.ok(token >= range.from && token < range.to, 'the leaf range holds the key');
  const keys = [...a.scanRange(range.from, range.to)].map((e) => new TextDecoder().decode(e.key));
  assert.ok(keys.includes('solo'));
});

test('a changed version of a key changes the root; sub-ranges hash only their part', async () => {
  const a = await replica(0);
  for (let i = 0; i < 500; i++) put(a, `k${i}`, 'v');
  const half = 1n << 63n;
  const before = a.merkle(builder, 0n, half, 4);
  const whole = a.merkle(builder, 0n, TOKEN_END, 4);
  assert.ok(before.counts.reduce((x, y) => x + y, 0) < 500);
  put(a, 'k1', 'v2'); // a sibling: a new version of k1
  const after = a.merkle(builder, 0n, TOKEN_END, 4);
  assert.not.equal(root(whole), root(after));
  assert.is(diffLeaves(whole, after).length, 1);
});

test.run();
