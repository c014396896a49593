// Runs on: the main thread. One outgoing link to a peer node: the TCP connection (leaving
// from this node's own address), the client side of the handshake (peer-protocol.ts), and
// reconnection with exponential back-off and jitter after the link dies or is refused.
//
//   idle --connect--> connecting --ACCEPTED--> up      (idle stays idle without an address)
//     connecting/up --closed, refused, malformed frame, no handshake in time--> backoff
//     backoff --delay--> connecting          any --close()--> closed
//
// The transport (peer-transport.ts) owns the requests on the link; the link tells it when
// it comes up, when it goes down (so every request in flight fails at once), and hands it
// each frame that arrives once the link is up.
import { connect as netConnect, type Socket } from 'node:net';
import { ErrorCode, RingkvError } from '../../errors.js';
import { RequestGroup } from '../../coordinator/index.js';
import { FrameReader, FrameWriter, MAX_FRAME_BYTES } from '../../protocol/index.js';
import { backoffDelay, versionRange, type PeerIdentity, type PeerLinkLimits, type PeerLogger } from './peer-config.js';
import { FrameSplitter } from './peer-frame-splitter.js';
import { Outbox } from './peer-outbox.js';
import {
  FIRST_LINK_FRAME_TYPE, MAX_HANDSHAKE_FRAME_BYTES, PeerFrameType, RefusalCode, decodeRefused, decodeWelcome, encodeHello, encodeProof,
  encodeRefused, handshakeMac, macMatches, newNonce,
} from './peer-protocol.js';

/** How long a refused peer may take to read our REFUSED frame before the socket is destroyed. */
const REFUSED_LINGER_MS = 1000;

export interface PeerAddress {
  host: string;
  port: number;
}

/** What every link of one transport shares. */
export interface LinkContext {
  self: string;
  identity: PeerIdentity;
  secret: Uint8Array;
  localAddress: string | undefined;
  addressOf(node: string): PeerAddress | undefined;
  limits: PeerLinkLimits;
  random: () => number;
  log: PeerLogger;
  writer: FrameWriter;
  reader: FrameReader;
  onUp(link: OutboundLink): void;
  /** The link died or could not be set up: fail its requests with `err`. */
  onDown(link: OutboundLink, err: RingkvError): void;
  /** A data reply or CONTROL_REPLY (`reader` is aimed at it). Throws ERR_PROTOCOL on a bad one. */
  onFrame(link: OutboundLink, reader: FrameReader): void;
}

export type LinkState = 'idle' | 'connecting' | 'up' | 'backoff' | 'closed';

/** Prefix of the pseudo node id of a seed known only by address: 'seed:<host>:<port>'. */
export const SEED_PREFIX = 'seed:';

export function isSeedId(node: string): boolean {
  return node.startsWith(SEED_PREFIX);
}

/** Its request ids and requests in flight are a RequestGroup (the transport's RequestTable settles them). */
export class OutboundLink extends RequestGroup {
  state: LinkState = 'idle';
  readonly outbox = new Outbox();
  /** The ROUTE last staged on this connection ('' : none yet). */
  route = '';
  routeTimeoutMs = -1;
  routeEpoch = -1;
  /** Failed connection attempts since the link was last up. */
  attempt = 0;
  /** Why the link is in back-off. */
  lastError = '';
  private socket: Socket | undefined;
  private splitter: FrameSplitter | undefined;
  private timer: NodeJS.Timeout | undefined;
  private step: 'hello-sent' | 'proof-sent' = 'hello-sent';
  private nonce: Uint8Array = new Uint8Array(0);
  private address = '';

  constructor(
    readonly node: string,
    private readonly ctx: LinkContext,
  ) {
    super();
  }

  /** Opens the connection (from idle or back-off). */
  connect(): void {
    if (this.state !== 'idle' && this.state !== 'backoff') return;
    clearTimeout(this.timer);
    const to = this.ctx.addressOf(this.node);
    if (to === undefined) {
      // Not (or no longer) a known node: nothing to retry until someone asks again.
      this.state = 'idle';
      this.lastError = `no address is known for node ${this.node}`;
      return;
    }
    this.address = `${to.host}:${to.port}`;
    this.state = 'connecting';
    this.step = 'hello-sent';
    this.route = '';
    this.routeTimeoutMs = -1;
    this.routeEpoch = -1;
    let socket: Socket;
    try {
      socket = netConnect({ host: to.host, port: to.port, localAddress: this.ctx.localAddress, noDelay: true, keepAlive: true });
    } catch (err) {
      this.fail(`cannot connect to ${this.address}: ${(err as Error).message}`, false);
      return;
    }
    this.socket = socket;
    const splitter = new FrameSplitter(MAX_HANDSHAKE_FRAME_BYTES, (buf, at, n) => this.onFrame(buf, at, n));
    this.splitter = splitter;
    this.timer = setTimeout(() => this.fail(`no handshake within ${this.ctx.limits.handshakeTimeoutMs} ms`, true), this.ctx.limits.handshakeTimeoutMs);
    let socketError = '';
    socket.on('connect', () => {
      this.nonce = newNonce();
      const v = versionRange(this.ctx.identity);
      socket.write(encodeHello(this.ctx.writer, { cluster: this.ctx.identity.cluster, node: this.ctx.self, minVersion: v.min, maxVersion: v.max, nonce: this.nonce }).slice());
    });
    socket.on('data', (chunk: Buffer) => {
      try {
        splitter.push(chunk);
      } catch (err) {
        if (this.socket !== socket) return;
        this.ctx.log.warn({ node: this.node, peer: this.address, code: ErrorCode.PROTOCOL, err: (err as Error).message }, 'peer link closed: malformed frame');
        this.fail(`malformed frame: ${(err as Error).message}`, false);
      }
    });
    socket.on('error', (err) => {
      socketError = err.message;
    });
    socket.on('close', () => {
      if (this.socket === socket) this.fail(socketError || 'the connection closed', this.state === 'up');
    });
  }

