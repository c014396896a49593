// Runs on: the main thread (the coordinator). How the coordinator reaches a replica.
//
// A replica is a member id on the ring ('s0', 's1', ... on one host; '<node>/s<k>' in a
// cluster). The transport hides whether it sits behind a SharedArrayBuffer queue in a worker
// thread (ShardTransport), in this thread (InProcessTransport), or on another node behind a
// TCP link (src/cluster/peer/: RoutedTransport over PeerTransport): the coordinator only
// sends a request and waits for its reply, with a timeout.
import { ErrorCode, RingkvError } from '../errors.js';
import type { Reply, Request } from '../protocol/index.js';

/**
 * Receives the outcome of one `Transport.send`: exactly one call of onReply or onError.
 * `tag` is what the sender passed, so one sink can follow several requests.
 */
export interface ReplySink {
  /**
   * The replica's reply (which may be an ERROR reply). Its byte fields may be views into a
   * buffer that is reused once this returns, and the reply object itself may be reused for
   * the next reply (the shard transport decodes every OBJECT into one): copy what you keep.
   */
  onReply(reply: Reply, tag: number): void;
  /** ERR_TIMEOUT after the request's timeout, ERR_UNAVAILABLE if the replica is or goes down. */
  onError(err: Error, tag: number): void;
}

export interface Transport {
  /**
   * Sends `req` to `replica`. Resolves with its reply (which may be an ERROR reply);
   * rejects with ERR_TIMEOUT after `timeoutMs`, ERR_UNAVAILABLE if the replica is down or
   * dies before answering. Never leaves a promise unsettled.
   * `req` and its byte fields are read during the call only: the caller may reuse them after.
   */
  request(replica: string, req: Request, timeoutMs: number): Promise<Reply>;
  /**
   * Optional allocation-free form of request() for hot paths: the outcome goes to
   * `sink.onReply` or `sink.onError` (with `tag`), exactly once, never from inside this call
   * for a reply; an error known at once (replica down, frame too large) may be reported from
   * inside it. Same timeout and failure contract as request().
   */
  send?(replica: string, req: Request, timeoutMs: number, sink: ReplySink, tag: number): void;
  /** True while the replica is known to be down (a dead worker, a failed peer). */
  isDown(replica: string): boolean;
  /** Called with the replica's id each time it comes back up (for hinted handoff). */
  onUp(listener: (replica: string) => void): void;
  /**
   * Optional: for a replica that is down but coming back by itself (a local shard whose
   * worker is restarting), a promise that resolves true once it is up again, or false if it
   * is not up within `timeoutMs`. undefined when it is up, or not expected back soon (a
   * peer node, a retired shard): the caller fails at once instead of waiting.
   */
  whenRestarted?(replica: string, timeoutMs: number): Promise<boolean> | undefined;
}

export function timeoutError(replica: string, ms: number): RingkvError {
  return new RingkvError(ErrorCode.TIMEOUT, `replica ${replica} did not answer within ${ms} ms`);
}

export function unavailableError(replica: string, why: string): RingkvError {
  return new RingkvError(ErrorCode.UNAVAILABLE, `replica ${replica} is unavailable: ${why}`);
}
