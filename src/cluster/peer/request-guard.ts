// Runs on: the main thread. What a cluster node refuses of the requests its peers send,
// before its shards see them (wraps the peer server's sender).
import { ErrorCode } from '../../errors.js';
import { FrameType, type Request, MAX_CLOCK_SKEW_MS } from '../../protocol/index.js';
import type { Ring } from '../../ring/index.js';
import type { PeerRequestSender } from './peer-server.js';

/**
 * What a node refuses before its shards see it:
 * - a PUT that arrives after its coordinator gave up on it (ERR_TIMEOUT): TCP retransmits
 *   what a partition held back once it heals, seconds later, and a late PUT would coordinate
 *   a version after writes the client made since; with `overwrite` (Redis SET) it would even
 *   supersede them. Late REPLICATEs and HINTs are harmless (merges). Judged by the
 *   coordinator's clock in the frame (writtenAt): node clocks must agree within
 *   MAX_CLOCK_SKEW_MS (NTP), as Cassandra's do.
 * - a GET, PUT, REPLICATE or REPLICATE_MANY routed by an older ring (the ROUTE frame's
 *   epoch) to a replica that no longer holds the key (for a batch: any one of its keys) in
 *   the ring in force here (ERR_STALE_EPOCH): the
 *   coordinator then asks the next replica or leaves a hint, and adopts the newer ring by
 *   gossip. A request from a newer ring than ours is served: ours is about to follow.
 */
export function refuseStale(deliver: PeerRequestSender, ring: () => Ring | undefined, n: number, now: () => number = Date.now): PeerRequestSender {
  return (replica, req, timeoutMs, sink, tag, epoch) => {
    if (req.type === FrameType.PUT && now() - req.writtenAt > timeoutMs + MAX_CLOCK_SKEW_MS) {
      sink.onReply({ type: FrameType.ERROR, code: ErrorCode.TIMEOUT, message: `a PUT written at ${req.writtenAt} arrived after its ${timeoutMs} ms timeout: refused` }, tag);
      return;
    }
    const current = ring();
    if (epoch !== undefined && epoch > 0 && current !== undefined && epoch < current.epoch && !holdsAll(current, n, replica, req)) {
      const what = req.type === FrameType.REPLICATE_MANY ? 'every key of this batch' : 'this key';
      sink.onReply({ type: FrameType.ERROR, code: ErrorCode.STALE_EPOCH, message: `routed by ring epoch ${epoch}; in epoch ${current.epoch} ${replica} no longer holds ${what}: re-route` }, tag);
      return;
    }
    deliver(replica, req, timeoutMs, sink, tag);
  };
}

/**
 * False when `req` names a key that `replica` does not hold in `ring`: a GET, PUT or
 * REPLICATE of it, or a REPLICATE_MANY with any such entry (the whole batch is refused: it
 * applies all or nothing). Other requests are not about single keys: true.
 */
function holdsAll(ring: Ring, n: number, replica: string, req: Request): boolean {
  const len = ring.listLength(n);
  if (req.type === FrameType.GET || req.type === FrameType.PUT || req.type === FrameType.REPLICATE) {
    return ring.listOf(ring.partitionOf(req.hi, req.lo), len).includes(replica);
  }
  if (req.type !== FrameType.REPLICATE_MANY) return true;
  let checked = -1; // a batch is mostly one partition's: ask the ring once per partition
  for (const e of req.entries) {
    const p = ring.partitionOf(e.hi, e.lo);
    if (p === checked) continue;
    if (!ring.listOf(p, len).includes(replica)) return false;
    checked = p;
  }
  return true;
}

