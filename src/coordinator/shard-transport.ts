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
import { Worker } from 'node:worker_threads';
import { wrap, releaseProxy, type Remote } from 'comlink';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import { ErrorCode, RingkvError } from '../errors.js';
import { CoordinatorChannel, createChannelBuffer } from '../ipc/index.js';
import { FrameReader, FrameType, FrameWriter, decodeReply, encodeRequest, type Reply, type Request } from '../protocol/index.js';
import type { StorageOptions } from '../config.js';
import type { ShardControl, ShardWorkerData } from '../shard/worker.js';
import { timeoutError, unavailableError, type Transport } from './transport.js';

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
}

interface Pending {
  resolve: (reply: Reply) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

/** One shard's worker, channel and requests in flight. Main thread only. */
class ShardLink {
  worker: Worker | undefined;
  channel: CoordinatorChannel | undefined;
  control: Remote<ShardControl> | undefined;
  up = false;
  restarts = 0;
  readonly pending = new Map<number, Pending>();
  private nextId = 1;

  constructor(readonly id: string, readonly index: number) {}

  takeId(): number {
    const id = this.nextId;
    this.nextId = this.nextId >= 0xffffffff ? 1 : this.nextId + 1;
    return id;
  }

  failAll(err: Error): void {
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(err);
    }
    this.pending.clear();
  }
}

export class ShardTransport implements Transport {
  private readonly links: ShardLink[];
  private readonly byId = new Map<string, ShardLink>();
  private readonly upListeners: ((replica: string) => void)[] = [];
  private readonly writer = new FrameWriter();
  private readonly reader = new FrameReader();
  private closing = false;

  private constructor(private readonly o: ShardTransportOptions) {
    this.links = Array.from({ length: o.shards }, (_, i) => new ShardLink(`s${i}`, i));
    for (const l of this.links) this.byId.set(l.id, l);
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
    const link = this.byId.get(replica);
    if (link === undefined) return Promise.reject(unavailableError(replica, 'no such shard'));
    if (!link.up || link.channel === undefined) return Promise.reject(unavailableError(replica, 'it is down'));
    const id = link.takeId();
    let frame: Uint8Array;
    try {
      frame = encodeRequest(this.writer, id, req);
    } catch (err) {
      return Promise.reject(err);
    }
    if (frame.length > link.channel.maxFrameBytes) {
      return Promise.reject(new RingkvError(ErrorCode.TOO_LARGE, `a request of ${frame.length} bytes exceeds the shard ring's ${link.channel.maxFrameBytes}-byte frame limit`));
    }
    return new Promise<Reply>((resolve, reject) => {
      const timer = setTimeout(() => {
        link.pending.delete(id);
        reject(timeoutError(replica, timeoutMs));
      }, timeoutMs);
      link.pending.set(id, { resolve, reject, timer });
      link.channel!.send(frame);
    });
  }

  isDown(replica: string): boolean {
    return !(this.byId.get(replica)?.up ?? false);
  }

  onUp(listener: (replica: string) => void): void {
    this.upListeners.push(listener);
  }

  /** The shards' own stats (storage engines), each call bounded by the control timeout. */
  async shardStats(): Promise<unknown[]> {
    return Promise.all(this.links.map(async (l) => {
      if (!l.up || !l.control) return { id: l.id, up: false, restarts: l.restarts };
      try {
        return { id: l.id, up: true, restarts: l.restarts, ...(await this.call(l, (c) => c.stats())) as object };
      } catch (err) {
        return { id: l.id, up: l.up, restarts: l.restarts, error: (err as Error).message };
      }
    }));
  }

  async flush(): Promise<void> {
    await Promise.all(this.links.filter((l) => l.up).map((l) => this.call(l, (c) => c.flush())));
  }

