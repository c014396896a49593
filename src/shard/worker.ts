// Runs on: a shard worker thread. Entry file of a shard: owns one replica (its data and hint
// stores, each an LSM engine in the shard's directory), serves the coordinator's frames from
// its SharedArrayBuffer rings, and answers control calls (stats, flush, compact, shutdown)
// over comlink.
//
// Frames of any size reach it whole: the channel joins a big request's fragments before
// onRequest sees it and fragments a big reply. Big writes are committed before the staged
// bytes make one engine write too big; a reply too big for a frame becomes an ERROR reply
// (a HINTS page is cut to fit first), never a crash.
//
// Each start is a new incarnation: the epoch in `<dir>/EPOCH` is bumped and made durable
// before the first request is served, so this replica's clock entries never reuse a counter
// of an earlier life that may have lost writes (Riak's KV679). So is the repair mark
// (repair-mark.ts) when its WAL recovery skipped damaged records.
import { parentPort, workerData } from 'node:worker_threads';
import { expose } from 'comlink';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import { ShardChannel } from '../ipc/index.js';
import { FrameReader, FrameType, FrameWriter, MAX_FRAME_BYTES, decodeRequest, encodeReply, encodeReplyInto, replyFrameSize, type HintEntry, type Reply, type Request } from '../protocol/index.js';
import { openEngine, RealVfs, readWholeFile, writeFileAtomic, defaultStorageOptions, type EngineStats, type LsmEngine, type StorageOptions } from '../storage/index.js';
import { Replica } from './replica.js';
import { addRepairReasons, clearRepairMark, markAfterRecovery, tableReason } from './repair-mark.js';
import type { HintLimits } from './hint-store.js';
import { ErrorCode, RingkvError } from '../errors.js';
import { Histogram } from '../histogram.js';
import { sampleObjects } from './object-sample.js';

export interface ShardWorkerData {
  sab: SharedArrayBuffer;
  /** The shard's directory. */
  dir: string;
  /** The replica's number: its actor id in version vectors. */
  replica: number;
  storage: Partial<StorageOptions>;
  spinMicros: number;
  /** Bounds of the shard's hint store (default defaultHintLimits()). */
  hints?: Partial<HintLimits>;
}

/** Why a shard's engines did not open: posted as `{ startError }` before the worker exits. */
export interface ShardStartError {
  code: string;
  message: string;
  file?: string;
}

/** The control plane a shard answers over comlink. */
export interface ShardControl {
  stats(): unknown;
  /** Time busy and time elapsed since the shard started serving (ShardLoad in src/coordinator). */
  load(): { busyMs: number; elapsedMs: number };
  flush(): Promise<void>;
  compact(): Promise<void>;
  /** Stops serving, closes the stores (making the WAL durable), then resolves. */
  shutdown(): Promise<void>;
  /** Tests only: throws from the event loop, as a bug in the shard would. */
  crash(): void;
  /**
   * Anti-entropy restored every range of a shard marked for repair: drops its NEEDS_REPAIR
   * file and answers reads as complete again. True when it was marked.
   */
  repaired(): boolean;
}

const data = workerData as ShardWorkerData;
// Keep the thread alive while the top-level awaits below run: a pending WebAssembly
// compile (hash-wasm) does not hold the event loop, and a worker whose loop empties exits
// ("shard exited while starting", about 1 start in 6 under load). Cleared once serving.
const startup = setInterval(() => {}, 1 << 30);
/** Every fsync of this shard's files on its thread (WAL, flushed tables, manifest, directories), for its stats. */
const fsyncs = new Histogram();
const vfs = new RealVfs(fsyncs);
vfs.mkdirp(data.dir);

const epoch = nextEpoch(data.dir);
const stores = await openStores();
const replica = new Replica({ replica: data.replica, epoch }, stores, { hints: data.hints ?? {}, renew: () => nextEpoch(data.dir) });
/** The repair mark (repair-mark.ts), durable before the first request is served. */
let mark = markAfterRecovery(vfs, data.dir, skippedRecords(), new Date());
replica.needsRepair = mark !== undefined;
// A data table whose block failed its checksum, quarantined (tableDamage 'quarantine': the
// store asks for it when N > 1): marked before it leaves service (a throw here keeps it in
// service), so reads answer OBJECT_PARTIAL until anti-entropy restored its records. One kept
// in service ('keep', N = 1) is only reported (stats damagedTables): its keys fail loudly.
// A hint table's loss needs no mark: this replica's data is whole, and the writes those
// hints carried reach their replicas by anti-entropy.
stores.data.onTableDamage((d) => {
  if (d.quarantinedAs === undefined) return;
  mark = addRepairReasons(vfs, data.dir, [tableReason(d)], new Date());
  replica.needsRepair = true;
});
const channel = new ShardChannel(data.sab, { spinMicros: data.spinMicros, maxFrameBytes: MAX_FRAME_BYTES });

