// Runs on: a piscina job thread. Task file: merges SSTables into one (a compaction's merge).
// The shard that asked owns the output file's fate: it installs it in its manifest or deletes it.
import { RealVfs } from '../env/index.js';
import { mergeTables, type MergeJob, type MergeResult } from './merge.js';
import { runToEnd } from './job-runner.js';

export default function mergeTask(job: MergeJob): MergeResult {
  return runToEnd(mergeTables(new RealVfs(), job));
}
