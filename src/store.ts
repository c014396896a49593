// Runs on: the main thread. The public store: put/get/delete with per-request N/R/W over a
// coordinator, whatever carries its requests (worker shards on SAB rings, replicas in this
// thread for tests, TCP peers later).
import { ErrorCode, RingkvError } from './errors.js';
import { FrameType, Slab } from './protocol/index.js';
import { type BatchSlots, Coordinator, Handoff, type ReadResult, type RequestOptions, type Transport, type WriteOptions, type WriteResult } from './coordinator/index.js';
import { TOKEN_END, type TokenHasher } from './hash/index.js';
import type { Ring } from './ring/index.js';
import type { QuorumDefaults } from './coordinator/index.js';
import { AntiEntropy, RepairMarks, type AntiEntropyOptions } from './repair/index.js';
import type { DamagedTable, StorageOptions } from './storage/index.js';

export type Bytes = string | Uint8Array;

export interface PutOptions extends RequestOptions {
  /** The context from the get this write follows (resolves exactly the values it saw). */
  context?: Uint8Array;
  /** Expire the value this many milliseconds after the write. */
  ttlMs?: number;
  /** Expire the value at this time (ms since the epoch); wins over ttlMs. */
  expiresAt?: number;
  /**
   * Replace whatever the key holds, as Redis SET does: the write supersedes every value the
   * coordinating replica has, context or not. Values written concurrently through another
   * coordinator (after a failover) still survive as siblings.
   *
   * Default: true for a write without a `context` (put(k, v) overwrites, delete(k) deletes,
   * as in level or lmdb), false for one with a context (it supersedes exactly what that read
   * saw; a concurrent write with another context survives as a sibling). `overwrite: false`
   * without a context is a blind write concurrent with what is stored (a sibling of it).
   */
  overwrite?: boolean;
}

/**
 * A replica's storage started failing (EMFILE/ENFILE, ENOSPC, EIO...) or works again. Told
 * once per cause and replica (not per request): the first failure, a change of cause, and
 * the first write it stores afterwards.
 */
export interface StorageFaultEvent {
  replica: string;
  state: 'failing' | 'recovered';
  /** ERR_IO or ERR_NO_SPACE (of the failure; of the last one, for 'recovered'). */
  code: string;
  /** What failed and where: the operation, the path and the OS error. */
  message: string;
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
  /**
   * About how many keys the store holds (DBSIZE): the shards' stored records divided by N.
   * An upper bound: versions not yet merged and tombstones count. Absent without shard stats.
   */
  approxKeys?: number;
  /** The shards' hint stores together (absent without shard stats); per shard in `shards[i].hintStore`. */
  hintStore?: HintStoreSummary;
  antiEntropy: AntiEntropySummary;
}

/** Hints held by the shards for replicas that were down (bounded by bytes and age per shard). */
export interface HintStoreSummary {
  pending: number;
  bytes: number;
  /** Age of the oldest hint held by any shard, in ms (0 when none). */
  oldestAgeMs: number;
  /** Hints dropped as older than the shard's maxAgeMs (never delivered). */
  droppedExpired: number;
  /** Hints refused because a shard's hint store was full. */
  refusedFull: number;
}

/** Anti-entropy's counters (store.antiEntropy.stats() has the per-partition times). */
export interface AntiEntropySummary {
  rounds: number;
  exchanges: number;
  exchangesFailed: number;
  exchangesSkipped: number;
  keysRepaired: number;
  bytesMoved: number;
  badReplies: number;
  /** Tombstone-only objects removed by tombstone GC (summed over replicas). */
  tombstonesPurged: number;
  /** PURGE requests that failed (their tombstones wait for a later exchange). */
  purgeFailures: number;
  /** Age of the stalest partition's last successful exchange, in ms; null while one has had none. */
  oldestExchangeAgeMs: number | null;
}

/**
 * What a store's local part is built from, resolved (every default filled in): the one
 * options type of `open()` (index.ts resolves its flat public options into it) and of a
 * cluster node (ClusterNodeOptions extends it). An option both take is added here once.
 */
