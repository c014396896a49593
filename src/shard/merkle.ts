// Runs on: any thread (a shard worker today; a piscina job later for trees over immutable
// files). Merkle trees over a token range of a replica's data, for anti-entropy: two
// replicas of a range compare roots, look further only where hashes differ, and exchange
// just the keys of the leaves that differ.
//
// The range [from, to) is cut into 2^depth leaves by token: a token t falls in leaf
// floor((t - from) * 2^depth / (to - from)), so leaf i is [from + ceil(i * span / 2^depth),
// from + ceil((i + 1) * span / 2^depth)). A leaf's hash is the SHA-256 of its entries in
// (token, key) order, each as
//
//   [key length u32 LE][key bytes][object length u32 LE][object bytes]
//
// (the token is a function of the key, so it needs no bytes of its own); an empty leaf
// hashes no bytes. An inner node is SHA-256(left ‖ right). The object codec encodes equal
// objects to identical bytes, so replicas holding the same versions have the same hashes.
// SHA-256 comes from node:crypto (about 4x hash-wasm's speed here, docs/notes.md); entries are
// gathered into one scratch buffer per leaf so each leaf costs one hash update, not four
// per entry.
import { createHash } from 'node:crypto';

export interface MerkleEntry {
  token: bigint;
  key: Uint8Array;
  /** The stored object's bytes. */
  value: Uint8Array;
}

/** Bytes of one hash (SHA-256). */
export const MERKLE_HASH_BYTES = 32;
/** Deepest tree build() and hashLeaves() accept: 2^20 leaves is 32 MiB of hashes. */
export const MAX_MERKLE_DEPTH = 20;

export interface MerkleTree {
  from: bigint;
  to: bigint;
  depth: number;
  /** levels[0]: the 2^depth leaves; levels[depth]: [root]. Each hash 32 bytes. */
  levels: Uint8Array[][];
  /** Entries per leaf. */
  counts: number[];
}

/** The leaf level of a range, possibly cut short (see hashLeaves). */
export interface LeafHashes {
  /** Entries hashed (when !complete: the cap that was reached). */
  entries: number;
  /** False when the range held more than maxEntries entries: `leaves` is then empty. */
  complete: boolean;
  /** 2^depth hashes of 32 bytes, back to back. */
  leaves: Uint8Array;
}

/** SHA-256 of no bytes: the hash of an empty leaf. */
const EMPTY_LEAF = createHash('sha256').digest();
/** A leaf's bytes are handed to the hash in chunks of at most this (bounds the scratch buffer). */
const CHUNK_BYTES = 256 * 1024;

/** Builds trees. Holds a scratch buffer: one per thread, not for concurrent use. */
export class MerkleBuilder {
  private scratch = new Uint8Array(16 * 1024);
  private at = 0;
  private hash: ReturnType<typeof createHash> | undefined;

  /** Kept for callers written when the hash came from hash-wasm (asynchronous to create). */
  static async create(): Promise<MerkleBuilder> {
    return new MerkleBuilder();
  }

  /** REQUIRES: entries in (token, key) order, all with from <= token < to; 0 <= depth <= 20. */
  build(entries: Iterable<MerkleEntry>, from: bigint, to: bigint, depth: number): MerkleTree {
    const counts = new Array<number>(1 << depth).fill(0);
    const flat = this.hashLeaves(entries, from, to, depth, Infinity, counts).leaves;
    const hashes: Uint8Array[] = [];
    for (let i = 0; i < 1 << depth; i++) hashes.push(flat.subarray(i * MERKLE_HASH_BYTES, (i + 1) * MERKLE_HASH_BYTES));
    const levels: Uint8Array[][] = [hashes];
    for (let level = hashes; level.length > 1; ) {
      const up: Uint8Array[] = [];
      for (let j = 0; j < level.length; j += 2) up.push(createHash('sha256').update(level[j]!).update(level[j + 1]!).digest());
      levels.push(up);
      level = up;
    }
    return { from, to, depth, levels, counts };
  }

