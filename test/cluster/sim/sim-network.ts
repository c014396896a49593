// Runs on: the test's main thread. A simulated network between gossipers: per-link delay
// and drop probability, partitions (sets of nodes cut off from the rest), and the way a
// real TCP transport reports failures to its sender:
// - to a crashed node: the connection is refused at once -> reportUnreachable;
// - to a paused node (SIGSTOP): the kernel still accepts, the message vanishes silently;
// - across a partition (iptables DROP): the message vanishes silently.
// Messages are serialised to JSON when sent and parsed when delivered, as over TCP.
import type { Destination } from '../../../src/cluster/membership/gossip-targets.js';
import type { GossipMessage } from '../../../src/cluster/membership/gossip-message.js';
import { Random } from '../../../src/storage/env/random.js';
import type { Scheduler } from './scheduler.js';

export type NodeState = 'running' | 'paused' | 'crashed';

/** What the network needs from a node. */
export interface Endpoint {
  readonly id: string;
  readonly address: string;
  readonly state: NodeState;
  deliver(from: string, raw: unknown): void;
  unreachable(peer: string): void;
}

export interface LinkOptions {
  /** Uniform one-way delay range, ms. */
  minDelayMs: number;
  maxDelayMs: number;
  /** Probability a message is lost. */
  drop: number;
}

export class SimNetwork {
  private readonly byAddress = new Map<string, Endpoint>();
  private readonly byId = new Map<string, Endpoint>();
  private readonly links = new Map<string, LinkOptions>();
  /** Partition side per node id; nodes on different sides cannot talk. Empty: no partition. */
  private side = new Map<string, number>();
  readonly random: Random;
  delivered = 0;
  dropped = 0;

  constructor(private readonly scheduler: Scheduler, seed: number, public defaults: LinkOptions) {
    this.random = new Random(seed);
  }

  attach(e: Endpoint): void {
    this.byAddress.set(e.address, e);
    this.byId.set(e.id, e);
  }

  /** Overrides the link a -> b (one direction). */
  setLink(a: string, b: string, options: LinkOptions): void {
    this.links.set(`${a}>${b}`, options);
  }

  /** Cuts the cluster into the given groups; nodes in no group form one more group. */
  partition(groups: readonly (readonly string[])[]): void {
    this.side = new Map();
    groups.forEach((g, i) => g.forEach((id) => this.side.set(id, i + 1)));
  }

  heal(): void {
    this.side = new Map();
  }

  cut(a: string, b: string): boolean {
    return (this.side.get(a) ?? 0) !== (this.side.get(b) ?? 0);
  }

  send(from: Endpoint, to: Destination, message: GossipMessage): void {
    const address = 'node' in to ? to.address : to.seed;
    const target = this.byAddress.get(address);
    const wire = JSON.stringify(message);
    if (target === undefined) {
      if ('node' in to) from.unreachable(to.node); // nothing listens there: refused
      return;
    }
    const link = this.links.get(`${from.id}>${target.id}`) ?? this.defaults;
    if (target.state === 'crashed') {
      // Connection refused: the sender's transport learns it after about one round trip.
      this.scheduler.after(2 * link.minDelayMs, () => {
        if (from.state === 'running' && 'node' in to) from.unreachable(to.node);
      });
      return;
    }
    if (this.random.next() < link.drop) {
      this.dropped++;
      return;
    }
    const delay = link.minDelayMs + this.random.next() * (link.maxDelayMs - link.minDelayMs);
    this.scheduler.after(delay, () => {
      // Checked on arrival: a cut or a pause that began in flight still loses the message
      // (what a crashed sender had already sent still arrives, as from a kernel's buffers).
      if (target.state !== 'running' || this.cut(from.id, target.id)) {
        this.dropped++;
        return;
      }
      this.delivered++;
      target.deliver(from.id, JSON.parse(wire));
    });
  }
}