export interface LocalStoreOptions {
  /** Where the shards' data lives. */
  dir: string;
  /** Shard worker threads. */
  shards: number;
  /** Storage engine options of every shard (defaults: storage/db/options.ts). */
  storage: Partial<StorageOptions>;
  /** N, R, W and the rest of a request's defaults. */
  defaults: QuorumDefaults;
  /** How often hints are swept to replicas that are up (ms). */
  handoffIntervalMs: number;
  /** Pause between anti-entropy rounds (ms; 0: off). Default DEFAULT_ANTI_ENTROPY_INTERVAL_MS. */
  antiEntropyIntervalMs?: number;
}

/** Replicas per key: Dynamo's and Cassandra's usual N (at most the shards of a lone store). */
export const DEFAULT_N = 3;
/** Read and write quorums: 2 of 3 overlap (R + W > N), so a read sees the last acknowledged write. */
export const DEFAULT_QUORUM = 2;
/** Per-replica request timeout: long enough for an fsync on a slow disk, short enough to fail over. */
export const DEFAULT_TIMEOUT_MS = 2000;

/**
 * A round of anti-entropy a minute: with the default pacing (50 ms between partitions) a
 * round of 256 partitions takes 13 s or more, so the shards spend well under a tenth of
 * their time on it, and a replica that missed writes converges within about a minute.
 */
export const DEFAULT_ANTI_ENTROPY_INTERVAL_MS = 60_000;

/** A read answered ERR_CORRUPTION makes the store read its shards' stats at most this often: a damaged block's keys may fail by the thousand. */
const LEARN_AFTER_CORRUPTION_MS = 1000;

/**
 * The shards' storage options for replication factor `n`: a table block failing its checksum
 * quarantines the table (the shard marks itself, anti-entropy restores its records from the
 * other replicas) when there are other replicas, and keeps it in service at N = 1, where
 * nothing could restore it and its keys answering older values would be a silent loss: there
 * they keep answering ERR_CORRUPTION (docs/storage.md). An explicit `tableDamage` wins.
 */
export function shardStorage(storage: Partial<StorageOptions>, n: number): Partial<StorageOptions> {
  return { tableDamage: n > 1 ? 'quarantine' : 'keep', ...storage };
}

export interface StoreParts {
  /** The ring, or a function giving the current one (a cluster's ring changes with its membership). */
  ring: Ring | (() => Ring);
  transport: Transport;
  hasher: TokenHasher;
  defaults: QuorumDefaults;
  /** How often hints are swept to replicas that are up (ms; 0: only when one comes back). */
  handoffIntervalMs: number;
  /** Hint bytes replayed per second to one replica at most (default 16 MiB/s; 0: no limit). */
  handoffBytesPerSecond?: number;
  /** The replicas whose hints this store hands off (default: all; a cluster node: its own). */
  hintHolders?: () => readonly string[];
  /**
   * Anti-entropy between replicas: a round over every partition every `intervalMs` (0 or
   * absent: no schedule; store.antiEntropy.runOnce() still works).
   */
  antiEntropy?: Partial<Pick<AntiEntropyOptions, 'intervalMs' | 'partitionPauseMs' | 'bytesPerSecond' | 'leads' | 'tombstoneGraceMs' | 'purgeTombstones' | 'purgeIntervalMs'>>;
  /** Closes whatever carries the requests (workers, sockets). */
  close: () => Promise<void>;
  shardStats?: () => Promise<unknown[]>;
  /** Control of the shards behind the transport (flush, compact, kill for tests), when local. */
  shards?: ShardControlSurface;
  /** How repair marks of the local shards are named and vouched for (a cluster node; defaults: one lone store). */
  repairMarks?: RepairMarkNaming;
}

/** A cluster node's view of its shards' repair marks (repair-marks.ts). */
export interface RepairMarkNaming {
  /** The ring member of a local shard is `${memberPrefix}${its id in shardStats}` (a cluster node: '<node>/'). Default ''. */
  memberPrefix?: string;
  /** Whether `other` may vouch for `replica`'s ranges (a cluster node: one on another node). Default: any. */
  vouches?: (replica: string, other: string) => boolean;
}

