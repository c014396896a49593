// Runs on: main thread; pure. Which ranges must move when the ring changes, and who sends each.
//
// For every partition p, the members that are in next.listOf(p, n) but not in
// previous.listOf(p, n) are *new replicas* of p: each must receive p's objects from one member
// that held them. Every node computes the same plan from the same two rings and statuses,
// and keeps only the transfers its own shards send, so a range is streamed once, not by every
// holder. The sender of (p, target):
//   1. a holder that departs (its node is leaving, so owns nothing in `next`, and is not
//      removed): a decommissioned node streams away everything it held, since a write
//      acknowledged by fewer than N replicas may exist only there; if several depart, each
//      sends (they may hold different writes);
//   2. otherwise the first holder (in preference-list order) that stays in the ring: a join
//      or a remove is served by a surviving replica;
//   3. otherwise nobody (N = 1 and the only holder was removed: its data is gone).
// Liveness plays no part (views of it differ between nodes): a sender that is down sends
// when it is back (its progress is durable, see transfer-file.ts).
import type { Ring } from '../../ring/index.js';
import { type NodeStatus, nodeOfMember } from '../membership/index.js';

/** One range to stream: partition p's objects from `source` (a shard of this node) to `target`. */
export interface TransferTask {
  readonly partition: number;
  readonly source: string;
  readonly target: string;
  /** The epoch of the ring that made `target` a replica of p. */
  readonly epoch: number;
}

/**
 * The transfers of the change `previous` -> `next` that the shards of node `self` send, by
 * partition. `statusOf` gives a node's status in this node's view (undefined: unknown).
 */
export function planTransfers(
  previous: Ring,
  next: Ring,
  n: number,
  self: string,
  statusOf: (node: string) => NodeStatus | undefined,
): TransferTask[] {
  const tasks: TransferTask[] = [];
  if (previous.q !== next.q) return tasks;
  const nPrev = previous.listLength(n);
  const nNext = next.listLength(n);
  for (let p = 0; p < next.q; p++) {
    const before = previous.listOf(p, nPrev);
    const after = next.listOf(p, nNext);
    const targets = after.filter((m) => !before.includes(m));
    if (targets.length === 0) continue;
    for (const source of sendersOf(before, next, statusOf)) {
      if (nodeOfMember(source) !== self) continue;
      for (const target of targets) tasks.push({ partition: p, source, target, epoch: next.epoch });
    }
  }
  return tasks;
}

/** The members of `holders` that send to the new replicas (see the file comment). */
export function sendersOf(holders: readonly string[], next: Ring, statusOf: (node: string) => NodeStatus | undefined): string[] {
  const departing = holders.filter((m) => next.member(m) === undefined && statusOf(nodeOfMember(m)) !== 'removed');
  if (departing.length > 0) return departing;
  const survivor = holders.find((m) => next.member(m) !== undefined && statusOf(nodeOfMember(m)) !== 'removed');
  return survivor === undefined ? [] : [survivor];
}
