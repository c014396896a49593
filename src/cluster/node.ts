// Runs on: the main thread. A node of a cluster: its local shards, its peer server and peer
// links, its gossip, and the Store that coordinates requests over all of them.
//
//   clients ──> Store (Coordinator) ──> RoutedTransport ─┬─> ShardTransport (this node's shards)
//                                                        └─> PeerTransport ──TCP──> other nodes'
//                                                              PeerServer ──> their shards
//   gossip: Gossiper.tick() every interval; its messages ride the peer links as CONTROL frames.
//   transfers: on every ring adopted, this node's shards stream the partitions they held to
//   their new replicas (transfer.ts); a leaver marks itself left once nothing is pending.
//   Until a new replica of this node has all of a partition, reads of it also ask the
//   senders (FillingTransport wraps the local transport, transfer-fill.ts). Once the cluster
//   is quiet, the ranges this node's shards no longer replicate are handed off and deleted
//   (range-cleanup.ts).
//
// The ring is the one the gossip adopted (epoch'd, the same on every node); until this node
// has one (a joiner before it heard from its seed), requests fail with ERR_NOT_READY.
// `<dir>/NODE.json` keeps the node's id, its generation (bumped at every start, so the
// cluster tells a restart from a stale record) and the last ring it adopted (so a restart
// of the whole cluster keeps its ownership).
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import { Random, readWholeFile, writeFileAtomic, RealVfs } from '../storage/index.js';
import { ShardTransport } from '../coordinator/index.js';
import { ErrorCode, RingkvError } from '../errors.js';
import { createTokenHasher } from '../hash/index.js';
import { suggestedSpinMicros } from '../ipc/index.js';
import { placementWarnings, type Ring, type RingJSON } from '../ring/index.js';
import { DEFAULT_ANTI_ENTROPY_INTERVAL_MS, type LocalStoreOptions, Store, shardStorage } from '../store.js';
import { readAllShardNumbers } from '../shard/index.js';
import {
  systemTime,
  type ClusterSnapshot,
  Gossiper,
  type GossipMessage,
  type Destination,
  type GossipOptions,
  nodeOfMember,
} from './membership/index.js';
import type { ClusterAdmin } from './cluster-admin.js';
import {
  silentLogger,
  type PeerLogger,
  SEED_PREFIX,
  isSeedId,
  PeerServer,
  refuseStale,
  PeerTransport,
  RoutedTransport,
  localReplicaSender,
} from './peer/index.js';
import {
  Transfers,
  type TransferOptions,
  type TransferStatus,
  Filling,
  FILLING_FILE,
  FillingTransport,
  parseTransferDone,
  type TransferDone,
  RangeCleanup,
  type CleanupStatus,
  type RangeCleanupOptions,
} from './transfer/index.js';
import {
  ShardScaler,
  resolveShardScalerOptions,
  unsettledReason,
  type ScaledNode,
  type ShardScalerOptions,
  type ShardScalerStatus,
} from './scaling/index.js';
import { availableParallelism } from 'node:os';

/** A node's options: its local store's (shared with open(), store.ts) and the cluster's. */
export interface ClusterNodeOptions extends LocalStoreOptions {
  /** This node's id: unique in the cluster, stable across restarts (kept in NODE.json). */
  id: string;
  /** The address the node's peer server binds and its outgoing links leave from. */
  host: string;
  /** The peer server's port. */
  port: number;
  /** host:port of nodes to join through; none (or only itself) on a first start: a new cluster. */
  seeds: readonly string[];
  cluster: string;
  secret: string;
  dc: string;
  rack: string;
  weight: number;
  gossip?: Partial<GossipOptions>;
  /** Streaming of ranges to new replicas on ring changes (transfer.ts; defaults there). */
  transfer?: Partial<Pick<TransferOptions, 'bytesPerSecond' | 'retryMs' | 'settleMs' | 'pageEntries'>>;
  /** Deletion of the ranges handed away (range-cleanup.ts; defaults there). */
  cleanup?: Partial<Pick<RangeCleanupOptions, 'delayMs' | 'intervalMs'>>;
  /** The load-based shard-count policy (shard-scaler.ts), off when absent; its max may not exceed the cores. */
  autoShards?: Partial<ShardScalerOptions>;
  logger?: PeerLogger;
}

