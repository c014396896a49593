// Runs on: the main thread. Data moves with ownership: when the ring changes, this node's
// shards stream the partitions they held to the members that became their new replicas
// (transfer-plan.ts decides who sends what), a page at a time:
//
//   source shard ──RANGE page──> here ──REPLICATE_MANY (the page in one frame, or a few)──> target
//                                  ├─ meanwhile the next page is read (source and target work at once)
//                                  └─ every object acknowledged: cursor = page end, next page;
//                                     cursors saved to TRANSFERS.json (transfer-file.ts) at
//                                     most every SAVE_INTERVAL_MS
//
// - Tombstones move too (RANGE lists them), so a delete is not undone by the move. REPLICATE
//   merges, so an object sent twice (a page resent after a crash or a failure) is harmless.
// - A transfer starts only once every member of the cluster reports the new ring's epoch (or
//   is down) and SETTLE more has passed: by then no write routed by the old ring, which would
//   reach the old holders only, can land behind the scan.
// - Throttled: at most bytesPerSecond of objects, TASKS_IN_FLIGHT partitions streamed at
//   once, each with one page being written and the next being read, one page per RANGE
//   (bounded work on the source shard, whose clients share its queues). A page goes out as
//   REPLICATE_MANY frames (batches() in replica-calls.ts: one unless it holds a large
//   object), each applied all or nothing by one engine write on the target. Against one
//   REPLICATE per object (32 in flight): ~112k -> ~143k objects/s of 100 B, ~28k -> ~32k
//   of 1 KB (bench/transfer.ts, in-process nodes over loopback TCP, 2 cores); the target
//   shard's merges and memtable are the limit now, not requests (larger pages gained nothing).
// - Durability: new and dropped transfers are saved before onRing returns (a plan is never
//   forgotten); cursors at most every SAVE_INTERVAL_MS and when the runner stops, so a crash
//   re-sends at most that much (REPLICATE merges: a resent object changes nothing). Saving
//   per page cost an fsync of the file and one of the directory on the main thread per
//   page: ~40% of a join's time here.
// - A page that fails (timeout, target or source down, refused) is retried RETRY_MS later
//   from the saved cursor; a transfer whose source or target is down waits for it.
// - A transfer whose target no longer replicates the partition in the ring in force (a
//   later change moved it on) is dropped: that change planned its own transfers.
// - Once every object of a partition is acknowledged, the target's node is told (notify), so
//   it stops consulting the senders on reads (transfer-fill.ts); a transfer is complete
//   only once that message is acknowledged.
// - Data is not deleted from the former holders (nothing reclaims their space yet).
import { ErrorCode, RingkvError } from '../../errors.js';
import type { Transport } from '../../coordinator/index.js';
import type { Ring } from '../../ring/index.js';
import { RANGE_MAX_BYTES } from '../../shard/index.js';
import type { Vfs } from '../../storage/index.js';
import { type Liveness, type NodeRecord, nodeOfMember, nodesOfRing } from '../membership/index.js';
import { BadReplies, ReplicaCalls, batches, type RangePage } from '../../repair/index.js';
import { loadTransfers, saveTransfers, type TransferProgress } from './transfer-file.js';
import type { TransferDone } from './transfer-fill.js';
import { planTransfers } from './transfer-plan.js';
import { TransferMeter } from './transfer-meter.js';

/** Objects moved per second at most, by default: 16 MiB/s streams a node's 100 GiB in under
 *  2 h while leaving most of a 1 Gbit/s link and of the shards' disks to clients. */
export const DEFAULT_TRANSFER_BYTES_PER_SECOND = 16 * 1024 * 1024;
/** Partitions streamed at once by one node: keeps the target busy while one page is being
 *  listed by its source, or is waiting for its REPLICATE_MANY. */
