// Runs on: the main thread (the shard transport). Deadlines of requests in flight without a
// timer each: a setTimeout + clearTimeout per request costs ~0.5 µs (more than the rest of
// a get), and a transport's requests use a few distinct timeouts, so one FIFO per timeout
// value is ordered by deadline by construction, and one timer for the transport, armed for
// the earliest head, serves them all.

/**
 * The requests of one timeout value, oldest first: with one timeout, deadlines only grow,
 * so the head is the next to expire. Settled entries stay until they reach the head (the
 * entry's `id` no longer matches its item's: items are pooled and reused with new ids),
 * where they are dropped as replies come.
 */
export class DeadlineQueue<T extends { id: number }> {
  private pendings: (T | undefined)[] = new Array<T | undefined>(1024).fill(undefined);
  private ids = new Int32Array(1024);
  private deadlines = new Float64Array(1024);
  private head = 0;
  size = 0;

  constructor(readonly timeoutMs: number) {}

  push(p: T, deadline: number): void {
    if (this.size === this.ids.length) this.grow();
    const i = (this.head + this.size) & (this.ids.length - 1);
    this.pendings[i] = p;
    this.ids[i] = p.id;
    this.deadlines[i] = deadline;
    this.size++;
  }

  /** Drops settled entries at the head. */
  trim(): void {
    const mask = this.ids.length - 1;
    while (this.size > 0) {
      const h = this.head;
      if (this.pendings[h]!.id === this.ids[h]) return;
      this.pendings[h] = undefined;
      this.head = (h + 1) & mask;
      this.size--;
    }
  }

  /** The oldest live entry's deadline (after trim()); Infinity when empty. */
  get headDeadline(): number {
    return this.size > 0 ? this.deadlines[this.head]! : Infinity;
  }

  /** Removes and returns the oldest entry. REQUIRES: size > 0, trimmed. */
  shift(): T {
    const h = this.head;
    const p = this.pendings[h]!;
    this.pendings[h] = undefined;
    this.head = (h + 1) & (this.ids.length - 1);
    this.size--;
    return p;
  }

  private grow(): void {
    const n = this.ids.length;
    const pendings = new Array<T | undefined>(n * 2).fill(undefined);
    const ids = new Int32Array(n * 2);
    const deadlines = new Float64Array(n * 2);
    for (let k = 0; k < n; k++) {
      const i = (this.head + k) & (n - 1);
      pendings[k] = this.pendings[i];
      ids[k] = this.ids[i]!;
      deadlines[k] = this.deadlines[i]!;
    }
    this.pendings = pendings;
    this.ids = ids;
    this.deadlines = deadlines;
    this.head = 0;
  }
}