export interface ShardControlSurface {
  flush(): Promise<void>;
  compact(): Promise<void>;
  kill(replica: string, how?: 'terminate' | 'throw'): Promise<void>;
  waitUp(replica: string, timeoutMs: number): Promise<void>;
  /** Tells a shard marked for repair that its ranges are restored (ShardControl.repaired); true when it was marked. */
  repaired?(replica: string): Promise<boolean>;
}

export interface ClearOptions extends RequestOptions {
  /** Keys listed per scan page (held in memory at once). Default CLEAR_PAGE_KEYS. */
  pageKeys?: number;
  /** Deletes in flight at once. Default CLEAR_CONCURRENCY. */
  concurrency?: number;
}

/** A replica's handoff that could not reach every holder is tried again after this. */
const CATCH_UP_RETRY_MS = 500;
/** Options of a call that passes none (shared: a call allocates nothing for them). */
const NO_OPTIONS: PutOptions = Object.freeze({});
/** Encodes an increment's delta (one encoder for the store, not one per call). */
const DECIMAL = new TextEncoder();
/** What a write without options means: supersede what the store holds (as RESP SET and DEL). */
const OVERWRITE: WriteOptions = Object.freeze({ overwrite: true });

/**
 * A write's options with the default of `overwrite` filled in: a write without a context
 * overwrites (level/lmdb semantics); a causal write (with a context) does not, unless asked.
 */
function writeOptions(opts: PutOptions): WriteOptions {
  if (opts === NO_OPTIONS) return OVERWRITE;
  if (opts.overwrite !== undefined || opts.context !== undefined) return opts as WriteOptions;
  return { ...opts, overwrite: true } as WriteOptions;
}
/** The key a repair probe reads (repair-marks.ts): any key does; the reply's type is the answer. */
const REPAIR_PROBE_KEY = new TextEncoder().encode('\u0000ringkv:repair-probe');
/** clear() holds one page of keys at a time: memory stays bounded whatever the store's size. */
const CLEAR_PAGE_KEYS = 1000;
/**
 * clear()'s deletes in flight: enough for the shards to group-commit them in batches, few
 * enough that other clients' requests still find room in the rings and answer promptly.
 */
const CLEAR_CONCURRENCY = 64;

export class Store {
  private readonly coordinator: Coordinator;
  private readonly handoff: Handoff;
  /** Merkle-tree exchanges between the replicas of each partition. */
  readonly antiEntropy: AntiEntropy;
  private readonly sweepTimer: NodeJS.Timeout | undefined;
  /** String keys and values are encoded into its chunks (TextEncoder.encode costs ~0.5 µs each). */
  private readonly slab = new Slab();
  private closed = false;
  /** Replicas whose storage is failing, with the cause last told (see onStorageFault). */
  private readonly storageFaults = new Map<string, { cause: string; code: string; message: string }>();
  private readonly storageFaultListeners: ((event: StorageFaultEvent) => void)[] = [];
  /** Replicas marked for repair, until anti-entropy restored their ranges. */
  private readonly repairMarks: RepairMarks;
  private readonly repairedListeners: ((replica: string, partitions: number) => void)[] = [];
  private readonly tableDamageListeners: ((replica: string, table: DamagedTable, engine: 'data' | 'hints') => void)[] = [];
  /** When a read's ERR_CORRUPTION last made the store learn the shards' marks (performance.now()). */
  private learntAfterCorruption = -Infinity;
  /** `<replica> <table path>` of every damaged table told (once per table and process). */
  private readonly tableDamageTold = new Set<string>();

  /** The current ring. */
  private readonly currentRing: () => Ring;