const TASKS_IN_FLIGHT = 4;
/** Cursors are saved at most this often (see the file comment). */
const SAVE_INTERVAL_MS = 500;
/** Objects per RANGE page: the source shard lists at most this many in one turn. */
const PAGE_ENTRIES = 256;
/** Bytes per RANGE page: a quarter of the replica's cap, so one page never stalls a shard long. */
const PAGE_BYTES = RANGE_MAX_BYTES / 4;
/** A failed page is retried after this long (the target may be restarting). */
const DEFAULT_RETRY_MS = 1000;
/** How often an idle runner looks for work (a new ring wakes it at once). */
const POLL_MS = 250;
/** Tasks listed by name in status(); the rest are counted. */
const STATUS_TASKS = 16;

/** What the runner needs of the membership (the Gossiper). */
export interface TransferMembership {
  readonly ring: Ring | undefined;
  records(): readonly NodeRecord[];
  record(id: string): NodeRecord | undefined;
  liveness(id: string): Liveness;
}

export interface TransferOptions {
  /** This node's id: it sends what its shards '<self>/s<k>' held. */
  self: string;
  /** The node's directory (TRANSFERS.json). */
  dir: string;
  vfs: Vfs;
  /** Replicas per key (the preference list's length). */
  n: number;
  /** Per-request timeout, in ms. */
  timeoutMs: number;
  /** Default DEFAULT_TRANSFER_BYTES_PER_SECOND; 0: unlimited. */
  bytesPerSecond?: number;
  /** Default DEFAULT_RETRY_MS. */
  retryMs?: number;
  /** Objects per RANGE page. Default PAGE_ENTRIES (tests use fewer, to stop mid-partition). */
  pageEntries?: number;
  /** Wait after every member reports a ring before streaming for it. Default 2 x timeoutMs:
   *  a request routed by the old ring is answered or has timed out by then. */
  settleMs?: number;
  /** Called whenever nothing is pending (the decommission's last step hangs here). */
  idle?: () => void;
  /** Tells the target's node that a transfer is complete (transfer-fill.ts); a rejection
   *  retries it later, like a failed page. */
  notify?: (done: TransferDone) => Promise<void>;
}

export interface TransferTaskView {
  partition: number;
  source: string;
  target: string;
  epoch: number;
  /** Fraction of the partition's token range sent (0..1). */
  progress: number;
  /** Bytes this process has sent of it (since it started). */
  bytesSent: number;
  /** Why it waits, if it does (for status). */
  waiting?: string;
}

/** Counters since this process started, and what is pending now (ringkv status, /cluster). */
export interface TransferStatus {
  /** Transfers not yet complete (kept durably). */
  pending: number;
  /** Transfers completed since start. */
  done: number;
  keysMoved: number;
  bytesMoved: number;
  pages: number;
  /** Pages that failed and will be retried. */
  failures: number;
  /** Transfers dropped because a later ring moved their partition on. */
  dropped: number;
  lastError?: string;
  /** Bytes per second streamed lately (transfer-meter.ts; 0 when none streamed for a while). */
  rateBytesPerSecond: number;
  /** Estimated bytes still to send, all pending transfers together; null until one has been measured. */
  remainingBytes: number | null;
  /** remainingBytes at the current rate, in ms; null while either is unknown (0: nothing pending). */
  etaMs: number | null;
  /** The first few pending transfers. */
  tasks: TransferTaskView[];
}

/** Streams ranges to new replicas. One per node; main thread only; TASKS_IN_FLIGHT transfers at a time. */
export class Transfers {
  private readonly calls: ReplicaCalls;
  private tasks: TransferProgress[];
  private readonly retryAt = new Map<TransferProgress, number>();
  /** Per ring epoch: when every member was first seen to report it (performance.now() ms). */
  private readonly readyAt = new Map<number, number>();
  private readonly counters = { done: 0, keysMoved: 0, bytesMoved: 0, pages: 0, failures: 0, dropped: 0 };
  private lastError: string | undefined;
  /** Rate and ETA (progress numbers for status). */
  private readonly meter = new TransferMeter();
  private loop: Promise<void> | undefined;
  private stopping = false;
  /** Ends the runner's idle sleep (new work, a stream done). */
  private wake: (() => void) | undefined;
  private readonly sleepers = new Set<() => void>();
  private budgetAt = 0;
  /** Cursors moved since the last save, and when that was (performance.now() ms). */
  private dirty = false;
  private savedAt = 0;
  /** Transfers being streamed now. */
  private readonly running = new Set<TransferProgress>();
  private readonly bytesPerSecond: number;
  private readonly retryMs: number;
  private readonly settleMs: number;
  private readonly pageEntries: number;

