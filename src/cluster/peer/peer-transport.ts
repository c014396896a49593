// Runs on: the main thread. The Transport to replicas on other nodes ('<node>/s<k>'): one
// persistent, authenticated TCP link per peer node (peer-link.ts), carrying the unchanged
// data frames of src/protocol with request ids, plus CONTROL messages (call()).
//
// Contract, as every Transport: a request settles exactly once: with its reply, with
// ERR_TIMEOUT after its timeout (one deadline queue per timeout value, no timer per
// request), or with ERR_UNAVAILABLE as soon as its link dies, is refused, or is in back-off.
// A request made while its link is connecting waits (staged) at most its timeout. A link
// with `maxInFlight` requests in flight or `maxQueuedBytes` not yet taken by the kernel
// refuses more at once ("peer link saturated"): back-pressure, never unbounded memory.
import { ErrorCode, RingkvError } from '../../errors.js';
import {
  FrameReader, FrameWriter, MAX_FRAME_BYTES, Slab, decodeReply, encodeRequest, encodeRequestInto, requestFrameSize, type Reply, type Request,
} from '../../protocol/index.js';
import { PromiseSink, RequestTable, unavailableError, type InFlight, type ReplySink, type Transport } from '../../coordinator/index.js';
import { DEFAULT_LINK_LIMITS, checkIdentity, silentLogger, type PeerIdentity, type PeerLinkLimits, type PeerLogger } from './peer-config.js';
import { OutboundLink, type LinkContext, type LinkState, type PeerAddress } from './peer-link.js';
import { PeerFrameType, decodeControlReply, encodeControl, encodeRoute, secretBytes } from './peer-protocol.js';

export type { PeerAddress } from './peer-link.js';

export interface PeerTransportOptions extends PeerIdentity {
  /** This node's id. */
  self: string;
  /** Where a node's peer server listens (undefined: unknown, its replicas count as down). */
  addressOf(node: string): PeerAddress | undefined;
  /** The replicas ('<node>/s<k>') a node holds: onUp fires for each when its link comes up. */
  replicasOf(node: string): readonly string[];
  /** The epoch of the ring requests are routed by (sent in ROUTE frames; default 0: none). */
  ringEpoch?(): number;
  /** The failure detector's verdict, if there is one. */
  isNodeDown?(node: string): boolean;
  /** The source address of outgoing links (default: addressOf(self)'s host). */
  localAddress?: string;
  logger?: PeerLogger;
  /** Randomness for back-off jitter, in [0, 1) (default Math.random; seed it in tests). */
  random?: () => number;
  limits?: Partial<PeerLinkLimits>;
}

export interface PeerLinkStats {
  node: string;
  state: LinkState;
  inFlight: number;
  queuedBytes: number;
  /** Failed attempts since it was last up, and the last failure. */
  attempt: number;
  lastError: string;
}

/** A CONTROL message's sink: its CONTROL_REPLY settles it with the decoded JSON (onFrame). */
class ControlSink implements ReplySink {
  constructor(
    readonly resolve: (value: unknown) => void,
    readonly reject: (err: Error) => void,
  ) {}

  onReply(): void {
    this.reject(new RingkvError(ErrorCode.PROTOCOL, 'a data reply to a CONTROL message'));
  }

  onError(err: Error): void {
    this.reject(err);
  }
}

const encoder = new TextEncoder();
/** How often requests waiting for a peer replica to be up again check (whenRestarted). */
const WAIT_POLL_MS = 50;
const decoder = new TextDecoder();

export class PeerTransport implements Transport {
  private readonly links = new Map<string, OutboundLink>();
  /** Replica id -> its node's id (parsed once per replica). */
  private readonly nodeOfReplica = new Map<string, string>();
  private readonly upListeners: ((replica: string) => void)[] = [];
  /** Requests in flight (each link's by id), their deadlines and their settling. */
  private readonly table = new RequestTable();
  private readonly writer = new FrameWriter();
  private readonly slab = new Slab();
  private readonly ctx: LinkContext;
  private readonly limits: PeerLinkLimits;
  private closed = false;
  /** Requests waiting for a replica to be up again (whenRestarted), and the timer checking them. */
  private upWaiters: { replica: string; until: number; resolve: (up: boolean) => void }[] = [];
  private waitTimer: NodeJS.Timeout | undefined;

  constructor(private readonly o: PeerTransportOptions) {
    checkIdentity(o, o.self);
    this.limits = { ...DEFAULT_LINK_LIMITS, ...o.limits };
    this.ctx = {
      self: o.self,
      identity: o,
      secret: secretBytes(o.secret),
      localAddress: o.localAddress ?? o.addressOf(o.self)?.host,
      addressOf: (node) => o.addressOf(node),
      limits: this.limits,
      random: o.random ?? Math.random,
      log: o.logger ?? silentLogger,
      writer: new FrameWriter(),
      reader: new FrameReader(),
      onUp: (link) => this.linkUp(link),
      onDown: (link, err) => this.failAll(link, err),
      onFrame: (link, r) => this.onFrame(link, r),
    };
  }

