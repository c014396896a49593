// Runs on: the main thread. Which replicas are marked for repair (their WAL recovery skipped
// damaged records: the shard's NEEDS_REPAIR file, src/shard/repair-mark.ts), and when a mark
// may go: once anti-entropy has exchanged, without error, every partition the replica holds
// with at least one other replica that is up and not marked itself. The replica then holds
// the merge of what a healthy copy holds for each of its ranges, so it is told `repaired`
// (its file is dropped, its reads answer as complete again) and `onRepaired` fires once.
//
// Marks are learnt from the shards' stats (`needsRepair`), at the store's start and whenever
// a replica comes (back) up; an exchange before that is not counted for it.
import type { Ring } from '../ring/index.js';
import type { ExchangeResult } from './anti-entropy.js';

export interface RepairMarksOptions {
  /** Replicas per key (the preference list's length). */
  n: number;
  /** Tells the replica its ranges are restored; resolves true when it was marked (and is no more). */
  clear: (replica: string) => Promise<boolean>;
  /** Called once per replica whose mark was cleared. */
  onRepaired: (replica: string, partitions: number) => void;
}

export class RepairMarks {
  /** Marked replicas: the partitions they hold not yet exchanged with a healthy replica, and how many they hold. */
  private readonly pending = new Map<string, { left: Set<number>; total: number }>();

  constructor(
    private readonly ring: () => Ring,
    private readonly o: RepairMarksOptions,
  ) {}

  /** The replicas marked now. */
  marked(): string[] {
    return [...this.pending.keys()];
  }

  /**
   * The marks as the shards' stats say (entries `{ id, needsRepair }`): a replica newly marked
   * needs an exchange of each of its partitions again; one no longer marked is forgotten.
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
    const ring = this.ring();
    const length = ring.listLength(this.o.n);
    const left = new Set<number>();
    for (let p = 0; p < ring.q; p++) if (ring.listOf(p, length).includes(replica)) left.add(p);
    this.pending.set(replica, { left, total: left.size });
    if (left.size === 0) this.finish(replica, 0);
  }

  /** An exchange settled (AntiEntropyOptions.onExchange). */
  exchanged(result: ExchangeResult): void {
    if (this.pending.size === 0 || (result.outcome !== 'equal' && result.outcome !== 'repaired')) return;
    for (const replica of result.replicas) {
      const entry = this.pending.get(replica);
      if (entry === undefined || !entry.left.has(result.partition)) continue;
      // A healthy peer took part: one that is not marked itself.
      if (!result.replicas.some((other) => other !== replica && !this.pending.has(other))) continue;
      entry.left.delete(result.partition);
      if (entry.left.size === 0) this.finish(replica, entry.total);
    }
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
