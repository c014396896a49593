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
  for (const seed of seedsToRun(150, 2000)) {
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
      for (const gone of [removed, left]) {
        if (gone === undefined) continue;
        assert.equal(ring.members.filter((m) => m.id.startsWith(`${gone}/`)), [], `${gone} still owns partitions\n${story()}`);
        assert.ok(['removed', 'left'].includes(live[0]!.g.record(gone)!.status), `${gone} is ${live[0]!.g.record(gone)!.status}`);
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