/** What a node keeps about itself between starts. */
interface NodeFile {
  id: string;
  generation: number;
  /** The shard count last asked for (ringkv cluster shards): a restart keeps it. */
  shards?: number;
  ring?: RingJSON;
  /** Peer addresses by node id, as last gossiped: a restarted node reaches its peers at once,
   *  before the gossip tells it about them again. */
  peers?: Record<string, string>;
}

/** A gossip message's CONTROL envelope (the control channel may carry other kinds later). */
interface GossipEnvelope {
  gossip: GossipMessage;
}

/** A sender's report that a range reached this node (transfer-fill.ts). */
interface TransferEnvelope {
  transfer: TransferDone;
}

/** Gossip messages are small and periodic: one that takes longer than this is lost. */
const GOSSIP_SEND_TIMEOUT_MS = 2000;
/** Most shards one node runs (each is a worker thread; the cores bound what helps). */
const MAX_NODE_SHARDS = 64;
/** How often a shrinking node checks whether a surplus shard has drained. */
const RETIRE_CHECK_MS = 500;
/** The control timeout of a shard's start and calls. */
const CONTROL_TIMEOUT_MS = 30_000;

export class ClusterNode {
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  /** The shard count asked for (the workers above it stop once drained). */
  private targetShards: number;
  private retiring = false;
  private retireTimer: NodeJS.Timeout | undefined;
  /** Changes the shard count by load (--auto-shards); undefined when off. */
  private scaler: ShardScaler | undefined;

  private constructor(
    readonly id: string,
    readonly store: Store,
    readonly gossiper: Gossiper,
    readonly peers: PeerTransport,
    readonly server: PeerServer,
    readonly local: ShardTransport,
    readonly transfers: Transfers,
    readonly filling: Filling,
    readonly cleanup: RangeCleanup,
    private readonly file: NodeFile,
    private readonly dir: string,
    /** The actor id of shard k of this node. */
    private readonly actorOf: (k: number) => number,
  ) {
    this.targetShards = local.count;
  }

