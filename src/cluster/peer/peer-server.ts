// Runs on: the main thread. A node's door for its peers: a TCP server on the node's own
// cluster address that authenticates each incoming link (peer-protocol.ts) and then serves
// the data requests and CONTROL messages arriving on it.
//
// Requests go to an injected handler (the node's local transport, through
// localReplicaHandler or, without a promise per request, localReplicaSender in
// routed-transport.ts), CONTROL messages to another (gossip, admin).
// Replies carry their request's id and leave as they are ready, possibly out of order,
// coalesced into one socket write per event-loop turn. A link that sends a malformed frame,
// or anything but a handshake before it is authenticated, is closed (ERR_PROTOCOL logged)
// and nothing else is touched. A link whose peer does not read its replies, or that has too
// many requests in flight, is paused (TCP back-pressure) until it catches up.
import { createServer, type Server, type Socket } from 'node:net';
import { ErrorCode, RingkvError } from '../../errors.js';
import { LogLimiter, sourceOf } from '../../log-limiter.js';
import type { ReplySink } from '../../coordinator/index.js';
import { FrameReader, FrameWriter, MAX_FRAME_BYTES, decodeRequest, encodeReply, encodeReplyInto, replyFrameSize, FrameType, type Reply, type Request } from '../../protocol/index.js';
import { DEFAULT_LINK_LIMITS, checkIdentity, silentLogger, versionRange, type PeerIdentity, type PeerLinkLimits, type PeerLogger } from './peer-config.js';
import { FrameSplitter } from './peer-frame-splitter.js';
import { Outbox } from './peer-outbox.js';
import {
  FIRST_LINK_FRAME_TYPE, MAX_HANDSHAKE_FRAME_BYTES, PeerFrameType, RefusalCode, chooseVersion, decodeControl, decodeHello, decodeProof,
  decodeRefused, decodeRoute, encodeAccepted, encodeControlReply, encodeRefused, encodeWelcome, handshakeMac, macMatches, newNonce,
  secretBytes, type ControlReply, type HandshakeFacts,
} from './peer-protocol.js';

/** Serves one data request for `replica`. REQUIRES: reads `req` during the call only (as Transport.request does). */
export type PeerRequestHandler = (replica: string, req: Request, timeoutMs: number) => Promise<Reply>;
/**
 * The allocation-free form of a handler (a Transport's send): the outcome goes to `sink`
 * exactly once, with `tag`; a reply's views need only last during onReply (the server
 * encodes it at once). REQUIRES: reads `req` during the call only.
 */
export type PeerRequestSender = (replica: string, req: Request, timeoutMs: number, sink: ReplySink, tag: number, ringEpoch?: number) => void;
/** Answers one CONTROL message (JSON in, JSON out). */
export type PeerControlHandler = (fromNode: string, msg: unknown) => Promise<unknown>;

export interface PeerServerOptions extends PeerIdentity {
  /** This node's id. */
  node: string;
  /** The node's own cluster address. Port 0: any free port (see `address`). */
  host: string;
  port: number;
  /** Serves data requests (or give `sender`, which takes precedence: no promise or copy per request). */
  handler?: PeerRequestHandler;
  sender?: PeerRequestSender;
  control?: PeerControlHandler;
  logger?: PeerLogger;
  limits?: Partial<PeerLinkLimits>;
  /**
   * A second link from a node whose first link has been silent this long replaces the first
   * (a half-open leftover of a crash); a second link while the first is active is refused.
   */
  staleLinkMs?: number;
}

export interface PeerServerCounters {
  linksAccepted: number;
  linksRefused: number;
  protocolErrors: number;
  requests: number;
  controls: number;
}

/** Default staleLinkMs: several request timeouts and gossip rounds without a frame. */
const STALE_LINK_MS = 10_000;
/** How long a refused peer may take to read the REFUSED frame before its socket is destroyed. */
const REFUSED_LINGER_MS = 1000;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** One incoming connection; the sink of its requests' replies (tag = request id). */
class InboundLink implements ReplySink {
  state: 'hello' | 'welcomed' | 'ready' | 'closed' = 'hello';
  node = '';
  facts: HandshakeFacts | undefined;
  route = '';
  routeTimeoutMs = 0;
  routeEpoch = 0;
  inFlight = 0;
  paused = false;
  readonly outbox = new Outbox();
  readonly splitter: FrameSplitter;
  readonly peer: string;
  timer: NodeJS.Timeout | undefined;
  /** When the last frame arrived (performance.now()). */
  lastFrameAt = performance.now();

