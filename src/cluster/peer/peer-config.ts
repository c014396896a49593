// Runs on: the main thread. What both ends of a peer link are configured with: the cluster's
// identity, the limits of a link (each with the reason for its default), and the logger.
import { ErrorCode, RingkvError } from '../../errors.js';
import { PROTOCOL_VERSION } from '../../protocol/index.js';

/** pino's call shape (fields first), so a pino logger can be passed as it is. */
export interface PeerLogger {
  info(fields: Record<string, unknown>, msg: string): void;
  warn(fields: Record<string, unknown>, msg: string): void;
}

export const silentLogger: PeerLogger = { info() {}, warn() {} };

export interface PeerIdentity {
  /** The cluster's name: links between nodes of different clusters are refused. */
  cluster: string;
  /** The shared secret both sides prove they hold (HMAC-SHA256). Non-empty. */
  secret: string | Uint8Array;
  /** Frame protocol versions this node speaks (default: PROTOCOL_VERSION only). */
  versions?: { min: number; max: number };
}

export interface PeerLinkLimits {
  /** Requests in flight on one link; one more fails at once with ERR_UNAVAILABLE (back-pressure). */
  maxInFlight: number;
  /** Bytes staged or held by the socket on one link; past it requests fail at once. */
  maxQueuedBytes: number;
  /** A connection must connect and finish its handshake within this. */
  handshakeTimeoutMs: number;
  /** First reconnect delay after a link dies; doubles per failed attempt. */
  backoffBaseMs: number;
  /** Longest reconnect delay. */
  backoffMaxMs: number;
}

export const DEFAULT_LINK_LIMITS: PeerLinkLimits = {
  // Enough to keep a 10 GbE link busy at ~100 µs per round trip with small requests.
  maxInFlight: 4096,
  // Half a second of a 1 GbE link; one frame may exceed it (bounded by MAX_FRAME_BYTES).
  maxQueuedBytes: 64 * 1024 * 1024,
  // A node that has not answered a handshake in 5 s is as good as down.
  handshakeTimeoutMs: 5000,
  // A restarted peer is usually back within a second or two.
  backoffBaseMs: 50,
  // A down peer costs one connection attempt per second at most; a longer ceiling kept a
  // healed partition unseen for seconds more (bench/converge.ts).
  backoffMaxMs: 1000,
};

export function versionRange(id: PeerIdentity): { min: number; max: number } {
  return id.versions ?? { min: PROTOCOL_VERSION, max: PROTOCOL_VERSION };
}

export function checkIdentity(id: PeerIdentity, node: string): void {
  const bad = (what: string) => new RingkvError(ErrorCode.INVALID_ARGUMENT, what);
  if (typeof id.cluster !== 'string' || id.cluster === '') throw bad('a peer link needs a non-empty cluster name');
  if (typeof node !== 'string' || node === '' || node.includes('/')) throw bad(`node id ${JSON.stringify(node)} must be non-empty without '/'`);
  if (id.secret === undefined || id.secret.length === 0) throw bad('a peer link needs a non-empty cluster secret');
  const v = versionRange(id);
  if (!Number.isInteger(v.min) || !Number.isInteger(v.max) || v.min < 1 || v.max < v.min) throw bad(`bad protocol version range ${v.min}..${v.max}`);
}

/** The next reconnect delay: exponential in `attempt`, with jitter in [delay/2, delay) ("equal jitter"). */
export function backoffDelay(limits: PeerLinkLimits, attempt: number, random: () => number): number {
  const ceiling = Math.min(limits.backoffMaxMs, limits.backoffBaseMs * 2 ** Math.min(attempt, 30));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}
