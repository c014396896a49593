// Runs on: any thread. Preference lists (the N members that hold a partition's replicas)
// and sloppy-quorum fallbacks.
//
// The walk: from the partition, clockwise, the members owning partitions in the order
// each is first met. The partition's owner is always met first.
//
// Without per-DC factors, N members are taken in four passes over the walk; each pass
// takes, in walk order, members not yet taken that are new at its level, until N:
//   1. a new rack (racks are named within their DC, so a rack in another DC is new);
//   2. a new host;
//   3. a new node (several nodes may share a host, e.g. ports of 127.0.0.1);
//   4. any new member (a node alone: distinct shards of it).
// So a list spans as many racks as it can, then as many hosts, then as many nodes, and
// only when there are fewer nodes than N doubles up on the shards of one node. The list is in the order members were taken: the owner first, and the list
// for N is the first N of the list for N + 1.
//
// With per-DC factors { dc1: 2, dc2: 1 } (Cassandra's NetworkTopologyStrategy), each DC
// takes its factor from the walk restricted to its own members, by the same three passes
// (all its members if it has fewer: the list is then shorter than N); N must be the sum of
// the factors. The list is in walk order (the owner first,
// when its DC has a non-zero factor).
//
// Fallbacks (sloppy quorum, Dynamo §4.6): each down primary, in list order, is stood in
// for by the first member in walk order that is not a primary, is not down and is not
// already a fallback, preferring, in this order: (with per-DC factors) the down primary's
// DC and a host holding no live replica of the partition; the DC; a new host; a node
// holding no live replica; anyone.
import { type Member, invalid, nodeOf } from './member.js';

/** What the placement needs from a ring. */
export interface RingView {
  readonly q: number;
  /** Members in canonical (id) order. */
  readonly members: readonly Member[];
  /** Index into `members` of the owner of partition p. */
  ownerIndex(p: number): number;
}

/** Replicas per DC, e.g. { dc1: 2, dc2: 1 }. */
export type Replication = Readonly<Record<string, number>>;

export interface PlacementOptions {
  /** Per-DC replication factors; without them, one list spread over racks and hosts. */
  readonly replication?: Replication | undefined;
}

/** A member standing in for a down primary; its writes carry a hint for `hintFor`. */
export interface Fallback {
  readonly member: string;
  readonly hintFor: string;
}

export function preferenceList(ring: RingView, partition: number, n: number, options: PlacementOptions = {}): string[] {
  const facts = factsOf(ring);
  return choose(facts, new Walk(facts, checkPartition(ring, partition)), n, options.replication).map((m) => ring.members[m]!.id);
}

/**
 * The primaries of a partition (its preference list) and, for each primary `isDown` says
 * is down, the member that stands in for it. A down primary with no healthy member left to
 * stand in has no fallback.
 */
export function fallbacks(
  ring: RingView,
  partition: number,
  n: number,
  isDown: (memberId: string) => boolean,
  options: PlacementOptions = {},
): { primaries: string[]; fallbacks: Fallback[] } {
  const facts = factsOf(ring);
  const walk = new Walk(facts, checkPartition(ring, partition));
  const primaries = choose(facts, walk, n, options.replication);
  const id = (m: number): string => ring.members[m]!.id;
  const busy = new Set(primaries);
  const live = primaries.filter((m) => !isDown(id(m)));
  const hosts = new Set(live.map((m) => facts.host[m]!));
  const nodes = new Set(live.map((m) => facts.node[m]!));
  const out: Fallback[] = [];
  for (const down of primaries) {
    if (!isDown(id(down))) continue;
    const sameDc = (m: number): boolean => options.replication === undefined || facts.dc[m] === facts.dc[down];
    const newHost = (m: number): boolean => !hosts.has(facts.host[m]!);
    const newNode = (m: number): boolean => !nodes.has(facts.node[m]!);
    const tiers = [(m: number) => sameDc(m) && newHost(m), sameDc, newHost, newNode, () => true];
    let pick = -1;
    for (let t = 0; t < tiers.length && pick < 0; t++) {
      for (let i = 0; walk.has(i); i++) {
        const m = walk.at(i);
        if (!busy.has(m) && !isDown(id(m)) && tiers[t]!(m)) { pick = m; break; }
      }
    }
    if (pick < 0) continue;
    busy.add(pick);
    hosts.add(facts.host[pick]!);
    nodes.add(facts.node[pick]!);
    out.push({ member: id(pick), hintFor: id(down) });
  }
  return { primaries: primaries.map(id), fallbacks: out };
}

function checkPartition(ring: RingView, partition: number): number {
  if (!Number.isInteger(partition) || partition < 0 || partition >= ring.q) {
    throw invalid(`partition ${partition} is outside 0..${ring.q - 1}`);
  }
  return partition;
}