  constructor(private readonly parts: StoreParts) {
    const fixed = parts.ring;
    this.currentRing = typeof fixed === 'function' ? fixed : () => fixed;
    this.coordinator = new Coordinator(this.currentRing, parts.transport, parts.hasher, parts.defaults);
    this.coordinator.storageFaults = {
      failed: (replica, code, message) => this.storageFailed(replica, code, message),
      stored: (replica) => {
        if (this.storageFaults.size !== 0) this.storageStored(replica);
      },
      // The replica found a damaged table (and may have quarantined it and marked itself):
      // learn it now rather than at the next round, at most once a second.
      corrupt: () => {
        const now = performance.now();
        if (now - this.learntAfterCorruption < LEARN_AFTER_CORRUPTION_MS) return;
        this.learntAfterCorruption = now;
        void this.learnRepairMarks();
      },
    };
    this.handoff = new Handoff(parts.transport, () => this.replicaIds(), parts.defaults.timeoutMs, parts.handoffBytesPerSecond, parts.hintHolders);
    // A replica back up does not count toward a read's R alone until its hints are in
    // (with R=1 its not-found could otherwise hide a write it missed while down).
    const catchingUp = new Set<string>();
    this.coordinator.catchingUp = catchingUp;
    const prefix = parts.repairMarks?.memberPrefix ?? '';
    this.repairMarks = new RepairMarks(this.currentRing, {
      n: parts.defaults.n,
      clear: (replica) => (replica.startsWith(prefix) ? parts.shards?.repaired?.(replica.slice(prefix.length)) : undefined) ?? Promise.resolve(false),
      onRepaired: (replica, partitions) => {
        for (const l of this.repairedListeners) l(replica, partitions);
      },
      ...(parts.repairMarks?.vouches === undefined ? {} : { vouches: parts.repairMarks.vouches }),
      healthy: (other, p) => this.answersComplete(other, p),
    });
    void this.learnRepairMarks();
    // Caught up only once a run reached every holder and took all it had: a holder down
    // meanwhile (the other shard of N=2 crashing during the handoff) may hold the only copy
    // of a write the replica missed, so it stays catching up, and the run is tried again.
    const catchUp = (replica: string): void => {
      void this.handoff.catchUp(replica).then((done) => {
        if (done || this.closed) catchingUp.delete(replica);
        else setTimeout(() => !this.closed && !parts.transport.isDown(replica) && catchUp(replica), CATCH_UP_RETRY_MS).unref();
      });
    };
    parts.transport.onUp((replica) => {
      void this.learnRepairMarks(); // a shard restarted before its repair is marked again
      catchingUp.add(replica);
      catchUp(replica);
    });
    if (parts.handoffIntervalMs > 0) {
      this.sweepTimer = setInterval(() => void this.handoff.sweep(), parts.handoffIntervalMs);
      this.sweepTimer.unref();
    }
    this.antiEntropy = new AntiEntropy(this.currentRing, parts.transport, {
      n: parts.defaults.n,
      timeoutMs: parts.defaults.timeoutMs,
      intervalMs: 0,
      ...parts.antiEntropy,
      // A marked local shard's partitions are exchanged here too: another leader's exchanges are not seen.
      leads: (p) => parts.antiEntropy?.leads?.(p) !== false || this.repairMarks.wants(p),
      onExchange: (result) => this.repairMarks.exchanged(result),
      beforeRound: () => this.learnRepairMarks(), // a shard that quarantined a table marked itself while serving
    });
    this.antiEntropy.start();
  }

  /**
   * Calls `listener` when a replica's storage starts failing (once per cause, not per
   * request) and when it stores a write again. The server logs these.
   */
  onStorageFault(listener: (event: StorageFaultEvent) => void): void {
    this.storageFaultListeners.push(listener);
  }

  /**
   * Calls `listener` when a shard marked for repair (its WAL recovery skipped damaged records)
   * had every partition it holds exchanged with a healthy replica and dropped its mark.
   */
  onRepaired(listener: (replica: string, partitions: number) => void): void {
    this.repairedListeners.push(listener);
  }

  /**
   * Calls `listener` once per table a local shard found damaged (a block failed its checksum:
   * quarantined, `quarantinedAs` set, and the shard marked for repair; or kept in service at
   * N = 1), as learnt from the shards' stats (each anti-entropy round, shard start, stats
   * call, and a read a replica answered ERR_CORRUPTION). A
   * hint store's table (`engine` 'hints') marks nothing: the replica's data is whole, and
   * anti-entropy repairs what the lost hints carried.
   */
  onTableDamage(listener: (replica: string, table: DamagedTable, engine: 'data' | 'hints') => void): void {
    this.tableDamageListeners.push(listener);
  }

  /** Learns which local shards are marked for repair from their stats (nothing to learn without shard control). */
  private async learnRepairMarks(): Promise<void> {
    if (this.parts.shardStats === undefined || this.parts.shards?.repaired === undefined) return;
    try {
      this.learnFrom(await this.parts.shardStats());
    } catch {
      // stats unavailable (closing): the next replica up asks again
    }
  }

