// Runs on: the main thread. The repair step of anti-entropy: for a token range whose Merkle
// leaves differ between replicas, fetch the range's objects from every replica (RANGE, a
// page at a time), merge each key's versions (the same causal merge as a read: siblings
// survive, tombstones win only over what they saw), and REPLICATE the merge to every
// replica whose object does not already descend from it.
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
import { XxHash64 } from '../coordinator/xxhash64.js';
import { decodeObject, descendsObject, encodeObject, mergeAll, type VObject } from '../version/index.js';
import type { BadReplies, RangePage, ReplicaCalls } from './replica-calls.js';

export interface RepairLimits {
  /** Objects per RANGE page. */
  pageEntries: number;
  /** Bytes of keys and objects per RANGE page. */
  pageBytes: number;
  /** REPLICATE requests in flight at once. */
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

/** Sends `sends`, `limits.concurrency` at a time; counts what was sent and what failed in `tally`. */
export async function sendRepairs(calls: ReplicaCalls, sends: readonly Send[], limits: RepairLimits, tally: RepairTally): Promise<void> {
  const repaired = new Set<KeyVersions>();
  let sent = 0;
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < sends.length && !limits.stopping()) {
      const s = sends[next++]!;
      try {
        await calls.replicate(s.replica, s.kv.hi, s.kv.lo, s.kv.key, s.object);
        tally.objectsSent++;
        const bytes = s.kv.key.length + s.object.length + 8;
        sent += bytes;
        repaired.add(s.kv);
        await limits.pace(bytes);
      } catch (err) {
        fail(tally, (err as Error).message);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limits.concurrency, sends.length) }, worker));
  tally.keysRepaired += repaired.size;
  tally.bytes += sent;
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
