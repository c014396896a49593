// Random fault schedules on the simulated cluster, many seeds: once the faults stop, every
// running node has the same view and the same ring within a bounded simulated time; no two
// nodes ever hold different rings at one epoch; a removed node and a leaver own nothing;
// the ring stays balanced. A failing seed prints how to replay it alone.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runSchedule } from './sim/schedule.js';
import { seedsToRun, withReplay } from './sim/seeds.js';

const FILE = 'gossip-sim';
/** Simulated time allowed to converge once the faults stop. */
const CONVERGE_WITHIN_MS = 120_000;

test('after random faults, every running node converges on one view and one ring', () => {
  let worst = 0;
  for (const seed of seedsToRun(60, 2000)) {
    withReplay(FILE, seed, () => {
      const { cluster: c, log, removed, left } = runSchedule(seed);
      const took = c.runUntil(() => c.notConverged() === undefined, CONVERGE_WITHIN_MS, 500);
      const story = () => `seed ${seed}:\n${log.join('\n')}`;
      assert.ok(took !== undefined, `not converged ${CONVERGE_WITHIN_MS} ms after the faults: ${c.notConverged()}\n${story()}`);
      worst = Math.max(worst, took!);
      assert.equal(c.conflicts, [], story());
      const live = c.liveMembers();
      const ring = live[0]!.g.ring!;
      for (const node of live) assert.is(node.g.stats.ringConflicts, 0, `${node.id} met two rings at one epoch`);
      if (removed !== undefined) assert.is(live[0]!.g.record(removed)!.status, 'removed', story());
      if (left !== undefined) {
        // A leave completes, unless the leaver crashed before telling anyone (then it was
        // never staged anywhere: the operator asks again).
        const status = live[0]!.g.record(left)!.status;
        assert.ok(status === 'left' || (status === 'up' && c.node(left).disk.generation > 1), `${left} is ${status}\n${story()}`);
      }
      for (const r of live[0]!.g.records()) {
        assert.is(r.generation, c.node(r.id).disk.generation, `${r.id}: every restart is known by its generation`);
        const owned = ring.members.filter((m) => m.id.startsWith(`${r.id}/`)).length;
        assert.is(owned, r.status === 'up' ? r.shards : 0, `${r.id} is ${r.status} with ${owned} shards in the ring\n${story()}`);
      }
      const share = ring.q / ring.members.length;
      for (const [member, k] of ring.counts()) assert.ok(k >= Math.floor(share) && k <= Math.ceil(share), `${member} owns ${k} of ${ring.q}`);
    });
  }
  console.log(`  worst convergence after the faults: ${(worst / 1000).toFixed(1)} s of simulated time`);
});

test('one seed replays the same run', () => {
  const trace = (seed: number) => {
    const { cluster: c, log } = runSchedule(seed);
    c.run(30_000);
    return JSON.stringify([log, [...c.rings.entries()], c.network.delivered, c.network.dropped, c.liveMembers().map((n) => n.g.snapshot())]);
  };
  assert.is(trace(7), trace(7));
  assert.is.not(trace(7), trace(8));
});

test.run();
