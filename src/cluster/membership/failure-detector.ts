// Runs on: main thread; pure (time comes in as arguments, nothing is read from the clock here).
// The failure detector: per peer, alive / suspect / down from two kinds of evidence.
//
// 1. Heartbeats. A peer's gossiped heartbeat counter advancing (seen directly or relayed by
//    anyone) is an arrival. In 'phi' mode the detector keeps the last WINDOW inter-arrival
//    times and computes phi(t) = -log10(P(the next arrival is later than t)) under a normal
//    model of those intervals (mean + acceptable pause, deviation at least minStdDevMs), the
//    phi-accrual detector of Hayashibara et al. as Akka and Cassandra use it. The peer is
//    suspicious once phi >= phiThreshold. In 'timeout' mode it is suspicious once no arrival
//    came for suspectAfterMs.
// 2. Real replies. The transport (or the gossiper's own syn/ack) reports `unreachable` when
//    a request timed out or a connection failed, and `reply` when the peer answered. A peer
//    is suspicious once `unreachableThreshold` reports came with no reply or heartbeat
//    arrival in between, until the next reply or arrival. A paused process still accepts
//    TCP connections, so only replies and heartbeats count as life, never a connect.
//
// A suspicious peer is 'suspect'; suspicious without a break for downAfterMs, it is 'down'
// (the suspicion window lets a fresh heartbeat refute a false alarm before anyone routes
// around the peer, as memberlist's suspicion timeout does). Any arrival or reply makes it
// 'alive' again at once. A restart (new generation) starts the peer's history afresh.
import { invalid } from '../../ring/index.js';

export type Liveness = 'alive' | 'suspect' | 'down';

export interface FailureDetectorOptions {
  mode: 'phi' | 'timeout';
  /** phi at which a peer becomes suspect. 8 is Akka's and Cassandra's default: under the
   *  model, a 1e-8 chance that a live peer's next heartbeat was merely late. */
  phiThreshold: number;
  /** The interval sample the history starts with: the gossip interval, so a peer seen once
   *  is judged by the rate heartbeats are expected at, not by an empty history. */
  expectedIntervalMs: number;
  /** Floor of the deviation: gossip relays heartbeats in bursts (a peer's news can skip a
   *  round or two), so a too-regular history must not make one late round look fatal. */
  minStdDevMs: number;
  /** Added to the mean: pauses a healthy Node process has (GC, a loaded event loop). */
  acceptablePauseMs: number;
  /** 'timeout' mode: silence after which a peer is suspect. */
  suspectAfterMs: number;
  /** Suspicion that lasts this long without a break makes a peer down. */
  downAfterMs: number;
  /** Failed requests in a row (no reply or heartbeat between) that make a peer suspect.
   *  2: one lost message is common, two in a row are rare. Measured in the simulation (6
   *  nodes, 10 min, 5% loss): ~330 false suspicions at 1, none at 2 (~5 at 30% loss). */
  unreachableThreshold: number;
}

/** Inter-arrival samples kept per peer (Akka keeps 1000; 100 rounds of 1 s cover ~2 min). */
const WINDOW = 100;

export function defaultFailureDetectorOptions(intervalMs = 1000): FailureDetectorOptions {
  return {
    mode: 'phi',
    phiThreshold: 8,
    expectedIntervalMs: intervalMs,
    minStdDevMs: intervalMs / 2,
    acceptablePauseMs: 3 * intervalMs,
    suspectAfterMs: 5 * intervalMs,
    downAfterMs: 10 * intervalMs,
    unreachableThreshold: 2,
  };
}

export function validateFailureDetectorOptions(o: FailureDetectorOptions): void {
  if (o.mode !== 'phi' && o.mode !== 'timeout') throw invalid(`failure detector mode must be phi or timeout, got ${String(o.mode)}`);
  for (const key of ['phiThreshold', 'expectedIntervalMs', 'minStdDevMs', 'suspectAfterMs'] as const) {
    if (!(o[key] > 0) || !Number.isFinite(o[key])) throw invalid(`failure detector ${key} must be a positive number, got ${o[key]}`);
  }
  if (!Number.isInteger(o.unreachableThreshold) || o.unreachableThreshold < 1) throw invalid(`failure detector unreachableThreshold must be a positive integer, got ${o.unreachableThreshold}`);
  for (const key of ['acceptablePauseMs', 'downAfterMs'] as const) {
    if (!(o[key] >= 0) || !Number.isFinite(o[key])) throw invalid(`failure detector ${key} must be a non-negative number, got ${o[key]}`);
  }
}

/** One peer's evidence. */
class History {
  readonly intervals = new Float64Array(WINDOW);
  count = 0;
  next = 0;
  sum = 0;
  sumSq = 0;
  lastArrival: number;
  /** Failed requests since the last reply or arrival. */
  unreachable = 0;
  /** When `unreachable` reached the threshold. */
  unreachableSince: number | undefined = undefined;

  constructor(now: number, first: number) {
    this.lastArrival = now;
    this.add(first);
  }