  static async start(o: ClusterNodeOptions): Promise<ClusterNode> {
    if (o.autoShards !== undefined) resolveShardScalerOptions(o.autoShards, availableParallelism()); // bad options fail before anything starts
    mkdirSync(o.dir, { recursive: true });
    const file = loadNodeFile(o.dir, o.id);
    const filling = new Filling(o.id, o.defaults.n, new RealVfs(), o.dir);
    file.generation++;
    file.shards = o.shards;
    saveNodeFile(o.dir, file);
    const address = `${o.host}:${o.port}`;
    const hasher = await createTokenHasher();
    const actorOf = (k: number): number => actorIdOf(hasher.token(new TextEncoder().encode(`${o.id}/s${k}`)));
    const local = await ShardTransport.start({
      dir: o.dir,
      shards: o.shards,
      storage: shardStorage(o.storage, o.defaults.n),
      spinMicros: suggestedSpinMicros(o.shards, availableParallelism()),
      restartDelayMs: 100,
      controlTimeoutMs: CONTROL_TIMEOUT_MS,
      actorIds: Array.from({ length: o.shards }, (_, k) => actorOf(k)),
    });
    let gossiper: Gossiper | undefined;
    let peers: PeerTransport | undefined;
    const addressOf = (node: string): { host: string; port: number } | undefined => {
      const a = isSeedId(node) ? node.slice(SEED_PREFIX.length) : (gossiper?.record(node)?.address ?? file.peers?.[node]);
      return a === undefined ? undefined : parseAddress(a);
    };
    peers = new PeerTransport({
      self: o.id,
      cluster: o.cluster,
      secret: o.secret,
      addressOf,
      localAddress: o.host,
      ringEpoch: () => gossiper?.epoch ?? 0,
      replicasOf: (node) => Array.from({ length: gossiper?.record(node)?.shards ?? 0 }, (_, k) => `${node}/s${k}`),
      // Requests route around suspected nodes too: 'down' comes a suspicion window later
      // (10 rounds), and until then every write with a replica there waited out its timeout.
      isNodeDown: (node) => gossiper !== undefined && gossiper.liveness(node) !== 'alive',
      logger: o.logger ?? silentLogger,
    });
    const send = (to: Destination, message: GossipMessage): void => {
      const target = 'node' in to ? to.node : `${SEED_PREFIX}${to.seed}`;
      const envelope: GossipEnvelope = { gossip: message };
      peers!.call(target, envelope, GOSSIP_SEND_TIMEOUT_MS).then(
        () => {
          if (isSeedId(target)) peers!.drop(target);
        },
        () => {
          if (isSeedId(target)) peers!.drop(target);
          else gossiper?.reportUnreachable(target);
        },
      );
    };
    gossiper = new Gossiper(
      {
        identity: { id: o.id, address, dc: o.dc, rack: o.rack, shards: o.shards, weight: o.weight },
        generation: file.generation,
        // Known peers are seeds too: a restart finds the cluster even if its seeds are down.
        seeds: [...new Set([...o.seeds, ...Object.values(file.peers ?? {})])].filter((a) => a !== address),
        ring: file.ring,
        // The leaver marks itself left once its data is streamed away (transfer.ts).
        options: { ...o.gossip, leaverMarksLeft: true },
      },
      { clock: systemTime, random: new Random(randomBytes(4).readUInt32LE(0)), send },
    );
    const g = gossiper;
    // Reads of a replica still being filled also ask its senders (transfer-fill.ts).
    let routed: RoutedTransport | undefined;
    const filled = new FillingTransport(o.id, local, () => routed!, filling, () => g.ring);
    routed = new RoutedTransport(o.id, filled, peers);
    let server: PeerServer;
    try {
      server = await PeerServer.listen({
        node: o.id,
        cluster: o.cluster,
        secret: o.secret,
        host: o.host,
        port: o.port,
        sender: refuseStale(localReplicaSender(o.id, filled), () => g.ring, o.defaults.n),
        control: async (from, msg) => {
          const envelope = msg as Partial<GossipEnvelope & TransferEnvelope> | null;
          if (envelope?.transfer !== undefined) {
            await filling.done(parseTransferDone(envelope.transfer)); // acknowledged once durable
            return null;
          }
          const gossip = envelope?.gossip;
          if (gossip === undefined) throw new RingkvError(ErrorCode.INVALID_ARGUMENT, 'unknown control message');
          g.receive(from, gossip);
          return null;
        },
        logger: o.logger ?? silentLogger,
      });
    } catch (err) {
      await peers.close();
      await local.close();
      throw err;
    }
    const ring = (): Ring => {
      const r = g.ring;
      if (r === undefined) throw new RingkvError(ErrorCode.NOT_READY, `node ${o.id} has no ring yet: it is joining through ${o.seeds.join(', ') || 'no seed'}`);
      return r;
    };
    const node: { self?: ClusterNode } = {};
    const store = new Store({
      ring,
      transport: routed,
      hasher,
      defaults: o.defaults,
      handoffIntervalMs: o.handoffIntervalMs,
      // Each node hands off the hints its own shards hold (every node runs its own handoff).
      hintHolders: () => local.ids.map((k) => `${o.id}/${k}`),
      antiEntropy: {
        intervalMs: o.antiEntropyIntervalMs ?? DEFAULT_ANTI_ENTROPY_INTERVAL_MS,
        // This node leads the exchanges of the partitions whose first up primary is its own.
        leads: (p) => {
          const r = g.ring;
          if (r === undefined) return false;
          const first = r.listOf(p, r.listLength(o.defaults.n)).find((id) => !routed.isDown(id));
          return first !== undefined && first.startsWith(`${o.id}/`);
        },
      },
      close: async () => node.self?.closeParts(),
      shardStats: () => local.shardStats(),
      shards: local,
      // A salvaged shard's mark goes once a replica on another node vouched for each of its
      // partitions (its own node's other shards may share its damaged disk).
      repairMarks: { memberPrefix: `${o.id}/`, vouches: (replica, other) => nodeOfMember(other) !== nodeOfMember(replica) },
    });
    let transfers: Transfers;
    try {
      transfers = new Transfers(g, routed, {
        ...o.transfer, self: o.id, dir: o.dir, vfs: new RealVfs(), n: o.defaults.n, timeoutMs: o.defaults.timeoutMs,
        // Decommission's last step: nothing left to stream, and a ring without this node.
        idle: () => {
          if (g.record(o.id)?.status === 'leaving' && g.ring !== undefined && g.ring.member(`${o.id}/s0`) === undefined) g.markLeft();
        },
        notify: async (done) => {
          const node = nodeOfMember(done.target);
          if (node === o.id) await filling.done(done);
          else await peers.call(node, { transfer: done } satisfies TransferEnvelope, GOSSIP_SEND_TIMEOUT_MS);
        },
      });
    } catch (err) {
      await server.close();
      await peers.close();
      await local.close();
      throw err;
    }
    const cleanup = new RangeCleanup(g, routed, store.antiEntropy, {
      ...o.cleanup, self: o.id, n: o.defaults.n, timeoutMs: o.defaults.timeoutMs,
      localMembers: () => local.ids.map((k) => `${o.id}/${k}`),
      transfersPending: () => transfers.pending,
    });
    // Fewer hosts or nodes than N: say so once per change of the warning, not per ring.
    let placementSaid = '';
    const warnPlacement = (ring: Ring): void => {
      const warnings = placementWarnings(ring, o.defaults.n);
      const said = warnings.join('\n');
      if (said !== placementSaid) for (const w of warnings) (o.logger ?? silentLogger).warn({ epoch: ring.epoch }, `placement: ${w}`);
      placementSaid = said;
    };
    if (g.ring !== undefined) warnPlacement(g.ring);
    const self = new ClusterNode(o.id, store, g, peers, server, local, transfers, filling, cleanup, file, o.dir, actorOf);
    node.self = self;
    // Transfers are planned (durably) before the ring is saved: a crash between the two plans again.
    // So are the fills (FILLING.json, written off the event loop): the ring is saved once
    // they are durable; if they cannot be written it is not saved, and a restart plans them again.
    g.on('ring', ({ ring: adopted, previous }) => {
      const filled = filling.onRing(adopted, previous, (id) => g.record(id)?.status);
      transfers.onRing(adopted, previous);
      filled.then(() => self.persistRing(adopted), (err: Error) => (o.logger ?? silentLogger).warn({ epoch: adopted.epoch, cause: err.message }, `ring ${adopted.epoch} not saved: ${FILLING_FILE} could not be written`));
      warnPlacement(adopted);
    });
    // A node alive again after a cut gets its hints now, not at the next sweep: a partition
    // that heals does not bring the link down and up, so onUp does not fire.
    g.on('liveness', ({ from, to }) => {
      if (to === 'alive' && from !== 'alive') void store.handoffNow();
    });
    g.on('member', ({ record }) => {
      if (record.id === o.id || file.peers?.[record.id] === record.address) return;
      file.peers = { ...file.peers, [record.id]: record.address };
      saveNodeFile(o.dir, file);
    });
    g.on('generation', ({ generation }) => {
      file.generation = Math.max(file.generation, generation + 1);
      saveNodeFile(o.dir, file);
    });
    const tick = (): void => {
      g.setTransfers(transfers.pending); // other nodes clean up only once every node is done (range-cleanup.ts)
      g.tick();
    };
    self.timer = setInterval(tick, g.options.intervalMs);
    tick();
    transfers.start();
    cleanup.start();
    if (o.autoShards !== undefined) {
      self.scaler = new ShardScaler(self.scaled(), o.autoShards, availableParallelism(), systemTime, o.logger ?? silentLogger);
      self.scaler.start();
    }
    return self;
  }

