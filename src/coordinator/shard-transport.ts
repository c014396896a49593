// Runs on: the main thread. The Transport to this host's shards: one worker thread each,
// reached over a pair of SharedArrayBuffer rings (src/ipc) carrying frames (src/protocol),
// with a comlink control plane (stats, flush, compact, shutdown).
//
// A shard that dies (terminated, or an uncaught exception) is noticed through the worker's
// 'exit' event: it is marked down at once, every request in flight to it is rejected with
// ERR_UNAVAILABLE, and it is restarted after `restartDelayMs` on a fresh channel; it
// recovers from its files (its WAL) and is marked up when it says it is ready, which starts
// the hinted handoff towards it. Every request also has its own timeout, and control calls
// time out too (a call to a dead worker would otherwise never settle).
//
// Frames of any size up to the protocol's MAX_FRAME_BYTES cross the queues: one that fits a
// queue record is encoded in place into the queue; a bigger one is encoded into a buffer of
// its own and streamed as fragments (src/ipc/fragment.ts). A shard that dies in the middle
// of a big frame leaves only a partial frame on a channel that is thrown away: the
// restarted shard gets fresh rings and never sees it. A put's value is limited to
// MAX_PUT_VALUE_BYTES, checked here before anything is encoded.
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { wrap, releaseProxy, type Remote } from 'comlink';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import { ErrorCode, RingkvError } from '../errors.js';
import { CoordinatorChannel, createChannelBuffer } from '../ipc/index.js';
import { FrameReader, FrameType, FrameWriter, MAX_FRAME_BYTES, decodeReply, encodeRequest, encodeRequestInto, requestFrameSize, type ObjectReply, type Reply, type Request } from '../protocol/index.js';
import type { StorageOptions } from '../storage/index.js';
import type { ShardControl, ShardStartError, ShardWorkerData } from '../shard/index.js';
import { type InFlight, PromiseSink, RequestTable } from './request-table.js';
import { timeoutError, unavailableError, type ReplySink, type Transport } from './transport.js';
import { type LinkStats, ShardLink } from './shard-link.js';

export type { LinkStats } from './shard-link.js';

export interface ShardTransportOptions {
  /** Root directory; shard i lives in `<dir>/shard-<i>`. */
  dir: string;
  shards: number;
  storage: Partial<StorageOptions>;
  /** How long a shard spins before sleeping (µs). */
  spinMicros: number;
  /** Wait this long before restarting a dead shard. */
  restartDelayMs: number;
  /** Limit for control calls and for a shard's start. */
  controlTimeoutMs: number;
  /** Each shard's actor id in version clocks (u32, unique in the cluster); default its index. */
  actorIds?: readonly number[];
}

/**
 * Room a stored object needs beside its value: its clock (a few bytes per replica
 * incarnation that wrote the key), each sibling's dot, flags and times, and a hint's 8-byte
 * header. 64 KiB holds thousands of clock entries.
 */
export const OBJECT_HEADROOM_BYTES = 64 * 1024;
/**
 * The largest value a put accepts: 16 MiB - 64 KiB = 16,711,680 bytes. A shard stores a
 * key's whole versioned object as one record of at most MAX_VALUE_BYTES (16 MiB), so the
 * value gets that less OBJECT_HEADROOM_BYTES. Siblings count together: a put whose value
 * fits but whose object with the key's concurrent values would not fails with
 * ERR_TOO_LARGE from the replica.
 */
export const MAX_PUT_VALUE_BYTES = 16 * 1024 * 1024 - OBJECT_HEADROOM_BYTES; // storage's MAX_VALUE_BYTES (a test checks they agree)


/**
 * How busy one shard's worker has been since it (last) started: time not spent waiting for
 * requests or reply room. Two readings of one shard with the same `restarts` give its busy
 * fraction between them: Δbusy / Δelapsed.
 */
export interface ShardLoad {
  readonly id: string;
  readonly up: boolean;
  readonly restarts: number;
  readonly busyMs: number;
  readonly elapsedMs: number;
}

export class ShardTransport implements Transport {
  private readonly links: ShardLink[];
  private readonly byId = new Map<string, ShardLink>();
  private readonly upListeners: ((replica: string) => void)[] = [];
  private readonly writer = new FrameWriter();
  private readonly reader = new FrameReader();
  /** Every OBJECT reply is decoded into this one object: sinks use a reply during onReply only (transport.ts). */
  private readonly objectReply: ObjectReply = { type: FrameType.OBJECT, object: new Uint8Array(0) };
  private closing = false;
  /** Requests in flight (each link's by id), their deadlines and their settling. */
  private readonly table = new RequestTable();