  constructor(
    private readonly membership: TransferMembership,
    private readonly transport: Transport,
    private readonly o: TransferOptions,
  ) {
    if (!Number.isInteger(o.n) || o.n < 1) throw new RingkvError(ErrorCode.INVALID_ARGUMENT, `transfer n must be a positive integer, got ${o.n}`);
    this.calls = new ReplicaCalls(transport, o.timeoutMs, new BadReplies());
    this.bytesPerSecond = o.bytesPerSecond ?? DEFAULT_TRANSFER_BYTES_PER_SECOND;
    this.retryMs = o.retryMs ?? DEFAULT_RETRY_MS;
    this.settleMs = o.settleMs ?? 2 * o.timeoutMs;
    this.pageEntries = Math.max(1, o.pageEntries ?? PAGE_ENTRIES);
    this.tasks = loadTransfers(o.vfs, o.dir);
  }

  /** Transfers not yet complete. */
  get pending(): number {
    return this.tasks.length;
  }

  /** Transfers not yet complete that `source` (a shard of this node) sends. */
  pendingFrom(source: string): number {
    let n = 0;
    for (const t of this.tasks) if (t.source === source) n++;
    return n;
  }

  /**
   * The ring changed from `previous` to `ring`: adds the transfers this node sends and drops
   * those the new ring made moot, durably, before it returns (call it before persisting the
   * ring, so a crash between the two plans again rather than forgets).
   */
  onRing(ring: Ring, previous: Ring | undefined): void {
    let changed = false;
    if (previous !== undefined) {
      const planned = planTransfers(previous, ring, this.o.n, this.o.self, (id) => this.membership.record(id)?.status);
      for (const t of planned) {
        if (this.tasks.some((x) => x.partition === t.partition && x.source === t.source && x.target === t.target)) continue;
        this.tasks.push({ ...t, cursor: ring.partitionRange(t.partition).from });
        changed = true;
      }
    }
    const n = ring.listLength(this.o.n);
    const kept = this.tasks.filter((t) => t.partition < ring.q && ring.listOf(t.partition, n).includes(t.target));
    if (kept.length !== this.tasks.length) {
      // A transfer the new ring made moot did not finish: its target held only part of the
      // partition, and the plan just made may count that target as a full holder (the sender
      // of a newcomer). So the moot transfer's source, which had it all, also sends the
      // partition to the newcomers of this change (re-sending what one has is a harmless
      // merge): two quick changes in a row lose nothing.
      const resent: TransferProgress[] = [];
      const nPrev = previous === undefined ? 0 : previous.listLength(this.o.n);
      for (const t of this.tasks) {
        if (kept.includes(t) || previous === undefined || t.partition >= ring.q) continue;
        if (this.membership.record(nodeOfMember(t.source))?.status === 'removed') continue;
        const before = previous.listOf(t.partition, nPrev);
        for (const target of ring.listOf(t.partition, n)) {
          if (target === t.source || before.includes(target)) continue;
          const same = (x: TransferProgress): boolean => x.partition === t.partition && x.source === t.source && x.target === target;
          if (kept.some(same) || resent.some(same)) continue;
          resent.push({ partition: t.partition, source: t.source, target, epoch: ring.epoch, cursor: ring.partitionRange(t.partition).from });
        }
      }
      for (const t of this.tasks) if (!kept.includes(t)) this.retryAt.delete(t);
      this.counters.dropped += this.tasks.length - kept.length;
      this.tasks = [...kept, ...resent];
      changed = true;
    }
    if (changed) this.save();
    this.wake?.();
  }

