// Runs on: a shard worker (or, in tests, any one thread that owns the engine).
//
// The hint store: writes this replica keeps for another replica that is down (sloppy
// quorum), in the shard's second LSM engine (`<shard>/hints`), bounded by bytes and by age.
//
// A hint is one engine record (on disk: the hint engine's key and value never change
// meaning; a new layout needs a new leading byte in the key):
//
//   key   = [target length u8][target UTF-8 ...][key bytes ...]
//   value = [hi u32 LE][lo u32 LE][createdAt f64 LE][object bytes ...]
//            0          4          8                 16
//
//   hi, lo     the key's token halves (handoff replicates without hashing again);
//   createdAt  ms since the epoch on this replica's clock when the hint was FIRST stored;
//              a later write for the same key and target merges into the hint and keeps
//              it, so the age bounds the oldest content the hint may hold;
//   object     the version module's object encoding (siblings and clock).
//
// Bounds (HintLimits):
//   maxAgeMs   a hint older than this is never delivered: it is dropped (counted, reason
//              `expired`) the next time the store is listed or written. This is what keeps
//              tombstone GC safe (tombstone-gc.ts): a hint holding a value a delete
//              superseded, delivered after the tombstone was purged, would bring the value
//              back. maxAgeMs must stay below the tombstone grace period by a margin (the
//              store requires at most half of it).
//   maxBytes   keys and values of every hint held. A hint that would pass it, once expired
//              hints are dropped, is refused with ERR_HINTS_FULL (counted, reason `full`):
//              the coordinator then asks another stand-in, and anti-entropy repairs what no
//              hint carries. Refusing the newest rather than evicting the oldest keeps the
//              coordinator's count of acknowledged hints honest.
//
// Bookkeeping: an in-memory index of every hint (its size and createdAt), in creation
// order (a Map keeps insertion order; the index is rebuilt at open, sorted by createdAt), so
// count, bytes and oldest age are O(1) to report and expired hints are found at its front.
// Changes are staged per batch and reach the index only once the engine write succeeded.
import { equalBytes } from '../encoding/index.js';
import { ErrorCode, RingkvError } from '../errors.js';
import { MAX_VALUE_BYTES, type StorageEngine, type WriteOp } from '../storage/index.js';
import type { HintEntry } from '../protocol/index.js';
import { decodeObject, encodeObject, mergeObjects, type VObject } from '../version/index.js';

export interface HintLimits {
  /** Bytes of keys and values of all hints held, at most. */
  maxBytes: number;
  /** A hint older than this (ms since it was first stored) is dropped, never delivered. */
  maxAgeMs: number;
}

/**
 * 128 MiB of hints per shard: a few minutes of a busy shard's writes. A replica down for
 * longer is better caught up by anti-entropy (which moves only what differs) than by
 * replaying a backlog larger than that.
 */
export const DEFAULT_HINT_MAX_BYTES = 128 * 1024 * 1024;
/**
 * Three hours, Cassandra's max_hint_window: long enough for a restart or a short outage,
 * and well below the default tombstone grace period (a day): see maxAgeMs above.
 */
export const DEFAULT_HINT_MAX_AGE_MS = 3 * 60 * 60 * 1000;

export function defaultHintLimits(): HintLimits {
  return { maxBytes: DEFAULT_HINT_MAX_BYTES, maxAgeMs: DEFAULT_HINT_MAX_AGE_MS };
}

/** Throws ERR_INVALID_ARGUMENT naming the first bad limit. */
export function validateHintLimits(l: HintLimits): void {
  if (!(Number.isSafeInteger(l.maxBytes) && l.maxBytes >= 1)) throw new RingkvError(ErrorCode.INVALID_ARGUMENT, `hint maxBytes must be an integer >= 1, got ${l.maxBytes}`);
  if (!(Number.isSafeInteger(l.maxAgeMs) && l.maxAgeMs >= 1)) throw new RingkvError(ErrorCode.INVALID_ARGUMENT, `hint maxAgeMs must be an integer >= 1, got ${l.maxAgeMs}`);
}

