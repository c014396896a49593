// Nodes on real TCP for the peer tests: node n1 on 127.0.0.2 coordinates (its replica in
// this thread), n2 and n3 are PeerServers on 127.0.0.3 and 127.0.0.4 with their own
// in-process replicas over in-memory engines. Every node's replica has its own actor id.
import { InProcessTransport } from '../../src/coordinator/index.js';
import { PeerServer, PeerTransport, RoutedTransport, localReplicaHandler, type PeerLinkLimits, type PeerLogger, type PeerServerOptions, type PeerTransportOptions } from '../../src/cluster/index.js';
import { createTokenHasher } from '../../src/hash/index.js';
import { Ring } from '../../src/ring/index.js';
import { Replica } from '../../src/shard/replica.js';
import { MemoryEngine } from '../../src/storage/index.js';
import type { StorageEngine } from '../../src/storage/db/types.js';
import { Store } from '../../src/store.js';
import type { QuorumDefaults } from '../../src/coordinator/index.js';
import { connect, type Socket } from 'node:net';
import { FrameReader, FrameWriter } from '../../src/protocol/index.js';
import { FrameSplitter } from '../../src/cluster/peer/peer-frame-splitter.js';
import { PeerFrameType, decodeWelcome, encodeHello, encodeProof, handshakeMac, newNonce } from '../../src/cluster/peer/peer-protocol.js';

export const CLUSTER = 'test-cluster';
export const SECRET = 'correct horse battery staple';
export const HOSTS: Record<string, string> = { n1: '127.0.0.2', n2: '127.0.0.3', n3: '127.0.0.4', n4: '127.0.0.5' };

export interface LogEntry {
  level: 'info' | 'warn';
  msg: string;
  fields: Record<string, unknown>;
}

/** A logger that keeps what it is told (tests read the reasons). */
export function recordingLogger(): PeerLogger & { entries: LogEntry[] } {
  const entries: LogEntry[] = [];
  return {
    entries,
    info: (fields, msg) => void entries.push({ level: 'info', msg, fields }),
    warn: (fields, msg) => void entries.push({ level: 'warn', msg, fields }),
  };
}

/** A deterministic random in [0, 1) (mulberry32). */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface LocalNode {
  node: string;
  transport: InProcessTransport;
  engines: { data: StorageEngine; hints: StorageEngine };
  close(): Promise<void>;
}

/** One node's replica 's0' in this thread (actor id `actor`). */
export async function localNode(node: string, actor: number): Promise<LocalNode> {
  const engines = { data: await MemoryEngine.open(), hints: await MemoryEngine.open() };
  const transport = new InProcessTransport(new Map([['s0', new Replica({ replica: actor, epoch: 1 }, engines)]]));
  return {
    node,
    transport,
    engines,
    close: async () => {
      await engines.data.close();
      await engines.hints.close();
    },
  };
}

export interface ServedNode extends LocalNode {
  server: PeerServer;
  /** Data requests the server handed to the replica. */
  served: { n: number };
  log: ReturnType<typeof recordingLogger>;
}

/** A node serving its replica on `host` (port 0 unless given). */
export async function servedNode(node: string, actor: number, o: Partial<PeerServerOptions> = {}): Promise<ServedNode> {
  const local = await localNode(node, actor);
  const served = { n: 0 };
  const log = recordingLogger();
  const handle = localReplicaHandler(node, local.transport);
  const server = await PeerServer.listen({
    node,
    cluster: CLUSTER,
    secret: SECRET,
    host: HOSTS[node]!,
    port: 0,
    logger: log,
    handler: (replica, req, timeoutMs) => {
      served.n++;
      return handle(replica, req, timeoutMs);
    },
    ...o,
  });
  const served_: ServedNode = {
    ...local,
    server,
    served,
    log,
    close: async () => {
      await server.close();
      await served_.server.close(); // a test may have put a restarted server in its place
      await local.close();
    },
  };
  return served_;
}

/** n1's PeerTransport towards `servers` (addresses read at each connection). */
export function peerTransport(servers: Map<string, { server: PeerServer }>, o: Partial<PeerTransportOptions> = {}, limits: Partial<PeerLinkLimits> = {}) {
  const log = recordingLogger();
  const transport = new PeerTransport({
    self: 'n1',
    cluster: CLUSTER,
    secret: SECRET,
    localAddress: HOSTS.n1,
    addressOf: (node) => {
      const s = servers.get(node);
      return s === undefined ? undefined : { host: HOSTS[node]!, port: s.server.address.port };
    },
    replicasOf: (node) => [`${node}/s0`],
    logger: log,
    random: seeded(7),
    limits: { backoffBaseMs: 10, backoffMaxMs: 100, ...limits },
    ...o,
  });
  return { transport, log };
}

