// Runs on: a shard worker thread. Siblings and tombstones, counted from a sample: each stats
// call decodes up to SAMPLE_OBJECTS stored objects from a random token on (wrapping round)
// and scales what it saw to the engine's record count. Sampled, not maintained: keeping an
// exact count on every write would need the stored object's previous shape on each merge
// and a durable base across restarts; a sample costs one short scan per stats call and
// nothing on the request path. The estimate is rough for small fractions (a key in 1000
// with siblings is seen in about one call in four); the sample size says how rough.
import { decodeObject, isTombstoneOnly } from '../version/index.js';
import type { StorageEngine } from '../storage/index.js';
import { STORED } from './replica-state.js';

/** Objects decoded per stats call: a fraction of a millisecond, small next to a poll every second or so. */
export const SAMPLE_OBJECTS = 256;
/** One past the largest token: scans to here reach the end of the ring. */
const TOKEN_END = 1n << 64n;

export interface ObjectSample {
  /** Objects decoded (at most SAMPLE_OBJECTS; fewer when the shard holds fewer). */
  sampled: number;
  /** Of those, objects with more than one sibling (concurrent writes not yet resolved). */
  withSiblings: number;
  /** Of those, objects whose every sibling is a tombstone (deletes waiting for tombstone GC). */
  tombstoneOnly: number;
  /** withSiblings / sampled × the engine's records: about how many keys have siblings. */
  siblingKeysEstimate: number;
  /** tombstoneOnly / sampled × the engine's records: about how many tombstones are held. */
  tombstonesEstimate: number;
}

/** A random 64-bit token from `random` (a source of [0, 1) numbers). */
function randomToken(random: () => number): bigint {
  return (BigInt(Math.floor(random() * 2 ** 32)) << 32n) | BigInt(Math.floor(random() * 2 ** 32));
}

/** Samples `data`'s objects from a random token; `records` is the engine's record count (approxEntries). */
export function sampleObjects(data: StorageEngine, records: number, random: () => number = Math.random): ObjectSample {
  const start = randomToken(random);
  let sampled = 0;
  let withSiblings = 0;
  let tombstoneOnly = 0;
  try {
    for (const [from, to] of [[start, TOKEN_END], [0n, start]] as const) {
      if (sampled >= SAMPLE_OBJECTS) break;
      for (const e of data.scan(from, to)) {
        if (sampled >= SAMPLE_OBJECTS) break;
        sampled++;
        try {
          const obj = decodeObject(e.value, STORED);
          if (obj.siblings.length > 1) withSiblings++;
          if (isTombstoneOnly(obj)) tombstoneOnly++;
        } catch {
          // a damaged object is a read's to report; the sample just skips it
        }
      }
    }
  } catch {
    // A table block that fails its checksum ends the sample (the engine reports the table,
    // stats().damagedTables): a stats call must not fail for it.
  }
  const scale = sampled === 0 ? 0 : records / sampled;
  return { sampled, withSiblings, tombstoneOnly, siblingKeysEstimate: Math.round(withSiblings * scale), tombstonesEstimate: Math.round(tombstoneOnly * scale) };
}