  status(): TransferStatus {
    const now = performance.now();
    const tasks = this.tasks.slice(0, STATUS_TASKS).map((t): TransferTaskView => {
      const view: TransferTaskView = { partition: t.partition, source: t.source, target: t.target, epoch: t.epoch, progress: this.progressOf(t), bytesSent: this.meter.bytesOf(t) };
      const why = this.waitingFor(t, now);
      if (why !== undefined) view.waiting = why;
      return view;
    });
    const remainingBytes = this.meter.remainingBytes(this.tasks, (t) => this.progressOf(t));
    const rates = { rateBytesPerSecond: Math.round(this.meter.rate(now)), remainingBytes: remainingBytes === null ? null : Math.round(remainingBytes), etaMs: this.meter.etaMs(remainingBytes, this.tasks.length, now) };
    return { pending: this.tasks.length, ...this.counters, ...(this.lastError === undefined ? {} : { lastError: this.lastError }), ...rates, tasks };
  }

  /** Fraction of `t`'s partition range sent (0..1), in thousandths; 0 without a ring that has it. */
  private progressOf(t: TransferProgress): number {
    const ring = this.membership.ring;
    if (ring === undefined || t.partition >= ring.q) return 0;
    const { from, to } = ring.partitionRange(t.partition);
    return Number(((t.cursor - from) * 1000n) / (to - from)) / 1000;
  }

  /** Starts streaming (in the background). */
  start(): void {
    if (this.loop !== undefined) return;
    this.stopping = false;
    this.loop = this.run();
  }

  /** Stops after the pages in progress (their progress is saved); resolves once nothing runs. */
  async stop(): Promise<void> {
    this.stopping = true;
    for (const done of [...this.sleepers]) done();
    await this.loop;
    this.loop = undefined;
    if (this.dirty) this.save();
  }

  private async run(): Promise<void> {
    const streams = new Set<Promise<void>>();
    while (!this.stopping) {
      const now = performance.now();
      while (streams.size < TASKS_IN_FLIGHT) {
        const task = this.tasks.find((t) => !this.running.has(t) && this.waitingFor(t, now) === undefined);
        if (task === undefined) break;
        this.running.add(task);
        const stream: Promise<void> = this.runTask(task).finally(() => {
          this.running.delete(task);
          streams.delete(stream);
          this.wake?.();
        });
        streams.add(stream);
      }
      if (this.tasks.length === 0) this.o.idle?.();
      if (this.dirty && now - this.savedAt >= SAVE_INTERVAL_MS) this.save();
      await this.sleep(streams.size === 0 ? POLL_MS : SAVE_INTERVAL_MS, true);
    }
    await Promise.all(streams);
  }

  private save(): void {
    saveTransfers(this.o.vfs, this.o.dir, this.tasks);
    this.dirty = false;
    this.savedAt = performance.now();
  }

  /** Why `t` cannot run now, or undefined if it can. */
  private waitingFor(t: TransferProgress, now: number): string | undefined {
    const retry = this.retryAt.get(t);
    if (retry !== undefined && retry > now) return 'retrying after a failure';
    const notReady = this.notReady(t.epoch, now);
    if (notReady !== undefined) return notReady;
    if (this.transport.isDown(t.source)) return `source ${t.source} is down`;
    if (this.transport.isDown(t.target)) return `target ${t.target} is down`;
    return undefined;
  }

