// Runs on: the test's main thread. A random fault schedule for one seed: 5-8 nodes joining
// through seeds, then crashes and restarts, pauses, partitions, lossy links, a leave, a late
// join and a permanent crash followed by a remove, all inside a fault window; afterwards
// every fault is undone (heal, resume, restart) except the removed node.
import { isMemberStatus } from '../../../src/cluster/membership/node-record.js';
import { defaultFailureDetectorOptions } from '../../../src/cluster/membership/failure-detector.js';
import { Random } from '../../../src/storage/env/random.js';
import { SimCluster, type SimNode } from './sim-cluster.js';

/** The fault window: faults start after FAULTS_FROM and are all undone by FAULTS_UNTIL. */
export const FAULTS_FROM = 10_000;
export const FAULTS_UNTIL = 100_000;

export interface Schedule {
  readonly cluster: SimCluster;
  /** What happened, for the failure message. */
  readonly log: string[];
  /** The node crashed for good and removed, if any. */
  readonly removed: string | undefined;
  /** The node that left, if any. */
  readonly left: string | undefined;
}

export function runSchedule(seed: number): Schedule {
  const r = new Random(seed);
  const mode = r.next() < 0.25 ? 'timeout' as const : 'phi' as const;
  const c = new SimCluster({
    seed,
    link: { minDelayMs: 1, maxDelayMs: 5 + r.int(100), drop: r.next() * 0.1 },
    gossip: { fanout: 2 + r.int(2), detector: { ...detector(), mode } },
  });
  const log: string[] = [`mode ${mode}, max delay ${c.network.defaults.maxDelayMs} ms, drop ${c.network.defaults.drop.toFixed(3)}`];
  const at = (t: number, what: string, fn: () => void): void => {
    c.scheduler.after(Math.max(0, t - c.now), () => {
      log.push(`t=${Math.round(c.now)} ${what}`);
      fn();
    });
  };
  const n = 5 + r.int(4);
  const pick = (): string => `n${1 + r.int(n)}`;
  const permanent = r.next() < 0.4 ? pick() : undefined;
  const started: SimNode[] = [];
  const addNode = (id: string): void => {
    // Seeds among the nodes started so far; never the node that will die for good (a node
    // whose every seed is dead cannot join: true, but not what this test is about).
    const others = started.filter((s) => s.id !== permanent);
    const candidates = others.length > 0 ? others : started;
    const seeds = candidates.length === 0 ? [] : [candidates[r.int(candidates.length)]!.address, candidates[r.int(candidates.length)]!.address];
    started.push(c.add({ id, shards: 1 + r.int(3), rack: `r${r.int(3)}` }, [...new Set(seeds)]));
  };
  addNode('n1');
  for (let i = 2; i <= n; i++) at(r.next() * 5_000, `start n${i}`, () => addNode(`n${i}`));

  const window = FAULTS_UNTIL - FAULTS_FROM - 40_000; // room for the longest fault to end
  const when = (): number => FAULTS_FROM + r.next() * window;
  const faults = 3 + r.int(6);
  for (let k = 0; k < faults; k++) {
    const t = when();
    const kind = r.int(4);
    if (kind === 0) {
      const id = pick();
      if (id === permanent) continue;
      const down = 2_000 + r.next() * 30_000;
      at(t, `crash ${id}`, () => c.node(id).crash());
      at(t + down, `restart ${id}`, () => { if (c.node(id).state === 'crashed') c.node(id).start(); });
    } else if (kind === 1) {
      const id = pick();
      at(t, `pause ${id}`, () => c.node(id).pause());
      at(t + 2_000 + r.next() * 20_000, `resume ${id}`, () => c.node(id).resume());
    } else if (kind === 2) {
      const side = [...c.nodes.keys(), ...Array.from({ length: n }, (_, i) => `n${i + 1}`)].filter((id, i, a) => a.indexOf(id) === i && r.next() < 0.4);
      at(t, `partition ${side.join(',')} | rest`, () => c.network.partition([side]));
      at(t + 5_000 + r.next() * 30_000, 'heal', () => c.network.heal());
    } else {
      const drop = 0.2 + r.next() * 0.3;
      at(t, `drop ${drop.toFixed(2)}`, () => { c.network.defaults = { ...c.network.defaults, drop }; });
      at(t + 5_000 + r.next() * 20_000, 'drop back', () => { c.network.defaults = { ...c.network.defaults, drop: 0.02 }; });
    }
  }
  let left: string | undefined;
  if (r.next() < 0.4) {
    const id = pick();
    if (id !== permanent) {
      at(when(), `leave ${id}`, () => {
        const node = c.node(id);
        if (node.state !== 'running') return void log.push(`  (${id} is ${node.state}: no leave)`);
        try {
          node.g.leave();
          left = id;
        } catch (err) {
          if ((err as { code?: string }).code !== 'ERR_NOT_READY') throw err;
          log.push(`  (${(err as Error).message})`);
        }
      });
    }
  }
  if (r.next() < 0.4) at(when(), `start n${n + 1} (late join)`, () => addNode(`n${n + 1}`));
  if (permanent !== undefined) {
    at(when(), `crash ${permanent} for good`, () => c.node(permanent).crash());
  }
  c.run(FAULTS_UNTIL);
  // Undo every fault but the permanent crash.
  log.push(`t=${Math.round(c.now)} faults over: heal, resume, restart`);
  c.network.heal();
  c.network.defaults = { ...c.network.defaults, drop: Math.min(c.network.defaults.drop, 0.05) };
  for (const node of c.nodes.values()) {
    if (node.state === 'paused') node.resume();
    if (node.state === 'crashed' && node.id !== permanent) node.start();
  }
  if (permanent !== undefined) {
    // Remove it from some running node, as an operator would once it shows down.
    const removedBy = c.runUntil(() => {
      for (const node of c.nodes.values()) {
        if (node.state !== 'running' || node.g.liveness(permanent) !== 'down' || !isMemberStatus(node.g.record(node.id)!.status)) continue;
        const status = node.g.record(permanent)?.status;
        if (status === undefined || status === 'removed' || status === 'left') return true;
        node.g.remove(permanent);
        log.push(`t=${Math.round(c.now)} ${node.id}: remove ${permanent}`);
        return true;
      }
      return false;
    }, 60_000, 1_000);
    if (removedBy === undefined) throw new Error(`${permanent} never showed down anywhere: ${log.join('\n')}`);
  }
  return { cluster: c, log, removed: permanent, left };
}

function detector() {
  return defaultFailureDetectorOptions(1000);
}