/** What the hint store holds and has dropped (a shard's stats().hintStore). */
export interface HintStats {
  /** Hints held. */
  pending: number;
  /** Bytes of their keys and values. */
  bytes: number;
  /** Age of the oldest hint held, ms (0 when none). */
  oldestAgeMs: number;
  /** Hints dropped because they outlived maxAgeMs (or could not be read). */
  droppedExpired: number;
  /** Hints refused because the store was at maxBytes. */
  refusedFull: number;
  /** The limits in force. */
  maxBytes: number;
  maxAgeMs: number;
}

/** Bytes of the value header: hi, lo, createdAt. On disk: never changes. */
export const HINT_HEADER_BYTES = 16;
const HEADER_BYTES = HINT_HEADER_BYTES;
/** A HINTS page stops past this many object bytes (a reply frame must stay well below MAX_FRAME_BYTES). */
const PAGE_MAX_BYTES = 32 * 1024 * 1024;

interface Held {
  /** Bytes of key and value. */
  size: number;
  createdAt: number;
}

/** A staged change: the new value (null: deleted) and its bookkeeping. */
interface Staged {
  value: Uint8Array | null;
  held: Held | undefined;
  expired: boolean;
}

/**
 * One replica's hints. Owned by the thread that owns the engine. Writes are staged (put,
 * done, the drops of expired hints) and applied by commit() in ONE engine write, the
 * replica's batch; abort() forgets them after a failed write.
 */
export class HintStore {
  /** Committed hints by key (latin1 text), oldest first. */
  private readonly index = new Map<string, Held>();
  private bytes = 0;
  private readonly staged = new Map<string, Staged>();
  private ops: WriteOp[] = [];
  private droppedExpired = 0;
  private refusedFull = 0;

  constructor(
    private readonly engine: StorageEngine,
    private readonly limits: HintLimits,
    private readonly now: () => number,
  ) {
    validateHintLimits(limits);
    // An engine delete of a hint is final (nothing beneath it needs shadowing once a merge
    // reaches the oldest table): let merges drop those tombstones.
    engine.setPurgeHorizon?.(Number.MAX_SAFE_INTEGER);
    const found: [string, Held][] = [];
    const bad: Uint8Array[] = [];
    for (const e of engine.scan(0n, 1n << 64n)) {
      const createdAt = readCreatedAt(e.value);
      if (createdAt === undefined) bad.push(e.key.slice());
      else found.push([latin1(e.key), { size: e.key.length + e.value.length, createdAt }]);
    }
    found.sort((a, b) => a[1].createdAt - b[1].createdAt);
    for (const [k, h] of found) {
      this.index.set(k, h);
      this.bytes += h.size;
    }
    if (bad.length > 0) {
      // Unreadable hints (torn, or written by an older layout): they can never be delivered.
      engine.write(bad.map((key) => ({ type: 'delete', key })));
      this.droppedExpired += bad.length;
    }
  }