  /** Learns marks and damaged tables from the local shards' stats (every stats call reads them too). */
  private learnFrom(shards: readonly unknown[]): void {
    if (this.parts.shards?.repaired === undefined) return;
    const prefix = this.parts.repairMarks?.memberPrefix ?? '';
    this.tellTableDamage(shards);
    this.repairMarks.learn(prefix === '' ? shards : shards.map((s) => {
      const id = (s as { id?: unknown }).id;
      return typeof id === 'string' ? { ...(s as object), id: prefix + id } : s;
    }));
  }

  /**
   * Whether `replica` answers partition p as complete (not marked for repair anywhere): a GET
   * of a probe key in p's range, whose reply type says it (OBJECT, not OBJECT_PARTIAL).
   */
  private async answersComplete(replica: string, p: number): Promise<boolean> {
    const { from } = this.currentRing().partitionRange(p);
    const hi = Number(from >> 32n);
    const lo = Number(from & 0xffffffffn);
    const reply = await this.parts.transport.request(replica, { type: FrameType.GET, hi, lo, key: REPAIR_PROBE_KEY }, this.parts.defaults.timeoutMs);
    return reply.type === FrameType.OBJECT;
  }

  /** Tells the listeners of each damaged table in `shards`' stats not told yet. */
  private tellTableDamage(shards: readonly unknown[]): void {
    for (const entry of shards) {
      const s = entry as { id?: unknown; data?: { damagedTables?: DamagedTable[] }; hints?: { damagedTables?: DamagedTable[] } };
      if (typeof s.id !== 'string') continue;
      for (const engine of ['data', 'hints'] as const) {
        for (const d of s[engine]?.damagedTables ?? []) {
          const told = `${s.id} ${d.table}`;
          if (this.tableDamageTold.has(told)) continue;
          this.tableDamageTold.add(told);
          for (const l of this.tableDamageListeners) l(s.id, d, engine);
        }
      }
    }
  }

  private storageFailed(replica: string, code: string, message: string): void {
    // The cause is the error code and the OS error (EMFILE, ENOSPC...), not the file: the
    // same fault on the next file is not news.
    const cause = `${code} ${/\bE[A-Z0-9]{2,}\b/.exec(message)?.[0] ?? ''}`;
    const known = this.storageFaults.get(replica);
    if (known !== undefined && known.cause === cause) return;
    this.storageFaults.set(replica, { cause, code, message });
    this.tellStorageFault({ replica, state: 'failing', code, message });
  }

  private storageStored(replica: string): void {
    const known = this.storageFaults.get(replica);
    if (known === undefined) return;
    this.storageFaults.delete(replica);
    this.tellStorageFault({ replica, state: 'recovered', code: known.code, message: known.message });
  }

  private tellStorageFault(event: StorageFaultEvent): void {
    for (const listener of this.storageFaultListeners) {
      try {
        listener(event);
      } catch {
        // A listener's failure is its own; the write path goes on.
      }
    }
  }

  /** How requests reach the replicas (tests and tools that talk to one replica alone). */
  get transport(): Transport {
    return this.parts.transport;
  }

  /** Every replica of the ring in force; none while there is no ring (a cluster node still joining). */
  private replicaIds(): string[] {
    try {
      return this.currentRing().members.map((m) => m.id);
    } catch {
      return [];
    }
  }

  get ring(): Ring {
    return this.currentRing();
  }

  /** The N, R and W a request with `opts` would use; throws (INVALID_ARGUMENT) where the request would fail. */
  checkQuorum(opts: RequestOptions): { n: number; r: number; w: number } {
    return this.coordinator.checkQuorum(opts);
  }

  // The calls below are not `async` functions: each makes exactly one promise (the
  // coordinator's), and reports a bad argument or a closed store as a rejection, as an async
  // function would.

  /** undefined when the key is absent (or deleted, or expired); else every concurrent value and a context. */
  get(key: Bytes, opts: RequestOptions = NO_OPTIONS): Promise<ReadResult | undefined> {
    try {
      this.checkOpen();
      return this.coordinator.get(this.bytes(key, 'a key'), opts);
    } catch (err) {
      return Promise.reject(err as Error);
    }
  }