  /**
   * Changes this node's shard count while it serves. Growing starts the new shard workers,
   * then gossips the count: the claimant gives the new members their share of the ring and
   * the ranges stream to them. Shrinking gossips the count first: the members above it
   * leave the ring and stream their ranges away; each worker stops once a ring without it
   * is in force and nothing is left to send from it. Resolves when the change is gossiped.
   */
  async resizeShards(count: number): Promise<{ from: number; to: number }> {
    if (!Number.isInteger(count) || count < 1 || count > MAX_NODE_SHARDS) {
      throw new RingkvError(ErrorCode.INVALID_ARGUMENT, `a node's shard count must be an integer from 1 to ${MAX_NODE_SHARDS}, got ${count}`);
    }
    const from = this.targetShards;
    this.targetShards = count;
    for (let k = this.local.count; k < count; k++) await this.local.addShard(this.actorOf(k));
    this.gossiper.setShards(count);
    this.file.shards = count;
    saveNodeFile(this.dir, this.file);
    this.retireDrained();
    return { from, to: count };
  }

  /**
   * Stops the shards above the target count that no ring in force uses, that have nothing
   * left to send, and whose copies range cleanup has handed off (their replica ranges were
   * streamed away, but a write one took as a stand-in exists only in it and its peer
   * stand-ins). A stopped shard's data directory is then deleted, and its hints with it if
   * none is left; its EPOCH file stays, so a shard started there again never reuses a dot.
   */
  private retireDrained(): void {
    if (this.retiring || this.closed) return;
    const ring = this.gossiper.ring;
    const k = this.local.count - 1;
    if (k < this.targetShards || ring === undefined) return;
    const member = `${this.id}/s${k}`;
    const later = (): void => {
      clearTimeout(this.retireTimer);
      this.retireTimer = setTimeout(() => this.retireDrained(), RETIRE_CHECK_MS);
    };
    if (ring.member(member) !== undefined || this.transfers.pendingFrom(member) > 0) return later();
    this.retiring = true;
    const retire = async (): Promise<boolean> => {
      if (!await this.cleanup.empty(member)) return false;
      const hints = readAllShardNumbers(await this.local.shardStats())[k]?.hintStore.pending;
      await this.local.removeLastShard();
      const dir = `${this.dir}/shard-${k}`;
      rmSync(`${dir}/data`, { recursive: true, force: true });
      if (hints === 0) rmSync(`${dir}/hints`, { recursive: true, force: true });
      return true;
    };
    void retire().catch(() => false).then((retired) => {
      this.retiring = false;
      if (retired) this.retireDrained(); // the next surplus shard, if any
      else later();
    });
  }