/**
 * Staged writes are committed (one engine write) every this many, not only at the end of
 * what was drained: their replies then leave while the rest of a long batch is handled, so
 * the coordinator works in parallel instead of waiting for the whole batch (docs/notes.md:
 * publish every ~64 records). With `batch` sync each commit is an fsync, so it groups more.
 */
const COMMIT_EVERY = (data.storage.syncMode ?? defaultStorageOptions().syncMode) === 'batch' ? 512 : 64;
/**
 * Staged writes are also committed once their keys and objects reach this many bytes: one
 * engine write must stay under the WAL's 64 MiB record (MAX_WAL_PAYLOAD), and each object
 * is at most 16 MiB, so a commit holds at most 32 MiB + one object.
 */
const COMMIT_BYTES = 32 * 1024 * 1024;
/** A HINTS reply is cut to about this many bytes (at least one hint): far below the 64 MiB frame limit. */
const HINTS_REPLY_BYTES = 32 * 1024 * 1024;

const reader = new FrameReader();
const writer = new FrameWriter();
/** Request ids of the writes staged since the last commit, in order. */
const stagedIds: number[] = [];

// Reads are answered as they are drained (written straight into the replies ring, which
// publishes every 64), writes once committed.
const served = channel.serve({
  onRequest(buf, at, length) {
    let id: number;
    try {
      reader.reset(buf, at, length);
      id = reader.requestId;
    } catch {
      return; // not even a header: nothing to answer; the coordinator's timeout covers it
    }
    let req: Request;
    try {
      req = decodeRequest(reader);
    } catch (err) {
      sendReply(id, { type: FrameType.ERROR, code: (err as RingkvError).code ?? 'ERR_PROTOCOL', message: String((err as Error).message) });
      return;
    }
    const reply = replica.stage(req);
    if (reply !== undefined) {
      sendReply(id, reply);
      return;
    }
    stagedIds.push(id);
    if (stagedIds.length >= COMMIT_EVERY || replica.stagedBytes >= COMMIT_BYTES) commit();
  },
  onBatch: commit,
});

/** Writes the staged requests to the engines and answers them. */
function commit(): void {
  if (stagedIds.length === 0) return;
  const replies = replica.commit();
  for (let i = 0; i < replies.length; i++) sendReply(stagedIds[i]!, replies[i]!);
  stagedIds.length = 0;
}

/**
 * Encodes a reply straight into the replies ring when it fits a record (OBJECT, ACK), else
 * through the writer (the channel fragments a big one). A reply that cannot be encoded (over
 * the frame limit) is answered with an ERROR instead.
 */
function sendReply(id: number, reply: Reply): void {
  const size = replyFrameSize(reply);
  if (size > 0 && size <= channel.replies.maxRecordBytes) {
    const r = channel.reserveReply(size);
    encodeReplyInto(r.buf, r.at, id, reply, size);
    channel.commitReply(size);
    return;
  }
  if (reply.type === FrameType.HINTS) reply = { type: FrameType.HINTS, hints: firstHints(reply.hints, HINTS_REPLY_BYTES) };
  let frame: Uint8Array;
  try {
    frame = encodeReply(writer, id, reply);
  } catch (err) {
    const message = `the reply cannot be sent: ${(err as Error).message}`;
    frame = encodeReply(writer, id, { type: FrameType.ERROR, code: (err as RingkvError).code ?? ErrorCode.TOO_LARGE, message });
  }
  channel.reply(frame);
}

/** The longest prefix of `hints` of at most about `budget` bytes, and at least one hint. */
function firstHints(hints: HintEntry[], budget: number): HintEntry[] {
  let bytes = 0;
  for (let i = 0; i < hints.length; i++) {
    bytes += hints[i]!.key.length + hints[i]!.object.length + 32;
    if (bytes > budget && i > 0) return hints.slice(0, i);
  }
  return hints;
}