  request(replica: string, req: Request, timeoutMs: number): Promise<Reply> {
    return new Promise<Reply>((resolve, reject) => this.send(replica, req, timeoutMs, new PromiseSink(resolve, reject, this.slab), 0));
  }

  /** request() without a promise: the frame is encoded straight into the link's outbox. */
  send(replica: string, req: Request, timeoutMs: number, sink: ReplySink, tag: number): void {
    const link = this.admit(replica, this.nodeOf(replica));
    if (typeof link === 'string') {
      sink.onError(unavailableError(replica, link), tag);
      return;
    }
    const id = link.takeId();
    try {
      const epoch = this.o.ringEpoch?.() ?? 0;
      if (link.route !== replica || link.routeTimeoutMs !== timeoutMs || link.routeEpoch !== epoch) {
        link.outbox.put(encodeRoute(this.writer, replica, wireTimeout(timeoutMs), epoch));
        link.route = replica;
        link.routeTimeoutMs = timeoutMs;
        link.routeEpoch = epoch;
      }
      const size = requestFrameSize(req);
      if (size > 0) {
        if (size > MAX_FRAME_BYTES) throw new RingkvError(ErrorCode.TOO_LARGE, `a request of ${size} bytes exceeds the ${MAX_FRAME_BYTES}-byte frame limit`);
        const at = link.outbox.reserve(size);
        encodeRequestInto(link.outbox.buf, at, id, req, size);
        link.outbox.commit(size);
      } else {
        link.outbox.put(encodeRequest(this.writer, id, req));
      }
    } catch (err) {
      sink.onError(err as Error, tag);
      return;
    }
    this.table.track(link, id, replica, timeoutMs, sink, tag);
  }

  /** Sends a CONTROL message (JSON) to `node`'s peer server; resolves with its JSON answer. */
  call(node: string, msg: unknown, timeoutMs: number): Promise<unknown> {
    return new Promise<unknown>((resolve, reject) => {
      const link = this.admit(node, node);
      if (typeof link === 'string') {
        reject(new RingkvError(ErrorCode.UNAVAILABLE, `node ${node} is unavailable: ${link}`));
        return;
      }
      const id = link.takeId();
      try {
        link.outbox.put(encodeControl(this.writer, id, encoder.encode(JSON.stringify(msg ?? null))));
      } catch (err) {
        reject(err as Error);
        return;
      }
      this.table.track(link, id, node, timeoutMs, new ControlSink(resolve, reject), 0);
    });
  }

  isDown(replica: string): boolean {
    const node = this.nodeOf(replica);
    if (this.o.isNodeDown?.(node) === true) return true;
    const link = this.links.get(node);
    if (link !== undefined && (link.state === 'backoff' || link.state === 'closed')) return true;
    return (link === undefined || link.state === 'idle') && this.o.addressOf(node) === undefined;
  }

  onUp(listener: (replica: string) => void): void {
    this.upListeners.push(listener);
  }

  /**
   * A replica on a node this one can reach in principle (its address is known) that is
   * down now (judged down or suspect, or its link backing off, as after a partition healed):
   * resolves true once it no longer is, false after `timeoutMs`. Waiters are checked every
   * WAIT_POLL_MS by one timer, which runs only while some wait.
   */
  whenRestarted(replica: string, timeoutMs: number): Promise<boolean> | undefined {
    if (this.closed || !this.isDown(replica) || this.o.addressOf(this.nodeOf(replica)) === undefined) return undefined;
    return new Promise<boolean>((resolve) => {
      this.upWaiters.push({ replica, until: Date.now() + timeoutMs, resolve });
      this.waitTimer ??= setInterval(() => this.checkWaiters(), WAIT_POLL_MS).unref();
    });
  }

  private checkWaiters(): void {
    const now = Date.now();
    this.upWaiters = this.upWaiters.filter((w) => {
      const up = !this.closed && !this.isDown(w.replica);
      const settled = up || this.closed || now >= w.until;
      if (settled) w.resolve(up);
      return !settled;
    });
    if (this.upWaiters.length === 0 && this.waitTimer !== undefined) {
      clearInterval(this.waitTimer);
      this.waitTimer = undefined;
    }
  }

  /** Opens the link to `node` now rather than on its first request. */
  connect(node: string): void {
    if (!this.closed) this.linkFor(node).connect();
  }

