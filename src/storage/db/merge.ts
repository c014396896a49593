// Runs on: a piscina job thread (production) or a shard worker (inline runner, tests).
// The merge of a compaction: several SSTables in, one SSTable out.
//
// Inputs are listed newest first. For a key present in several inputs only the newest
// record survives. A DELETE survives too, unless the job says tombstones may go: only when
// the inputs include the shard's oldest table (nothing older can hold a value the tombstone
// hides) and its sequence number is below the purge horizon the engine was given.
//
// Written as a generator that yields every few hundred records, so the same code can run
// to completion in a job thread or in slices on a shard's event loop.
import { TableReader, TableWriter, type TableProperties } from '../table/index.js';
import { MergingIterator } from './merging-iterator.js';
import { RecordKind } from '../record/index.js';
import type { Vfs } from '../env/index.js';

export interface MergeJob {
  /** Input table paths, newest first. */
  inputs: string[];
  output: string;
  /** True when tombstones with seq < purgeBeforeSeq may be dropped. */
  dropTombstones: boolean;
  purgeBeforeSeq: number;
  blockSize: number;
  bloomBitsPerKey: number;
  compression: 'lz4' | 'none';
}

export interface MergeResult {
  properties: TableProperties;
  bytesRead: number;
}

const YIELD_EVERY = 512;

export function* mergeTables(vfs: Vfs, job: MergeJob): Generator<void, MergeResult> {
  const readers: TableReader[] = [];
  let out;
  try {
    for (const [i, path] of job.inputs.entries()) readers.push(TableReader.open(vfs, path, i, undefined));
    out = vfs.open(job.output, 'create');
    let expectedKeys = 0;
    let bytesRead = 0;
    for (const r of readers) {
      expectedKeys += r.properties.entries;
      bytesRead += r.properties.fileSize;
    }
    const writer = new TableWriter(out, {
      blockSize: job.blockSize,
      bloomBitsPerKey: job.bloomBitsPerKey,
      compression: job.compression,
      expectedKeys: Math.max(1, expectedKeys),
    });
    const merged = new MergingIterator(readers.map((r) => r.iterator()));
    merged.seekToFirst();
    for (let n = 1; merged.valid; merged.next(), n++) {
      const purge = merged.kind === RecordKind.DELETE && job.dropTombstones && merged.seq < job.purgeBeforeSeq;
      if (!purge) writer.add(merged.ikey, merged.kind as RecordKind, merged.seq, merged.value);
      if (n % YIELD_EVERY === 0) yield;
    }
    return { properties: writer.finish(), bytesRead };
  } finally {
    out?.close();
    for (const r of readers) r.close();
  }
}
