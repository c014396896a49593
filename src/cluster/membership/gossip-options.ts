// Runs on: main thread; pure. The options of the gossip layer, their defaults and why.
import { DEFAULT_PARTITIONS, type Replication, invalid } from '../../ring/index.js';
import { defaultFailureDetectorOptions, validateFailureDetectorOptions, type FailureDetectorOptions } from './failure-detector.js';

export interface GossipOptions {
  /** How often the driver calls tick(). 1 s is Cassandra's gossip interval: news reaches a
   *  few dozen nodes in a few seconds at ~fanout messages per node per second. */
  intervalMs: number;
  /** Peers sent a syn each round. With push-pull, news reaches n nodes in ~log(n)/log(1+2·fanout)
   *  rounds; 3 gets 8 nodes in 2 rounds and still costs little. */
  fanout: number;
  /** A syn whose ack has not come back after this long counts as a failed request to the peer
   *  (a paused process accepts the connection but never answers). Two intervals: well above
   *  any round trip, short enough that a paused peer is suspected within a few seconds. */
  ackTimeoutMs: number;
  /** Partition count Q of a cluster this node bootstraps (fixed for the cluster's life). */
  partitions: number;
  /** Per-DC replication factors carried by the ring (optional). */
  replication?: Replication | undefined;
  /** Whether the claimant commits staged joins, leaves and removes by itself (true) or waits
   *  for `cluster commit` (false, Riak's staged clustering). Set it the same on every node:
   *  the claimant's own setting decides. */
  autoCommit: boolean;
  /** Who marks a leaver 'left'. false: the claimant, as soon as a ring without it is made
   *  (gossip alone: nothing to hand off). true: the leaver itself, with markLeft(), once it
   *  has streamed its data to the new owners (a cluster node, see transfer.ts). Set it the
   *  same on every node: the claimant's own setting decides. */
  leaverMarksLeft: boolean;
  detector: FailureDetectorOptions;
}

export function defaultGossipOptions(intervalMs = 1000): GossipOptions {
  return {
    intervalMs,
    fanout: 3,
    ackTimeoutMs: 2 * intervalMs,
    partitions: DEFAULT_PARTITIONS,
    autoCommit: true,
    leaverMarksLeft: false,
    detector: defaultFailureDetectorOptions(intervalMs),
  };
}

/** Throws ERR_INVALID_ARGUMENT naming the first bad option. */
export function validateGossipOptions(o: GossipOptions): void {
  if (!(o.intervalMs > 0) || !Number.isFinite(o.intervalMs)) throw invalid(`gossip intervalMs must be a positive number, got ${o.intervalMs}`);
  if (!Number.isInteger(o.fanout) || o.fanout < 1 || o.fanout > 64) throw invalid(`gossip fanout must be an integer from 1 to 64, got ${o.fanout}`);
  if (!(o.ackTimeoutMs > 0) || !Number.isFinite(o.ackTimeoutMs)) throw invalid(`gossip ackTimeoutMs must be a positive number, got ${o.ackTimeoutMs}`);
  if (typeof o.autoCommit !== 'boolean') throw invalid(`gossip autoCommit must be true or false, got ${String(o.autoCommit)}`);
  if (typeof o.leaverMarksLeft !== 'boolean') throw invalid(`gossip leaverMarksLeft must be true or false, got ${String(o.leaverMarksLeft)}`);
  validateFailureDetectorOptions(o.detector);
}
