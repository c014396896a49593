// Runs on: the main thread. Orders the commands of this server that touch the same key.
//
// Store calls run concurrently (a pipeline of 1000 GETs is 1000 requests in flight), but
// some commands must see the effect of an earlier one on the same key: SET then GET in one
// pipeline, and every read-modify-write (INCR, SET NX/XX, EXPIRE, SET itself while it is a
// get then a put). So each key with a write in flight has a tail: the promise of the last
// write issued on it. A command on that key (read or write) starts only once the tail has
// settled; a write becomes the new tail. Reads never become tails, so reads of a key run
// concurrently, and commands on keys without a write in flight start at once (the common
// case costs one Map lookup, and nothing at all while no write is in flight).
//
// Across connections of this server this makes read-modify-writes of one key atomic with
// respect to each other: concurrent INCRs through one server never race into siblings.
// It does not order writes coming through other servers or the embedded API: those can
// still make concurrent values, which the versioned store keeps as siblings.
//
// Waits form no cycle: a command only waits for tails that exist when it is issued.

export class KeyLocks {
  private readonly tails = new Map<string, Promise<unknown>>();

  /** True while no write is in flight: reads need not look up their keys. */
  get idle(): boolean {
    return this.tails.size === 0;
  }

  /** The last write in flight on `key`, if any. */
  tail(key: string): Promise<unknown> | undefined {
    return this.tails.get(key);
  }

  /** Makes `op` the tail of `key` until it settles (or a later write replaces it). */
  hold(key: string, op: Promise<unknown>): void {
    this.tails.set(key, op);
    const release = (): void => {
      if (this.tails.get(key) === op) this.tails.delete(key);
    };
    op.then(release, release);
  }
}
