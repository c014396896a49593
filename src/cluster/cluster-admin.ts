// Runs on: the main thread. What a cluster node shows and offers the admin server
// (src/server/admin/): its membership view, transfer and shard-policy figures, and the
// membership commands. Declared here, below the server, so the node need not import it.

/** A node's streaming of ranges to new replicas (src/cluster/transfer/transfer.ts). */
export interface TransferFigures {
  readonly pending: number;
  readonly done: number;
  readonly keysMoved: number;
  readonly bytesMoved: number;
  readonly failures: number;
}

/** A node's load-based shard policy, when on (src/cluster/scaling/shard-scaler.ts's ShardScalerStatus). */
export interface ShardPolicyFigures {
  readonly minShards: number;
  readonly maxShards: number;
  readonly target: number;
  readonly utilisation: number | null;
  readonly grown: number;
  readonly shrunk: number;
  readonly lastDecision: { readonly kind: string; readonly reason: string } | null;
}

/**
 * What the admin server needs of a cluster node. Commands that change membership are
 * POSTs that must carry the cluster secret in the `x-ringkv-secret` header.
 */
export interface ClusterAdmin {
  /** The membership as this node sees it (ringkv status). */
  snapshot(): {
    /** This node's id (/readyz checks its own shards). */
    readonly self: string;
    readonly epoch: number;
    readonly nodes: readonly { readonly id: string; readonly liveness: string }[];
    readonly transfers?: TransferFigures;
    readonly shardPolicy?: ShardPolicyFigures;
  };
  /** Whether `secret` is the cluster's (compared in constant time). */
  authorized(secret: string): boolean;
  /** Runs `plan`, `commit`, `leave`, `remove` (with `node`) or `shards` (with `count`); resolves with a JSON answer. */
  command(name: string, params: URLSearchParams): Promise<unknown>;
}
