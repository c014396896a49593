// Runs on: the test's main thread. A whole cluster of Gossipers in one process on simulated
// time and network: nodes start, crash (everything lost but their disk: the generation and
// the last adopted ring, what a real node keeps), restart (generation + 1), pause (SIGSTOP:
// no ticks, messages to it vanish) and resume. Every ring any node adopts is logged, so a
// test can check that no two rings ever share an epoch.
import { Gossiper } from '../../../src/cluster/membership/gossip.js';
import type { GossipOptions } from '../../../src/cluster/membership/gossip-options.js';
import { isMemberStatus } from '../../../src/cluster/membership/node-record.js';
import type { Ring, RingJSON } from '../../../src/ring/index.js';
import { Random } from '../../../src/storage/env/random.js';
import { Scheduler } from './scheduler.js';
import { SimNetwork, type Endpoint, type LinkOptions, type NodeState } from './sim-network.js';

export interface SimNodeSpec {
  readonly id: string;
  readonly dc?: string;
  readonly rack?: string;
  readonly shards?: number;
  readonly weight?: number;
}

export interface SimOptions {
  readonly seed: number;
  readonly link?: Partial<LinkOptions>;
  readonly gossip?: Partial<GossipOptions>;
}

/** The gossip interval of the simulations: 1 s, the default. */
export const INTERVAL_MS = 1000;

export class SimNode implements Endpoint {
  state: NodeState = 'crashed';
  gossiper: Gossiper | undefined;
  /** What survives a crash. */
  readonly disk: { generation: number; ring: RingJSON | undefined } = { generation: 0, ring: undefined };
  private incarnation = 0;

  constructor(
    private readonly cluster: SimCluster,
    readonly index: number,
    readonly spec: SimNodeSpec,
    readonly address: string,
    public seeds: readonly string[],
  ) {}

  get id(): string {
    return this.spec.id;
  }

  /** The running gossiper (throws if the node is not running or paused). */
  get g(): Gossiper {
    if (this.gossiper === undefined) throw new Error(`node ${this.id} is ${this.state}`);
    return this.gossiper;
  }

  start(): void {
    if (this.state !== 'crashed') throw new Error(`node ${this.id} is already ${this.state}`);
    const generation = ++this.disk.generation; // durable before the node speaks
    const c = this.cluster;
    const g = new Gossiper({
      identity: {
        id: this.id, address: this.address, dc: this.spec.dc ?? 'dc1', rack: this.spec.rack ?? `r${this.index % 3}`,
        shards: this.spec.shards ?? 2, weight: this.spec.weight ?? 1,
      },
      generation,
      seeds: this.seeds,
      ring: this.disk.ring,
      options: { intervalMs: INTERVAL_MS, ...c.options.gossip },
    }, {
      clock: c.scheduler.clock,
      random: new Random((c.options.seed * 7919 + this.index * 104729 + generation * 1299709) >>> 0),
      send: (to, message) => c.network.send(this, to, message),
    });
    g.on('ring', ({ ring }) => {
      this.disk.ring = ring.toJSON();
      c.recordRing(this.id, ring);
    });
    g.on('generation', ({ generation: gen }) => {
      this.disk.generation = gen;
    });
    this.gossiper = g;
    this.state = 'running';
    const incarnation = ++this.incarnation;
    const tick = (): void => {
      if (this.incarnation !== incarnation) return; // crashed since
      if (this.state === 'running') g.tick();
      c.scheduler.after(INTERVAL_MS * (0.95 + 0.1 * c.random.next()), tick);
    };
    c.scheduler.after(INTERVAL_MS * c.random.next(), tick);
  }

  crash(): void {
    this.state = 'crashed';
    this.gossiper = undefined;
    this.incarnation++;
  }

  restart(): void {
    if (this.state !== 'crashed') this.crash();
    this.start();
  }

  pause(): void {
    if (this.state === 'running') this.state = 'paused';
  }

  resume(): void {
    if (this.state === 'paused') this.state = 'running';
  }

  deliver(from: string, raw: unknown): void {
    this.g.receive(from, raw);
  }

  unreachable(peer: string): void {
    this.gossiper?.reportUnreachable(peer);
  }
}

