// Runs on: main thread. The Gossiper: one node's membership, failure detection and ring,
// driven from outside. No timers, sockets, Date.now or Math.random in here: a driver calls
// tick() every intervalMs and receive() for each gossip message that arrives, time comes
// from a TimeSource and choices from a seeded RandomSource, and messages leave through `send`.
// The same code runs over TCP and inside the deterministic simulation (test/cluster/sim/).
//
// A round (tick): bump our heartbeat; the bootstrap node makes the first ring; re-judge every
// peer's liveness; the claimant commits staged changes if autoCommit is on and the ring is
// ready (ring-state.ts); send a syn carrying our whole view to the peers gossip-targets.ts
// picks. A syn is answered with an ack holding what the receiver knew better (push-pull).
// An ack that does not come back within ackTimeoutMs counts as a failed request, so a
// paused peer is suspected even before its heartbeat is missed.
import { ErrorCode, RingkvError } from '../../errors.js';
import { partitionBits, type Move, type Ring, type RingJSON } from '../../ring/index.js';
import type { TimeSource, RandomSource } from './time-source.js';
import { FailureDetector, type Liveness } from './failure-detector.js';
import { defaultGossipOptions, validateGossipOptions, type GossipOptions } from './gossip-options.js';
import { gossipMessage, parseGossip, type GossipMessage } from './gossip-message.js';
import { chooseTargets, type Destination } from './gossip-targets.js';
import { Membership, type MembershipChange } from './membership.js';
import { checkAddress, isMemberStatus, MAX_SHARDS, mergeRecords, parseNodeRecord, type NodeIdentity, type NodeRecord } from './node-record.js';
import { claimantOf, notReadyReason, RingState } from './ring-state.js';
import { snapshotOf, type ClusterSnapshot, type GossipStats } from './cluster-snapshot.js';

export type { NodeIdentity } from './node-record.js';

export interface GossiperInit {
  readonly identity: NodeIdentity;
  /** This start's generation: one more than the last start's (the driver keeps it on disk). */
  readonly generation: number;
  /** Seed addresses (host:port). A first start (generation 1) with no seed but itself
   *  bootstraps a new cluster; every other node joins through a seed. */
  readonly seeds: readonly string[];
  /** The ring this node last adopted, read back from disk (see the 'ring' event). */
  readonly ring?: RingJSON | undefined;
  readonly options?: Partial<GossipOptions> | undefined;
}

export interface GossiperDeps {
  readonly clock: TimeSource;
  readonly random: RandomSource;
  /** Hands a message to the transport. Must not call back into the Gossiper synchronously. */
  readonly send: (to: Destination, message: GossipMessage) => void;
}

export interface GossipEvents {
  /** A peer's liveness in this node's eyes changed. */
  liveness: { readonly id: string; readonly from: Liveness; readonly to: Liveness };
  /** A record changed (a new node, a status, a restart; heartbeats alone are not reported). */
  member: MembershipChange;
  /** This node adopted a ring: persist it (it comes back as GossiperInit.ring). */
  ring: { readonly ring: Ring; readonly previous: Ring | undefined };
  /** Gossip showed a later incarnation of this node than its own: persist the generation. */
  generation: { readonly generation: number };
}

type Listener<K extends keyof GossipEvents> = (event: GossipEvents[K]) => void;

/** Counters for metrics. */
function notReady(message: string): RingkvError {
  return new RingkvError(ErrorCode.NOT_READY, message);
}

/** One per node; main thread only; not re-entrant (send must not deliver synchronously). */
export class Gossiper {
  readonly options: GossipOptions;
  readonly stats: GossipStats = { rounds: 0, sent: 0, received: 0, rejected: 0, ringConflicts: 0 };
  private readonly members: Membership;
  private readonly detector: FailureDetector;
  private readonly rings: RingState;
  private readonly seeds: readonly string[];
  private readonly bootstrapper: boolean;
  private readonly judged = new Map<string, Liveness>();
  private readonly awaitingAck = new Map<string, number>();
  private readonly listeners: { [K in keyof GossipEvents]: Listener<K>[] } = { liveness: [], member: [], ring: [], generation: [] };
  private readonly queued: (() => void)[] = [];
  /** Whether any peer's message has been merged since this start (see ringToShare). */
  private heard = false;