  /**
   * get() without a promise, for hot paths (the RESP server's GET): the outcome goes to
   * `sink.done(index, result)` or `sink.fail(err)`, exactly once, possibly from inside this
   * call (a closed store, a bad argument, no replica reachable).
   */
  getInto(key: Bytes, opts: RequestOptions, sink: BatchSlots<ReadResult | undefined>, index: number): void {
    try {
      this.checkOpen();
      this.coordinator.getInto(this.bytes(key, 'a key'), opts, sink, index);
    } catch (err) {
      sink.fail(err as Error);
    }
  }

  /** put() without a promise, for hot paths (the RESP server's SET): the outcome goes to `sink`, as getInto's. */
  putInto(key: Bytes, value: Bytes, opts: PutOptions, sink: BatchSlots<WriteResult>, index: number): void {
    try {
      this.checkOpen();
      this.coordinator.putInto(this.bytes(key, 'a key'), this.bytes(value, 'a value'), writeOptions(opts), sink, index);
    } catch (err) {
      sink.fail(err as Error);
    }
  }

  /** Writes a value: without a context it overwrites what the key holds; with one, it supersedes exactly what that read saw. */
  put(key: Bytes, value: Bytes, opts: PutOptions = NO_OPTIONS): Promise<WriteResult> {
    try {
      this.checkOpen();
      return this.coordinator.put(this.bytes(key, 'a key'), this.bytes(value, 'a value'), writeOptions(opts));
    } catch (err) {
      return Promise.reject(err as Error);
    }
  }

  /**
   * Deletes by writing a tombstone: without a context it supersedes every value the store
   * holds (as RESP DEL); with the context of a read, exactly what that read saw.
   */
  delete(key: Bytes, opts: PutOptions = NO_OPTIONS): Promise<WriteResult> {
    try {
      this.checkOpen();
      return this.coordinator.put(this.bytes(key, 'a key'), null, writeOptions(opts));
    } catch (err) {
      return Promise.reject(err as Error);
    }
  }

  /**
   * Adds `delta` to the signed 64-bit integer the key holds (absent: 0), as Redis INCRBY:
   * one step at the replica that versions the key, so concurrent increments through any
   * coordinator of a healthy cluster never race. The result's `sum` is the new integer. The
   * sum keeps the value's expiry. Fails with ERR_NOT_INTEGER (not an integer, or overflow),
   * ERR_CONFLICT (the key has concurrent values: resolve them first), or a timeout, after
   * which the increment may or may not have been applied (it is never retried elsewhere).
   */
  increment(key: Bytes, delta: bigint, opts: RequestOptions = NO_OPTIONS): Promise<WriteResult & { sum: bigint }> {
    try {
      this.checkOpen();
      const encoded = DECIMAL.encode(delta.toString());
      return this.coordinator.put(this.bytes(key, 'a key'), encoded, { ...opts, increment: true }) as Promise<WriteResult & { sum: bigint }>;
    } catch (err) {
      return Promise.reject(err as Error);
    }
  }

  /** Reads many keys at once; results in the order of `keys`. */
  getMany(keys: readonly Bytes[], opts: RequestOptions = NO_OPTIONS): Promise<(ReadResult | undefined)[]> {
    try {
      this.checkOpen();
      const encoded = new Array<Uint8Array>(keys.length);
      for (let i = 0; i < keys.length; i++) encoded[i] = this.bytes(keys[i]!, 'a key');
      return this.coordinator.getMany(encoded, opts);
    } catch (err) {
      return Promise.reject(err as Error);
    }
  }

  /** Writes many entries at once (each its own versioned write, overwriting as put() does); results in order. */
  putMany(entries: readonly (readonly [Bytes, Bytes])[], opts: PutOptions = NO_OPTIONS): Promise<WriteResult[]> {
    try {
      this.checkOpen();
      const encoded = new Array<[Uint8Array, Uint8Array]>(entries.length);
      for (let i = 0; i < entries.length; i++) {
        const [k, v] = entries[i]!;
        encoded[i] = [this.bytes(k, 'a key'), this.bytes(v, 'a value')];
      }
      return this.coordinator.putMany(encoded, writeOptions(opts));
    } catch (err) {
      return Promise.reject(err as Error);
    }
  }