export class SimCluster {
  readonly scheduler = new Scheduler();
  readonly network: SimNetwork;
  /** Schedule randomness (tick jitter), separate from each node's and the network's. */
  readonly random: Random;
  readonly nodes = new Map<string, SimNode>();
  /** Epoch -> the ring (as JSON text) first adopted at it, and by whom. */
  readonly rings = new Map<number, { text: string; by: string }>();
  /** Different rings seen at one epoch: must stay empty. */
  readonly conflicts: string[] = [];
  /** Every adoption: who, when, which ring. */
  readonly adoptions: { by: string; at: number; epoch: number; text: string }[] = [];

  constructor(readonly options: SimOptions) {
    this.random = new Random(options.seed ^ 0x5bd1e995);
    this.network = new SimNetwork(this.scheduler, options.seed ^ 0x27d4eb2f, {
      minDelayMs: 1, maxDelayMs: 20, drop: 0, ...options.link,
    });
  }

  get now(): number {
    return this.scheduler.now;
  }

  /** Adds and starts a node; with no seeds it bootstraps a cluster. */
  add(spec: SimNodeSpec, seeds: readonly string[] = []): SimNode {
    const index = this.nodes.size + 1;
    const node = new SimNode(this, index, spec, `10.0.${index >> 8}.${index & 255}:7379`, seeds);
    this.nodes.set(spec.id, node);
    this.network.attach(node);
    node.start();
    return node;
  }

  node(id: string): SimNode {
    const n = this.nodes.get(id);
    if (n === undefined) throw new Error(`no node ${id}`);
    return n;
  }

  run(ms: number): void {
    this.scheduler.run(ms);
  }

  /** Runs until `done()` returns true (checked every `stepMs`); returns the time it took, or
   *  undefined if `limitMs` passed first. */
  runUntil(done: () => boolean, limitMs: number, stepMs = 250): number | undefined {
    const start = this.now;
    while (this.now - start <= limitMs) {
      if (done()) return this.now - start;
      this.run(stepMs);
    }
    return undefined;
  }

  recordRing(by: string, ring: Ring): void {
    const text = JSON.stringify(ring.toJSON());
    this.adoptions.push({ by, at: this.now, epoch: ring.epoch, text });
    const first = this.rings.get(ring.epoch);
    if (first === undefined) this.rings.set(ring.epoch, { text, by });
    else if (first.text !== text) this.conflicts.push(`epoch ${ring.epoch}: ${by} adopted a ring other than the one ${first.by} adopted first (t=${this.now})`);
  }

  /** Running nodes that are members (not left or removed in their own view). */
  liveMembers(): SimNode[] {
    return [...this.nodes.values()].filter((n) => n.state === 'running' && isMemberStatus(n.g.record(n.id)!.status));
  }

  /**
   * Why the cluster has not converged, or undefined once it has: every running member has
   * the same view (ids, generations, statuses), the same ring, nothing staged, sees every
   * other running member alive and every stopped member down.
   */
  notConverged(): string | undefined {
    const live = this.liveMembers();
    if (live.length === 0) return 'no running member';
    const view = (n: SimNode) => n.g.records().map((r) => `${r.id}:${r.generation}:${r.status}:${r.statusVersion}:${r.ringEpoch}`).join(' ');
    const ring = (n: SimNode) => JSON.stringify(n.g.ring?.toJSON() ?? null);
    const first = live[0]!;
    for (const n of live) {
      if (view(n) !== view(first)) return `views differ:\n  ${first.id}: ${view(first)}\n  ${n.id}: ${view(n)}`;
      if (ring(n) !== ring(first)) return `${n.id} is at ring epoch ${n.g.epoch}, ${first.id} at ${first.g.epoch}`;
      for (const r of n.g.records()) {
        if (r.status === 'joining' || r.status === 'leaving') return `${r.id} is still ${r.status}`;
        if (r.id === n.id || !isMemberStatus(r.status)) continue;
        const peer = this.nodes.get(r.id);
        const want = peer?.state === 'running' ? 'alive' : 'down';
        if (n.g.liveness(r.id) !== want) return `${n.id} sees ${r.id} ${n.g.liveness(r.id)}, not ${want}`;
      }
    }
    if (first.g.plan().length > 0) return `${first.g.plan().length} partitions would still move`;
    return undefined;
  }
}
