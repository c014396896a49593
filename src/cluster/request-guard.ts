// Runs on: the main thread. What a cluster node refuses of the requests its peers send,
// before its shards see them (wraps the peer server's sender).
import { ErrorCode } from '../errors.js';
import { FrameType } from '../protocol/index.js';
import type { Ring } from '../ring/index.js';
import type { PeerRequestSender } from './peer-server.js';

/** How far two nodes' clocks may disagree before late PUTs are misjudged (NTP keeps them
 *  within milliseconds; a PUT later than its timeout plus this is refused). */
export const MAX_CLOCK_SKEW_MS = 250;

/**
 * What a node refuses before its shards see it:
 * - a PUT that arrives after its coordinator gave up on it (ERR_TIMEOUT): TCP retransmits
 *   what a partition held back once it heals, seconds later, and a late PUT would coordinate
 *   a version after writes the client made since; with `overwrite` (Redis SET) it would even
 *   supersede them. Late REPLICATEs and HINTs are harmless (merges). Judged by the
 *   coordinator's clock in the frame (writtenAt): node clocks must agree within
 *   MAX_CLOCK_SKEW_MS (NTP), as Cassandra's do.
 * - a GET, PUT or REPLICATE routed by an older ring (the ROUTE frame's epoch) to a replica
 *   that no longer holds the key in the ring in force here (ERR_STALE_EPOCH): the
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
    if (
      epoch !== undefined && epoch > 0 && current !== undefined && epoch < current.epoch &&
      (req.type === FrameType.GET || req.type === FrameType.PUT || req.type === FrameType.REPLICATE) &&
      !current.listOf(current.partitionOf(req.hi, req.lo), current.listLength(n)).includes(replica)
    ) {
      sink.onReply({ type: FrameType.ERROR, code: ErrorCode.STALE_EPOCH, message: `routed by ring epoch ${epoch}; in epoch ${current.epoch} ${replica} no longer holds this key: re-route` }, tag);
      return;
    }
    deliver(replica, req, timeoutMs, sink, tag);
  };
}