  constructor(init: GossiperInit, private readonly deps: GossiperDeps) {
    const o = { ...defaultGossipOptions(init.options?.intervalMs), ...init.options };
    validateGossipOptions(o);
    partitionBits(o.partitions);
    this.options = o;
    const id = init.identity;
    // The identity must make a valid record (checked the way a peer will check it).
    parseNodeRecord({ ...id, generation: init.generation, heartbeat: 0, ringEpoch: 0, status: 'joining', statusVersion: 0 });
    this.seeds = init.seeds.map(checkAddress);
    this.rings = new RingState({ partitions: o.partitions, replication: o.replication }, init.ring);
    const inRing = this.rings.ring?.member(`${id.id}/s0`) !== undefined;
    this.bootstrapper = init.generation === 1 && this.rings.ring === undefined && this.seeds.every((s) => s === id.address);
    this.members = new Membership({
      id: id.id, address: id.address, dc: id.dc, rack: id.rack, shards: id.shards, weight: id.weight,
      generation: init.generation, heartbeat: 0, ringEpoch: this.rings.epoch, transfers: 0,
      // A restart that finds itself in its saved ring resumes as up (at version 0, so any
      // later word from the cluster, such as 'removed', still wins).
      status: inRing ? 'up' : 'joining', statusVersion: 0,
    });
    this.detector = new FailureDetector(o.detector);
  }

  get id(): string {
    return this.members.selfId;
  }

  /** The ring in force (undefined until this node has one). */
  get ring(): Ring | undefined {
    return this.rings.ring;
  }

  /** The current ring epoch (0 before any ring). */
  get epoch(): number {
    return this.rings.epoch;
  }

  /** Whether a request made under `epoch` must be refused (an older ring routed it). */
  isStale(epoch: number): boolean {
    return this.rings.isStale(epoch);
  }

  /** Throws ERR_STALE_EPOCH if `epoch` is older than the ring in force. */
  checkEpoch(epoch: number): void {
    if (this.rings.isStale(epoch)) throw new RingkvError(ErrorCode.STALE_EPOCH, `request routed by ring epoch ${epoch}, this node is at ${this.rings.epoch}: re-route and retry`);
  }

  /** This node's view, in id order. Do not modify. */
  records(): readonly NodeRecord[] {
    return this.members.all();
  }

  record(id: string): NodeRecord | undefined {
    return this.members.get(id);
  }

  /** A peer's liveness as last judged (this node itself is always alive). */
  liveness(id: string): Liveness {
    return id === this.id ? 'alive' : (this.judged.get(id) ?? 'alive');
  }

  /** The claimant in this node's view. */
  claimant(): string | undefined {
    return claimantOf(this.members.all(), this.isDown);
  }

  on<K extends keyof GossipEvents>(event: K, listener: Listener<K>): () => void {
    const list = this.listeners[event] as Listener<K>[];
    list.push(listener);
    return () => {
      const i = list.indexOf(listener);
      if (i >= 0) list.splice(i, 1);
    };
  }

  /** One gossip round. */
  tick(): void {
    const now = this.deps.clock.now();
    this.stats.rounds++;
    this.members.updateSelf();
    if (this.rings.ring === undefined && this.bootstrapper) this.bootstrap();
    for (const [peer, sentAt] of this.awaitingAck) {
      if (now - sentAt >= this.options.ackTimeoutMs) {
        this.awaitingAck.delete(peer);
        this.detector.unreachable(peer, now);
      }
    }
    this.judge(now);
    if (this.options.autoCommit) this.claim(false);
    const self = this.members.self;
    const targets = chooseTargets(this.deps.random, self, this.members.all(), (id) => this.liveness(id), this.seeds, this.options.fanout, this.rings.ring !== undefined);
    for (const to of targets) {
      const peer = 'node' in to ? this.members.get(to.node) : undefined;
      const ring = peer === undefined || peer.ringEpoch < this.rings.epoch ? this.ringToShare() : undefined;
      if ('node' in to && !this.awaitingAck.has(to.node)) this.awaitingAck.set(to.node, now);
      this.stats.sent++;
      this.deps.send(to, gossipMessage('syn', self.id, 'node' in to ? to.node : null, this.members.all(), ring));
    }
    this.flush();
  }