  /** Why streaming for ring `epoch` must wait (see the file comment), or undefined. */
  private notReady(epoch: number, now: number): string | undefined {
    const m = this.membership;
    const ring = m.ring;
    if (ring === undefined || ring.epoch < epoch) return `ring epoch ${epoch} not adopted here yet`;
    const settled = this.readyAt.get(epoch);
    if (settled !== undefined) return now - settled >= this.settleMs ? undefined : `settling after ring epoch ${epoch}`;
    for (const node of nodesOfRing(ring, m.records())) {
      if (node === this.o.self) continue;
      const r = m.record(node);
      if (r === undefined) return `node ${node} not heard of yet`;
      if (r.ringEpoch < epoch && m.liveness(node) !== 'down') return `node ${node} has not yet seen ring epoch ${epoch}`;
    }
    this.readyAt.set(epoch, now);
    return this.settleMs > 0 ? `settling after ring epoch ${epoch}` : undefined;
  }

  /** Streams `task` page by page until it is done, fails, is dropped or the runner stops. */
  private async runTask(task: TransferProgress): Promise<void> {
    const ring = this.membership.ring!;
    const { to } = ring.partitionRange(task.partition);
    /** The page at task.cursor, read while the one before it was being written. */
    let ahead: Promise<RangePage> | undefined;
    try {
      while (task.cursor < to && !this.stopping && this.tasks.includes(task)) {
        const page = await (ahead ?? this.readPage(task.source, task.cursor, to));
        ahead = page.done ? undefined : this.readPage(task.source, page.next, to);
        let bytes = 0;
        for (const e of page.entries) bytes += e.key.length + e.object.length + 8;
        await this.send(task.target, page.entries);
        if (!this.tasks.includes(task)) return; // dropped meanwhile: nothing more to save
        const before = this.progressOf(task);
        task.cursor = page.next;
        this.counters.pages++;
        this.counters.keysMoved += page.entries.length;
        this.counters.bytesMoved += bytes;
        if (page.done) task.cursor = to;
        this.meter.page(task, bytes, before, performance.now());
        this.dirty = true;
        await this.pace(bytes);
      }
      if (task.cursor >= to && this.tasks.includes(task) && !this.stopping) {
        await this.o.notify?.({ partition: task.partition, target: task.target, source: task.source });
        this.tasks = this.tasks.filter((t) => t !== task);
        this.retryAt.delete(task);
        this.counters.done++;
        this.dirty = true;
      }
    } catch (err) {
      this.counters.failures++;
      this.lastError = `partition ${task.partition} ${task.source} -> ${task.target}: ${(err as Error).message}`;
      this.retryAt.set(task, performance.now() + this.retryMs);
    } finally {
      await ahead?.catch(() => undefined); // a page read ahead and not needed: let it end (a retry reads it again)
    }
  }

  /** A RANGE page of [from, to) on `source`; a failure surfaces where it is awaited. */
  private readPage(source: string, from: bigint, to: bigint): Promise<RangePage> {
    const page = this.calls.range(source, from, to, this.pageEntries, PAGE_BYTES);
    page.catch(() => undefined); // not unhandled while it waits for its turn
    return page;
  }

  /** Sends a page's entries to `target` as REPLICATE_MANY frames, all at once; rejects if any failed. */
  private async send(target: string, entries: RangePage['entries']): Promise<void> {
    await Promise.all(batches(entries).map((run) => this.calls.replicateMany(target, run)));
  }

  /** Waits as long as the bytes budget asks after `bytes` were moved. */
  private async pace(bytes: number): Promise<void> {
    if (this.bytesPerSecond <= 0) return;
    const now = performance.now();
    this.budgetAt = Math.max(this.budgetAt, now) + (bytes * 1000) / this.bytesPerSecond;
    if (this.budgetAt > now) await this.sleep(this.budgetAt - now);
  }

  /** Sleeps `ms`; stop() ends every sleep, wake() only the runner's own (`loop`). */
  private sleep(ms: number, loop = false): Promise<void> {
    if (this.stopping) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.sleepers.delete(done);
        if (this.wake === done) this.wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      timer.unref();
      this.sleepers.add(done);
      if (loop) this.wake = done;
    });
  }
}