  /** The cluster as this node sees it (ringkv status, /ring, metrics), with this node's transfers, cleanup and shard policy. */
  snapshot(): ClusterSnapshot & { transfers: TransferStatus & { filling: number; cleanup: CleanupStatus }; shardPolicy?: ShardScalerStatus } {
    return {
      ...this.gossiper.snapshot(), transfers: { ...this.transfers.status(), filling: this.filling.size, cleanup: this.cleanup.status() },
      ...(this.scaler === undefined ? {} : { shardPolicy: this.scaler.status() }),
    };
  }

  /** The load-based shard policy (undefined when --auto-shards is off): status(), stop(). */
  get shardScaler(): ShardScaler | undefined {
    return this.scaler;
  }

  /** This node as the shard policy sees it: its count, its shards' load, and whether a change is in progress. */
  private scaled(): ScaledNode {
    return {
      shardTarget: () => this.targetShards,
      shardLoads: () => this.local.shardLoads(),
      unsettled: () => unsettledReason({
        id: this.id, status: this.gossiper.record(this.id)?.status, ring: this.gossiper.ring, running: this.local.count,
        target: this.targetShards, transfersPending: this.transfers.pending, filling: this.filling.size,
        cluster: () => this.gossiper.snapshot(),
      }),
      resizeShards: (count) => this.resizeShards(count),
    };
  }

