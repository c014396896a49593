// Runs on: the main thread. The repair step of anti-entropy: for a token range whose Merkle
// leaves differ between replicas, fetch the range's objects from every replica (RANGE, a
// page at a time), merge each key's versions (the same causal merge as a read: siblings
// survive, tombstones win only over what they saw), and REPLICATE the merge to every
// replica whose object does not already descend from it (REPLICATE_MANY frames, one
// replica's repairs in each).
//
// All ranges of a segment are read first and written after (planRepairs, then sendRepairs):
// a shard's memtable sorts itself for a scan and keeps that order only until its next write,
// so interleaving RANGE reads with REPLICATE writes would re-sort it for every page.
//
// Pages are fetched in lockstep: each replica answers up to its own resume point, and only
// the keys below the smallest resume point are complete on every side; the next page starts
// there (entries past it are fetched again). A key's token is checked against the key itself
// before anything is written: a replica that answers a wrong token cannot plant a key
// elsewhere in another replica's order.
import { ErrorCode, RingkvError } from '../errors.js';
import { XxHash64 } from '../hash/index.js';
import { decodeObject, descendsObject, encodeObject, mergeAll, type VObject } from '../version/index.js';
import type { RangeEntry } from '../protocol/index.js';
import { batches, type BadReplies, type RangePage, type ReplicaCalls } from './replica-calls.js';

export interface RepairLimits {
  /** Objects per RANGE page. */
  pageEntries: number;
  /** Bytes of keys and objects per RANGE page. */
  pageBytes: number;
  /** REPLICATE_MANY frames in flight at once (sendRepairs sends at most FRAMES_IN_FLIGHT). */
  concurrency: number;
  /** Called with the bytes just moved; resolves when the throttle allows more. */
  pace: (bytes: number) => Promise<void>;
  /** True once the owner is stopping: the repair ends early (it is safe to stop anywhere). */
  stopping: () => boolean;
}

export interface RepairTally {
  keysRepaired: number;
  objectsSent: number;
  bytes: number;
  /** Keys left unrepaired because an object did not decode or a REPLICATE failed. */
  failures: number;
  /** The first failure's message, for the exchange's report. */
  firstError?: string;
}

/** One key seen in a page: its token, and each replica's stored object bytes (or none). */
interface KeyVersions {
  hi: number;
  lo: number;
  key: Uint8Array;
  objects: (Uint8Array | undefined)[];
}

/** One REPLICATE to send: the merge of a key, to a replica that lacks it. */
export interface Send {
  replica: string;
  kv: KeyVersions;
  object: Uint8Array;
}

const hasher = new XxHash64();

/**
 * Reads [from, to) from every one of `replicas` (2 or more) and adds the REPLICATEs that
 * would make them agree to `sends`; bytes fetched and failures go to `tally`.
 */
export async function planRepairs(
  calls: ReplicaCalls,
  bad: BadReplies,
  replicas: readonly string[],
  from: bigint,
  to: bigint,
  limits: RepairLimits,
  tally: RepairTally,
  sends: Send[],
): Promise<void> {
  let cursor = from;
  while (cursor < to && !limits.stopping()) {
    const pages: RangePage[] = await Promise.all(replicas.map((r) => calls.range(r, cursor, to, limits.pageEntries, limits.pageBytes)));
    let limit = to;
    for (const p of pages) if (!p.done && p.next < limit) limit = p.next;
    const keys = new Map<string, KeyVersions>();
    let fetched = 0;
    pages.forEach((page, i) => {
      for (const e of page.entries) {
        fetched += e.key.length + e.object.length + 8;
        const t = (BigInt(e.hi) << 32n) | BigInt(e.lo);
        if (t >= limit) break;
        const id = Buffer.from(e.key.buffer, e.key.byteOffset, e.key.length).toString('latin1');
        let kv = keys.get(id);
        if (kv === undefined) {
          kv = { hi: e.hi, lo: e.lo, key: e.key, objects: new Array<Uint8Array | undefined>(replicas.length).fill(undefined) };
          keys.set(id, kv);
        } else if (kv.hi !== e.hi || kv.lo !== e.lo) {
          kv.hi = -1; // replicas disagree on the key's token: checked below
        }
        kv.objects[i] = e.object;
      }
    });
    tally.bytes += fetched;
    await limits.pace(fetched);

    for (const kv of keys.values()) planKey(kv, replicas, bad, sends, tally);
    cursor = limit;
  }
}

/** One object of a repair frame, and the key it repairs. */
interface RepairEntry extends RangeEntry {
  kv: KeyVersions;
}

/**
 * Sends `sends` as REPLICATE_MANY frames, one replica's at a time in each (batches()),
 * taking the replicas in turn, `limits.concurrency` frames in flight (at most
 * FRAMES_IN_FLIGHT); counts what was sent and what failed in `tally`. A frame that a replica
 * refuses for one of its entries (it applies all or nothing) is sent again one REPLICATE
 * per object, so one key it cannot take (say its stored object is corrupt) does not hold
 * back the others; a frame that fails otherwise (timeout, down) leaves its keys unrepaired.
 */