  async compact(): Promise<void> {
    await Promise.all(this.links.filter((l) => l.up).map((l) => this.call(l, (c) => c.compact())));
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
    await Promise.all(this.links.map(async (l) => {
      const worker = l.worker;
      if (l.up && l.control) {
        try {
          await this.call(l, (c) => c.shutdown());
        } catch {
          // A shard that does not shut down in time is terminated: its WAL recovers it.
        }
      }
      l.up = false;
      l.failAll(unavailableError(l.id, 'the store is closing'));
      await l.channel?.close();
      await worker?.terminate(); // its 'exit' handler releases the control proxy
    }));
  }

  private startShard(link: ShardLink): Promise<void> {
    const sab = createChannelBuffer();
    const workerData: ShardWorkerData = {
      sab,
      dir: `${this.o.dir}/shard-${link.index}`,
      replica: link.index,
      storage: this.o.storage,
      spinMicros: this.o.spinMicros,
    };
    const worker = new Worker(new URL('../shard/worker.js', import.meta.url), { workerData });
    const channel = new CoordinatorChannel(sab);
    link.worker = worker;
    link.channel = channel;
    const control = wrap<ShardControl>(nodeEndpoint(worker));
    link.control = control;
    void channel.onReplies((buf, at, length) => this.onReply(link, buf, at, length)).catch(() => {});

    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new RingkvError(ErrorCode.TIMEOUT, `shard ${link.id} did not start within ${this.o.controlTimeoutMs} ms`)), this.o.controlTimeoutMs);
      worker.on('message', (m: unknown) => {
        if (typeof m === 'object' && m !== null && (m as { ready?: boolean }).ready) {
          clearTimeout(timer);
          link.up = true;
          resolve();
          if (link.restarts > 0) for (const l of this.upListeners) l(link.id);
        }
      });
      worker.on('error', () => {
        // 'exit' follows; handled there.
      });
      worker.on('exit', () => {
        clearTimeout(timer);
        const wasStarting = !link.up;
        link.up = false;
        link.failAll(unavailableError(link.id, 'its worker exited'));
        control[releaseProxy]();
        if (link.control === control) link.control = undefined;
        void channel.close();
        if (link.worker === worker) {
          link.worker = undefined;
          link.channel = undefined;
        }
        if (wasStarting && link.restarts === 0) reject(new RingkvError(ErrorCode.UNAVAILABLE, `shard ${link.id} exited while starting`));
        if (!this.closing) {
          link.restarts++;
          setTimeout(() => {
            if (!this.closing) void this.startShard(link).catch(() => {});
          }, this.o.restartDelayMs).unref();
        }
      });
    });
  }

  private onReply(link: ShardLink, buf: Uint8Array, at: number, length: number): void {
    let reply: Reply;
    let id: number;
    try {
      this.reader.reset(buf, at, length);
      id = this.reader.requestId;
      reply = decodeReply(this.reader);
    } catch {
      return; // a reply that does not parse: its request times out
    }
    const p = link.pending.get(id);
    if (p === undefined) return; // timed out already
    link.pending.delete(id);
    clearTimeout(p.timer);
    p.resolve(copyReply(reply));
  }

  private async call<T>(link: ShardLink, f: (c: Remote<ShardControl>) => Promise<T>): Promise<T> {
    const control = link.control;
    if (!control) throw unavailableError(link.id, 'it is down');
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(timeoutError(link.id, this.o.controlTimeoutMs)), this.o.controlTimeoutMs);
    });
    try {
      const result = f(control); // posts the message first; then wake the shard to read it
      link.channel?.kick();
      return await Promise.race([result, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }
}

/** Replies are decoded as views into the ring, which is reused once the handler returns. */
function copyReply(reply: Reply): Reply {
  switch (reply.type) {
    case FrameType.OBJECT:
      return { type: FrameType.OBJECT, object: reply.object.slice() };
    case FrameType.HINTS:
      return { type: FrameType.HINTS, hints: reply.hints.map((h) => ({ hi: h.hi, lo: h.lo, key: h.key.slice(), object: h.object.slice() })) };
    default:
      return reply;
  }
}