  /** The admin server's view of this node: membership and the commands that change it. */
  admin(secret: string): ClusterAdmin {
    const expected = createHash('sha256').update(secret).digest();
    return {
      snapshot: () => this.snapshot(),
      authorized: (given) => timingSafeEqual(createHash('sha256').update(given).digest(), expected),
      command: async (name, params) => {
        const g = this.gossiper;
        switch (name) {
          case 'plan':
            return { epoch: g.epoch, moves: g.plan() };
          case 'commit': {
            const ring = g.commit();
            return { epoch: ring.epoch, owned: Object.fromEntries(ring.counts()) };
          }
          case 'repair': {
            // An anti-entropy round now over the partitions this node leads (nodetool repair).
            const results = await this.store.antiEntropy.runOnce();
            const count = (outcome: string): number => results.filter((r) => r.outcome === outcome).length;
            return {
              exchanges: results.length, equal: count('equal'), repaired: count('repaired'), skipped: count('skipped'), failed: count('failed'),
              keysRepaired: results.reduce((a, r) => a + r.keysRepaired, 0),
              ...(count('failed') === 0 ? {} : { firstError: results.find((r) => r.outcome === 'failed')!.error }),
            };
          }
          case 'cleanup':
            // Now rather than after the quiet delay; the cluster must still be quiet.
            return { handedOff: await this.cleanup.runOnce(true), ...this.cleanup.status() };
          case 'leave':
            g.leave();
            return { leaving: this.id, transfers: this.transfers.pending };
          case 'shards': {
            const count = Number(params.get('count'));
            return await this.resizeShards(count);
          }
          case 'remove': {
            const node = params.get('node');
            if (node === null || node === '') throw new RingkvError(ErrorCode.INVALID_ARGUMENT, 'remove needs ?node=<id>');
            g.remove(node);
            return { removing: node };
          }
          default:
            throw new RingkvError(ErrorCode.INVALID_ARGUMENT, `unknown cluster command ${name}`);
        }
      },
    };
  }

  private persistRing(ring: Ring): void {
    this.file.ring = ring.toJSON();
    saveNodeFile(this.dir, this.file);
  }

  /** Stops gossip, the peer server and links, then the shards (called by store.close()). */
  private async closeParts(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.scaler?.stop();
    clearInterval(this.timer);
    clearTimeout(this.retireTimer);
    await this.cleanup.stop();
    await this.transfers.stop();
    await this.filling.saved().catch(() => {}); // the fills' last write (its error was logged with the ring)
    await this.server.close();
    await this.peers.close();
    await this.local.close();
  }
}

/** A u32 actor id for a replica from its cluster-wide name: the version clocks of two replicas
 *  must never share an actor (a collision among a cluster's few members is ~n²/2³³). */
function actorIdOf(token: bigint): number {
  return Number(token & 0xffffffffn);
}

function parseAddress(a: string): { host: string; port: number } | undefined {
  const i = a.lastIndexOf(':');
  const port = Number(a.slice(i + 1));
  if (i <= 0 || !Number.isInteger(port) || port < 1 || port > 65535) return undefined;
  return { host: a.slice(0, i), port };
}

function loadNodeFile(dir: string, id: string): NodeFile {
  const vfs = new RealVfs();
  const path = `${dir}/NODE.json`;
  if (!vfs.exists(path)) return { id, generation: 0 };
  const file = JSON.parse(new TextDecoder().decode(readWholeFile(vfs, path))) as NodeFile;
  if (file.id !== id) {
    throw new RingkvError(ErrorCode.INVALID_ARGUMENT, `${dir} belongs to node ${file.id}, not ${id}: start it with --node-id ${file.id} or use another --dir`);
  }
  return file;
}

function saveNodeFile(dir: string, file: NodeFile): void {
  writeFileAtomic(new RealVfs(), dir, 'NODE.json', new TextEncoder().encode(JSON.stringify(file) + '\n'));
}
