// Runs on: the main thread. The /metrics endpoint's content: Prometheus text exposition
// of the store's counters, gathered from `store.stats()` on each scrape (nothing is
// counted on the request path; the store and the shards already count).
//
// Naming (Prometheus conventions): every name starts with `ringkv_`; counters end in
// `_total`, sizes in `_bytes`, durations in `_seconds`. Per-shard series carry a `shard`
// label (s0, s1, ...), per-engine ones also an `engine` label (data, hints).
//
// Counters copied from the store are totals since the process (or, per shard, since the
// shard's worker) started: a restarted shard resets its counters, which Prometheus'
// rate() treats as a counter reset.
//
// prom-client is imported by `StoreMetrics.create()`, on the first scrape (admin-server.ts),
// not at start: it costs ~80 ms of CPU to load, and many servers are never scraped.
import type { Counter, Gauge, Registry } from 'prom-client';
import type { Store } from '../../index.js';
import type { ShardPolicyFigures } from '../../cluster/index.js';
import { readAllShardNumbers, type EngineNumbers, type ShardNumbers } from '../../shard/index.js';
import { registerShardHistograms } from './latency-metrics.js';

const ENGINES = ['data', 'hints'] as const;

type PromClient = typeof import('prom-client');
type ClusterView = () => {
  readonly epoch: number;
  readonly nodes: readonly { readonly id: string; readonly liveness: string }[];
  readonly transfers?: {
    readonly pending: number; readonly done: number; readonly keysMoved: number; readonly bytesMoved: number; readonly failures: number;
    readonly cleanup?: { readonly rangesDropped: number; readonly objectsDropped: number; readonly failures: number };
  };
  readonly shardPolicy?: ShardPolicyFigures;
};

export class StoreMetrics {
  readonly registry: Registry;
  private readonly ops: Counter<'op'>;
  private readonly quorumFailures: Counter;
  private readonly hintsWritten: Counter;
  private readonly hintsDelivered: Counter;
  private readonly readRepairs: Counter;
  private readonly shards: Gauge;
  private readonly shardsUp: Gauge;
  private readonly shardUp: Gauge<'shard'>;
  private readonly shardRestarts: Counter<'shard'>;
  private readonly memtableBytes: Gauge<'shard' | 'engine'>;
  private readonly tableBytes: Gauge<'shard' | 'engine'>;
  private readonly walBytes: Gauge<'shard' | 'engine'>;
  private readonly tables: Gauge<'shard' | 'engine'>;
  private readonly flushes: Counter<'shard' | 'engine'>;
  private readonly compactions: Counter<'shard' | 'engine'>;
  private readonly cacheHits: Counter<'shard'>;
  private readonly cacheMisses: Counter<'shard'>;
  private readonly cacheBytes: Gauge<'shard'>;
  private readonly hintsPending: Gauge<'shard'>;
  private readonly hintsBytes: Gauge<'shard'>;
  private readonly hintsOldestAge: Gauge<'shard'>;
  private readonly hintsDropped: Counter<'shard' | 'reason'>;
  private readonly tombstonesPurged: Counter;
  private readonly collectSeconds: Gauge;
  private readonly aeExchanges: Counter<'outcome'>;
  private readonly aeKeysRepaired: Counter;
  private readonly aeBytes: Counter;
  private readonly aeOldestAge: Gauge;
  private readonly ringEpoch: Gauge;
  private readonly nodeLiveness: Gauge<'node' | 'liveness'>;
  private readonly transfersPending: Gauge;
  private readonly transfersDone: Counter;
  private readonly transferKeys: Counter;
  private readonly transferBytes: Counter;
  private readonly transferFailures: Counter;
  private readonly cleanupRanges: Counter;
  private readonly cleanupObjects: Counter;
  private readonly cleanupFailures: Counter;
  private readonly shardBusy: Counter<'shard'>;
  private readonly policyTarget: Gauge;
  private readonly policyBounds: Gauge<'bound'>;
  private readonly policyUtilisation: Gauge;
  private readonly policyChanges: Counter<'direction'>;
  private readonly policyDecision: Gauge<'decision' | 'reason'>;
  private readonly recoveryNeedsRepair: Gauge<'shard' | 'engine'>;
  private readonly recoveryDroppedBytes: Gauge<'shard' | 'engine'>;
  private readonly damagedTables: Gauge<'shard' | 'engine'>;
  private readonly siblingKeys: Gauge<'shard'>;
  private readonly tombstones: Gauge<'shard'>;
  /** The shard numbers of the scrape in progress, for the per-shard histograms (read after render's stats call). */
  private scraped: ShardNumbers[] = [];

  /** The metrics of `store` (and of the cluster node whose view `cluster` gives), prom-client loaded. */
  static async create(store: Store, cluster?: ClusterView): Promise<StoreMetrics> {
    return new StoreMetrics(await import('prom-client'), store, cluster);
  }