  /**
   * Closes the link to `node` (failing what is in flight on it with ERR_UNAVAILABLE) and
   * forgets it: e.g. a seed's link once its node id is known, so that the peer server, which
   * allows one link per client node, accepts the link under the real id.
   */
  drop(node: string): void {
    const link = this.links.get(node);
    if (link === undefined) return;
    this.links.delete(node);
    link.close();
    this.failAll(link, new RingkvError(ErrorCode.UNAVAILABLE, `the link to ${node} was closed`));
  }

  /** Every link's state, for admin and tests. */
  stats(): PeerLinkStats[] {
    return [...this.links.values()].map((l) => ({ node: l.node, state: l.state, inFlight: l.pending.size, queuedBytes: l.outbox.queuedBytes, attempt: l.attempt, lastError: l.lastError }));
  }

  /** Fails everything in flight with ERR_UNAVAILABLE and closes every link. */
  async close(): Promise<void> {
    this.closed = true;
    this.checkWaiters();
    for (const link of this.links.values()) {
      link.close();
      this.failAll(link, new RingkvError(ErrorCode.UNAVAILABLE, 'the peer transport is closing'));
    }
    this.table.close();
  }

  /** The link a new request may use, or why it may not. */
  private admit(target: string, node: string): OutboundLink | string {
    if (this.closed) return 'the peer transport is closed';
    let link = this.links.get(node);
    if (link === undefined) {
      if (this.o.addressOf(node) === undefined) return `no address is known for node ${node}`;
      link = this.linkFor(node);
    }
    if (link.state === 'idle') {
      link.connect();
      if (link.state === 'idle') return link.lastError;
    }
    if (link.state === 'backoff') return `the link to node ${node} is down (${link.lastError}); reconnecting`;
    if (link.pending.size >= this.limits.maxInFlight || link.outbox.queuedBytes >= this.limits.maxQueuedBytes) {
      return `peer link saturated (${link.pending.size} requests in flight, ${link.outbox.queuedBytes} bytes queued to node ${node}${target === node ? '' : ` for ${target}`})`;
    }
    return link;
  }

  private linkFor(node: string): OutboundLink {
    let link = this.links.get(node);
    if (link === undefined) {
      link = new OutboundLink(node, this.ctx);
      this.links.set(node, link);
    }
    return link;
  }

  private nodeOf(replica: string): string {
    let node = this.nodeOfReplica.get(replica);
    if (node === undefined) {
      const slash = replica.indexOf('/');
      node = slash < 0 ? replica : replica.slice(0, slash);
      this.nodeOfReplica.set(replica, node);
    }
    return node;
  }

  private onFrame(link: OutboundLink, r: FrameReader): void {
    const p = link.pending.get(r.requestId);
    if (r.type === PeerFrameType.CONTROL_REPLY) {
      const reply = decodeControlReply(r);
      if (p === undefined) return; // timed out already
      const control = p.sink;
      if (!(control instanceof ControlSink)) throw new RingkvError(ErrorCode.PROTOCOL, `a CONTROL_REPLY to data request ${r.requestId}`);
      this.table.settle(p);
      if (!reply.ok) control.reject(new RingkvError(reply.code as ErrorCode, reply.message));
      else {
        try {
          control.resolve(JSON.parse(decoder.decode(reply.json)));
        } catch (err) {
          control.reject(new RingkvError(ErrorCode.PROTOCOL, `CONTROL_REPLY from node ${link.node} is not JSON: ${(err as Error).message}`));
        }
      }
      return;
    }
    const reply = decodeReply(r);
    if (p === undefined) return; // timed out already
    if (p.sink instanceof ControlSink) throw new RingkvError(ErrorCode.PROTOCOL, `a data reply (type ${reply.type}) to CONTROL message ${r.requestId}`);
    this.table.reply(p, reply);
  }

  private linkUp(link: OutboundLink): void {
    let replicas: readonly string[];
    try {
      replicas = this.o.replicasOf(link.node);
    } catch {
      return; // membership's failure: nothing to announce
    }
    for (const replica of replicas) {
      for (const l of this.upListeners) {
        try {
          l(replica);
        } catch {
          // A listener's failure is its own.
        }
      }
    }
  }

  private failAll(link: OutboundLink, err: RingkvError): void {
    this.table.failAll(link, err, controlOrReplicaError);
  }
}

/** What a request on a link that failed with `err` fails with: a CONTROL message with `err`, a replica request with ERR_UNAVAILABLE naming its replica. */
function controlOrReplicaError(p: InFlight, err: Error): Error {
  return p.sink instanceof ControlSink ? err : unavailableError(p.target, err.message);
}

/** The timeout as ROUTE carries it (u32 ms). */
function wireTimeout(ms: number): number {
  return Number.isFinite(ms) ? Math.min(0xffffffff, Math.max(0, Math.round(ms))) : 0xffffffff;
}