  add(interval: number): void {
    if (this.count === WINDOW) {
      const old = this.intervals[this.next]!;
      this.sum -= old;
      this.sumSq -= old * old;
    } else {
      this.count++;
    }
    this.intervals[this.next] = interval;
    this.next = (this.next + 1) % WINDOW;
    this.sum += interval;
    this.sumSq += interval * interval;
  }
}

/**
 * Liveness of peers. Owned by one Gossiper (main thread); not shared. Every method takes the
 * current time, so it runs identically under a real and a simulated clock.
 */
export class FailureDetector {
  private readonly peers = new Map<string, History>();

  constructor(readonly options: FailureDetectorOptions) {
    validateFailureDetectorOptions(options);
  }

  /** Starts tracking a peer (as if it had just been heard from), or restarts its history
   *  (a new generation: the old intervals say nothing about the new process). */
  reset(id: string, now: number): void {
    this.peers.set(id, new History(now, this.options.expectedIntervalMs));
  }

  forget(id: string): void {
    this.peers.delete(id);
  }

  has(id: string): boolean {
    return this.peers.has(id);
  }

  /** The peer's heartbeat advanced. */
  heartbeat(id: string, now: number): void {
    const h = this.peers.get(id);
    if (h === undefined) return this.reset(id, now);
    const interval = now - h.lastArrival;
    if (interval > 0) h.add(interval);
    h.lastArrival = Math.max(h.lastArrival, now);
    h.unreachable = 0;
    h.unreachableSince = undefined;
  }

  /** The peer answered a request: it is running, whatever its heartbeat says. */
  reply(id: string): void {
    const h = this.peers.get(id);
    if (h !== undefined) {
      h.unreachable = 0;
      h.unreachableSince = undefined;
    }
  }

  /** A request to the peer timed out or its connection failed. */
  unreachable(id: string, now: number): void {
    const h = this.peers.get(id);
    if (h === undefined) return;
    h.unreachable++;
    if (h.unreachable >= this.options.unreachableThreshold && h.unreachableSince === undefined) h.unreachableSince = now;
  }

  /** phi now (0 for an unknown peer); in 'timeout' mode, silence / suspectAfterMs × threshold. */
  phi(id: string, now: number): number {
    const h = this.peers.get(id);
    if (h === undefined) return 0;
    const elapsed = Math.max(0, now - h.lastArrival);
    const o = this.options;
    if (o.mode === 'timeout') return (elapsed / o.suspectAfterMs) * o.phiThreshold;
    const mean = h.sum / h.count;
    const variance = Math.max(0, h.sumSq / h.count - mean * mean);
    const sd = Math.max(Math.sqrt(variance), o.minStdDevMs);
    return phiOf(elapsed, mean + o.acceptablePauseMs, sd);
  }

  /** Milliseconds since the peer's heartbeat last advanced (undefined for an unknown peer). */
  silence(id: string, now: number): number | undefined {
    const h = this.peers.get(id);
    return h === undefined ? undefined : Math.max(0, now - h.lastArrival);
  }

  /** The peer's liveness now: a pure function of the evidence and `now` (an unknown peer is
   *  'alive': nothing says otherwise yet). Down means suspicious since downAfterMs ago, where
   *  suspicion began when failed requests reached the threshold or phi crossed its own. */
  liveness(id: string, now: number): Liveness {
    const h = this.peers.get(id);
    if (h === undefined) return 'alive';
    let since = h.unreachableSince ?? Infinity;
    if (this.phi(id, now) >= this.options.phiThreshold) since = Math.min(since, h.lastArrival + this.crossing(id, now - h.lastArrival));
    if (since > now) return 'alive';
    return now - since >= this.options.downAfterMs ? 'down' : 'suspect';
  }

  /** The silence (<= upTo) at which phi first reaches the threshold: phi grows with silence,
   *  so a bisection to 1 ms finds it. */
  private crossing(id: string, upTo: number): number {
    if (this.options.mode === 'timeout') return Math.min(upTo, this.options.suspectAfterMs);
    const h = this.peers.get(id)!;
    const at = h.lastArrival;
    let lo = 0;
    let hi = upTo;
    while (hi - lo > 1) {
      const mid = (lo + hi) / 2;
      if (this.phi(id, at + mid) >= this.options.phiThreshold) hi = mid;
      else lo = mid;
    }
    return hi;
  }
}

/**
 * -log10(P(X > elapsed)) for X ~ Normal(mean, sd), with the logistic approximation of the
 * normal tail (max error ~1.4e-4 in the CDF), computed in log space so it neither underflows
 * to Infinity nor loses the far tail.
 */
export function phiOf(elapsed: number, mean: number, sd: number): number {
  const y = (elapsed - mean) / sd;
  // P(X > elapsed) ≈ 1 / (1 + exp(z)), z = y·(1.5976 + 0.070566·y²).
  const z = y * (1.5976 + 0.070566 * y * y);
  // -log10(1 / (1 + e^z)) = log10(1 + e^z) = (z + log1p(e^-z)) / ln 10 for large z.
  const ln = z > 0 ? z + Math.log1p(Math.exp(-z)) : Math.log1p(Math.exp(z));
  return ln / Math.LN10;
}
