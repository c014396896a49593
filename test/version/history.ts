// A little simulated cluster for the version tests: N replicas, each holding one key's
// VObject, driven by a list of operations that fast-check generates:
//
//   put      a client reads some replicas (merging what they hold into its context), then
//            asks replica `coord` to coordinate a write (a value, or a tombstone);
//   sync     replica `from` sends its object to `to`, which merges it;
//   restart  a replica loses its data and restarts with its epoch bumped - only when some
//            other replica has seen everything it holds, so no value is genuinely lost.
//
// Every write is recorded with its dot and the context it was written with, so tests can
// say exactly which values must survive.
import fc from 'fast-check';
import {
  type Dot,
  type VObject,
  type VersionVector,
  EMPTY_CLOCK,
  contextOf,
  coordinatePut,
  covers,
  descendsObject,
  mergeAll,
  mergeObjects,
} from '../../src/version/index.js';

export type Op =
  | { kind: 'put'; coord: number; readFrom: number[]; tombstone: boolean; writtenAt: number; expiresAt: number }
  | { kind: 'sync'; from: number; to: number }
  | { kind: 'restart'; replica: number };

export interface WriteRecord {
  id: number;
  dot: Dot;
  context: VersionVector;
  tombstone: boolean;
}

export function opArb(replicas: number, opts: { restarts?: boolean } = {}): fc.Arbitrary<Op> {
  const replica = fc.nat(replicas - 1);
  const all = Array.from({ length: replicas }, (_, i) => i);
  const put = fc.record({
    kind: fc.constant('put' as const),
    coord: replica,
    readFrom: fc.subarray(all),
    tombstone: fc.nat(7).map((n) => n === 0),
    writtenAt: fc.nat(30),
    expiresAt: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 60 })),
  });
  const sync = fc.record({ kind: fc.constant('sync' as const), from: replica, to: replica });
  const restart = fc.record({ kind: fc.constant('restart' as const), replica });
  return fc.oneof(
    { weight: 5, arbitrary: put },
    { weight: 5, arbitrary: sync },
    { weight: opts.restarts === false ? 0 : 1, arbitrary: restart },
  );
}

export function historyArb(replicas: number, maxOps: number, opts: { restarts?: boolean } = {}): fc.Arbitrary<Op[]> {
  return fc.array(opArb(replicas, opts), { maxLength: maxOps });
}

export function valueOf(id: number): Uint8Array {
  return new Uint8Array([id >>> 24, (id >>> 16) & 255, (id >>> 8) & 255, id & 255]);
}

export function idOf(value: Uint8Array): number {
  return ((value[0]! << 24) | (value[1]! << 16) | (value[2]! << 8) | value[3]!) >>> 0;
}

export class SimCluster {
  readonly states: (VObject | undefined)[];
  readonly epochs: number[];
  readonly writes: WriteRecord[] = [];
  /** Every object any replica ever held, in order: all from one history, so dots agree. */
  readonly snapshots: VObject[] = [];

  constructor(readonly replicas: number, readonly opts: { lww?: boolean; maxSiblings?: number } = {}) {
    this.states = new Array<VObject | undefined>(replicas).fill(undefined);
    this.epochs = new Array<number>(replicas).fill(0);
  }

  private set(r: number, obj: VObject | undefined): void {
    this.states[r] = obj;
    if (obj !== undefined) this.snapshots.push(obj);
  }

  apply(op: Op): void {
    if (op.kind === 'put') {
      const context = contextOf(mergeAll(op.readFrom.map((r) => this.states[r])));
      this.put(op.coord, context, op.tombstone, op.writtenAt, op.expiresAt);
    } else if (op.kind === 'sync') {
      const from = this.states[op.from];
      const to = this.states[op.to];
      if (from !== undefined) this.set(op.to, to === undefined ? from : mergeObjects(to, from));
    } else {
      const mine = this.states[op.replica];
      const safe =
        mine === undefined ||
        this.states.some((o, j) => j !== op.replica && o !== undefined && descendsObject(o, mine));
      if (safe) {
        this.states[op.replica] = undefined;
        this.epochs[op.replica]!++;
      }
    }
  }

  put(coord: number, context: VersionVector, tombstone: boolean, writtenAt = 0, expiresAt = 0): WriteRecord {
    const id = this.writes.length + 1;
    const actor = { replica: coord, epoch: this.epochs[coord]! };
    const obj = coordinatePut(
      this.states[coord],
      context,
      actor,
      { value: tombstone ? null : valueOf(id), writtenAt, expiresAt },
      { maxSiblings: this.opts.maxSiblings ?? 1_000, lww: this.opts.lww ?? false },
    );
    this.set(coord, obj);
    // The new sibling's dot: the coordinator's entry in the new clock.
    const dot = obj.clock.find((e) => e.replica === actor.replica && e.epoch === actor.epoch)!;
    const rec = { id, dot, context, tombstone };
    this.writes.push(rec);
    return rec;
  }

  /** Every replica's object merged: what all replicas hold once anti-entropy has run. */
  converged(): VObject | undefined {
    return mergeAll(this.states);
  }

  /** Writes no later write's context covers: exactly the values that must survive. */
  unsuperseded(): WriteRecord[] {
    return this.writes.filter((w) => !this.writes.some((o) => covers(o.context, w.dot)));
  }
}

export function run(ops: readonly Op[], replicas: number, opts: { lww?: boolean } = {}): SimCluster {
  const sim = new SimCluster(replicas, opts);
  for (const op of ops) sim.apply(op);
  return sim;
}

export const dotKey = (d: Dot): string => `${d.replica}.${d.epoch}:${d.counter}`;

export { EMPTY_CLOCK };
