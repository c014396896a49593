// The simulated cluster's network and nodes: each node holds one replica (member
// '<node>/s0') over in-memory engines and runs its own coordinator; requests between nodes
// are real frames (encoded, copied, decoded) delivered after a random delay, lost when the
// link is cut by a partition or dropped, and refused when the target is crashed.
//
// A crash loses what is in flight and the node's liveness, never its acknowledged data (the
// storage engine's own crash tests cover torn writes); the restarted replica takes a new
// epoch, as a restarted shard does. Each node's view of who is down lags the truth by
// `detectMs` (a failure detector), and a node that comes back is announced to the others'
// onUp listeners (hinted handoff), as the peer transport does.
import { ErrorCode, RingkvError } from '../../../src/errors.js';
import { timeoutError, unavailableError, type Transport } from '../../../src/coordinator/index.js';
import { FrameReader, FrameType, FrameWriter, decodeReply, decodeRequest, encodeReply, encodeRequest, type Reply, type Request } from '../../../src/protocol/index.js';
import { Replica, type ReplicaOptions } from '../../../src/shard/replica.js';
import { MemoryEngine } from '../../../src/storage/index.js';
import type { SimWorld } from './sim-world.js';

export interface NetworkOptions {
  /** One-way delay range, ms. */
  minDelayMs: number;
  maxDelayMs: number;
  /** Probability that a message is lost. */
  dropRate: number;
  /** How long a node takes to notice that another is unreachable (or reachable again). */
  detectMs: number;
}

export class SimNode {
  crashed = false;
  /** Bumped at each crash: an outcome reported after it belongs to a dead incarnation. */
  incarnation = 0;
  replica!: Replica;
  epoch = 0;

  constructor(
    readonly id: string,
    readonly index: number,
    public stores: { data: MemoryEngine; hints: MemoryEngine },
    private readonly options: ReplicaOptions = {},
  ) {
    this.restartReplica();
  }

  get member(): string {
    return `${this.id}/s0`;
  }

  restartReplica(): void {
    this.epoch++;
    this.replica = new Replica({ replica: this.index + 1, epoch: this.epoch }, this.stores, { ...this.options, renew: () => ++this.epoch });
  }
}

export class SimNetwork {
  readonly nodes: SimNode[] = [];
  private readonly byMember = new Map<string, SimNode>();
  /** Pairs 'a|b' (a < b) whose packets are dropped. */
  private readonly cuts = new Set<string>();
  private readonly w = new FrameWriter();
  private readonly r = new FrameReader();
  private readonly transports: SimTransport[] = [];
  /** How many times a replica coordinated each value (PUT handled): more than once when a
   *  coordinator timed out and asked the next primary, which makes two versions of it. */
  readonly coordinations = new Map<string, number>();
  /** Options of every replica added from now on (hint limits, the virtual clock). */
  replicaOptions: ReplicaOptions = {};

  constructor(readonly world: SimWorld, readonly o: NetworkOptions) {}

  /** Stops message loss (the faults are over). */
  stopDrops(): void {
    this.o.dropRate = 0;
  }

  async addNode(id: string): Promise<SimNode> {
    const node = new SimNode(id, this.nodes.length, { data: await MemoryEngine.open(), hints: await MemoryEngine.open() }, this.replicaOptions);
    this.nodes.push(node);
    this.byMember.set(node.member, node);
    return node;
  }

  nodeOf(member: string): SimNode {
    const n = this.byMember.get(member);
    if (n === undefined) throw new Error(`no node for member ${member}`);
    return n;
  }

  /** The transport through which `node`'s coordinator reaches replicas. */
  transportOf(node: SimNode): SimTransport {
    const t = new SimTransport(this, node);
    this.transports.push(t);
    return t;
  }

  cut(a: SimNode, b: SimNode): void {
    this.cuts.add(pairKey(a, b));
    this.announceLater();
  }

  healAll(): void {
    const healed = [...this.cuts];
    this.cuts.clear();
    if (healed.length > 0) this.announceLater();
  }

  linked(a: SimNode, b: SimNode): boolean {
    return a === b || !this.cuts.has(pairKey(a, b));
  }

  crash(node: SimNode): void {
    node.crashed = true;
    node.incarnation++;
    this.announceLater();
  }