export interface PeerCluster {
  store: Store;
  n1: LocalNode;
  peers: PeerTransport;
  peerLog: ReturnType<typeof recordingLogger>;
  servers: Map<string, ServedNode>;
}

/** A Store on n1 over a ring n1/s0, n2/s0, n3/s0 (and n4/s0 if nodes = 4), the others reached over TCP. */
export async function peerCluster(defaults: Partial<QuorumDefaults> = {}, nodes = 3): Promise<PeerCluster> {
  const n1 = await localNode('n1', 1);
  const servers = new Map<string, ServedNode>();
  const names = Array.from({ length: nodes }, (_, i) => `n${i + 1}`);
  for (const [i, node] of names.entries()) if (i > 0) servers.set(node, await servedNode(node, i + 1));
  const { transport: peers, log: peerLog } = peerTransport(servers);
  const members = names.map((node) => ({ id: `${node}/s0`, host: node, rack: 'r', dc: 'dc', weight: 1 }));
  const store = new Store({
    ring: Ring.build(members, 64),
    transport: new RoutedTransport('n1', n1.transport, peers),
    hasher: await createTokenHasher(),
    defaults: { n: 3, r: 2, w: 2, timeoutMs: 5000, sloppy: true, maxSiblings: 64, lww: false, ...defaults },
    handoffIntervalMs: 0,
    close: async () => {
      await peers.close();
      for (const s of servers.values()) await s.close();
      await n1.close();
    },
  });
  return { store, n1, peers, peerLog, servers };
}

/** Polls `check` until it holds or `ms` pass (generous deadlines: the machine is noisy). */
export async function eventually(check: () => boolean, ms = 10_000, what = 'condition'): Promise<void> {
  const until = Date.now() + ms;
  while (!check()) {
    if (Date.now() > until) throw new Error(`${what} did not hold within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** A socket with a promise of its close. */
export type RawSocket = Socket & { gone: Promise<void> };

/** A raw socket from n1's address; resolves once connected. */
export function rawSocket(open: { close(): Promise<void> }[], port: number): Promise<RawSocket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: HOSTS.n2, port, localAddress: HOSTS.n1 }) as RawSocket;
    s.gone = new Promise((r) => s.on('close', () => r()));
    s.on('error', () => {});
    s.once('connect', () => resolve(s));
    s.once('error', reject);
    open.push({ close: async () => void s.destroy() });
  });
}

/** Runs the client side of the handshake by hand (knowing the secret) and returns the authenticated socket. */
export async function rawAuthenticated(open: { close(): Promise<void> }[], port: number, node: string): Promise<RawSocket> {
  const s = await rawSocket(open, port);
  const w = new FrameWriter();
  const r = new FrameReader();
  const nonce = newNonce();
  const frames: { type: number; body: Uint8Array }[] = [];
  let wake = () => {};
  const splitter = new FrameSplitter(1 << 20, (buf, at, n) => {
    r.reset(buf, at, n);
    frames.push({ type: r.type, body: buf.slice(at, at + n) });
    wake();
  });
  s.on('data', (c: Buffer) => splitter.push(c));
  const next = async () => {
    while (frames.length === 0) await new Promise<void>((res) => (wake = res));
    return frames.shift()!;
  };
  s.write(encodeHello(w, { cluster: CLUSTER, node, minVersion: 1, maxVersion: 1, nonce }).slice());
  const welcomeFrame = await next();
  if (welcomeFrame.type !== PeerFrameType.WELCOME) throw new Error(`expected WELCOME, got type ${welcomeFrame.type}`);
  r.reset(welcomeFrame.body);
  const welcome = decodeWelcome(r);
  const facts = { cluster: CLUSTER, clientNode: node, serverNode: welcome.node, clientNonce: nonce, serverNonce: welcome.nonce, version: welcome.version };
  s.write(encodeProof(w, handshakeMac(new TextEncoder().encode(SECRET), 'client', facts)).slice());
  const accepted = await next();
  if (accepted.type !== PeerFrameType.ACCEPTED) throw new Error(`expected ACCEPTED, got type ${accepted.type}`);
  s.removeAllListeners('data');
  return s;
}

