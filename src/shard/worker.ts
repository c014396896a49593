// Runs on: a shard worker thread. Entry file of a shard: owns one replica (its data and hint
// stores, each an LSM engine in the shard's directory), serves the coordinator's frames from
// its SharedArrayBuffer rings, and answers control calls (stats, flush, compact, shutdown)
// over comlink.
//
// Each start is a new incarnation: the epoch in `<dir>/EPOCH` is bumped and made durable
// before the first request is served, so this replica's clock entries never reuse a counter
// of an earlier life that may have lost writes (Riak's KV679).
import { parentPort, workerData } from 'node:worker_threads';
import { expose } from 'comlink';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import { ShardChannel } from '../ipc/index.js';
import { FrameReader, FrameType, FrameWriter, decodeRequest, encodeReply, type Reply, type Request } from '../protocol/index.js';
import { openEngine, RealVfs } from '../storage/index.js';
import { readWholeFile, writeFileAtomic } from '../storage/vfs.js';
import type { StorageOptions } from '../config.js';
import { Replica } from './replica.js';
import { RingkvError } from '../errors.js';

export interface ShardWorkerData {
  sab: SharedArrayBuffer;
  /** The shard's directory. */
  dir: string;
  /** The replica's number: its actor id in version vectors. */
  replica: number;
  storage: Partial<StorageOptions>;
  spinMicros: number;
}

/** The control plane a shard answers over comlink. */
export interface ShardControl {
  stats(): unknown;
  flush(): Promise<void>;
  compact(): Promise<void>;
  /** Stops serving, closes the stores (making the WAL durable), then resolves. */
  shutdown(): Promise<void>;
  /** Tests only: throws from the event loop, as a bug in the shard would. */
  crash(): void;
}

const data = workerData as ShardWorkerData;
const vfs = new RealVfs();
vfs.mkdirp(data.dir);

const epoch = nextEpoch(data.dir);
const stores = {
  data: await openEngine({ ...data.storage, dir: `${data.dir}/data` }),
  hints: await openEngine({ ...data.storage, memtableBytes: Math.min(data.storage.memtableBytes ?? 8 << 20, 8 << 20), dir: `${data.dir}/hints` }),
};
const replica = new Replica({ replica: data.replica, epoch }, stores);
const channel = new ShardChannel(data.sab, { spinMicros: data.spinMicros });

const reader = new FrameReader();
const writer = new FrameWriter();
let batch: Request[] = [];
let ids: number[] = [];
let bad: { id: number; reply: Reply }[] = [];

const served = channel.serve({
  onRequest(buf, at, length) {
    try {
      reader.reset(buf, at, length);
      const id = reader.requestId;
      try {
        batch.push(decodeRequest(reader));
        ids.push(id);
      } catch (err) {
        bad.push({ id, reply: { type: FrameType.ERROR, code: (err as RingkvError).code ?? 'ERR_PROTOCOL', message: String((err as Error).message) } });
      }
    } catch {
      // Not even a header: nothing to answer; the coordinator's timeout covers it.
    }
  },
  onBatch() {
    const replies = replica.handleBatch(batch);
    for (let i = 0; i < replies.length; i++) {
      const frame = encodeReply(writer, ids[i]!, replies[i]!);
      channel.reply(frame);
    }
    for (const b of bad) channel.reply(encodeReply(writer, b.id, b.reply));
    batch = [];
    ids = [];
    bad = [];
  },
});

const control: ShardControl = {
  stats: () => ({ epoch, data: stores.data.stats(), hints: stores.hints.stats() }),
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

/** Reads, bumps and durably stores the shard's incarnation number. */
function nextEpoch(dir: string): number {
  const path = `${dir}/EPOCH`;
  const previous = vfs.exists(path) ? Number(new TextDecoder().decode(readWholeFile(vfs, path)).trim()) : 0;
  const next = (Number.isSafeInteger(previous) && previous >= 0 ? previous : 0) + 1;
  writeFileAtomic(vfs, dir, 'EPOCH', new TextEncoder().encode(`${next}\n`));
  return next;
}