  /**
   * The 2^depth leaf hashes of `entries` over [from, to). Stops at the (maxEntries + 1)th
   * entry and answers { complete: false } without leaves: the work per call is bounded by
   * maxEntries entries, whatever the range holds. `counts`, if given, receives entries per leaf.
   * REQUIRES: entries in (token, key) order, all with from <= token < to; 0 <= depth <= 20.
   */
  hashLeaves(entries: Iterable<MerkleEntry>, from: bigint, to: bigint, depth: number, maxEntries: number, counts?: number[]): LeafHashes {
    if (!(depth >= 0 && depth <= MAX_MERKLE_DEPTH) || !(to > from)) throw new RangeError(`bad Merkle range [${from}, ${to}) or depth ${depth}`);
    const leafCount = 1 << depth;
    const leaves = new Uint8Array(leafCount * MERKLE_HASH_BYTES);
    for (let i = 0; i < leafCount; i++) leaves.set(EMPTY_LEAF, i * MERKLE_HASH_BYTES); // leaves with no entries
    const span = to - from;
    const scale = BigInt(leafCount);
    let leaf = 0;
    let n = 0;
    this.at = 0;
    this.hash = undefined;
    for (const e of entries) {
      if (n >= maxEntries) {
        this.at = 0;
        this.hash = undefined;
        return { entries: n, complete: false, leaves: new Uint8Array(0) };
      }
      const i = depth === 0 ? 0 : Number(((e.token - from) * scale) / span);
      if (i !== leaf) {
        this.finishLeaf(leaves, leaf);
        leaf = i;
      }
      this.field(e.key);
      this.field(e.value);
      if (counts !== undefined) counts[leaf]!++;
      n++;
    }
    this.finishLeaf(leaves, leaf);
    return { entries: n, complete: true, leaves };
  }

  /** Writes leaf `i`'s hash (of what was gathered for it) into `out`, unless it gathered nothing. */
  private finishLeaf(out: Uint8Array, i: number): void {
    if (this.at > 0 || this.hash !== undefined) {
      const h = this.hash ?? createHash('sha256');
      h.update(this.scratch.subarray(0, this.at));
      out.set(h.digest(), i * MERKLE_HASH_BYTES);
    }
    this.at = 0;
    this.hash = undefined;
  }

  private field(bytes: Uint8Array): void {
    const n = bytes.length;
    this.ensure(4 + n);
    const s = this.scratch;
    let at = this.at;
    s[at] = n; s[at + 1] = n >>> 8; s[at + 2] = n >>> 16; s[at + 3] = n >>> 24;
    at += 4;
    if (n <= 32) for (let k = 0; k < n; k++) s[at + k] = bytes[k]!;
    else s.set(bytes, at);
    this.at = at + n;
  }

  /** Room for n more bytes: hands a full scratch buffer to the leaf's hash, or grows it. */
  private ensure(n: number): void {
    if (this.at + n <= this.scratch.length) return;
    if (this.at >= CHUNK_BYTES) {
      this.hash ??= createHash('sha256');
      this.hash.update(this.scratch.subarray(0, this.at));
      this.at = 0;
      if (n <= this.scratch.length) return;
    }
    let size = this.scratch.length * 2;
    while (size < this.at + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.scratch.subarray(0, this.at));
    this.scratch = next;
  }
}

export function root(tree: MerkleTree): Uint8Array {
  return tree.levels[tree.depth]![0]!;
}

/** Leaves whose hashes differ, found by walking down from the root only where nodes differ. */
export function diffLeaves(a: MerkleTree, b: MerkleTree): number[] {
  if (a.depth !== b.depth || a.from !== b.from || a.to !== b.to) throw new Error('trees over different ranges or depths');
  const out: number[] = [];
  const walk = (level: number, i: number): void => {
    if (Buffer.compare(a.levels[level]![i]!, b.levels[level]![i]!) === 0) return;
    if (level === 0) {
      out.push(i);
      return;
    }
    walk(level - 1, 2 * i);
    walk(level - 1, 2 * i + 1);
  };
  walk(a.depth, 0);
  return out;
}

/**
 * Leaves on which the leaf levels `sets` (hashLeaves outputs of several replicas over the
 * same range and depth) do not all agree, ascending.
 * REQUIRES: every set has the same length, a multiple of 32.
 */
export function differingLeaves(sets: readonly Uint8Array[]): number[] {
  const out: number[] = [];
  const first = sets[0]!;
  const count = first.length / MERKLE_HASH_BYTES;
  for (let i = 0; i < count; i++) {
    const at = i * MERKLE_HASH_BYTES;
    for (let s = 1; s < sets.length; s++) {
      if (Buffer.compare(first.subarray(at, at + MERKLE_HASH_BYTES), sets[s]!.subarray(at, at + MERKLE_HASH_BYTES)) !== 0) {
        out.push(i);
        break;
      }
    }
  }
  return out;
}

/** The token range [from, to) of leaf `i` of a tree of `depth` over [from, to) (see the header). */
export function leafBounds(from: bigint, to: bigint, depth: number, i: number): { from: bigint; to: bigint } {
  const leaves = BigInt(1 << depth);
  const span = to - from;
  const start = (k: bigint): bigint => from + (k * span + leaves - 1n) / leaves; // from + ceil(k * span / leaves)
  return { from: start(BigInt(i)), to: start(BigInt(i + 1)) };
}

/** The token range [from, to) of leaf `i`. */
export function leafRange(tree: MerkleTree, i: number): { from: bigint; to: bigint } {
  return leafBounds(tree.from, tree.to, tree.depth, i);
}