  /** Closes the link for good (the transport fails its requests). */
  close(): void {
    this.state = 'closed';
    clearTimeout(this.timer);
    this.timer = undefined;
    this.detach()?.destroy();
    this.outbox.reset();
  }

  private onFrame(buf: Uint8Array, at: number, n: number): void {
    const r = this.ctx.reader;
    r.reset(buf, at, n);
    const type = r.type;
    if (this.state === 'up') {
      if (type < FIRST_LINK_FRAME_TYPE || type === PeerFrameType.CONTROL_REPLY) this.ctx.onFrame(this, r);
      else if (type === PeerFrameType.REFUSED) this.onRefused(r);
      else throw new RingkvError(ErrorCode.PROTOCOL, `unexpected frame type ${type} on a ready link`);
      return;
    }
    if (type === PeerFrameType.REFUSED) this.onRefused(r);
    else if (this.step === 'hello-sent' && type === PeerFrameType.WELCOME) this.onWelcome(r);
    else if (this.step === 'proof-sent' && type === PeerFrameType.ACCEPTED) this.onAccepted();
    else throw new RingkvError(ErrorCode.PROTOCOL, `frame type ${type} during the handshake`);
  }

  private onWelcome(r: FrameReader): void {
    const m = decodeWelcome(r);
    // A seed is known by its address only: whichever node answers there is the one meant
    // (the MAC below still proves it holds the cluster secret).
    const serverNode = isSeedId(this.node) ? m.node : this.node;
    if (m.node !== serverNode) return this.refuse(RefusalCode.WRONG_NODE, `expected node ${this.node} at ${this.address}, found ${m.node}`);
    const v = versionRange(this.ctx.identity);
    if (m.version < v.min || m.version > v.max) return this.refuse(RefusalCode.NO_COMMON_VERSION, `version ${m.version} is outside ${v.min}..${v.max}`);
    const facts = { cluster: this.ctx.identity.cluster, clientNode: this.ctx.self, serverNode, clientNonce: this.nonce, serverNonce: m.nonce, version: m.version };
    if (!macMatches(handshakeMac(this.ctx.secret, 'server', facts), m.mac)) return this.refuse(RefusalCode.BAD_MAC, 'bad handshake mac: the cluster secrets differ');
    this.socket!.write(encodeProof(this.ctx.writer, handshakeMac(this.ctx.secret, 'client', facts)).slice());
    this.step = 'proof-sent';
  }

  private onAccepted(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.state = 'up';
    this.attempt = 0;
    this.lastError = '';
    this.splitter!.limit(MAX_FRAME_BYTES);
    this.outbox.attach(this.socket!);
    this.ctx.log.info({ node: this.node, peer: this.address, local: this.socket!.localAddress }, 'peer link up');
    this.ctx.onUp(this);
  }

  private onRefused(r: FrameReader): void {
    const m = decodeRefused(r);
    this.ctx.log.warn({ node: this.node, peer: this.address, code: m.code, reason: m.reason }, 'peer link refused by the peer');
    this.fail(`refused by node ${this.node}: ${m.code}: ${m.reason}`, false);
  }

  /** Refuses the peer: tells it why, logs it, and backs off. */
  private refuse(code: string, reason: string): void {
    this.ctx.log.warn({ node: this.node, peer: this.address, code, reason }, 'peer link refused');
    const socket = this.detach();
    if (socket !== undefined) {
      const linger = setTimeout(() => socket.destroy(), REFUSED_LINGER_MS);
      socket.once('close', () => clearTimeout(linger));
      socket.end(encodeRefused(this.ctx.writer, { code, reason }).slice());
    }
    this.fail(`refused node ${this.node}: ${code}: ${reason}`, false);
  }

  /** The link died or could not be set up: back off, then try again. */
  private fail(why: string, warn: boolean): void {
    if (this.state === 'closed' || this.state === 'backoff' || this.state === 'idle') return;
    this.detach()?.destroy();
    clearTimeout(this.timer);
    this.outbox.reset();
    this.state = 'backoff';
    this.lastError = why;
    const delay = backoffDelay(this.ctx.limits, this.attempt++, this.ctx.random);
    this.timer = setTimeout(() => this.connect(), delay);
    const fields = { node: this.node, peer: this.address, reason: why, retryInMs: delay, attempt: this.attempt };
    if (warn) this.ctx.log.warn(fields, 'peer link down');
    else this.ctx.log.info(fields, 'peer link attempt failed');
    this.ctx.onDown(this, new RingkvError(ErrorCode.UNAVAILABLE, `the link to node ${this.node} is down: ${why}`));
  }

  /** Unhooks the current socket (its later events are ignored) and returns it. */
  private detach(): Socket | undefined {
    const socket = this.socket;
    this.socket = undefined;
    this.splitter?.stop();
    this.splitter = undefined;
    if (socket !== undefined) {
      socket.removeAllListeners('data');
      socket.on('error', () => {});
    }
    return socket;
  }
}