/** The members taken for one list, as indices, in the documented order. */
function choose(facts: Facts, walk: Walk, n: number, replication: Replication | undefined): number[] {
  if (!Number.isInteger(n) || n < 1) throw invalid(`replication factor must be a positive integer, got ${n}`);
  if (replication === undefined) {
    if (n > facts.owning) {
      throw invalid(`replication factor ${n} exceeds the ${facts.owning} members that own partitions: add members or lower N`);
    }
    return takeInPasses(facts, walk, n, undefined);
  }
  let sum = 0;
  const taken: number[] = [];
  for (const dc of Object.keys(replication).sort()) {
    const want = replication[dc]!;
    if (!Number.isInteger(want) || want < 0) throw invalid(`replication factor for ${dc} must be a non-negative integer, got ${want}`);
    sum += want;
    if (want === 0) continue;
    const code = facts.dcCode.get(dc);
    const have = code === undefined ? 0 : facts.owningInDc[code]!;
    // A DC with fewer owners than its factor (a cluster still growing, or one that lost
    // members) contributes what it has, as Cassandra does: requests that need more replicas
    // there fail at their consistency level instead of every request failing.
    if (have > 0) taken.push(...takeInPasses(facts, walk, Math.min(want, have), code));
  }
  if (sum !== n) throw invalid(`replication factors ${JSON.stringify(replication)} sum to ${sum}, not N = ${n}`);
  return taken.sort((a, b) => walk.rank(a) - walk.rank(b));
}

/** Passes at the rack, host, node and member level over the walk (restricted to one DC if given). */
function takeInPasses(facts: Facts, walk: Walk, n: number, dc: number | undefined): number[] {
  const taken: number[] = [];
  const isTaken = new Set<number>();
  const levels = [facts.rack, facts.host, facts.node] as const;
  for (let level = 0; level <= levels.length && taken.length < n; level++) {
    const key = levels[level];
    const used = new Set<number>();
    if (key !== undefined) for (const m of taken) used.add(key[m]!);
    // A pass can stop once every key of its level has been used.
    const keys = key === undefined ? Infinity : dc === undefined ? facts.distinct[level]! : facts.distinctInDc[dc]![level]!;
    for (let i = 0; walk.has(i) && taken.length < n && used.size < keys; i++) {
      const m = walk.at(i);
      if (isTaken.has(m) || (dc !== undefined && facts.dc[m] !== dc)) continue;
      if (key !== undefined) {
        if (used.has(key[m]!)) continue;
        used.add(key[m]!);
      }
      taken.push(m);
      isTaken.add(m);
    }
  }
  return taken;
}

/** Distinct owners clockwise from a partition, discovered lazily. */
class Walk {
  private readonly seq: number[] = [];
  private readonly ranks = new Map<number, number>();
  private next: number;
  private left: number;

  constructor(private readonly facts: Facts, start: number) {
    this.next = start;
    this.left = facts.ring.q;
  }

  /** Whether the walk has an i-th distinct member (extending it as needed). */
  has(i: number): boolean {
    const ring = this.facts.ring;
    while (this.seq.length <= i && this.left > 0) {
      const m = ring.ownerIndex(this.next);
      this.next = this.next + 1 === ring.q ? 0 : this.next + 1;
      this.left--;
      if (!this.ranks.has(m)) {
        this.ranks.set(m, this.seq.length);
        this.seq.push(m);
      }
    }
    return i < this.seq.length;
  }

  at(i: number): number {
    return this.seq[i]!;
  }

  rank(m: number): number {
    return this.ranks.get(m)!;
  }
}

/** Per-ring facts: hosts, racks and DCs as small integers, and how many of each own partitions. */
interface Facts {
  readonly ring: RingView;
  readonly host: Int32Array;
  /** The node a member is a shard of (see nodeOf). */
  readonly node: Int32Array;
  readonly rack: Int32Array;
  readonly dc: Int32Array;
  readonly dcCode: ReadonlyMap<string, number>;
  /** Members owning at least one partition, overall and per DC code. */
  readonly owning: number;
  readonly owningInDc: readonly number[];
  /** Distinct racks [0], hosts [1] and nodes [2] among owning members, overall and per DC code. */
  readonly distinct: readonly number[];
  readonly distinctInDc: readonly (readonly number[])[];
}

const factsCache = new WeakMap<RingView, Facts>();

function factsOf(ring: RingView): Facts {
  let facts = factsCache.get(ring);
  if (facts === undefined) factsCache.set(ring, (facts = computeFacts(ring)));
  return facts;
}

function computeFacts(ring: RingView): Facts {
  const members = ring.members;
  const dcCode = new Map<string, number>();
  const dc = intern(members.map((m) => m.dc), dcCode);
  const rack = intern(members.map((m) => `${m.dc}\u0000${m.rack}`));
  const host = intern(members.map((m) => m.host));
  const node = intern(members.map((m) => nodeOf(m.id)));
  const owns = new Uint8Array(members.length);
  for (let p = 0; p < ring.q; p++) owns[ring.ownerIndex(p)] = 1;
  const owningInDc = new Array<number>(dcCode.size).fill(0);
  const sets = [new Set<number>(), new Set<number>(), new Set<number>()];
  const setsInDc = Array.from({ length: dcCode.size }, () => [new Set<number>(), new Set<number>(), new Set<number>()]);
  let owning = 0;
  for (let m = 0; m < members.length; m++) {
    if (!owns[m]) continue;
    owning++;
    owningInDc[dc[m]!]!++;
    [rack[m]!, host[m]!, node[m]!].forEach((k, level) => {
      sets[level]!.add(k);
      setsInDc[dc[m]!]![level]!.add(k);
    });
  }
  return {
    ring, host, node, rack, dc, dcCode, owning, owningInDc,
    distinct: sets.map((s) => s.size),
    distinctInDc: setsInDc.map((levels) => levels.map((s) => s.size)),
  };
}

function intern(keys: readonly string[], codes = new Map<string, number>()): Int32Array {
  return Int32Array.from(keys, (k) => {
    let code = codes.get(k);
    if (code === undefined) codes.set(k, (code = codes.size));
    return code;
  });
}
