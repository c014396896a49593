// Merkle trees over replicas' token ranges: equal data gives equal roots; a difference is
// found by walking down only where hashes differ, and its leaf range holds the key.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { TOKEN_END } from '../../src/hash/index.js';
import { MerkleBuilder, diffLeaves, differingLeaves, leafBounds, leafRange, root } from '../../src/shard/merkle.js';
import { RANGE_MAX_ENTRIES, Replica, TREE_MAX_ENTRIES } from '../../src/shard/replica.js';
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

test('leafBounds cut a range exactly as tokens are assigned to leaves, with no gap or overlap', () => {
  const b = new MerkleBuilder();
  for (const [from, to, depth] of [[0n, TOKEN_END, 8], [5n, 1000n, 4], [1n << 60n, (1n << 60n) + 7n, 3], [123n, 124n, 0]] as const) {
    let at = from;
    for (let i = 0; i < 1 << depth; i++) {
      const r = leafBounds(from, to, depth, i);
      assert.is(r.from, at, 'leaves tile the range');
      at = r.to;
      for (const t of [r.from, r.to - 1n]) {
        if (t < r.from || t >= to || r.to <= r.from) continue;
        const counts = new Array<number>(1 << depth).fill(0);
        b.hashLeaves([{ token: t, key: new Uint8Array(1), value: new Uint8Array(1) }], from, to, depth, 10, counts);
        assert.is(counts[i], 1, `token ${t} lands in leaf ${i}`);
      }
    }
    assert.is(at, to);
  }
});

test('hashLeaves refuses a range holding more than maxEntries, and equal data gives equal leaves', async () => {
  const a = await replica(0);
  const b = await replica(1);
  for (let i = 0; i < 300; i++) replicate(b, `k${i}`, put(a, `k${i}`, `v${i}`));
  const mb = new MerkleBuilder();
  const cut = mb.hashLeaves(a.scanRange(0n, TOKEN_END), 0n, TOKEN_END, 6, 299);
  assert.equal([cut.complete, cut.entries, cut.leaves.length], [false, 299, 0]);
  const la = mb.hashLeaves(a.scanRange(0n, TOKEN_END), 0n, TOKEN_END, 6, 300);
  const lb = mb.hashLeaves(b.scanRange(0n, TOKEN_END), 0n, TOKEN_END, 6, 300);
  assert.ok(la.complete);
  assert.is(la.leaves.length, 64 * 32);
  assert.equal(differingLeaves([la.leaves, lb.leaves]), []);
  // The leaf level agrees with build(): the same hashes, and the root built from them.
  const tree = mb.build(a.scanRange(0n, TOKEN_END), 0n, TOKEN_END, 6);
  assert.equal(Buffer.concat(tree.levels[0]!), Buffer.from(la.leaves));
  put(a, 'k7', 'changed');
  const lc = mb.hashLeaves(a.scanRange(0n, TOKEN_END), 0n, TOKEN_END, 6, 1000);
  const diff = differingLeaves([lb.leaves, lc.leaves]);
  assert.is(diff.length, 1);
  const range = leafBounds(0n, TOKEN_END, 6, diff[0]!);
  const t = hasher.token(enc.encode('k7'));
  assert.ok(t >= range.from && t < range.to);
});

test('TREE and RANGE frames: a replica caps the work of one request and pages without splitting a token', async () => {
  const a = await replica(0);
  const n = TREE_MAX_ENTRIES + 10;
  const batch = [];
  for (let i = 0; i < n; i++) {
    const k = enc.encode(`big${i}`);
    hasher.hash(k);
    batch.push({ type: FrameType.PUT, hi: hasher.hi, lo: hasher.lo, key: k, context: encodeContext(EMPTY_CLOCK), value: enc.encode('v'), writtenAt: 1, expiresAt: 0, maxSiblings: 8, lww: false } as const);
  }
  a.handleBatch(batch);
  const whole = { from: { hi: 0, lo: 0, end: false }, to: { hi: 0, lo: 0, end: true } };
  const [refused, half] = a.handleBatch([
    { type: FrameType.TREE, ...whole, depth: 4, maxEntries: 1 << 30 },
    { type: FrameType.TREE, from: whole.from, to: { hi: 0x80000000, lo: 0, end: false }, depth: 4, maxEntries: 1 << 30 },
  ]);
  assert.equal(refused, { type: FrameType.HASHES, entries: TREE_MAX_ENTRIES, complete: false, leaves: new Uint8Array(0) });
  assert.is((half as any).complete, true);
  assert.ok((half as any).entries > n / 3 && (half as any).entries < (2 * n) / 3);

  let from = whole.from;
  let seen = 0;
  let pages = 0;
  for (;;) {
    const [page] = a.handleBatch([{ type: FrameType.RANGE, from, to: whole.to, max: 1000, maxBytes: 1 << 30 }]) as any[];
    assert.is(page.type, FrameType.OBJECTS);
    seen += page.entries.length;
    pages++;
    assert.ok(page.entries.length <= RANGE_MAX_ENTRIES);
    if (page.done) break;
    const last = page.entries[page.entries.length - 1];
    assert.ok(page.next.hi > last.hi || (page.next.hi === last.hi && page.next.lo > last.lo), 'the next page starts after the last token');
    from = page.next;
  }
  assert.is(seen, n);
  assert.ok(pages >= n / 1000 && pages <= n / 1000 + 2, `${pages} pages`);
  const [small] = a.handleBatch([{ type: FrameType.RANGE, ...whole, max: 10, maxBytes: 1 }]) as any[];
  assert.is(small.entries.length, 1, 'a byte limit below one object still returns one');
});

test.run();
