// Runs on: the main thread. Reads of a replica that is still being filled. When the ring
// makes one of this node's shards a new replica of partition p, the shard holds none of p's
// older objects until its senders have streamed them (transfer.ts); a read answered by it
// alone (R = 1, or R = 2 of N = 2 with it among the first answers) would miss acknowledged
// writes. So until every sender has reported p done (a 'transfer done' CONTROL message), a
// GET for p to that shard also asks the senders and answers the merge of what they hold
// (Riak forwards to the old owner during handoff in the same spirit). A PUT the replica
// coordinates first takes in the senders' object for the key, so that its new version
// supersedes the older values instead of becoming their sibling. A sender that is down,
// or does not answer within half the request's timeout, is left out: the answer is then what
// the shard holds, as without this. A sender removed from the cluster is no longer waited for.
//
// Which partitions are filling, and from whom, is computed here at every ring adopted with
// the same plan as the senders use (transfer-plan.ts), and kept in `<dir>/FILLING.json`
// (rewritten whole; JSON { "version": 1, "filling": [{ "partition", "target", "sources" }] })
// so a restart of the new replica keeps asking the senders until they are done.
//
// The file is written off the event loop (its fsyncs in libuv's pool) and coalesced: one
// write in flight, and a change made meanwhile goes into the next one, which carries the
// latest state of all of them (a join's hundreds of transfer-done reports cost a few
// writes, not one blocking fsync each). onRing() and done() resolve once the state they
// made is durable: the node saves the ring it adopted, and acknowledges a sender's report,
// only then (a crash before that plans the fills again from the old ring, or has the sender
// report again).
import { ErrorCode, RingkvError } from '../../errors.js';
import type { ReplySink, Transport } from '../../coordinator/index.js';
import { FrameType, type GetRequest, type PutRequest, type Reply, type Request } from '../../protocol/index.js';
import type { Ring } from '../../ring/index.js';
import { readWholeFile, type Vfs, type VfsFile } from '../../storage/index.js';
import { decodeObject, encodeObject, mergeObjects, type VObject } from '../../version/index.js';
import { type NodeStatus, nodeOfMember } from '../membership/index.js';
import { sendersOf } from './transfer-plan.js';

/** The file's name in the node's directory. On disk: never changes. */
export const FILLING_FILE = 'FILLING.json';
const VERSION = 1;

/** A sender's report that it has streamed `partition` to `target` (a CONTROL message body). */
export interface TransferDone {
  readonly partition: number;
  readonly target: string;
  readonly source: string;
}

/** Checks a TransferDone from the wire. Throws ERR_PROTOCOL. */
export function parseTransferDone(raw: unknown): TransferDone {
  const x = raw as Partial<TransferDone> | null;
  if (x === null || typeof x !== 'object' || !Number.isSafeInteger(x.partition) || x.partition! < 0 || typeof x.target !== 'string' || typeof x.source !== 'string') {
    throw new RingkvError(ErrorCode.PROTOCOL, 'a transfer-done message needs partition, target and source');
  }
  return { partition: x.partition!, target: x.target, source: x.source };
}

/** The partitions this node's shards are being filled with, and by whom. Main thread only. */
export class Filling {
  /** `${partition}/${target}` -> the senders that have not reported done. */
  private readonly entries = new Map<string, Set<string>>();
  /** Changes made to `entries` (each a state to write), and how many of them are durable. */
  private changes = 0;
  private durable = 0;
  /** The write in flight, if any (the writer loop: it writes until nothing changed since). */
  private writing: Promise<void> | undefined;

  constructor(
    private readonly self: string,
    private readonly n: number,
    private readonly vfs: Vfs,
    private readonly dir: string,
  ) {
    this.load();
  }

  /** Filling replicas (partition, target) not yet complete. */
  get size(): number {
    return this.entries.size;
  }

  /** The senders `target` still waits for in partition p (undefined: it is not filling p). */
  sourcesOf(p: number, target: string): ReadonlySet<string> | undefined {
    return this.entries.get(`${p}/${target}`);
  }

  /**
   * A new ring: this node's new replicas start filling; entries the ring made moot go. The
   * change is in force at once; the promise resolves once it is durable.
   */
  onRing(ring: Ring, previous: Ring | undefined, statusOf: (node: string) => NodeStatus | undefined): Promise<void> {
    let changed = false;
    const nNext = ring.listLength(this.n);
    if (previous !== undefined && previous.q === ring.q) {
      const nPrev = previous.listLength(this.n);
      for (let p = 0; p < ring.q; p++) {
        const before = previous.listOf(p, nPrev);
        for (const target of ring.listOf(p, nNext)) {
          if (nodeOfMember(target) !== this.self || before.includes(target)) continue;
          const sources = sendersOf(before, ring, statusOf);
          const key = `${p}/${target}`;
          if (sources.length === 0 || this.entries.has(key)) continue;
          this.entries.set(key, new Set(sources));
          changed = true;
        }
      }
    }
    for (const [key, sources] of [...this.entries]) {
      const [p, target] = splitKey(key);
      // A sender removed since will never report: stop waiting for it.
      for (const s of [...sources]) if (statusOf(nodeOfMember(s)) === 'removed') sources.delete(s);
      if (p >= ring.q || !ring.listOf(p, nNext).includes(target) || sources.size === 0) {
        this.entries.delete(key);
        changed = true;
      }
    }
    return changed ? this.save() : this.saved();
  }

