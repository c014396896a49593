// Runs on: the main thread. Orders the commands of this server that touch the same key.
//
// Store calls run concurrently (a pipeline of 1000 GETs is 1000 requests in flight), but
// some commands must see the effect of an earlier one on the same key: SET then GET in one
// pipeline, and every read-modify-write (SET NX/XX, EXPIRE, DEL, GETSET...: a read, then a
// write with the read's context). So each key with a write in flight has a tail: a promise
// that settles once every write issued on it so far has settled. A read waits for the tail;
// a read-modify-write waits for it and becomes the new tail. A read that had to wait becomes
// the tail too (a later blind write must not overtake it: SET k 10, GET k, INCR k answers
// 10, not 11). Reads of a key with no write in flight run at once and concurrently, and so
// does every command on keys without a write in flight (the common case costs one Map
// lookup, and nothing at all while no write is in flight).
//
// Blind writes (one store request that reads nothing first: plain SET, MSET, and INCR,
// which the key's coordinating replica computes in one step) do not wait for earlier blind
// writes: their requests reach the coordinating replica in the order they were issued (its
// request queue is FIFO), which versions them in that order and acknowledges them together
// after one group commit. So a hot key costs what a cold one does. A blind write still
// waits for a read-modify-write in flight (whose write must land first), and joins the
// tail: the tail then settles once both it and the writes before it have.
//
// Across connections of this server this makes read-modify-writes of one key atomic with
// respect to each other and to blind writes. It does not order writes coming through other
// servers or the embedded API: those can still make concurrent values, which the versioned
// store keeps as siblings (INCR is atomic across coordinators too: it runs at the replica).
// Under a failure, two pipelined blind writes of one key may be coordinated by different
// replicas (the first timed out and was retried elsewhere); they then apply in either order
// or become siblings, never lost (docs/design.md, "Writes of one key are ordered by the
// replica's FIFO queue").
//
// Waits form no cycle: a command only waits for tails that exist when it is issued.

interface Tail {
  /** Settles once every write issued on the key so far has settled. */
  readonly promise: Promise<unknown>;
  /** Every write in it is blind: a blind write need not wait for it. */
  readonly blind: boolean;
}

/**
 * Blind writes of one key in flight that made no promise (plain SETs on the RESP fast path,
 * connection.ts): a count, and a promise made only when a command has to wait for them.
 * Each write started with startBlind() calls end() once it settled.
 */
export class BlindRun {
  private count = 0;
  private waited: Promise<void> | undefined;
  private release: (() => void) | undefined;

  constructor(private readonly locks: KeyLocks, readonly key: string) {}

  /** One more blind write in the run. */
  add(): void {
    this.count++;
  }

  /** A blind write of the run settled. */
  end(): void {
    if (--this.count > 0) return;
    this.locks.forget(this);
    this.release?.();
  }

  /** Settles once every write in the run so far has settled (made at the first wait). */
  get promise(): Promise<unknown> {
    if (this.count === 0) return Promise.resolve();
    return (this.waited ??= new Promise<void>((resolve) => (this.release = resolve)));
  }
}

export class KeyLocks {
  private readonly tails = new Map<string, Tail | BlindRun>();

  /** True while no write is in flight: reads need not look up their keys. */
  get idle(): boolean {
    return this.tails.size === 0;
  }

  /** What a read or a read-modify-write of `key` waits for: every write in flight on it, if any. */
  tail(key: string): Promise<unknown> | undefined {
    return this.tails.get(key)?.promise;
  }

  /** What a blind write of `key` waits for: a read-modify-write in flight on it, if any. */
  blindTail(key: string): Promise<unknown> | undefined {
    const t = this.tails.get(key);
    return t === undefined || t instanceof BlindRun || t.blind ? undefined : t.promise;
  }

  /**
   * A blind write of `key` that makes no promise, issued now: the run it joins (it calls
   * run.end() once settled). undefined when a write with a promise is in flight on the key:
   * then it must take the ordinary way (blindTail/holdBlind), which orders after that one.
   */
  startBlind(key: string): BlindRun | undefined {
    let t = this.tails.get(key);
    if (t === undefined) {
      t = new BlindRun(this, key);
      this.tails.set(key, t);
    } else if (!(t instanceof BlindRun)) return undefined;
    t.add();
    return t;
  }

  /** A run's last write settled: the key has nothing in flight unless a later command took it over. */
  forget(run: BlindRun): void {
    if (this.tails.get(run.key) === run) this.tails.delete(run.key);
  }

  /** Makes `op` (a read-modify-write that waited for the tail) the tail of `key` until it settles. */
  hold(key: string, op: Promise<unknown>): void {
    this.set(key, { promise: op, blind: false });
  }

  /**
   * Adds the blind write `op` to the tail of `key`. `op` waited for a read-modify-write in
   * flight, if there was one; earlier blind writes may still be in flight, so the tail
   * becomes "op and them".
   */
  holdBlind(key: string, op: Promise<unknown>): void {
    const t = this.tails.get(key);
    if (t === undefined || (!(t instanceof BlindRun) && !t.blind)) {
      this.set(key, { promise: op, blind: true });
      return;
    }
    const earlier = t.promise;
    const after = (): Promise<unknown> => earlier;
    this.set(key, { promise: op.then(after, after), blind: true });
  }

  private set(key: string, tail: Tail): void {
    this.tails.set(key, tail);
    const release = (): void => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    };
    tail.promise.then(release, release);
  }
}
