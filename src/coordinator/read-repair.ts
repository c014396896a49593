// Runs on: the main thread. Read repair: once every replica a get asked has answered (or
// failed), each primary that answered with less than the merge of the answers, and each
// whose copy failed its checksum, is sent the merge (a REPLICATE nobody waits for).
import { FrameType, type Request } from '../protocol/index.js';
import { descendsObject, encodeObject, mergeAll, type VObject } from '../version/index.js';
import { IGNORE, type OpHost } from './op.js';

/** What read repair needs of a finished get (get.ts's GetOp). */
export interface AnsweredRead {
  readonly hi: number;
  readonly lo: number;
  readonly key: Uint8Array;
  readonly timeoutMs: number;
  /** Who answered, and with what (undefined: nothing held), in the same order. */
  readonly replicas: readonly string[];
  readonly objects: readonly (VObject | undefined)[];
  /** Who answered ERR_CORRUPTION. */
  readonly corrupt: readonly string[];
  isFallback(id: string): boolean;
}

/** After all replies: every replica that answered with less than the merge gets the merge. */
export function readRepair(c: OpHost, read: AnsweredRead): void {
  const merged = mergeAll(read.objects);
  if (merged === undefined) return;
  let req: Request | undefined;
  // A replica whose copy is corrupt gets the merge of those that answered.
  for (const id of read.corrupt) {
    req ??= { type: FrameType.REPLICATE, hi: read.hi, lo: read.lo, key: read.key, object: encodeObject(merged) };
    c.counters.readRepairs++;
    c.dispatch(id, req, read.timeoutMs, IGNORE, 0);
  }
  for (let i = 0; i < read.objects.length; i++) {
    const obj = read.objects[i];
    if (obj !== undefined && descendsObject(obj, merged)) continue;
    // Only primaries are repaired: a stand-in keeps no copy it was not written (the
    // client's write-back reaches the down primaries through hints, as any write).
    if (read.isFallback(read.replicas[i]!)) continue;
    req ??= { type: FrameType.REPLICATE, hi: read.hi, lo: read.lo, key: read.key, object: encodeObject(merged) };
    c.counters.readRepairs++;
    c.dispatch(read.replicas[i]!, req, read.timeoutMs, IGNORE, 0);
  }
}