  /**
   * Handles a message from the transport. `from` is the transport's name for the sender
   * (used in errors only: the message names its sender). Throws ERR_PROTOCOL for a
   * malformed message, having changed nothing.
   */
  receive(from: string, raw: unknown): void {
    let parsed;
    try {
      parsed = parseGossip(raw);
    } catch (err) {
      this.stats.rejected++;
      if (err instanceof RingkvError) throw new RingkvError(err.code, `${err.message} (from ${from})`, { cause: err });
      throw err;
    }
    const { message, ring } = parsed;
    if ((message.to !== null && message.to !== this.id) || message.from === this.id) {
      this.stats.rejected++;
      return;
    }
    const now = this.deps.clock.now();
    this.stats.received++;
    const sender = message.from;
    this.heard = true;
    if (message.type === 'ack') this.awaitingAck.delete(sender);
    const theirs = new Map<string, NodeRecord>();
    for (const r of message.nodes) {
      theirs.set(r.id, r);
      const change = this.members.merge(r);
      if (change !== undefined) this.changed(change, now);
    }
    this.detector.reply(sender); // a message straight from the sender: it is running
    if (ring !== undefined) this.adopt(ring);
    this.judge(now);
    if (message.type === 'syn') {
      const senderRecord = this.members.get(sender);
      const news = this.members.all().filter((r) => {
        const t = theirs.get(r.id);
        return t === undefined || mergeRecords(t, r) !== t;
      });
      const theirEpoch = theirs.get(sender)?.ringEpoch ?? 0;
      const share = theirEpoch < this.rings.epoch || (theirEpoch === this.rings.epoch && ring !== undefined && ring !== this.rings.ring);
      if (senderRecord !== undefined) {
        this.stats.sent++;
        this.deps.send({ node: sender, address: senderRecord.address }, gossipMessage('ack', this.id, sender, news, share ? this.ringToShare() : undefined));
      }
    }
    this.flush();
  }

  /** The transport could not reach `id` (timeout, refused connection). */
  reportUnreachable(id: string): void {
    this.detector.unreachable(id, this.deps.clock.now());
    this.judge(this.deps.clock.now());
    this.flush();
  }

  /** `id` answered a request: it is running. */
  reportReply(id: string): void {
    this.detector.reply(id);
    this.judge(this.deps.clock.now());
    this.flush();
  }

  /** The partitions a commit would move now. */
  plan(): Move[] {
    return this.rings.plan(this.members.all());
  }

  /** Commits the staged changes (claimant only). Throws ERR_NOT_READY saying why not. */
  commit(): Ring {
    const next = this.claim(true);
    this.flush();
    return next!;
  }

  /** Stages this node's decommission: it owns nothing from the next commit on. */
  leave(): void {
    const self = this.members.self;
    if (!isMemberStatus(self.status) || self.status === 'leaving') throw notReady(`node ${self.id} is ${self.status}: only a joining or up node can leave`);
    const others = this.members.all().filter((r) => r.id !== self.id && (r.status === 'up' || r.status === 'joining'));
    if (others.length === 0) throw notReady(`node ${self.id} is the last node of the cluster: it cannot leave`);
    this.changed(this.members.setStatus(self.id, 'leaving'), this.deps.clock.now());
    this.flush();
  }