  /** The local shards' control (flush, compact; kill and waitUp for fault tests), if local. */
  get shards(): ShardControlSurface | undefined {
    return this.parts.shards;
  }

  /**
   * One page of a walk over the keys (Redis SCAN): start with cursor '0'; a returned cursor
   * of '0' means the walk is done. The cursor is a ring token: each partition is read from
   * its first healthy primary not marked for repair (else its first healthy one), so a key
   * is listed once, and a key written while the walk runs, or held only by a replica not
   * asked, may be missed (eventual, like SCAN itself).
   */
  async scan(opts: { cursor?: string; count?: number } = {}): Promise<{ keys: Uint8Array[]; cursor: string }> {
    this.checkOpen();
    const cursor = opts.cursor ?? '0';
    const count = opts.count ?? 10;
    if (!/^\d{1,20}$/.test(cursor) || BigInt(cursor) >= TOKEN_END) {
      throw new RingkvError(ErrorCode.INVALID_ARGUMENT, `a scan cursor is a decimal token below 2^64, got '${cursor.slice(0, 30)}'`);
    }
    if (!Number.isInteger(count) || count < 1 || count > 1_000_000) throw new RingkvError(ErrorCode.INVALID_ARGUMENT, `scan count must be 1..1000000, got ${count}`);
    const { transport, defaults } = this.parts;
    const ring = this.currentRing();
    const keys: Uint8Array[] = [];
    let token = BigInt(cursor);
    while (keys.length < count && token < TOKEN_END) {
      const hi = Number(token >> 32n);
      const lo = Number(token & 0xffffffffn);
      const p = ring.partitionOf(hi, lo);
      const range = ring.partitionRange(p);
      // A replica marked for repair may miss keys (a salvaged WAL, a quarantined table): another first.
      const up = ring.listOf(p, defaults.n).filter((id) => !transport.isDown(id));
      const marked = this.repairMarks.marked();
      const replica = up.find((id) => !marked.includes(id)) ?? up[0];
      if (replica === undefined) throw new RingkvError(ErrorCode.UNAVAILABLE, `no replica of partition ${p} is up to scan`);
      const to = { hi: Number((range.to >> 32n) & 0xffffffffn), lo: Number(range.to & 0xffffffffn), end: range.to >= TOKEN_END };
      const reply = await transport.request(replica, { type: FrameType.SCAN, from: { hi, lo, end: false }, to, max: count - keys.length, now: Date.now() }, defaults.timeoutMs);
      if (reply.type === FrameType.ERROR) throw new RingkvError(reply.code as ErrorCode, reply.message);
      if (reply.type !== FrameType.KEYS) throw new RingkvError(ErrorCode.PROTOCOL, `replica ${replica} answered a scan with a type ${reply.type} frame`);
      keys.push(...reply.keys);
      token = reply.done ? range.to : (BigInt(reply.next.hi) << 32n) | BigInt(reply.next.lo);
    }
    return { keys, cursor: token >= TOKEN_END ? '0' : token.toString() };
  }