  /** Each shard's actor id (grows with addShard). */
  private readonly actorIds: number[];
  /** Cores of this machine (the reply loops poll only while shards + main thread fit them). */
  private readonly cores = availableParallelism();

  private constructor(private readonly o: ShardTransportOptions) {
    this.links = Array.from({ length: o.shards }, (_, i) => new ShardLink(`s${i}`, i));
    for (const l of this.links) this.byId.set(l.id, l);
    this.actorIds = Array.from({ length: o.shards }, (_, i) => o.actorIds?.[i] ?? i);
  }

  /** Shards running now. */
  get count(): number {
    return this.links.length;
  }

  /**
   * Starts one more shard (the next index: `<dir>/shard-<count>`, recovered from its files if
   * it ran before) with `actorId` (default its index); resolves with its id once it serves.
   */
  async addShard(actorId?: number): Promise<string> {
    if (this.closing) throw new RingkvError(ErrorCode.CLOSED, 'the shard transport is closed');
    const index = this.links.length;
    const link = new ShardLink(`s${index}`, index);
    this.actorIds[index] = actorId ?? index;
    this.links.push(link);
    this.byId.set(link.id, link);
    try {
      await this.startShard(link);
    } catch (err) {
      link.retired = true; // no restart of a shard that never started
      this.links.pop();
      this.byId.delete(link.id);
      throw err;
    }
    return link.id;
  }

  /** Stops the last shard cleanly (its files stay) and forgets it: requests to it fail as to a down shard. */
  async removeLastShard(): Promise<void> {
    const link = this.links[this.links.length - 1];
    if (link === undefined || this.links.length === 1) throw new RingkvError(ErrorCode.INVALID_ARGUMENT, 'a node keeps at least one shard');
    link.retired = true;
    this.links.pop();
    this.byId.delete(link.id);
    await this.stopLink(link, 'the shard was retired');
  }

  /** Starts every shard and resolves once all are serving (each recovered from its files). */
  static async start(o: ShardTransportOptions): Promise<ShardTransport> {
    const t = new ShardTransport(o);
    try {
      await Promise.all(t.links.map((l) => t.startShard(l)));
    } catch (err) {
      await t.close();
      throw err;
    }
    return t;
  }

  get ids(): string[] {
    return this.links.map((l) => l.id);
  }

  request(replica: string, req: Request, timeoutMs: number): Promise<Reply> {
    return new Promise<Reply>((resolve, reject) => this.send(replica, req, timeoutMs, new PromiseSink(resolve, reject), 0));
  }

  /**
   * request() without a promise or a timer per request: the frame is encoded straight into
   * the shard's ring, the reply goes to `sink`, and timeouts come from one deadline queue
   * per distinct timeout value and one timer for the transport.
   */
  send(replica: string, req: Request, timeoutMs: number, sink: ReplySink, tag: number): void {
    const link = this.byId.get(replica);
    const channel = link?.channel;
    if (link === undefined || !link.up || channel === undefined) {
      sink.onError(unavailableError(replica, link === undefined ? 'no such shard' : 'it is down'), tag);
      return;
    }
    const id = link.takeId();
    try {
      if (req.type === FrameType.PUT && req.value !== null && req.value.length > MAX_PUT_VALUE_BYTES) throw valueTooLarge(req.value.length);
      const size = requestFrameSize(req);
      const r = size > 0 && size <= channel.maxRecordFrameBytes ? channel.reserve(size) : undefined;
      if (r !== undefined) {
        encodeRequestInto(r.buf, r.at, id, req, size);
        channel.commit(size);
      } else if (size > channel.maxRecordFrameBytes) {
        // A big frame: encoded once into a buffer the channel then owns and streams.
        if (size > channel.maxFrameBytes) throw frameTooLarge(size, channel.maxFrameBytes);
        const frame = new Uint8Array(size);
        encodeRequestInto(frame, 0, id, req, size);
        channel.sendOwned(frame);
      } else {
        const frame = encodeRequest(this.writer, id, req);
        channel.send(frame);
      }
    } catch (err) {
      sink.onError(err as Error, tag);
      return;
    }
    this.table.track(link, id, link.id, timeoutMs, sink, tag);
  }

  isDown(replica: string): boolean {
    return !(this.byId.get(replica)?.up ?? false);
  }

  onUp(listener: (replica: string) => void): void {
    this.upListeners.push(listener);
  }