  /**
   * A sender reported done. Unknown reports are ignored (the entry was already closed). In
   * force at once; the promise resolves once it is durable (then the report may be acknowledged).
   */
  done(d: TransferDone): Promise<void> {
    const key = `${d.partition}/${d.target}`;
    const sources = this.entries.get(key);
    if (sources === undefined || !sources.delete(d.source)) return this.saved();
    if (sources.size === 0) this.entries.delete(key);
    return this.save();
  }

  /** Resolves once every change made so far is durable. */
  saved(): Promise<void> {
    return this.changes === this.durable ? Promise.resolve() : this.save(false);
  }

  private load(): void {
    const path = `${this.dir}/${FILLING_FILE}`;
    if (!this.vfs.exists(path)) return;
    let file: { version?: unknown; filling?: { partition: number; target: string; sources: string[] }[] };
    try {
      file = JSON.parse(new TextDecoder().decode(readWholeFile(this.vfs, path))) as typeof file;
      if (file.version !== VERSION || !Array.isArray(file.filling)) throw new Error(`needs version ${VERSION} and filling`);
      for (const f of file.filling) {
        if (!Number.isSafeInteger(f.partition) || typeof f.target !== 'string' || !Array.isArray(f.sources)) throw new Error('a bad entry');
        this.entries.set(`${f.partition}/${f.target}`, new Set(f.sources.map(String)));
      }
    } catch (err) {
      throw new RingkvError(ErrorCode.CORRUPTION, `${path} is not a filling file (${(err as Error).message}): delete it (reads then stop asking the senders of partitions still filling)`);
    }
  }

  /**
   * Schedules a write of the current state (`change`: a change was just made) and resolves
   * once a write that started after it has finished. Never an unhandled rejection: a caller
   * that drops the promise loses only the error (the next change writes again).
   */
  private save(change = true): Promise<void> {
    if (change) this.changes++;
    const wanted = this.changes;
    const p = this.writer().then(() => {
      if (this.durable < wanted) return this.save(false); // a write failed meanwhile or started before this change
      return undefined;
    });
    p.catch(() => {});
    return p;
  }

  /** The writer loop: writes the latest state while there is a change not yet durable; one at a time. */
  private writer(): Promise<void> {
    this.writing ??= (async () => {
      try {
        while (this.durable < this.changes) {
          const upTo = this.changes;
          await this.write();
          this.durable = upTo;
        }
      } finally {
        this.writing = undefined;
      }
    })();
    return this.writing;
  }

  /** Writes the file whole: a temporary file fsynced, renamed over it, the directory fsynced (fsyncs off the event loop where the Vfs can). */
  private async write(): Promise<void> {
    const filling = [...this.entries].map(([key, sources]) => {
      const [partition, target] = splitKey(key);
      return { partition, target, sources: [...sources] };
    });
    const body = new TextEncoder().encode(JSON.stringify({ version: VERSION, filling }) + '\n');
    const tmp = `${this.dir}/${FILLING_FILE}.tmp`;
    const file = this.vfs.open(tmp, 'create');
    const background = file.syncInBackground !== undefined;
    try {
      file.append(body);
      await syncFile(file);
    } finally {
      file.close();
    }
    this.vfs.rename(tmp, `${this.dir}/${FILLING_FILE}`);
    if (!background) {
      this.vfs.syncDir(this.dir);
      return;
    }
    const dir = this.vfs.open(this.dir, 'read'); // a directory opened read-only may be fsynced (Linux, macOS)
    try {
      await syncFile(dir);
    } finally {
      dir.close();
    }
  }
}

/** fsync of `file`, in libuv's pool when the Vfs offers it. */
function syncFile(file: VfsFile): Promise<void> {
  if (file.syncInBackground === undefined) {
    file.sync();
    return Promise.resolve();
  }
  return new Promise((resolve, reject) => file.syncInBackground!((err) => (err === null ? resolve() : reject(err))));
}

function splitKey(key: string): [number, string] {
  const slash = key.indexOf('/');
  return [Number(key.slice(0, slash)), key.slice(slash + 1)];
}

/**
 * This node's local transport (ids 's<k>'), with GETs and PUTs to a filling replica
 * completed from its senders (asked through `others`, the node's routed transport).
 * Everything else passes straight through, allocation-free.
 */
export class FillingTransport implements Transport {
  private readonly prefix: string;

  constructor(
    self: string,
    private readonly inner: Transport,
    private readonly others: () => Transport,
    private readonly filling: Filling,
    private readonly ring: () => Ring | undefined,
  ) {
    this.prefix = `${self}/`;
  }

