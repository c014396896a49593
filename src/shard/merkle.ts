// Runs on: any thread (a shard worker today; a piscina job later for trees over immutable
// files). Merkle trees over a token range of a replica's data, for anti-entropy: two
// replicas of a range compare roots, walk down only where hashes differ, and exchange just
// the keys of the leaves that differ.
//
// The range [from, to) is cut into 2^depth equal leaf ranges by token. A leaf's hash is the
// SHA-256 (hash-wasm) of its entries in (token, key) order, each as
// [key length u32 LE][key][object length u32 LE][object bytes]; an empty leaf hashes no
// bytes. An inner node is SHA-256(left ‖ right). The object codec encodes equal objects to
// identical bytes, so replicas holding the same versions have the same hashes.
import { createSHA256, type IHasher } from 'hash-wasm';

export interface MerkleEntry {
  token: bigint;
  key: Uint8Array;
  /** The stored object's bytes. */
  value: Uint8Array;
}

export interface MerkleTree {
  from: bigint;
  to: bigint;
  depth: number;
  /** levels[0]: the 2^depth leaves; levels[depth]: [root]. Each hash 32 bytes. */
  levels: Uint8Array[][];
  /** Entries per leaf. */
  counts: number[];
}

export class MerkleBuilder {
  private readonly len = new Uint8Array(4);

  private constructor(private readonly sha: IHasher) {}

  static async create(): Promise<MerkleBuilder> {
    return new MerkleBuilder(await createSHA256());
  }

  /** REQUIRES: entries in (token, key) order, all with from <= token < to; 0 <= depth <= 20. */
  build(entries: Iterable<MerkleEntry>, from: bigint, to: bigint, depth: number): MerkleTree {
    const leaves = 1 << depth;
    const span = to - from;
    const hashes: Uint8Array[] = [];
    const counts: number[] = new Array<number>(leaves).fill(0);
    const sha = this.sha;
    let leaf = 0;
    sha.init();
    for (const e of entries) {
      const i = Number(((e.token - from) * BigInt(leaves)) / span);
      while (leaf < i) {
        hashes.push(sha.digest('binary'));
        sha.init();
        leaf++;
      }
      this.field(e.key);
      this.field(e.value);
      counts[leaf]!++;
    }
    while (leaf < leaves) {
      hashes.push(sha.digest('binary'));
      sha.init();
      leaf++;
    }
    const levels: Uint8Array[][] = [hashes];
    for (let level = hashes; level.length > 1; ) {
      const up: Uint8Array[] = [];
      for (let j = 0; j < level.length; j += 2) {
        sha.init();
        sha.update(level[j]!);
        sha.update(level[j + 1]!);
        up.push(sha.digest('binary'));
      }
      levels.push(up);
      level = up;
    }
    return { from, to, depth, levels, counts };
  }

  private field(bytes: Uint8Array): void {
    const n = bytes.length;
    const len = this.len;
    len[0] = n; len[1] = n >>> 8; len[2] = n >>> 16; len[3] = n >>> 24;
    this.sha.update(len);
    this.sha.update(bytes);
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

/** The token range [from, to) of leaf `i`. */
export function leafRange(tree: MerkleTree, i: number): { from: bigint; to: bigint } {
  const leaves = BigInt(1 << tree.depth);
  const span = tree.to - tree.from;
  const lo = tree.from + (span * BigInt(i)) / leaves;
  const hi = tree.from + (span * BigInt(i + 1)) / leaves;
  // Match build(): a token t is in leaf floor((t - from) * leaves / span).
  return { from: ceilStart(tree, i, lo), to: ceilStart(tree, i + 1, hi) };
}

function ceilStart(tree: MerkleTree, i: number, guess: bigint): bigint {
  // The first token whose leaf index is >= i: adjust the guess by the floor rounding.
  const leaves = BigInt(1 << tree.depth);
  const span = tree.to - tree.from;
  let t = guess;
  while (t > tree.from && ((t - 1n - tree.from) * leaves) / span >= BigInt(i)) t--;
  while (t < tree.to && ((t - tree.from) * leaves) / span < BigInt(i)) t++;
  return t;
}