export async function sendRepairs(calls: ReplicaCalls, sends: readonly Send[], limits: RepairLimits, tally: RepairTally): Promise<void> {
  const frames = repairFrames(sends);
  const repaired = new Set<KeyVersions>();
  let sent = 0;
  let next = 0;
  const done = async (entries: readonly RepairEntry[]): Promise<void> => {
    let bytes = 0;
    for (const e of entries) {
      bytes += e.key.length + e.object.length + 8;
      repaired.add(e.kv);
    }
    tally.objectsSent += entries.length;
    sent += bytes;
    await limits.pace(bytes);
  };
  const worker = async (): Promise<void> => {
    while (next < frames.length && !limits.stopping()) {
      const f = frames[next++]!;
      try {
        await calls.replicateMany(f.replica, f.entries);
      } catch (err) {
        if (f.entries.length === 1 || !refusedAnEntry(err)) {
          for (let i = 0; i < f.entries.length; i++) fail(tally, (err as Error).message);
          continue;
        }
        for (const e of f.entries) {
          try {
            await calls.replicate(f.replica, e.hi, e.lo, e.key, e.object);
            await done([e]);
          } catch (one) {
            fail(tally, (one as Error).message);
          }
        }
        continue;
      }
      await done(f.entries);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limits.concurrency, FRAMES_IN_FLIGHT, frames.length) }, worker));
  tally.keysRepaired += repaired.size;
  tally.bytes += sent;
}

/** REPLICATE_MANY frames in flight at most in sendRepairs: 4 x 64 KiB stays a small share of a target's 1 MiB ring. */
const FRAMES_IN_FLIGHT = 4;

/** `sends` as frames: each replica's sends in order, cut by batches(), the replicas taking turns. */
function repairFrames(sends: readonly Send[]): { replica: string; entries: RepairEntry[] }[] {
  const byReplica = new Map<string, RepairEntry[]>();
  for (const s of sends) {
    let list = byReplica.get(s.replica);
    if (list === undefined) byReplica.set(s.replica, (list = []));
    list.push({ hi: s.kv.hi, lo: s.kv.lo, key: s.kv.key, object: s.object, kv: s.kv });
  }
  const runs = [...byReplica].map(([replica, list]) => ({ replica, runs: batches(list) }));
  const frames: { replica: string; entries: RepairEntry[] }[] = [];
  for (let k = 0; frames.length < sends.length; k++) {
    let any = false;
    for (const r of runs) {
      const run = r.runs[k];
      if (run === undefined) continue;
      frames.push({ replica: r.replica, entries: run });
      any = true;
    }
    if (!any) break;
  }
  return frames;
}

/** True when a REPLICATE_MANY failed because the replica refused one of its entries (not the link, the replica's state or the ring). */
function refusedAnEntry(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  return code === ErrorCode.CORRUPTION || code === ErrorCode.TOO_LARGE || code === ErrorCode.TOO_MANY_SIBLINGS || code === ErrorCode.INVALID_ARGUMENT;
}

/** Adds the REPLICATEs `kv` needs to `sends`: the merge, to each replica lacking it. */
function planKey(kv: KeyVersions, replicas: readonly string[], bad: BadReplies, sends: Send[], tally: RepairTally): void {
  hasher.hash(kv.key);
  if (kv.hi !== hasher.hi >>> 0 || kv.lo !== hasher.lo >>> 0) {
    bad.count++;
    fail(tally, `a replica listed key ${preview(kv.key)} under a token that is not the key's`);
    return;
  }
  const decoded: (VObject | undefined)[] = [];
  for (let i = 0; i < replicas.length; i++) {
    const bytes = kv.objects[i];
    if (bytes === undefined) {
      decoded.push(undefined);
      continue;
    }
    try {
      decoded.push(decodeObject(bytes, { source: `replica ${replicas[i]}'s object for ${preview(kv.key)}` }));
    } catch (err) {
      // A replica whose stored object does not decode cannot take a merge either (its
      // REPLICATE would fail to read it): leave the key alone and report it.
      bad.count++;
      fail(tally, (err as Error).message);
      return;
    }
  }
  const merged = mergeAll(decoded);
  if (merged === undefined) return;
  let bytes: Uint8Array | undefined;
  for (let i = 0; i < replicas.length; i++) {
    const have = decoded[i];
    if (have !== undefined && descendsObject(have, merged)) continue;
    bytes ??= encodeObject(merged);
    sends.push({ replica: replicas[i]!, kv, object: bytes });
  }
}

function fail(tally: RepairTally, message: string): void {
  tally.failures++;
  tally.firstError ??= message;
}

function preview(key: Uint8Array): string {
  const s = Buffer.from(key.buffer, key.byteOffset, Math.min(key.length, 40)).toString('latin1');
  return JSON.stringify(s) + (key.length > 40 ? '...' : '');
}

/** The error an exchange reports when some keys of it could not be repaired. */
export function repairError(tally: RepairTally): RingkvError {
  return new RingkvError(ErrorCode.IO, `${tally.failures} key(s) left unrepaired; first: ${tally.firstError ?? 'unknown'}`);
}
