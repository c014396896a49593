// Runs on: the main thread. Which replicas are marked for repair (their WAL recovery skipped
// damaged records: the shard's NEEDS_REPAIR file, src/shard/repair-mark.ts), and when a mark
// may go: once anti-entropy has exchanged, without error, every partition the replica holds
// with at least one other replica that is up, may vouch for it (`vouches`: in a cluster, a
// replica on another node) and is healthy itself: not marked here, and answering a probe
// GET as complete (OBJECT, not OBJECT_PARTIAL: a replica marked on another node says so in
// its reply). The replica then holds the merge of what a healthy copy holds for each of its
// ranges, so it is told `repaired` (its file is dropped, its reads answer as complete again)
// and `onRepaired` fires once.
//
// Marks are learnt from the local shards' stats (`needsRepair`), at the store's start, at the
// start of each anti-entropy round (a shard marks itself while serving when it quarantines a
// table) and whenever a replica comes (back) up; an exchange that began before that is not
// counted for it. The
// partitions a replica holds follow the ring: when it changes, partitions newly held must be
// exchanged too, and those no longer held are not waited for. While a replica is marked,
// `wants(p)` says this store should exchange p itself (a cluster node leads only some
// partitions; the exchanges another node leads are not seen here).
import type { Ring } from '../ring/index.js';
import type { ExchangeResult } from './anti-entropy.js';

export interface RepairMarksOptions {
  /** Replicas per key (the preference list's length). */
  n: number;
  /** Tells the replica its ranges are restored; resolves true when it was marked (and is no more). */
  clear: (replica: string) => Promise<boolean>;
  /** Called once per replica whose mark was cleared. */
  onRepaired: (replica: string, partitions: number) => void;
  /** Whether `other` may vouch for `replica` (default: any other replica; a cluster: one on another node). */
  vouches?: (replica: string, other: string) => boolean;
  /**
   * Whether `other` answers partition p as complete now (a probe; default: trusted). False,
   * or a rejection, when it is marked itself or cannot be asked.
   */
  healthy?: (other: string, p: number) => Promise<boolean>;
}

/** A marked replica: the partitions it holds (under `ring`) not yet exchanged with a healthy replica. */
interface Pending {
  /** The ring `held` was computed under; undefined until a ring is known. */
  ring: Ring | undefined;
  held: Set<number>;
  left: Set<number>;
  /** performance.now() when it was learnt: exchanges that began earlier do not count. */
  since: number;
}

export class RepairMarks {
  private readonly pending = new Map<string, Pending>();

  constructor(
    private readonly ring: () => Ring,
    private readonly o: RepairMarksOptions,
  ) {}

  /** The replicas marked now. */
  marked(): string[] {
    return [...this.pending.keys()];
  }

  /**
   * The marks as the shards' stats say (entries `{ id, needsRepair }`, ids as ring members):
   * a replica newly marked needs an exchange of each of its partitions again; one no longer
   * marked is forgotten.
   */
  learn(shards: readonly unknown[]): void {
    for (const entry of shards) {
      const s = entry as { id?: unknown; up?: unknown; needsRepair?: unknown };
      if (typeof s.id !== 'string' || s.up !== true) continue;
      if (s.needsRepair === true) this.mark(s.id);
      else if (s.needsRepair === false) this.pending.delete(s.id);
    }
  }

  /** Marks `replica`: every partition it holds must be exchanged before the mark goes. */
  mark(replica: string): void {
    if (this.pending.has(replica)) return;
    const entry: Pending = { ring: undefined, held: new Set(), left: new Set(), since: performance.now() };
    this.pending.set(replica, entry);
    this.follow(replica, entry);
  }

  /** Whether a marked replica still waits for an exchange of partition p. */
  wants(p: number): boolean {
    for (const [replica, entry] of this.pending) {
      this.follow(replica, entry);
      if (entry.left.has(p)) return true;
    }
    return false;
  }

  /** An exchange settled (AntiEntropyOptions.onExchange). */
  exchanged(result: ExchangeResult): void {
    if (this.pending.size === 0 || (result.outcome !== 'equal' && result.outcome !== 'repaired')) return;
    for (const replica of result.replicas) {
      const entry = this.pending.get(replica);
      if (entry === undefined || result.started < entry.since) continue;
      this.follow(replica, entry);
      if (!entry.left.has(result.partition)) continue;
      const vouch = this.o.vouches ?? (() => true);
      const peers = result.replicas.filter((other) => other !== replica && !this.pending.has(other) && vouch(replica, other));
      if (peers.length === 0) continue;
      void this.anyHealthy(peers, result.partition).then((ok) => {
        if (!ok || this.pending.get(replica) !== entry || !entry.left.delete(result.partition)) return;
        if (entry.left.size === 0) this.finish(replica, entry.held.size);
      });
    }
  }

  /** Whether one of `peers` answers partition p as complete. */
  private async anyHealthy(peers: readonly string[], p: number): Promise<boolean> {
    const probe = this.o.healthy;
    if (probe === undefined) return true;
    const answers = await Promise.all(peers.map((other) => probe(other, p).catch(() => false)));
    return answers.includes(true);
  }

  /** Brings `entry` up to the ring in force: partitions newly held are due, those no longer held are not. */
  private follow(replica: string, entry: Pending): void {
    let ring: Ring;
    try {
      ring = this.ring();
    } catch {
      return; // no ring yet (a node still joining): nothing is held, nothing can be exchanged
    }
    if (ring === entry.ring) return;
    const length = ring.listLength(this.o.n);
    const held = new Set<number>();
    for (let p = 0; p < ring.q; p++) if (ring.listOf(p, length).includes(replica)) held.add(p);
    const left = new Set<number>();
    for (const p of held) if (entry.left.has(p) || !entry.held.has(p) || entry.ring?.q !== ring.q) left.add(p);
    Object.assign(entry, { ring, held, left });
    if (left.size === 0) this.finish(replica, held.size);
  }

  private finish(replica: string, partitions: number): void {
    this.pending.delete(replica);
    this.o.clear(replica).then(
      (was) => {
        if (was) this.o.onRepaired(replica, partitions);
      },
      // Not reached (down, restarting): it is learnt again as marked when it comes back up.
      () => {},
    );
  }
}