  /** `wipe`: the node comes back with empty disks (a replaced machine; or, for testing the
   *  checker, a store that loses acknowledged data). */
  async restart(node: SimNode, wipe = false): Promise<void> {
    if (wipe) node.stores = { data: await MemoryEngine.open(), hints: await MemoryEngine.open() };
    node.crashed = false;
    node.restartReplica();
    this.announceLater();
  }

  /** After the detection delay, every transport re-checks who it can reach and fires onUp. */
  private announceLater(): void {
    this.world.schedule(this.o.detectMs, () => {
      for (const t of this.transports) t.refresh();
    });
  }

  /** Sends `req` from `from` to `member`; `done` gets the reply, or nothing if it is lost. */
  deliver(from: SimNode, member: string, req: Request, done: (reply: Reply | RingkvError) => void): void {
    const target = this.nodeOf(member);
    const frame = encodeRequest(this.w, 1, req).slice();
    const world = this.world;
    const delay = (): number => world.between(this.o.minDelayMs, this.o.maxDelayMs);
    if (!this.linked(from, target) || (from !== target && world.chance(this.o.dropRate))) return;
    world.schedule(from === target ? 0 : delay(), () => {
      if (from.crashed) return;
      if (target.crashed) {
        // The target's host answers a connect with a refusal.
        world.schedule(delay(), () => done(unavailableError(member, 'connection refused')));
        return;
      }
      this.r.reset(frame);
      const decoded = decodeRequest(this.r);
      if (decoded.type === FrameType.PUT && decoded.value !== null) {
        const v = new TextDecoder().decode(decoded.value);
        this.coordinations.set(v, (this.coordinations.get(v) ?? 0) + 1);
      }
      const replies = target.replica.handleBatch([decoded]);
      const out = encodeReply(this.w, 1, replies[0]!).slice();
      if (!this.linked(from, target) || (from !== target && world.chance(this.o.dropRate))) return;
      world.schedule(from === target ? 0 : delay(), () => {
        if (from.crashed) return;
        this.r.reset(out);
        done(decodeReply(this.r));
      });
    });
  }
}

/** One node's Transport: requests through the simulated network, timeouts in virtual time. */
export class SimTransport implements Transport {
  private readonly listeners: ((replica: string) => void)[] = [];
  /** Members this node considers down (its failure detector's view). */
  private readonly down = new Set<string>();

  constructor(private readonly net: SimNetwork, private readonly self: SimNode) {}

  request(replica: string, req: Request, timeoutMs: number): Promise<Reply> {
    return new Promise((resolve, reject) => {
      if (this.self.crashed) {
        reject(new RingkvError(ErrorCode.CLOSED, 'the node crashed'));
        return;
      }
      let settled = false;
      const incarnation = this.self.incarnation;
      this.net.world.schedule(timeoutMs, () => {
        if (settled) return;
        settled = true;
        this.markDown(replica);
        reject(timeoutError(replica, timeoutMs));
      });
      this.net.deliver(this.self, replica, req, (reply) => {
        if (settled || incarnation !== this.self.incarnation) return;
        settled = true;
        if (reply instanceof RingkvError) {
          this.markDown(replica);
          reject(reply);
        } else resolve(reply);
      });
    });
  }

  isDown(replica: string): boolean {
    return this.down.has(replica);
  }

  onUp(listener: (replica: string) => void): void {
    this.listeners.push(listener);
  }

  /** The detector's verdict, `detectMs` after a failure was seen. */
  private markDown(replica: string): void {
    const target = this.net.nodeOf(replica);
    this.net.world.schedule(this.net.o.detectMs, () => {
      if (target.crashed || !this.net.linked(this.self, target)) this.down.add(replica);
    });
  }

  /** Re-checks every member: a crashed or cut-off one is down, one reachable again is up (onUp). */
  refresh(): void {
    if (this.self.crashed) return;
    for (const node of this.net.nodes) {
      const member = node.member;
      const reachable = !node.crashed && this.net.linked(this.self, node);
      if (!reachable) this.down.add(member);
      else if (this.down.delete(member)) for (const l of this.listeners) l(member);
    }
  }
}

function pairKey(a: SimNode, b: SimNode): string {
  return a.id < b.id ? `${a.id}|${b.id}` : `${b.id}|${a.id}`;
}
