// Runs on: main thread; pure. What `ringkv status` and the metrics show about the cluster,
// as one node sees it.
import type { Liveness } from './failure-detector.js';
import type { NodeRecord, NodeStatus } from './node-record.js';

/** The gossiper's counters (gossip.ts). */
export interface GossipStats {
  rounds: number;
  sent: number;
  received: number;
  /** Messages refused (malformed, or addressed to another node). */
  rejected: number;
  /** Rings adopted over another of the same epoch (should stay 0; see ring-state.ts). */
  ringConflicts: number;
}

export interface NodeView {
  readonly id: string;
  readonly address: string;
  readonly dc: string;
  readonly rack: string;
  readonly status: NodeStatus;
  readonly liveness: Liveness;
  readonly generation: number;
  readonly heartbeat: number;
  /** Milliseconds since its heartbeat last advanced here (0 for this node; null if unknown). */
  readonly heartbeatAgeMs: number | null;
  /** Partitions its shards own in the ring in force. */
  readonly partitions: number;
  /** The ring epoch it reports having adopted. */
  readonly ringEpoch: number;
  /** Transfers it reports still having to send. */
  readonly transfers: number;
  readonly self: boolean;
}

export interface ClusterSnapshot {
  readonly self: string;
  /** The ring epoch in force here (0: no ring yet). */
  readonly epoch: number;
  readonly claimant: string | undefined;
  /** Why the ring cannot change now (undefined: it can). */
  readonly notReady: string | undefined;
  /** Partitions a commit would move now (-1: the staged membership cannot form a ring). */
  readonly pendingMoves: number;
  readonly nodes: readonly NodeView[];
  readonly stats: Readonly<GossipStats>;
}

export interface SnapshotInput {
  readonly self: string;
  readonly records: readonly NodeRecord[];
  readonly now: number;
  readonly epoch: number;
  readonly claimant: string | undefined;
  readonly notReady: string | undefined;
  readonly pendingMoves: number;
  readonly partitions: ReadonlyMap<string, number>;
  readonly liveness: (id: string) => Liveness;
  readonly silence: (id: string) => number | undefined;
  readonly stats: GossipStats;
}

export function snapshotOf(input: SnapshotInput): ClusterSnapshot {
  const nodes = input.records.map((r): NodeView => ({
    id: r.id, address: r.address, dc: r.dc, rack: r.rack, status: r.status,
    liveness: input.liveness(r.id), generation: r.generation, heartbeat: r.heartbeat,
    heartbeatAgeMs: input.silence(r.id) ?? null, partitions: input.partitions.get(r.id) ?? 0,
    ringEpoch: r.ringEpoch, transfers: r.transfers, self: r.id === input.self,
  }));
  return {
    self: input.self, epoch: input.epoch, claimant: input.claimant, notReady: input.notReady,
    pendingMoves: input.pendingMoves, nodes, stats: { ...input.stats },
  };
}
