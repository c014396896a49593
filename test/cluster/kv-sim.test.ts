// The whole cluster's data path in one process on a simulated network and clock: many seeds
// of partitions, message loss and crashes under a read-modify-write load, each checked for
// lost acknowledged writes, resurrected values and replicas that did not converge. A failing
// seed is printed with the command that replays exactly that run.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { DEFAULT_SIM, runScenario, type SimConfig, type SimResult } from './kv-sim/scenario.js';

/** RINGKV_LONG=1: 33-40x the seeds of the default run (which keeps every scenario, fewer seeds each). */
const LONG = process.env.RINGKV_LONG === '1';
const ONLY = process.env.RINGKV_SEED === undefined ? undefined : Number(process.env.RINGKV_SEED);
const FILE = 'dist/test/cluster/kv-sim.test.js';

function seeds(count: number, base: number): number[] {
  return ONLY !== undefined ? [ONLY] : Array.from({ length: count }, (_, i) => base + i);
}

function problems(r: SimResult): string | undefined {
  const parts: string[] = [];
  if (r.lost.length > 0) parts.push(`lost acknowledged writes: ${r.lost.slice(0, 5).join(', ')}`);
  if (r.resurrected.length > 0) parts.push(`resurrected: ${r.resurrected.slice(0, 5).join(', ')}`);
  if (r.diverged.length > 0) parts.push(`not converged: ${r.diverged.slice(0, 5).join('; ')}`);
  if (parts.length === 0) return undefined;
  return `seed ${r.seed}: ${parts.join(' | ')}\n  faults: ${r.faults.slice(0, 12).join('; ')}\n  replay: RINGKV_SEED=${r.seed} node ${FILE}`;
}

async function sweep(name: string, count: number, base: number, cfg: SimConfig): Promise<SimResult[]> {
  const results: SimResult[] = [];
  for (const seed of seeds(count, base)) {
    const r = await runScenario(seed, cfg);
    const bad = problems(r);
    if (bad !== undefined) assert.unreachable(`${name}: ${bad}`);
    results.push(r);
  }
  return results;
}

function totals(results: SimResult[]): { acked: number; failed: number; siblings: number } {
  return results.reduce((t, r) => ({ acked: t.acked + r.acked, failed: t.failed + r.failed, siblings: t.siblings + r.siblingsSeen }), { acked: 0, failed: 0, siblings: 0 });
}

test('5 nodes, N=3 R=2 W=2: no acknowledged write lost, nothing resurrected, replicas converge', async () => {
  const results = await sweep('5/3/2/2', LONG ? 400 : 10, 1000, DEFAULT_SIM);
  const t = totals(results);
  // The runs did something: writes were acknowledged through faults, and concurrent writes
  // became siblings (not silently dropped).
  assert.ok(t.acked > results.length * 20, `acked ${t.acked}`);
  assert.ok(t.siblings > 0, 'some reads saw siblings');
  const handedOff = results.reduce((n, r) => n + r.handedOff, 0);
  assert.ok(handedOff > 0, 'stand-ins took writes whose primaries were cut off, and handed them over');
});

test('3 nodes, N=3 W=1 R=1 (no spare node for sloppy quorum), lossier network', async () => {
  await sweep('3/3/1/1', LONG ? 300 : 8, 5000, {
    ...DEFAULT_SIM, nodes: 3, r: 1, w: 1,
    network: { ...DEFAULT_SIM.network, dropRate: 0.05 },
  });
});

test('hinted handoff alone converges replicas (no read repair): 5 nodes and 3 nodes (hints kept by the coordinating replica)', async () => {
  await sweep('5/3/2/2 hints only', LONG ? 200 : 5, 13000, { ...DEFAULT_SIM, hintsOnly: true, network: { ...DEFAULT_SIM.network, dropRate: 0 } });
  await sweep('3/3/2/2 hints only', LONG ? 200 : 5, 17000, { ...DEFAULT_SIM, nodes: 3, hintsOnly: true, network: { ...DEFAULT_SIM.network, dropRate: 0 } });
});

test('5 nodes, N=3 W=3 R=1, frequent faults', async () => {
  await sweep('5/3/1/3', LONG ? 300 : 8, 9000, { ...DEFAULT_SIM, r: 1, w: 3, faultEveryMs: 150 });
});

test('the checker catches lost writes: nodes that come back with empty disks lose acknowledged W=1 writes', async () => {
  let caught = 0;
  for (let seed = 0; seed < 20 && caught === 0; seed++) {
    const r = await runScenario(seed, { ...DEFAULT_SIM, r: 1, w: 1, wipeOnCrash: true });
    if (r.lost.length > 0) caught++;
  }
  assert.ok(caught > 0, 'a store that loses acknowledged data must fail the check');
});

test('the same seed replays the same run', async () => {
  const a = await runScenario(42, DEFAULT_SIM);
  const b = await runScenario(42, DEFAULT_SIM);
  assert.equal({ ...a }, { ...b });
});

// Grace and hint age are short beside the faults (crashes of 50-1000 ms): purges happen while
// replicas are down or cut off. Found with it: raising the coordinator's counters after a
// purge through the caller's context superseded live siblings (now the stored clock is raised).
// Purging without every primary resurrects values here (seed 21013); counters not raised
// after a purge lose writes (seed 21011).
// The grace is kept above how long a copy held away from the primaries (a hint, a
// stand-in's or a former holder's copy) may wait for them under this fault rate: the
// gc_grace contract (docs/cluster.md). A stand-in's copy held up by back-to-back faults
// for longer than a 300 ms (seed 21032) or 1.5 s (seed 21180) grace came back after the
// tombstone that deleted it was purged; 3 s passed 400 seeds.
test('tombstone GC all along (grace 3 s, hints live 1.5 s, rounds every 100 ms, deletes after reads): nothing deleted comes back, no write lost, replicas converge', async () => {
  const results = await sweep('5/3/2/2 tombstone GC', LONG ? 200 : 6, 21000, {
    ...DEFAULT_SIM, keys: 20,
    tombstoneGc: { graceMs: 3000, hintMaxAgeMs: 1500, everyMs: 100, deleteAfterRead: 0.5 },
  });
  const purged = results.reduce((n, r) => n + r.purged, 0);
  assert.ok(purged > results.length, `tombstones purged: ${purged}`);
});

test.run();
