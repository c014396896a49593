// Runs on: any thread. The ring: Q equal partitions of the 64-bit token space, each owned
// by one member, at an epoch.
//
// Partition p covers tokens [p·2^64/Q, (p+1)·2^64/Q): the partition of a token is its top
// log2(Q) bits. Q is a power of two, fixed for the life of a cluster.
import { TOKEN_END } from '../hash/index.js';
import { claim, type Assignment } from './claim.js';
import { canonicalMembers, DEFAULT_PARTITIONS, invalid, partitionBits, type Member } from './member.js';
import { fallbacks, preferenceList, type Fallback, type Replication, type RingView } from './preference-list.js';

export interface RingOptions {
  /** The ring this one replaces: the claim moves as few partitions away from it as it can. */
  readonly previous?: Ring | undefined;
  /** The ownership epoch; the membership layer bumps it on every change.
   *  Default: previous.epoch + 1, or 1 without a previous ring. */
  readonly epoch?: number | undefined;
  /** Per-DC replication factors used by preferenceList and fallbacks. */
  readonly replication?: Replication | undefined;
  /** The claim's spread window (see claim.ts); default 3. */
  readonly spread?: number | undefined;
}

/** One partition changing owner between two rings. */
export interface Move {
  readonly partition: number;
  readonly from: string;
  readonly to: string;
}

/** The ring as JSON (admin API, gossip): enough to rebuild it with Ring.fromJSON. */
export interface RingJSON {
  readonly epoch: number;
  readonly q: number;
  readonly replication?: Replication | undefined;
  readonly members: readonly Member[];
  /** Member id per partition. */
  readonly owners: readonly string[];
}

/**
 * An immutable ring. Build it with Ring.build (runs the claim) or Ring.fromJSON (takes an
 * assignment as given). Safe to share between callers on one thread; every thread builds
 * its own from the same inputs and gets the same ring.
 */
export class Ring implements RingView {
  readonly q: number;
  readonly epoch: number;
  /** Members in canonical (id) order. */
  readonly members: readonly Member[];
  readonly replication: Replication | undefined;
  private readonly shift: number;
  private readonly owners: Uint16Array;
  private readonly index: ReadonlyMap<string, number>;
  /** Preference lists by N, then by partition, filled on first use. */
  private readonly lists: (readonly string[] | undefined)[][] = [];

  private constructor(members: Member[], q: number, owners: Uint16Array, epoch: number, replication: Replication | undefined) {
    this.q = q;
    this.shift = 32 - partitionBits(q);
    if (!Number.isSafeInteger(epoch) || epoch < 0) throw invalid(`epoch must be a non-negative integer, got ${epoch}`);
    this.epoch = epoch;
    this.members = Object.freeze(members.map((m) => Object.freeze({ id: m.id, host: m.host, rack: m.rack, dc: m.dc, weight: m.weight })));
    this.replication = replication === undefined ? undefined : Object.freeze({ ...replication });
    this.owners = owners;
    this.index = new Map(this.members.map((m, i) => [m.id, i]));
    if (this.replication !== undefined) {
      // Fail at build, not on the first request: every DC named must have enough owners.
      const n = Object.values(this.replication).reduce((a, b) => a + b, 0);
      preferenceList(this, 0, n, { replication: this.replication });
    }
  }

  /** Runs the claim for `members` (in any order), against `options.previous` if given. */
  static build(members: readonly Member[], q: number = DEFAULT_PARTITIONS, options: RingOptions = {}): Ring {
    const previous = options.previous;
    const sorted = canonicalMembers(members);
    const assignment = claim(previous?.assignment(), sorted, q, { spread: options.spread });
    const epoch = options.epoch ?? (previous === undefined ? 1 : previous.epoch + 1);
    return Ring.assemble(sorted, q, assignment.owners, epoch, options.replication ?? previous?.replication);
  }

  /** Rebuilds a ring from its JSON (no claim: the owners are taken as given, and checked). */
  static fromJSON(json: RingJSON): Ring {
    if (json === null || typeof json !== 'object' || !Array.isArray(json.members) || !Array.isArray(json.owners)) {
      throw invalid('a ring in JSON needs epoch, q, members and owners');
    }
    return Ring.assemble(canonicalMembers(json.members), json.q, json.owners, json.epoch, json.replication);
  }

  private static assemble(sorted: Member[], q: number, ids: readonly string[], epoch: number, replication: Replication | undefined): Ring {
    partitionBits(q);
    if (ids.length !== q) throw invalid(`a ring of ${q} partitions needs ${q} owners, got ${ids.length}`);
    const index = new Map(sorted.map((m, i) => [m.id, i]));
    const owners = new Uint16Array(q);
    for (let p = 0; p < q; p++) {
      const i = index.get(ids[p]!);
      if (i === undefined) throw invalid(`partition ${p} is owned by ${ids[p]}, which is not a member`);
      if (i > 0xffff) throw invalid(`a ring holds at most 65536 members`);
      owners[p] = i;
    }
    return new Ring(sorted, q, owners, epoch, replication);
  }

