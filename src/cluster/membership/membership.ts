// Runs on: main thread; pure. The membership table: one NodeRecord per node this node has
// heard of, itself included, merged with mergeRecords (see node-record.ts).
//
// Only the owner writes its own owner fields; whatever gossip says about this node's own
// incarnation is ignored unless it is *later* than ours (another process ran under our id,
// or our generation file was lost), in which case we jump past it so that our word wins
// again. Statuses of any node, ours included, merge by (statusVersion, rank): the claimant
// marks us up, an operator may remove a node, and we learn it like everyone else.
import { compareIncarnation, mergeRecords, sameRecord, type NodeRecord, type NodeStatus } from './node-record.js';

/** What one merge or local update changed. `previous` is undefined for a node first heard of. */
export interface MembershipChange {
  readonly previous: NodeRecord | undefined;
  readonly record: NodeRecord;
}

/** The owner fields a node may change about itself (each change bumps its heartbeat). */
export type SelfUpdate = Partial<Pick<NodeRecord, 'address' | 'dc' | 'rack' | 'shards' | 'weight' | 'ringEpoch' | 'transfers'>>;

/** Owned by one Gossiper; main thread only. */
export class Membership {
  private readonly records = new Map<string, NodeRecord>();
  private sorted: NodeRecord[] | undefined;
  readonly selfId: string;

  constructor(self: NodeRecord) {
    this.selfId = self.id;
    this.records.set(self.id, self);
  }

  get self(): NodeRecord {
    return this.records.get(this.selfId)!;
  }

  get(id: string): NodeRecord | undefined {
    return this.records.get(id);
  }

  get size(): number {
    return this.records.size;
  }

  /** Every record, in id order (the canonical order every node uses). Do not modify. */
  all(): readonly NodeRecord[] {
    this.sorted ??= [...this.records.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    return this.sorted;
  }

  /** Merges a copy heard from gossip. Returns the change, or undefined if it added nothing. */
  merge(incoming: NodeRecord): MembershipChange | undefined {
    const previous = this.records.get(incoming.id);
    if (previous === undefined) return this.put(undefined, incoming);
    let next: NodeRecord;
    if (incoming.id === this.selfId) {
      next = mergeRecords(previous, { ...previous, status: incoming.status, statusVersion: incoming.statusVersion });
      if (compareIncarnation(incoming, previous) > 0) {
        // A later incarnation of us than our own: take a generation above it.
        next = { ...next, generation: incoming.generation + 1, heartbeat: 0 };
      }
    } else {
      next = mergeRecords(previous, incoming);
    }
    return sameRecord(next, previous) ? undefined : this.put(previous, next);
  }

  /** Changes this node's own fields; bumps its heartbeat so the change wins everywhere. */
  updateSelf(update: SelfUpdate = {}): MembershipChange {
    const previous = this.self;
    return this.put(previous, { ...previous, ...update, heartbeat: previous.heartbeat + 1 });
  }

  /** Sets a node's status at a version above every version seen for it. REQUIRES: known id. */
  setStatus(id: string, status: NodeStatus): MembershipChange {
    const previous = this.records.get(id)!;
    return this.put(previous, { ...previous, status, statusVersion: previous.statusVersion + 1 });
  }

  private put(previous: NodeRecord | undefined, record: NodeRecord): MembershipChange {
    this.records.set(record.id, record);
    this.sorted = undefined;
    return { previous, record };
  }
}
