// Runs on: main thread. `<node dir>/TRANSFERS.json`: the ranges this node still has to stream
// and how far each got, so a crash resumes a transfer where it stopped instead of starting it
// over or forgetting it. Rewritten whole (temp file, fsync, rename, fsync of the directory)
// after every page whose objects every target acknowledged, and whenever tasks are added or
// dropped; a reader never sees a torn file.
//
// Format (JSON, one object; fields are only ever added):
//
//   { "version": 1,
//     "tasks": [ { "partition": 17,          partition of the ring
//                  "source": "n1/s0",         this node's shard that sends
//                  "target": "n4/s0",         the new replica
//                  "epoch": 6,                epoch of the ring that made target a replica
//                  "cursor": "1234567890" },  next token to send (decimal, < 2^64): every
//                ... ] }                      object below it reached the target
import { ErrorCode, RingkvError } from '../../errors.js';
import { TOKEN_END } from '../../hash/index.js';
import { readWholeFile, writeFileAtomic, type Vfs } from '../../storage/index.js';
import type { TransferTask } from './transfer-plan.js';

/** The file's name in the node's directory. On disk: never changes. */
export const TRANSFERS_FILE = 'TRANSFERS.json';
/** The format's version. On disk: bumped only with a change old readers cannot read. */
const VERSION = 1;

/** A transfer and its progress. */
export interface TransferProgress extends TransferTask {
  /** The next token to send (every object below it reached the target). */
  cursor: bigint;
}

interface FileTask {
  partition: number;
  source: string;
  target: string;
  epoch: number;
  cursor: string;
}

/** The tasks kept in `dir` (none if there is no file). Throws ERR_CORRUPTION for a bad file. */
export function loadTransfers(vfs: Vfs, dir: string): TransferProgress[] {
  const path = `${dir}/${TRANSFERS_FILE}`;
  if (!vfs.exists(path)) return [];
  const bad = (why: string): never => {
    throw new RingkvError(
      ErrorCode.CORRUPTION,
      `${path} is not a transfers file (${why}): delete it to forget the pending transfers (anti-entropy fills the new replicas instead)`,
    );
  };
  let raw: unknown;
  try {
    raw = JSON.parse(new TextDecoder().decode(readWholeFile(vfs, path)));
  } catch (err) {
    return bad((err as Error).message);
  }
  const file = raw as { version?: unknown; tasks?: unknown };
  if (file === null || typeof file !== 'object' || file.version !== VERSION || !Array.isArray(file.tasks)) return bad(`needs version ${VERSION} and tasks`);
  return file.tasks.map((t: unknown, i: number): TransferProgress => {
    const x = t as Partial<FileTask> | null;
    if (x === null || typeof x !== 'object') return bad(`task ${i} is not an object`);
    if (!Number.isSafeInteger(x.partition) || x.partition! < 0) return bad(`task ${i}: partition`);
    if (!Number.isSafeInteger(x.epoch) || x.epoch! < 1) return bad(`task ${i}: epoch`);
    if (typeof x.source !== 'string' || typeof x.target !== 'string') return bad(`task ${i}: source and target`);
    if (typeof x.cursor !== 'string' || !/^\d{1,20}$/.test(x.cursor) || BigInt(x.cursor) > TOKEN_END) return bad(`task ${i}: cursor`);
    return { partition: x.partition!, source: x.source, target: x.target, epoch: x.epoch!, cursor: BigInt(x.cursor) };
  });
}

/** Replaces the file with `tasks` (durably, before it returns). */
export function saveTransfers(vfs: Vfs, dir: string, tasks: readonly TransferProgress[]): void {
  const out: FileTask[] = tasks.map((t) => ({ partition: t.partition, source: t.source, target: t.target, epoch: t.epoch, cursor: t.cursor.toString() }));
  writeFileAtomic(vfs, dir, TRANSFERS_FILE, new TextEncoder().encode(JSON.stringify({ version: VERSION, tasks: out }) + '\n'));
}