  /** A shard whose worker exited restarts by itself (after restartDelayMs): a request may wait for it. */
  whenRestarted(replica: string, timeoutMs: number): Promise<boolean> | undefined {
    const link = this.byId.get(replica);
    if (link === undefined || link.up || link.retired || this.closing) return undefined;
    return new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => {
        const i = link.upWaiters.indexOf(settle);
        if (i >= 0) link.upWaiters.splice(i, 1);
        resolve(false);
      }, timeoutMs);
      const settle = (up: boolean): void => {
        clearTimeout(timer);
        resolve(up);
      };
      link.upWaiters.push(settle);
    });
  }

  /** The shards' own stats (storage engines), each call bounded by the control timeout. */
  async shardStats(): Promise<unknown[]> {
    return Promise.all(this.links.map(async (l) => {
      // latency: this side's send-to-reply histogram of the shard's requests (request-table.ts), kept across restarts.
      const latency = l.latency.summary();
      if (!l.up || !l.control) return { id: l.id, up: false, restarts: l.restarts, latency };
      try {
        return { id: l.id, up: true, restarts: l.restarts, latency, ...(await this.call(l, (c) => c.stats())) as object };
      } catch (err) {
        return { id: l.id, up: l.up, restarts: l.restarts, latency, error: (err as Error).message };
      }
    }));
  }

  /** Each running shard's busy time (a small control call each, bounded by the control timeout); a shard down or not answering reads as not up. */
  async shardLoads(): Promise<ShardLoad[]> {
    return Promise.all(this.links.map(async (l): Promise<ShardLoad> => {
      const restarts = l.restarts;
      if (l.up && l.control) {
        try {
          const { busyMs, elapsedMs } = await this.call(l, (c) => c.load());
          if (l.restarts === restarts) return { id: l.id, up: true, restarts, busyMs, elapsedMs };
        } catch {
          // counted as down below
        }
      }
      return { id: l.id, up: false, restarts: l.restarts, busyMs: 0, elapsedMs: 0 };
    }));
  }

  async flush(): Promise<void> {
    await Promise.all(this.links.filter((l) => l.up).map((l) => this.call(l, (c) => c.flush())));
  }

  async compact(): Promise<void> {
    await Promise.all(this.links.filter((l) => l.up).map((l) => this.call(l, (c) => c.compact())));
  }

  /** Tells a shard marked for repair that anti-entropy restored its ranges (ShardControl.repaired). False: it was not marked. */
  async repaired(replica: string): Promise<boolean> {
    const l = this.byId.get(replica);
    if (l === undefined || !l.up || !l.control) return false;
    return this.call(l, (c) => c.repaired());
  }

  /** Tests and operators: kill a shard's worker (it restarts). `how`: terminate, or an uncaught throw inside it. */
  async kill(replica: string, how: 'terminate' | 'throw' = 'terminate'): Promise<void> {
    const link = this.byId.get(replica);
    if (!link?.worker) return;
    if (how === 'terminate') await link.worker.terminate();
    else if (link.control) void link.control.crash();
  }

  /** Resolves when `replica` is up (after a restart), or rejects after `timeoutMs`. */
  async waitUp(replica: string, timeoutMs: number): Promise<void> {
    const until = Date.now() + timeoutMs;
    while (this.isDown(replica)) {
      if (Date.now() > until) throw timeoutError(replica, timeoutMs);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  /** Shuts every shard down cleanly (its stores closed, WAL durable), then ends its worker. */
  async close(): Promise<void> {
    this.closing = true;
    for (const l of this.links) for (const w of l.upWaiters.splice(0)) w(false);
    await Promise.all(this.links.map((l) => this.stopLink(l, 'the store is closing')));
    this.table.close();
  }

  /** Shuts one shard down cleanly (stores closed, WAL durable), then ends its worker. */
  private async stopLink(l: ShardLink, why: string): Promise<void> {
    const worker = l.worker;
    if (l.up && l.control) {
      try {
        await this.call(l, (c) => c.shutdown());
      } catch {
        // A shard that does not shut down in time is terminated: its WAL recovers it.
      }
    }
    l.up = false;
    this.table.failAll(l, unavailableError(l.id, why));
    await l.channel?.close();
    await worker?.terminate(); // its 'exit' handler releases the control proxy
  }

  /** Tests and operators: a shard link's big-frame traffic and requests in flight. */
  linkStats(replica: string): LinkStats | undefined {
    const link = this.byId.get(replica);
    if (link === undefined) return undefined;
    const c = link.channel;
    return {
      up: link.up,
      restarts: link.restarts,
      inFlight: link.pending.size,
      bigRequestsWritten: c?.bigFramesWritten ?? 0,
      requestFragmentsWritten: c?.fragmentsWritten ?? 0,
      bigRequestBytesQueued: c?.bigBytesQueued ?? 0,
      partialReplyBytes: c?.partialReplyBytes ?? 0,
    };
  }

  private startShard(link: ShardLink): Promise<void> {
    const sab = createChannelBuffer();
    const workerData: ShardWorkerData = {
      sab,
      dir: `${this.o.dir}/shard-${link.index}`,
      replica: this.actorIds[link.index] ?? link.index,
      storage: this.o.storage,
      spinMicros: this.o.spinMicros,
    };
    const worker = new Worker(new URL('../shard/worker.js', import.meta.url), { workerData });
    // The reply loop polls instead of parking while this link has requests in flight, but
    // only while every shard and the main thread have a core each: polling then costs no
    // shard any CPU (more shards than cores: it would take theirs).
    const expectsReplies = (): boolean => link.pending.size > 0 && this.links.length < this.cores;
    const channel = new CoordinatorChannel(sab, { maxFrameBytes: MAX_FRAME_BYTES, expectsReplies });
    link.worker = worker;
    link.channel = channel;
    const control = wrap<ShardControl>(nodeEndpoint(worker));
    link.control = control;
    void channel.onReplies((buf, at, length) => this.onReply(link, buf, at, length)).catch(() => {});

    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new RingkvError(ErrorCode.TIMEOUT, `shard ${link.id} did not start within ${this.o.controlTimeoutMs} ms`)), this.o.controlTimeoutMs);
      let startError: RingkvError | undefined;
      worker.on('message', (m: unknown) => {
        const failed = typeof m === 'object' && m !== null ? (m as { startError?: ShardStartError }).startError : undefined;
        if (failed !== undefined) {
          // The engines did not open (corruption, I/O): this, not the exit after it, is the cause.
          startError = new RingkvError(failed.code as ErrorCode, `shard ${link.id}: ${failed.message}`, failed.file === undefined ? {} : { file: failed.file });
          return;
        }
        if (typeof m === 'object' && m !== null && (m as { ready?: boolean }).ready) {
          clearTimeout(timer);
          link.up = true;
          resolve();
          if (link.restarts > 0) for (const l of this.upListeners) l(link.id);
          const waiters = link.upWaiters;
          link.upWaiters = [];
          for (const w of waiters) w(true);
        }
      });
      worker.on('error', () => {
        // 'exit' follows; handled there.
      });
      worker.on('exit', () => {
        clearTimeout(timer);
        const wasStarting = !link.up;
        link.up = false;
        this.table.failAll(link, unavailableError(link.id, 'its worker exited'));
        for (const fail of link.controlCalls) fail(unavailableError(link.id, 'its worker exited'));
        link.controlCalls.clear();
        control[releaseProxy]();
        if (link.control === control) link.control = undefined;
        void channel.close();
        if (link.worker === worker) {
          link.worker = undefined;
          link.channel = undefined;
        }
        if (wasStarting && link.restarts === 0) reject(startError ?? new RingkvError(ErrorCode.UNAVAILABLE, `shard ${link.id} exited while starting`));
        if (!this.closing && !link.retired) {
          link.restarts++;
          setTimeout(() => {
            if (!this.closing && !link.retired) void this.startShard(link).catch(() => {});
          }, this.o.restartDelayMs).unref();
        }
      });
    });
  }

  private onReply(link: ShardLink, buf: Uint8Array, at: number, length: number): void {
    const reader = this.reader;
    let reply: Reply;
    let p: InFlight | undefined;
    try {
      reader.reset(buf, at, length);
      p = link.pending.get(reader.requestId);
      if (p === undefined) return; // timed out already
      reply = decodeReply(reader, this.objectReply);
    } catch {
      return; // a reply that does not parse: its request times out
    }
    this.table.reply(p, reply);
  }

  private async call<T>(link: ShardLink, f: (c: Remote<ShardControl>) => Promise<T>): Promise<T> {
    const control = link.control;
    if (!control) throw unavailableError(link.id, 'it is down');
    let timer: NodeJS.Timeout | undefined;
    let fail: (err: Error) => void = () => {};
    const timeout = new Promise<never>((_, reject) => {
      fail = reject;
      timer = setTimeout(() => reject(timeoutError(link.id, this.o.controlTimeoutMs)), this.o.controlTimeoutMs);
    });
    link.controlCalls.add(fail);
    try {
      const result = f(control); // posts the message first; then wake the shard to read it
      link.channel?.kick();
      return await Promise.race([result, timeout]);
    } finally {
      clearTimeout(timer);
      link.controlCalls.delete(fail);
    }
  }
}

function valueTooLarge(length: number): RingkvError {
  return new RingkvError(ErrorCode.TOO_LARGE, `a value of ${length} bytes exceeds the limit of ${MAX_PUT_VALUE_BYTES} bytes (16 MiB - 64 KiB: a stored record holds the value with its version metadata)`);
}

function frameTooLarge(size: number, max: number): RingkvError {
  return new RingkvError(ErrorCode.TOO_LARGE, `a request of ${size} bytes exceeds the ${max}-byte frame limit`);
}
