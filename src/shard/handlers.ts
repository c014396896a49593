// Runs on: a shard worker (or, in tests, any one thread that owns the engines). The
// replica's frame handlers as one table keyed by request frame type: what each does is in
// write-handlers.ts (PUT, REPLICATE, REPLICATE_MANY, HINT, HINT_DONE) and range-handlers.ts
// (SCAN, TREE, RANGE, PURGE, DROP); HINTS_FOR is here. GET has no row: replica.ts's stage()
// answers it itself (it may wait for a write staged in the same batch). `answersNow`: a read,
// answered at once; the others' replies wait for the batch's commit.
import { FrameType, type Reply, type Request } from '../protocol/index.js';
import { drop, purge, range, scanKeys, tree } from './range-handlers.js';
import type { ReplicaState } from './replica-state.js';
import { hint, hintDone, put, replicate, replicateMany } from './write-handlers.js';

type RequestOf<T extends Request['type']> = Extract<Request, { type: T }>;

export interface Handler {
  /** Applies one request of the batch being handled; throws what its ERROR reply says. */
  run(r: ReplicaState, req: Request): Reply;
  /** A read: its reply goes out at once, not after the batch's commit. */
  answersNow: boolean;
}

/** One row of the table: `run` takes exactly the request type it is keyed by. */
function row<T extends Request['type']>(answersNow: boolean, run: (r: ReplicaState, req: RequestOf<T>) => Reply): Handler {
  return { run: run as (r: ReplicaState, req: Request) => Reply, answersNow };
}

/** HINTS_FOR: the hints held for a replica (it may stage drops of expired hints, but what it lists does not depend on them). */
function hintsFor(r: ReplicaState, req: RequestOf<typeof FrameType.HINTS_FOR>): Reply {
  return { type: FrameType.HINTS, hints: r.hints.list(req.target, req.max) };
}

/** Every request type but GET (see the header). */
const ROWS: { readonly [T in Exclude<Request['type'], typeof FrameType.GET>]: Handler } = {
  [FrameType.PUT]: row<typeof FrameType.PUT>(false, put),
  [FrameType.REPLICATE]: row<typeof FrameType.REPLICATE>(false, replicate),
  [FrameType.REPLICATE_MANY]: row<typeof FrameType.REPLICATE_MANY>(false, replicateMany),
  [FrameType.HINT]: row<typeof FrameType.HINT>(false, hint),
  [FrameType.HINT_DONE]: row<typeof FrameType.HINT_DONE>(false, hintDone),
  [FrameType.HINTS_FOR]: row<typeof FrameType.HINTS_FOR>(true, hintsFor),
  [FrameType.SCAN]: row<typeof FrameType.SCAN>(true, scanKeys),
  [FrameType.TREE]: row<typeof FrameType.TREE>(true, tree),
  [FrameType.RANGE]: row<typeof FrameType.RANGE>(true, range),
  [FrameType.PURGE]: row<typeof FrameType.PURGE>(false, purge),
  [FrameType.DROP]: row<typeof FrameType.DROP>(false, drop),
};

/** The handlers indexed by frame type (an array: one load per request, no hashing). */
export const HANDLERS: readonly (Handler | undefined)[] = (() => {
  const table: (Handler | undefined)[] = [];
  for (const [type, h] of Object.entries(ROWS)) table[Number(type)] = h;
  return table;
})();