  request(replica: string, req: Request, timeoutMs: number): Promise<Reply> {
    const sources = this.sourcesFor(replica, req);
    return sources === undefined ? this.inner.request(replica, req, timeoutMs) : this.filled(replica, req, timeoutMs, sources);
  }

  send(replica: string, req: Request, timeoutMs: number, sink: ReplySink, tag: number): void {
    const sources = this.sourcesFor(replica, req);
    if (sources === undefined && this.inner.send !== undefined) {
      this.inner.send(replica, req, timeoutMs, sink, tag);
      return;
    }
    const reply = sources === undefined ? this.inner.request(replica, req, timeoutMs) : this.filled(replica, req, timeoutMs, sources);
    reply.then(
      (r) => sink.onReply(r, tag),
      (err: Error) => sink.onError(err, tag),
    );
  }

  isDown(replica: string): boolean {
    return this.inner.isDown(replica);
  }

  onUp(listener: (replica: string) => void): void {
    this.inner.onUp(listener);
  }

  whenRestarted(replica: string, timeoutMs: number): Promise<boolean> | undefined {
    return this.inner.whenRestarted?.(replica, timeoutMs);
  }

  private sourcesFor(replica: string, req: Request): ReadonlySet<string> | undefined {
    if ((req.type !== FrameType.GET && req.type !== FrameType.PUT) || this.filling.size === 0) return undefined;
    const ring = this.ring();
    if (ring === undefined) return undefined;
    return this.filling.sourcesOf(ring.partitionOf(req.hi, req.lo), this.prefix + replica);
  }

  /** A GET or PUT to a filling replica (copied: the caller may reuse `req` once this returns). */
  private filled(replica: string, req: Request, timeoutMs: number, sources: ReadonlySet<string>): Promise<Reply> {
    if (req.type === FrameType.GET) return this.merged(replica, { type: FrameType.GET, hi: req.hi, lo: req.lo, key: req.key.slice() }, timeoutMs, sources);
    if (req.type !== FrameType.PUT) return this.inner.request(replica, req, timeoutMs);
    const put: PutRequest = { ...req, key: req.key.slice(), context: req.context.slice(), value: req.value === null ? null : req.value.slice() };
    return this.prefilled(replica, put, timeoutMs, sources);
  }

  /** What the senders that answer in time hold for the key, merged (undefined: nothing). */
  private async fromSenders(get: GetRequest, timeoutMs: number, sources: ReadonlySet<string>): Promise<VObject | undefined> {
    const others = this.others();
    // Senders known down are skipped, and the others get half the time, so that a silent one
    // still leaves the answer inside the asker's own timeout.
    const senderMs = Math.max(1, Math.floor(timeoutMs / 2));
    const asked = [...sources].filter((s) => !others.isDown(s)).map((s) => others.request(s, get, senderMs).catch(() => undefined));
    let merged: VObject | undefined;
    for (const r of await Promise.all(asked)) {
      if (r?.type !== FrameType.OBJECT || r.object.length === 0) continue;
      let theirs: VObject;
      try {
        theirs = decodeObject(r.object);
      } catch {
        continue; // a sender's bad object: go on without it
      }
      merged = merged === undefined ? theirs : mergeObjects(merged, theirs);
    }
    return merged;
  }

  /** The local answer merged with every sender's that arrives in time. */
  private async merged(replica: string, get: GetRequest, timeoutMs: number, sources: ReadonlySet<string>): Promise<Reply> {
    const theirs = this.fromSenders(get, timeoutMs, sources);
    const local = await this.inner.request(replica, get, timeoutMs);
    const remote = await theirs;
    if (local.type !== FrameType.OBJECT || remote === undefined) return local;
    let mine: VObject | undefined;
    try {
      mine = local.object.length === 0 ? undefined : decodeObject(local.object);
    } catch {
      return local; // the replica's own object is bad: its answer as it is (the asker reports it)
    }
    return { type: FrameType.OBJECT, object: encodeObject(mine === undefined ? remote : mergeObjects(mine, remote)) };
  }

  /**
   * A PUT coordinated by a filling replica: the senders' object for the key is merged into
   * the replica first, so the new version supersedes what the context (or an overwrite)
   * covers instead of standing beside it as a sibling it never saw.
   */
  private async prefilled(replica: string, put: PutRequest, timeoutMs: number, sources: ReadonlySet<string>): Promise<Reply> {
    const remote = await this.fromSenders({ type: FrameType.GET, hi: put.hi, lo: put.lo, key: put.key }, timeoutMs, sources);
    if (remote !== undefined) {
      await this.inner.request(replica, { type: FrameType.REPLICATE, hi: put.hi, lo: put.lo, key: put.key, object: encodeObject(remote) }, timeoutMs).catch(() => undefined);
    }
    return this.inner.request(replica, put, timeoutMs);
  }
}