  /**
   * The leaver's last step (with options.leaverMarksLeft): it has handed its data off and
   * owns nothing in the ring in force, so it is 'left' and may stop. Throws ERR_NOT_READY
   * if this node is not leaving or still owns partitions.
   */
  markLeft(): void {
    const self = this.members.self;
    if (self.status !== 'leaving') throw notReady(`node ${self.id} is ${self.status}, not leaving`);
    if (this.rings.ring === undefined || this.rings.ring.member(`${self.id}/s0`) !== undefined) {
      throw notReady(`node ${self.id} still owns partitions in ring epoch ${this.rings.epoch}: wait for a ring without it`);
    }
    this.changed(this.members.setStatus(self.id, 'left'), this.deps.clock.now());
    this.flush();
  }

  /** Records how many transfers this node still sends; the next round's heartbeat carries it. */
  setTransfers(pending: number): void {
    if (this.members.self.transfers !== pending) this.members.updateSelf({ transfers: pending });
  }

  /**
   * Changes how many shards this node contributes to the ring (its members '<id>/s<k>'):
   * gossiped like any change of the record, committed by the claimant as a join or leave of
   * those members is (the ranges move by transfer).
   */
  setShards(shards: number): void {
    if (!Number.isInteger(shards) || shards < 1 || shards > MAX_SHARDS) throw new RingkvError(ErrorCode.INVALID_ARGUMENT, `shards must be an integer from 1 to ${MAX_SHARDS}, got ${shards}`);
    if (this.members.self.shards === shards) return;
    this.changed(this.members.updateSelf({ shards }), this.deps.clock.now());
    this.flush();
  }

  /** Stages the removal of a dead node: its partitions go to the others at the next commit. */
  remove(id: string): void {
    const r = this.members.get(id);
    if (r === undefined) throw new RingkvError(ErrorCode.INVALID_ARGUMENT, `no node ${JSON.stringify(id)} in the cluster`);
    if (id === this.id) throw new RingkvError(ErrorCode.INVALID_ARGUMENT, `node ${id} cannot remove itself: use leave`);
    const self = this.members.self;
    if (!isMemberStatus(self.status)) throw notReady(`node ${self.id} is ${self.status}: ask a member of the cluster`);
    if (!isMemberStatus(r.status)) throw new RingkvError(ErrorCode.INVALID_ARGUMENT, `node ${id} is already ${r.status}`);
    if (this.liveness(id) !== 'down') throw notReady(`node ${id} is ${this.liveness(id)}, not down: stop it first or ask it to leave`);
    this.changed(this.members.setStatus(id, 'removed'), this.deps.clock.now());
    this.flush();
  }

  /** The view for `ringkv status` and metrics. */
  snapshot(): ClusterSnapshot {
    const records = this.members.all();
    const now = this.deps.clock.now();
    let pendingMoves = 0;
    try {
      pendingMoves = this.plan().length;
    } catch {
      pendingMoves = -1; // the staged membership cannot form a ring (e.g. replication unmet)
    }
    return snapshotOf({
      self: this.id, records, now, epoch: this.rings.epoch, claimant: this.claimant(),
      notReady: this.rings.ring === undefined ? 'no ring yet' : notReadyReason(records, this.rings.ring, this.isDown),
      pendingMoves, partitions: this.rings.partitionsByNode(), liveness: (id) => this.liveness(id),
      silence: (id) => (id === this.id ? 0 : this.detector.silence(id, now)),
      stats: this.stats,
    });
  }

  private readonly isDown = (id: string): boolean => id !== this.id && this.liveness(id) === 'down';

  /**
   * The ring to put in a message: none from a node that left or was removed, and none
   * before this start has heard from any peer. A node restarting with a ring it saved but
   * never sent (it committed, then crashed at once) may have been removed meanwhile, and
   * someone else may have made another ring at that epoch: it learns its status from the
   * first message it gets, and must not spread the lost ring before.
   */
  private ringToShare(): Ring | undefined {
    return this.heard && isMemberStatus(this.members.self.status) ? this.rings.ring : undefined;
  }