  constructor(
    readonly socket: Socket,
    onFrame: (buf: Uint8Array, at: number, n: number) => void,
    private readonly answer: (link: InboundLink, id: number, reply: Reply) => void,
  ) {
    this.peer = `${socket.remoteAddress}:${socket.remotePort}`;
    this.splitter = new FrameSplitter(MAX_HANDSHAKE_FRAME_BYTES, onFrame);
  }

  onReply(reply: Reply, tag: number): void {
    this.answer(this, tag, reply);
  }

  onError(err: Error, tag: number): void {
    this.answer(this, tag, errorReply(err));
  }
}

export class PeerServer {
  readonly counters: PeerServerCounters = { linksAccepted: 0, linksRefused: 0, protocolErrors: 0, requests: 0, controls: 0 };
  private readonly links = new Set<InboundLink>();
  private readonly byNode = new Map<string, InboundLink>();
  private readonly writer = new FrameWriter();
  private readonly reader = new FrameReader();
  private readonly secret: Uint8Array;
  private readonly limits: PeerLinkLimits;
  private readonly log: PeerLogger;
  /** 'peer link refused' lines: one per source address and refusal code per minute (anyone can connect and fail the handshake). */
  private readonly refusedLog = new LogLimiter();
  private readonly staleLinkMs: number;
  private closed = false;
  private readonly answerNow = (link: InboundLink, id: number, reply: Reply): void => this.answer(link, id, reply);

  private constructor(
    private readonly o: PeerServerOptions,
    private readonly server: Server,
  ) {
    this.secret = secretBytes(o.secret);
    this.limits = { ...DEFAULT_LINK_LIMITS, ...o.limits };
    this.log = o.logger ?? silentLogger;
    this.staleLinkMs = o.staleLinkMs ?? STALE_LINK_MS;
    server.on('connection', (socket) => this.accept(socket));
  }