/** Busy = elapsed less the time spent waiting for requests or reply room (ShardChannel.waitedMs). */
function load(): { busyMs: number; elapsedMs: number } {
  const elapsedMs = performance.now() - channel.startedAt;
  return { busyMs: Math.max(0, elapsedMs - channel.waitedMs), elapsedMs };
}

const control: ShardControl = {
  load,
  stats: () => {
    // The sample first: its scan may meet a damaged table and quarantine it (marking the
    // shard), which the rest of this answer must then say.
    const objects = sampleObjects(stores.data, stores.data.stats().approxEntries);
    const dataStats = stores.data.stats();
    return {
      epoch: replica.actor.epoch, load: load(), data: markedStats(dataStats, true), hints: markedStats(stores.hints.stats(), false), hintStore: replica.hintStats(),
      tombstonesPurged: replica.tombstonesPurged, needsRepair: mark !== undefined, ...(mark === undefined ? {} : { repairMark: mark }),
      fsync: fsyncs.summary(), objects,
    };
  },
  repaired: () => {
    if (mark === undefined) return false;
    clearRepairMark(vfs, data.dir);
    mark = undefined;
    replica.needsRepair = false;
    return true;
  },
  flush: async () => {
    await stores.data.flush();
    await stores.hints.flush();
  },
  compact: async () => {
    await stores.data.compact();
    await stores.hints.compact();
  },
  shutdown: async () => {
    channel.close();
    await served.catch(() => {});
    await stores.data.close();
    await stores.hints.close();
  },
  crash: () => {
    setImmediate(() => {
      throw new Error('injected shard crash');
    });
  },
};
expose(control, nodeEndpoint(parentPort!));
parentPort!.postMessage({ ready: true, epoch });
clearInterval(startup);

/**
 * Opens the shard's data and hint engines. A failure (ERR_CORRUPTION from recovery, ERR_IO,
 * ...) is posted to the coordinator as `{ startError }` with its code and message before the
 * worker exits, so the store's open rejects with it instead of "shard exited while starting".
 */
async function openStores(): Promise<{ data: LsmEngine; hints: LsmEngine }> {
  let dataEngine: LsmEngine | undefined;
  try {
    dataEngine = await openEngine({ ...data.storage, dir: `${data.dir}/data`, vfs });
    const hints = await openEngine({ ...data.storage, memtableBytes: Math.min(data.storage.memtableBytes ?? 8 << 20, 8 << 20), dir: `${data.dir}/hints`, vfs });
    return { data: dataEngine, hints };
  } catch (err) {
    await dataEngine?.close().catch(() => {});
    const e = err as Partial<RingkvError>;
    const startError: ShardStartError = { code: typeof e.code === 'string' ? e.code : ErrorCode.IO, message: String(e.message ?? err) };
    if (typeof e.file === 'string') startError.file = e.file;
    parentPort!.postMessage({ startError });
    clearInterval(startup);
    throw err;
  }
}

/** What this open's WAL recovery skipped (damage in the middle, salvaged), one line each, by engine. */
function skippedRecords(): string[] {
  const lines: string[] = [];
  for (const [name, engine] of [['data', stores.data], ['hints', stores.hints]] as const) {
    const r = engine.stats().recovery;
    if (r.needsRepair) lines.push(...r.damage.filter((l) => !l.includes(': torn tail: ')).map((l) => `${name}: ${l}`));
  }
  return lines;
}

/**
 * An engine's stats with `recovery.needsRepair` the shard's mark (which outlives the open
 * that skipped records and ends with the repair), as /readyz, /metrics and `ringkv status` read it.
 */
function markedStats(s: EngineStats, isData: boolean): EngineStats {
  const needsRepair = mark !== undefined && (isData || s.recovery.needsRepair);
  return needsRepair === s.recovery.needsRepair ? s : { ...s, recovery: { ...s.recovery, needsRepair } };
}

/** Reads, bumps and durably stores the shard's incarnation number. */
function nextEpoch(dir: string): number {
  const path = `${dir}/EPOCH`;
  const previous = vfs.exists(path) ? Number(new TextDecoder().decode(readWholeFile(vfs, path)).trim()) : 0;
  const next = (Number.isSafeInteger(previous) && previous >= 0 ? previous : 0) + 1;
  writeFileAtomic(vfs, dir, 'EPOCH', new TextEncoder().encode(`${next}\n`));
  return next;
}