  private bootstrap(): void {
    const now = this.deps.clock.now();
    this.adopt(this.rings.bootstrap([this.members.self]));
    this.changed(this.members.setStatus(this.id, 'up'), now);
  }

  /**
   * The claimant's step: make the next ring from the staged changes and tidy statuses
   * (joining -> up once in the ring, leaving -> left once out of it, unless the leaver marks
   * itself left after its handoff: options.leaverMarksLeft). With `explicit`, a
   * reason not to is thrown as ERR_NOT_READY; otherwise nothing happens.
   */
  private claim(explicit: boolean): Ring | undefined {
    const now = this.deps.clock.now();
    const fail = (why: string): undefined => {
      if (explicit) throw notReady(why);
      return undefined;
    };
    const current = this.rings.ring;
    if (current === undefined) return fail(`node ${this.id} has no ring yet`);
    const records = this.members.all();
    const claimant = claimantOf(records, this.isDown);
    if (claimant !== this.id) return fail(claimant === undefined ? 'no claimant: no up node is reachable' : `node ${claimant} is the claimant: commit there`);
    const why = notReadyReason(records, current, this.isDown);
    if (why !== undefined) return fail(`the ring is not ready: ${why}`);
    const next = this.rings.propose(records);
    if (next === undefined && explicit) {
      throw new RingkvError(ErrorCode.INVALID_ARGUMENT, this.rings.pending(records) ? 'the staged changes would leave no node in the ring' : 'nothing to commit: no join, leave or remove is staged');
    }
    if (next !== undefined) this.adopt(next);
    const ring = next ?? current;
    for (const r of this.members.all()) {
      const owns = ring.member(`${r.id}/s0`) !== undefined;
      if (r.status === 'joining' && owns) this.changed(this.members.setStatus(r.id, 'up'), now);
      else if (r.status === 'leaving' && !owns && !this.options.leaverMarksLeft) this.changed(this.members.setStatus(r.id, 'left'), now);
    }
    return next;
  }

  private adopt(ring: Ring): void {
    const previous = this.rings.ring;
    if (!this.rings.adopt(ring)) return;
    if (previous !== undefined && previous.epoch === ring.epoch) this.stats.ringConflicts++;
    this.members.updateSelf({ ringEpoch: ring.epoch });
    this.emit('ring', { ring, previous });
  }

  /** Bookkeeping for a changed record: the failure detector, events. */
  private changed(change: MembershipChange, now: number): void {
    const { previous, record } = change;
    if (record.id === this.id) {
      if (previous !== undefined && record.generation !== previous.generation) this.emit('generation', { generation: record.generation });
    } else if (previous === undefined || record.generation !== previous.generation) {
      this.detector.reset(record.id, now); // first heard of, or restarted: a fresh history
    } else if (record.heartbeat !== previous.heartbeat) {
      this.detector.heartbeat(record.id, now);
    }
    const quiet = previous !== undefined && previous.generation === record.generation && previous.status === record.status &&
      previous.statusVersion === record.statusVersion && previous.address === record.address && previous.shards === record.shards &&
      previous.weight === record.weight && previous.dc === record.dc && previous.rack === record.rack;
    if (!quiet) this.emit('member', change);
  }

  /** Re-judges every peer's liveness; queues an event for each that changed. */
  private judge(now: number): void {
    for (const r of this.members.all()) {
      if (r.id === this.id) continue;
      const to = this.detector.liveness(r.id, now);
      const from = this.judged.get(r.id) ?? 'alive';
      this.judged.set(r.id, to);
      if (to !== from) this.emit('liveness', { id: r.id, from, to });
    }
  }

  /** Events are queued while state changes and delivered once it is consistent. */
  private emit<K extends keyof GossipEvents>(event: K, payload: GossipEvents[K]): void {
    for (const listener of this.listeners[event] as Listener<K>[]) this.queued.push(() => listener(payload));
  }

  private flush(): void {
    while (this.queued.length > 0) this.queued.shift()!();
  }
}