  /** Listens on (host, port); rejects with the OS error (EADDRINUSE, EADDRNOTAVAIL) if it cannot. */
  static async listen(o: PeerServerOptions): Promise<PeerServer> {
    checkIdentity(o, o.node);
    if (o.handler === undefined && o.sender === undefined) throw new RingkvError(ErrorCode.INVALID_ARGUMENT, 'a peer server needs a handler or a sender');
    const server = createServer({ noDelay: true, keepAlive: true });
    const s = new PeerServer(o, server);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: o.host, port: o.port }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (err) => s.log.warn({ err: err.message }, 'peer server error'));
    return s;
  }

  get address(): { host: string; port: number } {
    const a = this.server.address();
    if (a === null || typeof a === 'string') return { host: this.o.host, port: this.o.port };
    return { host: a.address, port: a.port };
  }

  /** The authenticated links: which node, from which address. */
  peers(): { node: string; address: string; port: number }[] {
    return [...this.byNode.values()].map((l) => ({ node: l.node, address: l.socket.remoteAddress ?? '', port: l.socket.remotePort ?? 0 }));
  }

  /** Stops listening and closes every link (their requests in flight get no reply). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const done = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const l of [...this.links]) this.drop(l);
    await done;
  }

  private accept(socket: Socket): void {
    if (this.closed) {
      socket.destroy();
      return;
    }
    const link: InboundLink = new InboundLink(socket, (buf, at, n) => this.onFrame(link, buf, at, n), this.answerNow);
    this.links.add(link);
    link.outbox.afterFlush = () => this.flow(link);
    link.outbox.attach(socket);
    link.timer = setTimeout(() => {
      this.log.warn({ peer: link.peer }, 'peer link closed: no handshake in time');
      this.drop(link);
    }, this.limits.handshakeTimeoutMs);
    socket.on('data', (chunk: Buffer) => {
      try {
        link.splitter.push(chunk);
      } catch (err) {
        this.protocolError(link, err);
      }
    });
    socket.on('drain', () => this.flow(link));
    socket.on('error', () => {}); // 'close' follows
    socket.on('close', () => this.drop(link));
  }

  private onFrame(link: InboundLink, buf: Uint8Array, at: number, n: number): void {
    if (link.state === 'closed') return;
    link.lastFrameAt = performance.now();
    const r = this.reader;
    r.reset(buf, at, n);
    const type = r.type;
    if (link.state === 'ready') {
      if (type < FIRST_LINK_FRAME_TYPE) this.onRequest(link, r);
      else if (type === PeerFrameType.ROUTE) {
        const route = decodeRoute(r);
        link.route = route.replica;
        link.routeTimeoutMs = route.timeoutMs;
        link.routeEpoch = route.ringEpoch;
      } else if (type === PeerFrameType.CONTROL) this.onControl(link, r);
      else if (type === PeerFrameType.REFUSED) this.onRefused(link, r);
      else throw new RingkvError(ErrorCode.PROTOCOL, `unexpected frame type ${type} on a ready link`);
      return;
    }
    if (type === PeerFrameType.REFUSED) this.onRefused(link, r);
    else if (link.state === 'hello' && type === PeerFrameType.HELLO) this.onHello(link, r);
    else if (link.state === 'welcomed' && type === PeerFrameType.PROOF) this.onProof(link, r);
    else throw new RingkvError(ErrorCode.PROTOCOL, `frame type ${type} before the handshake completed`);
  }

  private onHello(link: InboundLink, r: FrameReader): void {
    const h = decodeHello(r);
    link.node = h.node;
    if (h.cluster !== this.o.cluster) return this.refuse(link, RefusalCode.WRONG_CLUSTER, `this is cluster ${JSON.stringify(this.o.cluster)}, not ${JSON.stringify(h.cluster)}`);
    if (h.node === this.o.node) return this.refuse(link, RefusalCode.SELF, `node id ${h.node} is this node's own`);
    const mine = versionRange(this.o);
    const version = chooseVersion(mine, { min: h.minVersion, max: h.maxVersion });
    if (version === undefined) return this.refuse(link, RefusalCode.NO_COMMON_VERSION, `versions ${h.minVersion}..${h.maxVersion} and ${mine.min}..${mine.max} do not overlap`);
    link.facts = { cluster: h.cluster, clientNode: h.node, serverNode: this.o.node, clientNonce: h.nonce, serverNonce: newNonce(), version };
    const mac = handshakeMac(this.secret, 'server', link.facts);
    link.outbox.put(encodeWelcome(this.writer, { node: this.o.node, version, nonce: link.facts.serverNonce, mac }));
    link.state = 'welcomed';
  }

  private onProof(link: InboundLink, r: FrameReader): void {
    const mac = decodeProof(r);
    if (!macMatches(handshakeMac(this.secret, 'client', link.facts!), mac)) return this.refuse(link, RefusalCode.BAD_MAC, 'bad handshake mac: the cluster secrets differ');
    const other = this.byNode.get(link.node);
    if (other !== undefined) {
      const silentMs = performance.now() - other.lastFrameAt;
      if (silentMs < this.staleLinkMs) return this.refuse(link, RefusalCode.DUPLICATE_NODE, `node ${link.node} already has a live link from ${other.peer}`);
      // Nothing came on the old link for a while: likely the half-open leftover of a node
      // that crashed and restarted (TCP keep-alive would take hours to tell). The new link
      // has proven the secret: it replaces the old one.
      this.log.warn({ peer: link.peer, node: link.node, old: other.peer, silentMs: Math.round(silentMs) }, 'peer link replaces a silent link from the same node');
      this.drop(other);
    }
    clearTimeout(link.timer);
    link.state = 'ready';
    link.splitter.limit(MAX_FRAME_BYTES);
    this.byNode.set(link.node, link);
    this.counters.linksAccepted++;
    link.outbox.put(encodeAccepted(this.writer));
    this.log.info({ peer: link.peer, node: link.node, version: link.facts!.version }, 'peer link accepted');
  }

  private onRefused(link: InboundLink, r: FrameReader): void {
    const m = decodeRefused(r);
    this.counters.linksRefused++;
    const source = sourceOf(link.socket.remoteAddress);
    const suppressed = this.refusedLog.allow(`${source} ${m.code} by the peer`);
    if (suppressed !== false) {
      this.log.warn({ peer: link.peer, node: link.node, code: m.code, reason: m.reason, suppressed }, suppressed > 0 ? `peer link refused by the peer (${suppressed} more from ${source} not logged in the last minute)` : 'peer link refused by the peer');
    }
    this.drop(link);
  }

  private refuse(link: InboundLink, code: string, reason: string): void {
    this.counters.linksRefused++;
    const source = sourceOf(link.socket.remoteAddress);
    const suppressed = this.refusedLog.allow(`${source} ${code}`);
    if (suppressed !== false) {
      this.log.warn({ peer: link.peer, node: link.node, code, reason, suppressed }, suppressed > 0 ? `peer link refused (${suppressed} more refusals from ${source} not logged in the last minute)` : 'peer link refused');
    }
    link.splitter.stop();
    link.state = 'closed';
    // The REFUSED frame goes out now, then the socket ends (no more frames are read); a
    // peer that keeps its end open is cut off after a moment.
    clearTimeout(link.timer);
    link.socket.end(encodeRefused(this.writer, { code, reason }).slice());
    link.timer = setTimeout(() => link.socket.destroy(), REFUSED_LINGER_MS);
  }

  private onRequest(link: InboundLink, r: FrameReader): void {
    const id = r.requestId;
    const req = decodeRequest(r);
    if (link.route === '') throw new RingkvError(ErrorCode.PROTOCOL, 'a data request before any ROUTE frame');
    this.counters.requests++;
    link.inFlight++;
    this.flow(link);
    const sender = this.o.sender;
    if (sender !== undefined) {
      try {
        sender(link.route, req, link.routeTimeoutMs, link, id, link.routeEpoch);
      } catch (err) {
        this.answer(link, id, errorReply(err));
      }
      return;
    }
    let reply: Promise<Reply>;
    try {
      reply = this.o.handler!(link.route, req, link.routeTimeoutMs);
    } catch (err) {
      reply = Promise.reject(err);
    }
    reply.then(
      (rep) => this.answer(link, id, rep),
      (err: unknown) => this.answer(link, id, errorReply(err)),
    );
  }

  private answer(link: InboundLink, id: number, reply: Reply): void {
    link.inFlight--;
    if (link.state === 'closed') return;
    try {
      const size = replyFrameSize(reply);
      if (size > 0 && size <= MAX_FRAME_BYTES) {
        const at = link.outbox.reserve(size);
        encodeReplyInto(link.outbox.buf, at, id, reply, size);
        link.outbox.commit(size);
      } else {
        link.outbox.put(encodeReply(this.writer, id, reply));
      }
    } catch (err) {
      link.outbox.put(encodeReply(this.writer, id, errorReply(err)));
    }
    this.flow(link);
  }

  private onControl(link: InboundLink, r: FrameReader): void {
    const id = r.requestId;
    const json = decodeControl(r);
    this.counters.controls++;
    let result: Promise<unknown>;
    try {
      const msg: unknown = JSON.parse(decoder.decode(json));
      if (this.o.control === undefined) throw new RingkvError(ErrorCode.UNAVAILABLE, `node ${this.o.node} takes no CONTROL messages`);
      result = this.o.control(link.node, msg);
    } catch (err) {
      result = Promise.reject(err instanceof SyntaxError ? new RingkvError(ErrorCode.PROTOCOL, `CONTROL message is not JSON: ${err.message}`) : err);
    }
    result.then(
      (out) => this.controlAnswer(link, id, { ok: true, json: encoder.encode(JSON.stringify(out ?? null)) }),
      (err: unknown) => {
        const e = errorReply(err);
        this.controlAnswer(link, id, { ok: false, code: e.code, message: e.message });
      },
    );
  }

  private controlAnswer(link: InboundLink, id: number, reply: ControlReply): void {
    if (link.state === 'closed') return;
    link.outbox.put(encodeControlReply(this.writer, id, reply));
  }

  /** Pauses reading from a link that has too much in flight or queued; resumes it once it has not. */
  private flow(link: InboundLink): void {
    if (link.state === 'closed') return;
    const over = link.inFlight >= this.limits.maxInFlight || link.outbox.queuedBytes > this.limits.maxQueuedBytes;
    if (over && !link.paused) {
      link.paused = true;
      link.socket.pause();
      link.splitter.pause(); // the rest of a chunk being handled waits too
    } else if (!over && link.paused) {
      // The socket first: frames kept while paused may pause the link again at once.
      link.paused = false;
      link.socket.resume();
      try {
        link.splitter.resume();
      } catch (err) {
        this.protocolError(link, err);
      }
    }
  }

  private protocolError(link: InboundLink, err: unknown): void {
    if (link.state === 'closed') return;
    this.counters.protocolErrors++;
    this.log.warn({ peer: link.peer, node: link.node, code: ErrorCode.PROTOCOL, err: (err as Error).message }, 'peer link closed: malformed frame');
    this.drop(link);
  }

  private drop(link: InboundLink): void {
    link.state = 'closed';
    link.splitter.stop();
    link.socket.destroy();
    clearTimeout(link.timer);
    link.outbox.reset();
    this.links.delete(link);
    if (this.byNode.get(link.node) === link) {
      this.byNode.delete(link.node);
      this.log.info({ peer: link.peer, node: link.node }, 'peer link closed');
    }
  }
}

/** An ERROR reply for what a handler threw (a RingkvError keeps its code). */
export function errorReply(err: unknown): { type: typeof FrameType.ERROR; code: string; message: string } {
  const code = typeof (err as { code?: unknown })?.code === 'string' ? (err as { code: string }).code : ErrorCode.IO;
  return { type: FrameType.ERROR, code, message: err instanceof Error ? err.message : String(err) };
}