  /**
   * Deletes every key (Redis FLUSHDB); resolves with how many keys it deleted. A single
   * scan() walk, one page of keys at a time; each key gets a tombstone written with
   * `overwrite`, so every value the coordinating replica holds goes, siblings included.
   *
   * Not atomic, not a snapshot: a key written while the walk runs (behind the cursor, or
   * after its page was listed) may survive; a key held only by a replica the walk did not
   * ask (as in scan()) may be missed. Tombstones take the place of the values, so disk space
   * is reclaimed only once tombstones are purged. A failed delete stops the walk and
   * rejects with its error (keys deleted so far stay deleted).
   */
  async clear(opts: ClearOptions = {}): Promise<number> {
    this.checkOpen();
    const { pageKeys = CLEAR_PAGE_KEYS, concurrency = CLEAR_CONCURRENCY, ...request } = opts;
    if (!Number.isInteger(pageKeys) || pageKeys < 1 || pageKeys > 1_000_000) throw new RingkvError(ErrorCode.INVALID_ARGUMENT, `clear pageKeys must be 1..1000000, got ${pageKeys}`);
    if (!Number.isInteger(concurrency) || concurrency < 1) throw new RingkvError(ErrorCode.INVALID_ARGUMENT, `clear concurrency must be an integer >= 1, got ${concurrency}`);
    const deleteOptions: PutOptions = { ...request, overwrite: true };
    let cursor = '0';
    let deleted = 0;
    do {
      const page = await this.scan({ cursor, count: pageKeys });
      let next = 0;
      let failed = false;
      const lane = async (): Promise<void> => {
        while (!failed && next < page.keys.length) {
          const key = page.keys[next++]!;
          try {
            await this.delete(key, deleteOptions);
          } catch (err) {
            failed = true;
            throw err;
          }
          deleted++;
        }
      };
      const lanes = Math.min(concurrency, page.keys.length);
      const running: Promise<void>[] = [];
      for (let i = 0; i < lanes; i++) running.push(lane());
      // Every lane settles (stopping at the first failure) before an error is reported.
      const outcomes = await Promise.allSettled(running);
      for (const o of outcomes) if (o.status === 'rejected') throw o.reason;
      cursor = page.cursor;
    } while (cursor !== '0');
    return deleted;
  }

  /** Delivers pending hints now (tests, operators); resolves with how many were delivered. */
  async handoffNow(): Promise<number> {
    return this.handoff.sweep();
  }

  async stats(): Promise<StoreStats> {
    const c = this.coordinator.counters;
    return {
      replicas: this.currentRing().members.map((m) => ({ id: m.id, up: !this.parts.transport.isDown(m.id) })),
      puts: c.puts,
      gets: c.gets,
      quorumFailures: c.quorumFailures,
      hintsWritten: c.hintsWritten,
      hintsDelivered: this.handoff.delivered,
      readRepairs: c.readRepairs,
      antiEntropy: this.antiEntropySummary(),
      ...(this.parts.shardStats ? await this.shardFigures() : {}),
    };
  }

  private antiEntropySummary(): AntiEntropySummary {
    const a = this.antiEntropy.stats();
    return {
      rounds: a.rounds,
      exchanges: a.exchanges,
      exchangesFailed: a.exchangesFailed,
      exchangesSkipped: a.exchangesSkipped,
      keysRepaired: a.keysRepaired,
      bytesMoved: a.bytesMoved,
      badReplies: a.badReplies,
      tombstonesPurged: a.tombstonesPurged,
      purgeFailures: a.purgeFailures,
      oldestExchangeAgeMs: this.antiEntropy.oldestExchangeAgeMs(),
    };
  }

  private async shardFigures(): Promise<{ shards: unknown[]; approxKeys: number; hintStore: HintStoreSummary }> {
    const shards = await this.parts.shardStats!();
    this.learnFrom(shards);
    let records = 0;
    const hintStore: HintStoreSummary = { pending: 0, bytes: 0, oldestAgeMs: 0, droppedExpired: 0, refusedFull: 0 };
    for (const s of shards) {
      const shard = s as { data?: { approxEntries?: number }; hintStore?: Partial<HintStoreSummary> };
      records += shard.data?.approxEntries ?? 0;
      const h = shard.hintStore;
      if (h === undefined) continue;
      hintStore.pending += h.pending ?? 0;
      hintStore.bytes += h.bytes ?? 0;
      hintStore.oldestAgeMs = Math.max(hintStore.oldestAgeMs, h.oldestAgeMs ?? 0);
      hintStore.droppedExpired += h.droppedExpired ?? 0;
      hintStore.refusedFull += h.refusedFull ?? 0;
    }
    return { shards, approxKeys: Math.round(records / this.parts.defaults.n), hintStore };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.sweepTimer);
    await this.antiEntropy.stop();
    await this.parts.close();
  }

  private bytes(v: Bytes, what: string): Uint8Array {
    if (typeof v === 'string') return this.slab.encodeString(v);
    if (v instanceof Uint8Array) return v;
    throw new RingkvError(ErrorCode.INVALID_ARGUMENT, `${what} must be a string or a Uint8Array`);
  }

  private checkOpen(): void {
    if (this.closed) throw new RingkvError(ErrorCode.CLOSED, 'the store is closed');
  }
}