  /**
   * Stages `incoming` as the hint for `target`'s `key`, merged with any hint held for it.
   * Throws ERR_HINTS_FULL (nothing staged) when it would pass maxBytes.
   */
  put(target: string, key: Uint8Array, hi: number, lo: number, incoming: VObject): void {
    const now = this.now();
    this.dropExpired(now);
    const hkey = hintKey(target, key);
    const text = latin1(hkey);
    const current = this.current(text);
    const heldValue = current === undefined ? undefined : this.read(text, hkey);
    let held = heldValue === undefined ? undefined : decodeHint(heldValue);
    // Expired but not yet dropped (the wall clock stepped back, so the index was out of time
    // order): its content is never delivered; the new write starts a fresh hint.
    if (held !== undefined && now - held.createdAt > this.limits.maxAgeMs) {
      held = undefined;
      this.droppedExpired++;
    }
    const object = held === undefined ? incoming : mergeObjects(held.object, incoming);
    const createdAt = held === undefined ? now : held.createdAt;
    const encoded = encodeObject(object);
    if (encoded.length > MAX_VALUE_BYTES - HEADER_BYTES) {
      throw new RingkvError(ErrorCode.TOO_LARGE, `the hint's versioned object would take ${encoded.length} bytes, above the ${MAX_VALUE_BYTES - HEADER_BYTES}-byte limit of a stored hint`);
    }
    const value = encodeHint(hi, lo, createdAt, encoded);
    const size = hkey.length + value.length;
    if (this.stagedBytes() - (current?.size ?? 0) + size > this.limits.maxBytes) {
      this.refusedFull++;
      throw new RingkvError(
        ErrorCode.HINTS_FULL,
        `this replica holds ${this.stagedBytes()} bytes of hints (limit ${this.limits.maxBytes}); it keeps no more until some are delivered or expire`,
      );
    }
    this.stage(text, hkey, value, { size, createdAt }, false);
  }

  /**
   * Up to `max` hints held for `target`, none expired (expired hints are staged for deletion
   * first: a hint older than maxAgeMs is never handed out).
   */
  list(target: string, max: number): HintEntry[] {
    const now = this.now();
    this.dropExpired(now);
    const prefix = hintPrefix(target);
    const out: HintEntry[] = [];
    let bytes = 0;
    // A scan of the hint engine: hints are few (bounded by maxBytes).
    for (const e of this.engine.scan(0n, 1n << 64n)) {
      if (out.length >= max || bytes >= PAGE_MAX_BYTES) break;
      if (!startsWith(e.key, prefix)) continue;
      const text = latin1(e.key);
      const s = this.staged.get(text);
      const value = s === undefined ? e.value : s.value;
      if (value === null) continue;
      const h = decodeHint(value);
      if (now - h.createdAt > this.limits.maxAgeMs) {
        this.stage(text, e.key.slice(), null, undefined, true); // behind a younger hint in the index: drop it now
        continue;
      }
      out.push({ hi: h.hi, lo: h.lo, key: e.key.slice(prefix.length), object: h.objectBytes.slice() });
      bytes += h.objectBytes.length;
    }
    return out;
  }

  /** Stages the deletion of `target`'s hint for `key` if it still holds exactly `object` (delivered). */
  done(target: string, key: Uint8Array, object: Uint8Array): void {
    const hkey = hintKey(target, key);
    const text = latin1(hkey);
    if (this.current(text) === undefined) return;
    const value = this.read(text, hkey);
    if (value !== undefined && equalBytes(decodeHint(value).objectBytes, object)) this.stage(text, hkey, null, undefined, false);
  }

  /** The staged engine ops (the replica writes them in its batch). */
  get stagedOps(): readonly WriteOp[] {
    return this.ops;
  }

  /** Writes the staged ops (one engine write) and takes them into the index. Throws if the write fails (then call abort()). */
  commit(): void {
    if (this.ops.length === 0) return;
    this.engine.write(this.ops);
    for (const [text, s] of this.staged) {
      const before = this.index.get(text);
      if (before !== undefined) this.bytes -= before.size;
      if (s.held === undefined) {
        this.index.delete(text);
      } else {
        if (before !== undefined && before.createdAt !== s.held.createdAt) this.index.delete(text); // re-created: goes to the back
        this.index.set(text, s.held);
        this.bytes += s.held.size;
      }
      if (s.expired) this.droppedExpired++;
    }
    this.staged.clear();
    this.ops = [];
  }

  /** Forgets the staged changes (their engine write failed). */
  abort(): void {
    this.staged.clear();
    this.ops = [];
  }

  stats(now = this.now()): HintStats {
    let oldest = 0;
    for (const h of this.index.values()) {
      oldest = Math.max(0, now - h.createdAt);
      break;
    }
    return {
      pending: this.index.size, bytes: this.bytes, oldestAgeMs: oldest,
      droppedExpired: this.droppedExpired, refusedFull: this.refusedFull,
      maxBytes: this.limits.maxBytes, maxAgeMs: this.limits.maxAgeMs,
    };
  }