  private constructor(
    prom: PromClient,
    private readonly store: Store,
    /** A cluster node's view of the nodes (absent on a single node). */
    private readonly cluster?: ClusterView,
  ) {
    this.registry = new prom.Registry();
    const registers = [this.registry];
    const counter = <L extends string>(name: string, help: string, labelNames: L[] = []): Counter<L> =>
      new prom.Counter<L>({ name, help, labelNames, registers });
    const gauge = <L extends string>(name: string, help: string, labelNames: L[] = []): Gauge<L> =>
      new prom.Gauge<L>({ name, help, labelNames, registers });
    this.ops = counter('ringkv_ops_total', 'Requests coordinated by the store, by op (put includes deletes).', ['op']);
    this.quorumFailures = counter('ringkv_quorum_failures_total', 'Requests that got fewer answers than their R or W.');
    this.hintsWritten = counter('ringkv_hints_written_total', 'Writes stored as hints on a fallback shard (sloppy quorum).');
    this.hintsDelivered = counter('ringkv_hints_delivered_total', 'Hints handed off to the shard they were meant for.');
    this.readRepairs = counter('ringkv_read_repairs_total', 'Stale replicas repaired by reads.');
    this.shards = gauge('ringkv_shards', 'Shards (replicas) on the ring.');
    this.shardsUp = gauge('ringkv_shards_up', 'Shards that are up.');
    this.shardUp = gauge('ringkv_shard_up', '1 when the shard is up, else 0.', ['shard']);
    this.shardRestarts = counter('ringkv_shard_restarts_total', 'Times the shard worker was restarted after dying.', ['shard']);
    this.memtableBytes = gauge('ringkv_shard_memtable_bytes', 'Bytes in the memtable (active and frozen).', ['shard', 'engine']);
    this.tableBytes = gauge('ringkv_shard_table_bytes', 'Bytes of SSTables on disk.', ['shard', 'engine']);
    this.walBytes = gauge('ringkv_shard_wal_bytes', 'Bytes of write-ahead log on disk.', ['shard', 'engine']);
    this.tables = gauge('ringkv_shard_tables', 'SSTables on disk.', ['shard', 'engine']);
    this.flushes = counter('ringkv_shard_flushes_total', 'Memtables flushed to SSTables since the shard started.', ['shard', 'engine']);
    this.compactions = counter('ringkv_shard_compactions_total', 'Compactions since the shard started.', ['shard', 'engine']);
    this.cacheHits = counter('ringkv_shard_block_cache_hits_total', 'Data block reads served by the block cache.', ['shard']);
    this.cacheMisses = counter('ringkv_shard_block_cache_misses_total', 'Data block reads that went to disk.', ['shard']);
    this.cacheBytes = gauge('ringkv_shard_block_cache_bytes', 'Bytes held by the block cache.', ['shard']);
    this.hintsPending = gauge('ringkv_hints_pending', 'Hints the shard holds for replicas that were down, not yet delivered.', ['shard']);
    this.hintsBytes = gauge('ringkv_hints_bytes', 'Bytes of keys and values of the hints the shard holds (bounded per shard).', ['shard']);
    this.hintsOldestAge = gauge('ringkv_hints_oldest_age_seconds', 'Age of the oldest hint the shard holds (0 when none); hints past the max age are dropped.', ['shard']);
    this.hintsDropped = counter('ringkv_hints_dropped_total', 'Hints never delivered, by reason: expired (older than the max age), full (refused at the byte limit).', ['shard', 'reason']);
    this.tombstonesPurged = counter('ringkv_tombstones_purged_total', 'Tombstones removed by tombstone GC after anti-entropy saw them on every replica and the grace period passed (summed over replicas).');
    this.collectSeconds = gauge('ringkv_stats_collect_seconds', 'Time this scrape took to gather the store and shard stats.');
    this.aeExchanges = counter('ringkv_anti_entropy_exchanges_total', 'Anti-entropy exchanges of a partition, by outcome (done, failed, skipped: fewer than two replicas up).', ['outcome']);
    this.aeKeysRepaired = counter('ringkv_anti_entropy_keys_repaired_total', 'Keys anti-entropy found different between replicas and repaired.');
    this.aeBytes = counter('ringkv_anti_entropy_moved_bytes_total', 'Bytes of hashes and objects anti-entropy moved.');
    this.aeOldestAge = gauge('ringkv_anti_entropy_oldest_exchange_age_seconds', 'Age of the stalest partition\'s last exchange with all N replicas (absent until every partition has had one).');
    this.ringEpoch = gauge('ringkv_cluster_ring_epoch', 'Epoch of the ring in force on this node.');
    this.nodeLiveness = gauge('ringkv_cluster_node_liveness', '1 for each node\'s liveness as this node judges it (alive, suspect, down).', ['node', 'liveness']);
    this.transfersPending = gauge('ringkv_transfers_pending', 'Ranges this node still has to stream to new replicas after ring changes.');
    this.transfersDone = counter('ringkv_transfers_done_total', 'Ranges this node finished streaming to new replicas.');
    this.transferKeys = counter('ringkv_transfer_keys_total', 'Objects this node streamed to new replicas.');
    this.transferBytes = counter('ringkv_transfer_bytes_total', 'Bytes of objects this node streamed to new replicas.');
    this.transferFailures = counter('ringkv_transfer_failures_total', 'Pages of a transfer that failed (retried).');
    this.cleanupRanges = counter('ringkv_cleanup_ranges_total', 'Ranges this node handed away, handed off to their owners and deleted.');
    this.cleanupObjects = counter('ringkv_cleanup_objects_total', 'Objects deleted from ranges this node handed away.');
    this.cleanupFailures = counter('ringkv_cleanup_failures_total', 'Hand-offs of a range that failed (nothing deleted; retried).');
    this.shardBusy = counter('ringkv_shard_busy_seconds_total', 'Time the shard worker was busy (not waiting for requests or reply room) since it started; its rate is the busy fraction --auto-shards acts on.', ['shard']);
    this.policyTarget = gauge('ringkv_shard_policy_target_shards', 'Shard count this node asks for (present with --auto-shards).');
    this.policyBounds = gauge('ringkv_shard_policy_bound_shards', 'The bounds of --auto-shards (min, max).', ['bound']);
    this.policyUtilisation = gauge('ringkv_shard_policy_utilisation', 'Mean busy fraction of the shards over the last sampling interval (absent until measured).');
    this.policyChanges = counter('ringkv_shard_policy_changes_total', 'Shard-count changes --auto-shards made, by direction (grow, shrink).', ['direction']);
    this.recoveryNeedsRepair = gauge('ringkv_shard_recovery_needs_repair', '1 while the shard is marked for repair (its WAL recovery skipped damaged records, or it quarantined a table whose block failed its checksum): it may miss acknowledged writes until anti-entropy repaired it.', ['shard', 'engine']);
    this.damagedTables = gauge('ringkv_shard_damaged_tables', 'Tables whose block failed its checksum since the shard started: quarantined (N > 1, repaired from replicas) or kept in service (N = 1: their damaged keys answer ERR_CORRUPTION).', ['shard', 'engine']);
    this.recoveryDroppedBytes = gauge('ringkv_shard_recovery_dropped_bytes', 'WAL bytes the engine\'s last open dropped (torn tails) or skipped (damage in the middle).', ['shard', 'engine']);
    this.policyDecision = gauge('ringkv_shard_policy_decision', '1 for the last decision of --auto-shards (grow, shrink, hold) and its reason code.', ['decision', 'reason']);
    this.siblingKeys = gauge('ringkv_shard_sibling_keys_estimate', 'Keys with more than one sibling, estimated from a sample of the shard\'s objects (SAMPLE_OBJECTS per scrape).', ['shard']);
    this.tombstones = gauge('ringkv_shard_tombstones_estimate', 'Tombstone-only objects (deletes awaiting tombstone GC), estimated from a sample of the shard\'s objects.', ['shard']);
    registerShardHistograms(this.registry, () => this.scraped);
    prom.collectDefaultMetrics({ register: this.registry, prefix: 'ringkv_' });
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** Gathers the store's stats and renders every metric. */
  async render(): Promise<string> {
    const started = performance.now();
    const s = await this.store.stats();
    this.collectSeconds.set((performance.now() - started) / 1000);

    setCounter(this.ops, s.puts, { op: 'put' });
    setCounter(this.ops, s.gets, { op: 'get' }, false);
    setCounter(this.quorumFailures, s.quorumFailures);
    setCounter(this.hintsWritten, s.hintsWritten);
    setCounter(this.hintsDelivered, s.hintsDelivered);
    setCounter(this.readRepairs, s.readRepairs);
    this.shards.set(s.replicas.length);
    this.shardsUp.set(s.replicas.filter((r) => r.up).length);
    this.shardUp.reset();
    for (const r of s.replicas) this.shardUp.set({ shard: r.id }, r.up ? 1 : 0);

    for (const m of [this.memtableBytes, this.tableBytes, this.walBytes, this.tables, this.cacheBytes, this.hintsPending, this.hintsBytes, this.hintsOldestAge, this.recoveryNeedsRepair, this.recoveryDroppedBytes, this.damagedTables, this.siblingKeys, this.tombstones]) m.reset();
    for (const m of [this.shardRestarts, this.flushes, this.compactions, this.cacheHits, this.cacheMisses, this.hintsDropped, this.shardBusy]) m.reset();
    this.scraped = readAllShardNumbers(s.shards);
    for (const sh of this.scraped) {
      const shard = sh.id;
      if (sh.objects.sampled > 0) {
        this.siblingKeys.set({ shard }, sh.objects.siblingKeysEstimate);
        this.tombstones.set({ shard }, sh.objects.tombstonesEstimate);
      }
      this.shardRestarts.inc({ shard }, sh.restarts);
      this.shardBusy.inc({ shard }, sh.busyMs / 1000);
      this.cacheHits.inc({ shard }, sh.data.blockCacheHits);
      this.cacheMisses.inc({ shard }, sh.data.blockCacheMisses);
      this.cacheBytes.set({ shard }, sh.data.blockCacheBytes);
      this.hintsPending.set({ shard }, sh.hintStore.pending);
      this.hintsBytes.set({ shard }, sh.hintStore.bytes);
      this.hintsOldestAge.set({ shard }, sh.hintStore.oldestAgeMs / 1000);
      this.hintsDropped.inc({ shard, reason: 'expired' }, sh.hintStore.droppedExpired);
      this.hintsDropped.inc({ shard, reason: 'full' }, sh.hintStore.refusedFull);
      for (const engine of ENGINES) {
        const e: EngineNumbers = sh[engine];
        const labels = { shard, engine };
        this.memtableBytes.set(labels, e.memtableBytes);
        this.tableBytes.set(labels, e.tableBytes);
        this.walBytes.set(labels, e.walBytes);
        this.tables.set(labels, e.tables);
        this.flushes.inc(labels, e.flushes);
        this.compactions.inc(labels, e.compactions);
        this.recoveryNeedsRepair.set(labels, e.recoveryNeedsRepair);
        this.recoveryDroppedBytes.set(labels, e.recoveryDroppedBytes);
        this.damagedTables.set(labels, e.damagedTables);
      }
    }
    const ae = s.antiEntropy;
    this.aeExchanges.reset();
    this.aeExchanges.inc({ outcome: 'done' }, ae.exchanges);
    this.aeExchanges.inc({ outcome: 'failed' }, ae.exchangesFailed);
    this.aeExchanges.inc({ outcome: 'skipped' }, ae.exchangesSkipped);
    setCounter(this.aeKeysRepaired, ae.keysRepaired);
    setCounter(this.aeBytes, ae.bytesMoved);
    setCounter(this.tombstonesPurged, ae.tombstonesPurged);
    this.aeOldestAge.reset();
    if (ae.oldestExchangeAgeMs !== null) this.aeOldestAge.set(ae.oldestExchangeAgeMs / 1000);
    const view = this.cluster?.();
    this.nodeLiveness.reset();
    if (view !== undefined) {
      this.ringEpoch.set(view.epoch);
      for (const n of view.nodes) this.nodeLiveness.set({ node: n.id, liveness: n.liveness }, 1);
      const t = view.transfers;
      if (t !== undefined) {
        this.transfersPending.set(t.pending);
        setCounter(this.transfersDone, t.done);
        setCounter(this.transferKeys, t.keysMoved);
        setCounter(this.transferBytes, t.bytesMoved);
        setCounter(this.transferFailures, t.failures);
        if (t.cleanup !== undefined) {
          setCounter(this.cleanupRanges, t.cleanup.rangesDropped);
          setCounter(this.cleanupObjects, t.cleanup.objectsDropped);
          setCounter(this.cleanupFailures, t.cleanup.failures);
        }
      }
      this.renderShardPolicy(view.shardPolicy);
    } else {
      this.ringEpoch.set(this.store.ring.epoch);
    }
    return this.registry.metrics();
  }

  /** The --auto-shards series: present only while the policy is on. */
  private renderShardPolicy(p: ShardPolicyFigures | undefined): void {
    for (const m of [this.policyTarget, this.policyBounds, this.policyUtilisation, this.policyDecision, this.policyChanges]) m.reset();
    if (p === undefined) return;
    this.policyTarget.set(p.target);
    this.policyBounds.set({ bound: 'min' }, p.minShards);
    this.policyBounds.set({ bound: 'max' }, p.maxShards);
    if (p.utilisation !== null) this.policyUtilisation.set(p.utilisation);
    this.policyChanges.inc({ direction: 'grow' }, p.grown);
    this.policyChanges.inc({ direction: 'shrink' }, p.shrunk);
    if (p.lastDecision !== null) this.policyDecision.set({ decision: p.lastDecision.kind, reason: p.lastDecision.reason }, 1);
  }
}

/** Sets a counter to a total kept elsewhere (prom-client counters only go up). */
function setCounter<L extends string>(c: Counter<L>, total: number, labels?: Partial<Record<L, string>>, reset = true): void {
  if (reset) c.reset();
  if (labels === undefined) c.inc(total);
  else c.inc(labels, total);
}
