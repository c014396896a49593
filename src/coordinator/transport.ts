// Runs on: the main thread (the coordinator). How the coordinator reaches a replica.
//
// A replica is a member id on the ring ('s0', 's1', ... on one host; 'n2/s0' across hosts
// later). The transport hides whether it sits behind a SharedArrayBuffer ring in a worker
// thread, in this thread (tests), or behind a TCP link (cluster issue): the coordinator only
// sends a request and waits for its reply, with a timeout.
import { ErrorCode, RingkvError } from '../errors.js';
import type { Reply, Request } from '../protocol/index.js';

export interface Transport {
  /**
   * Sends `req` to `replica`. Resolves with its reply (which may be an ERROR reply);
   * rejects with ERR_TIMEOUT after `timeoutMs`, ERR_UNAVAILABLE if the replica is down or
   * dies before answering. Never leaves a promise unsettled.
   */
  request(replica: string, req: Request, timeoutMs: number): Promise<Reply>;
  /** True while the replica is known to be down (a dead worker, a failed peer). */
  isDown(replica: string): boolean;
  /** Called with the replica's id each time it comes back up (for hinted handoff). */
  onUp(listener: (replica: string) => void): void;
}

export function timeoutError(replica: string, ms: number): RingkvError {
  return new RingkvError(ErrorCode.TIMEOUT, `replica ${replica} did not answer within ${ms} ms`);
}

export function unavailableError(replica: string, why: string): RingkvError {
  return new RingkvError(ErrorCode.UNAVAILABLE, `replica ${replica} is unavailable: ${why}`);
}