  /** The partition of the token (hi, lo): its top log2(Q) bits. */
  partitionOf(hi: number, lo: number): number {
    void lo;
    return (hi >>> this.shift) & (this.q - 1);
  }

  /** The tokens of partition p: [from, to), `to` exclusive (2^64 for the last partition). */
  partitionRange(p: number): { from: bigint; to: bigint } {
    this.check(p);
    const width = TOKEN_END / BigInt(this.q);
    return { from: BigInt(p) * width, to: BigInt(p + 1) * width };
  }

  ownerOf(p: number): string {
    return this.members[this.owners[this.check(p)]!]!.id;
  }

  /** Index into `members` of the owner of partition p (for placement code). */
  ownerIndex(p: number): number {
    return this.owners[p]!;
  }

  /** The partitions a member owns, ascending (empty for a stranger). */
  partitionsOf(memberId: string): number[] {
    const i = this.index.get(memberId);
    const out: number[] = [];
    if (i === undefined) return out;
    for (let p = 0; p < this.q; p++) if (this.owners[p] === i) out.push(p);
    return out;
  }

  member(id: string): Member | undefined {
    const i = this.index.get(id);
    return i === undefined ? undefined : this.members[i];
  }

  /**
   * The length of a preference list asked for `n` replicas: the sum of the per-DC factors
   * when the ring has them (listOf needs exactly that), else n capped at the members there
   * are (a cluster smaller than N lists them all).
   */
  listLength(n: number): number {
    if (this.replication !== undefined) return Object.values(this.replication).reduce((a, b) => a + b, 0);
    return Math.min(n, this.members.length);
  }

  /**
   * The N members holding the key with token (hi, lo), owner first (see preference-list.ts).
   * Per request: one shift, two array reads; the list is computed on first use, then cached
   * and shared (frozen: do not modify it). With per-DC replication, N is their sum.
   */
  preferenceList(hi: number, lo: number, n: number): readonly string[] {
    void lo;
    const p = (hi >>> this.shift) & (this.q - 1);
    const byN = this.lists[n];
    if (byN !== undefined) {
      const list = byN[p];
      if (list !== undefined) return list;
    }
    return this.listOf(p, n);
  }

  /** The cached preference list of partition p. */
  listOf(p: number, n: number): readonly string[] {
    this.check(p);
    let byN = this.lists[n];
    let list = byN?.[p];
    if (list !== undefined) return list;
    list = Object.freeze(preferenceList(this, p, n, { replication: this.replication }));
    if (byN === undefined) this.lists[n] = byN = new Array<readonly string[] | undefined>(this.q).fill(undefined);
    byN[p] = list;
    return list;
  }

  /** Primaries of partition p and the fallbacks standing in for the down ones (with hints). */
  fallbacks(p: number, n: number, isDown: (memberId: string) => boolean): { primaries: string[]; fallbacks: Fallback[] } {
    return fallbacks(this, this.check(p), n, isDown, { replication: this.replication });
  }

  /** Whether this ring's epoch is later than `other`'s: act on the newer, refuse the older. */
  newerThan(other: Ring | number): boolean {
    return this.epoch > (typeof other === 'number' ? other : other.epoch);
  }

  /** Partitions whose owner differs from `this` to `next`, ascending. */
  diff(next: Ring): Move[] {
    if (next.q !== this.q) throw invalid(`cannot diff rings of ${this.q} and ${next.q} partitions`);
    const moves: Move[] = [];
    for (let p = 0; p < this.q; p++) {
      const from = this.ownerOf(p);
      const to = next.ownerOf(p);
      if (from !== to) moves.push({ partition: p, from, to });
    }
    return moves;
  }

  /** The assignment (member id per partition) the claim works from. */
  assignment(): Assignment {
    return { owners: Array.from(this.owners, (i) => this.members[i]!.id) };
  }

  /** Partitions owned, per member id, in canonical member order. */
  counts(): Map<string, number> {
    const n = new Array<number>(this.members.length).fill(0);
    for (let p = 0; p < this.q; p++) n[this.owners[p]!]!++;
    return new Map(this.members.map((m, i) => [m.id, n[i]!]));
  }

  toJSON(): RingJSON {
    return {
      epoch: this.epoch,
      q: this.q,
      ...(this.replication === undefined ? {} : { replication: this.replication }),
      members: this.members,
      owners: this.assignment().owners,
    };
  }

  private check(p: number): number {
    if (!Number.isInteger(p) || p < 0 || p >= this.q) throw invalid(`partition ${p} is outside 0..${this.q - 1}`);
    return p;
  }
}