  /** Stages the deletion of every committed hint older than maxAgeMs (the index's front). */
  private dropExpired(now: number): void {
    for (const [text, h] of this.index) {
      if (now - h.createdAt <= this.limits.maxAgeMs) break;
      const s = this.staged.get(text);
      if (s !== undefined && (s.held === undefined || s.held.createdAt !== h.createdAt)) continue; // already deleted or re-created in this batch
      this.stage(text, Buffer.from(text, 'latin1'), null, undefined, true);
    }
  }

  /** The hint's bookkeeping after the staged changes; undefined when none is held. */
  private current(text: string): Held | undefined {
    const s = this.staged.get(text);
    return s !== undefined ? s.held : this.index.get(text);
  }

  /** Bytes held after the staged changes. */
  private stagedBytes(): number {
    let b = this.bytes;
    for (const [text, s] of this.staged) b += (s.held?.size ?? 0) - (this.index.get(text)?.size ?? 0);
    return b;
  }

  private read(text: string, hkey: Uint8Array): Uint8Array | undefined {
    const s = this.staged.get(text);
    if (s !== undefined) return s.value ?? undefined;
    return this.engine.get(hkey);
  }

  private stage(text: string, hkey: Uint8Array, value: Uint8Array | null, held: Held | undefined, expired: boolean): void {
    this.staged.set(text, { value, held, expired });
    this.ops.push(value === null ? { type: 'delete', key: hkey } : { type: 'put', key: hkey, value });
  }
}

function latin1(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.length).toString('latin1');
}

const encoder = new TextEncoder();

function hintPrefix(target: string): Uint8Array {
  const t = encoder.encode(target);
  if (t.length > 255) throw new RingkvError(ErrorCode.INVALID_ARGUMENT, `replica id '${target.slice(0, 40)}...' is longer than 255 bytes`);
  const p = new Uint8Array(1 + t.length);
  p[0] = t.length;
  p.set(t, 1);
  return p;
}

function hintKey(target: string, key: Uint8Array): Uint8Array {
  const p = hintPrefix(target);
  const k = new Uint8Array(p.length + key.length);
  k.set(p);
  k.set(key, p.length);
  return k;
}

function encodeHint(hi: number, lo: number, createdAt: number, object: Uint8Array): Uint8Array {
  const v = new Uint8Array(HEADER_BYTES + object.length);
  const dv = new DataView(v.buffer);
  dv.setUint32(0, hi, true);
  dv.setUint32(4, lo, true);
  dv.setFloat64(8, createdAt, true);
  v.set(object, HEADER_BYTES);
  return v;
}

/** createdAt of a stored hint, or undefined when the value cannot be a hint. */
function readCreatedAt(v: Uint8Array): number | undefined {
  if (v.length < HEADER_BYTES) return undefined;
  const t = new DataView(v.buffer, v.byteOffset, v.byteLength).getFloat64(8, true);
  return Number.isSafeInteger(t) && t >= 0 ? t : undefined;
}

function decodeHint(v: Uint8Array): { hi: number; lo: number; createdAt: number; objectBytes: Uint8Array; object: VObject } {
  const createdAt = readCreatedAt(v);
  if (createdAt === undefined) throw new RingkvError(ErrorCode.CORRUPTION, 'a stored hint is shorter than its header or has a bad time');
  const dv = new DataView(v.buffer, v.byteOffset, v.byteLength);
  const objectBytes = v.subarray(HEADER_BYTES);
  return { hi: dv.getUint32(0, true), lo: dv.getUint32(4, true), createdAt, objectBytes, object: decodeObject(objectBytes, { source: 'a stored hint' }) };
}

function startsWith(a: Uint8Array, prefix: Uint8Array): boolean {
  if (a.length < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (a[i] !== prefix[i]) return false;
  return true;
}

