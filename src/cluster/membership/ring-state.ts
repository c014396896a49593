// Runs on: main thread; pure. The ring a node acts on, how it adopts rings it hears of, and
// how the claimant turns membership changes into the next ring.
//
// - The ring's members are the shards of every joining or up node: '<id>/s<k>' for
//   k < shards, host = the node's address without the port, its rack, dc and weight.
//   Leaving, left and removed nodes own nothing in the next ring.
// - Every node adopts the ring with the highest epoch it hears. Two different rings at one
//   epoch should not exist (see the claimant below); if they ever do, every node keeps the
//   one whose canonical JSON (members and owners) sorts last, so they still agree.
// - The claimant is the node with the lowest id among the 'up' nodes this node does not
//   consider down. Only the claimant makes a ring, and only when the ring is *ready*: every
//   joining, up or leaving node is not down in its view and reports (in its gossiped
//   record) the claimant's current epoch, i.e. has seen the current ring. So a node cut off
//   from any member cannot change the ring (the side of a network partition without some
//   member never acts), and a new ring is always made from the ring everyone holds
//   (Riak's claimant and ring-ready rule). The next ring is claim(current, members) at
//   epoch + 1: the same inputs give the same ring on every node.
// - The one way to get two rings at one epoch: the claimant commits, crashes before sending
//   the ring (it is saved on its disk), is removed, and the next claimant commits another.
//   The lost ring never spreads: a restarted node shares no ring before it has heard from a
//   peer (and so learnt it was removed), and it would lose the tie anyway (its members list
//   the removed claimant, the lowest id, first).
import { nodeOf, Ring, type Member, type Move, type Replication, type RingJSON } from '../../ring/index.js';
import { hostOf, isMemberStatus, type NodeRecord } from './node-record.js';

export interface RingStateOptions {
  /** Partition count Q: fixed for the life of the cluster. */
  readonly partitions: number;
  readonly replication?: Replication | undefined;
  /** The claim's spread window (claim.ts); default there. */
  readonly spread?: number | undefined;
}

/** The ring members a node record contributes (none unless joining, up or leaving). */
export function shardMembers(record: NodeRecord): Member[] {
  const out: Member[] = [];
  const host = hostOf(record.address);
  for (let k = 0; k < record.shards; k++) {
    out.push({ id: `${record.id}/s${k}`, host, rack: record.rack, dc: record.dc, weight: record.weight });
  }
  return out;
}

/** The node id of a member id '<node>/s<k>' (the ring's own rule, shared with placement). */
export const nodeOfMember = nodeOf;

/** The nodes a ring concerns: those owning partitions in it and those joining, up or leaving. */
export function nodesOfRing(ring: Ring, records: readonly NodeRecord[]): Set<string> {
  const nodes = new Set(ring.members.map((m) => nodeOfMember(m.id)));
  for (const r of records) if (isMemberStatus(r.status)) nodes.add(r.id);
  return nodes;
}

/** The members the next ring would have: the shards of joining and up nodes, by id. */
export function targetMembers(records: readonly NodeRecord[]): Member[] {
  return records.filter((r) => r.status === 'joining' || r.status === 'up').flatMap(shardMembers);
}

/** The claimant in this view: the lowest-id 'up' node not down (undefined if none). */
export function claimantOf(records: readonly NodeRecord[], isDown: (id: string) => boolean): string | undefined {
  for (const r of records) if (r.status === 'up' && !isDown(r.id)) return r.id; // records are in id order
  return undefined;
}

/** Why the ring cannot change now, or undefined if it can (see the file comment). A node
 *  that does not yet know every owner in its ring (just restarted, not yet gossiped with
 *  anyone) knows too little to change it. */
export function notReadyReason(records: readonly NodeRecord[], ring: Ring, isDown: (id: string) => boolean): string | undefined {
  const epoch = ring.epoch;
  const known = new Set(records.map((r) => r.id));
  for (const m of ring.members) {
    const node = nodeOfMember(m.id);
    if (!known.has(node)) return `node ${node} owns partitions in ring epoch ${epoch} but has not been heard of here yet`;
  }
  for (const r of records) {
    if (!isMemberStatus(r.status)) continue;
    if (isDown(r.id)) return `node ${r.id} is down (remove it if it is not coming back)`;
    if (r.ringEpoch !== epoch) return `node ${r.id} has not yet seen ring epoch ${epoch} (it reports ${r.ringEpoch})`;
  }
  return undefined;
}

function sameMembers(a: readonly Member[], b: readonly Member[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x.id !== y.id || x.host !== y.host || x.rack !== y.rack || x.dc !== y.dc || x.weight !== y.weight) return false;
  }
  return true;
}

function canonical(ring: Ring): string {
  return JSON.stringify([ring.members, ring.assignment().owners]);
}

/** The ring one node acts on. Owned by its Gossiper; main thread only. */
export class RingState {
  private current: Ring | undefined;

  constructor(readonly options: RingStateOptions, initial?: RingJSON) {
    if (initial !== undefined) this.current = Ring.fromJSON(initial);
  }

  /** The ring in force, or undefined before this node has one. */
  get ring(): Ring | undefined {
    return this.current;
  }

  /** The current epoch (0 before any ring). */
  get epoch(): number {
    return this.current?.epoch ?? 0;
  }

  /** Whether a request made at `epoch` must be refused: an older ring decided its routing. */
  isStale(epoch: number): boolean {
    return epoch < this.epoch;
  }

  /**
   * Takes `ring` if it is newer than the current one (or the same epoch and wins the
   * tie-break). Returns whether it did. Rings of another partition count are refused.
   */
  adopt(ring: Ring): boolean {
    const current = this.current;
    if (current !== undefined) {
      if (ring.q !== current.q) return false;
      if (ring.epoch < current.epoch) return false;
      if (ring.epoch === current.epoch && (ring === current || canonical(ring) <= canonical(current))) return false;
    }
    this.current = ring;
    return true;
  }

  /** Whether the membership asks for a ring other than the current one. */
  pending(records: readonly NodeRecord[]): boolean {
    const current = this.current;
    if (current === undefined) return false;
    return !sameMembers(current.members, targetMembers(records));
  }

  /** The ring a commit would make now: claim(current, members) at epoch + 1. Undefined when
   *  nothing is pending or no member would be left. */
  propose(records: readonly NodeRecord[]): Ring | undefined {
    const current = this.current;
    if (current === undefined || !this.pending(records)) return undefined;
    const members = targetMembers(records);
    if (members.length === 0) return undefined;
    return Ring.build(members, current.q, { previous: current, epoch: current.epoch + 1, spread: this.options.spread });
  }

  /** The first ring of a new cluster (epoch 1), from the bootstrap node's own shards. */
  bootstrap(records: readonly NodeRecord[]): Ring {
    return Ring.build(records.flatMap(shardMembers), this.options.partitions, {
      epoch: 1, replication: this.options.replication, spread: this.options.spread,
    });
  }

  /** The partitions a commit would move now (empty if nothing is pending). */
  plan(records: readonly NodeRecord[]): Move[] {
    const next = this.propose(records);
    return next === undefined ? [] : this.current!.diff(next);
  }

  /** Partitions owned per node id (summed over its shards) in the current ring. */
  partitionsByNode(): Map<string, number> {
    const out = new Map<string, number>();
    if (this.current === undefined) return out;
    for (const [member, n] of this.current.counts()) {
      const node = nodeOfMember(member);
      out.set(node, (out.get(node) ?? 0) + n);
    }
    return out;
  }
}
