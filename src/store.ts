// Runs on: the main thread. The public store: put/get/delete with per-request N/R/W over a
// coordinator, whatever carries its requests (worker shards on SAB rings, replicas in this
// thread for tests, TCP peers later).
import { ErrorCode, RingkvError } from './errors.js';
import { Coordinator, Handoff, type ReadResult, type RequestOptions, type Transport, type WriteOptions, type WriteResult } from './coordinator/index.js';
import type { TokenHasher } from './hash/index.js';
import type { Ring } from './ring/index.js';
import type { QuorumDefaults } from './coordinator/index.js';

export type Bytes = string | Uint8Array;

export interface PutOptions extends RequestOptions {
  /** The context from the get this write follows (resolves exactly the values it saw). */
  context?: Uint8Array;
  /** Expire the value this many milliseconds after the write. */
  ttlMs?: number;
}

export interface StoreStats {
  replicas: { id: string; up: boolean }[];
  puts: number;
  gets: number;
  quorumFailures: number;
  hintsWritten: number;
  hintsDelivered: number;
  readRepairs: number;
  /** Per-replica details from the shards (storage engine stats), when available. */
  shards?: unknown[];
}

export interface StoreParts {
  ring: Ring;
  transport: Transport;
  hasher: TokenHasher;
  defaults: QuorumDefaults;
  /** How often hints are swept to replicas that are up (ms; 0: only when one comes back). */
  handoffIntervalMs: number;
  /** Closes whatever carries the requests (workers, sockets). */
  close: () => Promise<void>;
  shardStats?: () => Promise<unknown[]>;
  /** Control of the shards behind the transport (flush, compact, kill for tests), when local. */
  shards?: ShardControlSurface;
}

export interface ShardControlSurface {
  flush(): Promise<void>;
  compact(): Promise<void>;
  kill(replica: string, how?: 'terminate' | 'throw'): Promise<void>;
  waitUp(replica: string, timeoutMs: number): Promise<void>;
}

const encoder = new TextEncoder();

function bytes(v: Bytes, what: string): Uint8Array {
  if (typeof v === 'string') return encoder.encode(v);
  if (v instanceof Uint8Array) return v;
  throw new RingkvError(ErrorCode.INVALID_ARGUMENT, `${what} must be a string or a Uint8Array`);
}

export class Store {
  private readonly coordinator: Coordinator;
  private readonly handoff: Handoff;
  private readonly sweepTimer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(private readonly parts: StoreParts) {
    const ring = parts.ring;
    this.coordinator = new Coordinator(() => ring, parts.transport, parts.hasher, parts.defaults);
    this.handoff = new Handoff(parts.transport, () => ring.members.map((m) => m.id), parts.defaults.timeoutMs);
    parts.transport.onUp((replica) => void this.handoff.deliverTo(replica));
    if (parts.handoffIntervalMs > 0) {
      this.sweepTimer = setInterval(() => void this.handoff.sweep(), parts.handoffIntervalMs);
      this.sweepTimer.unref();
    }
  }

  get ring(): Ring {
    return this.parts.ring;
  }

  /** undefined when the key is absent (or deleted, or expired); else every concurrent value and a context. */
  async get(key: Bytes, opts: RequestOptions = {}): Promise<ReadResult | undefined> {
    this.checkOpen();
    return this.coordinator.get(bytes(key, 'a key'), opts);
  }

  async put(key: Bytes, value: Bytes, opts: PutOptions = {}): Promise<WriteResult> {
    this.checkOpen();
    return this.coordinator.put(bytes(key, 'a key'), bytes(value, 'a value'), opts as WriteOptions);
  }

  /** Deletes by writing a tombstone; with the context of a read, it supersedes exactly what that read saw. */
  async delete(key: Bytes, opts: PutOptions = {}): Promise<WriteResult> {
    this.checkOpen();
    return this.coordinator.put(bytes(key, 'a key'), null, opts as WriteOptions);
  }

  /** Reads many keys at once; results in the order of `keys`. */
  async getMany(keys: readonly Bytes[], opts: RequestOptions = {}): Promise<(ReadResult | undefined)[]> {
    this.checkOpen();
    return Promise.all(keys.map((k) => this.coordinator.get(bytes(k, 'a key'), opts)));
  }

  /** Writes many entries at once (each its own versioned write); results in order. */
  async putMany(entries: readonly (readonly [Bytes, Bytes])[], opts: PutOptions = {}): Promise<WriteResult[]> {
    this.checkOpen();
    return Promise.all(entries.map(([k, v]) => this.coordinator.put(bytes(k, 'a key'), bytes(v, 'a value'), opts as WriteOptions)));
  }

  /** The local shards' control (flush, compact; kill and waitUp for fault tests), if local. */
  get shards(): ShardControlSurface | undefined {
    return this.parts.shards;
  }

  /** Delivers pending hints now (tests, operators); resolves with how many were delivered. */
  async handoffNow(): Promise<number> {
    return this.handoff.sweep();
  }

  async stats(): Promise<StoreStats> {
    const c = this.coordinator.counters;
    return {
      replicas: this.parts.ring.members.map((m) => ({ id: m.id, up: !this.parts.transport.isDown(m.id) })),
      puts: c.puts,
      gets: c.gets,
      quorumFailures: c.quorumFailures,
      hintsWritten: c.hintsWritten,
      hintsDelivered: this.handoff.delivered,
      readRepairs: c.readRepairs,
      ...(this.parts.shardStats ? { shards: await this.parts.shardStats() } : {}),
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.sweepTimer);
    await this.parts.close();
  }

  private checkOpen(): void {
    if (this.closed) throw new RingkvError(ErrorCode.CLOSED, 'the store is closed');
  }
}
