// Runs on: any thread. What an operator should know about where a ring can put replicas:
// fewer hosts (or nodes) than N means some key keeps two copies on one machine (or in one
// process), so one failure takes out more than one replica. Pure: the ring and N in,
// sentences out; the cluster node logs them and /ring and `ringkv status` show them.
import { nodeOf, type Member } from './member.js';

/** The ring a warning is about: its members and how many partitions each owns. */
export interface PlacementView {
  readonly members: readonly Member[];
  counts(): Map<string, number>;
}

/** One sentence per weakness of the placement for N replicas; none when each copy has a host of its own. */
export function placementWarnings(ring: PlacementView, n: number): string[] {
  const owning = ring.members.filter((m) => (ring.counts().get(m.id) ?? 0) > 0);
  const nodes = new Set(owning.map((m) => nodeOf(m.id)));
  const hosts = new Set(owning.map((m) => m.host));
  // A lone server (one node, or shards 's0', 's1' with no node part) shares one process
  // by design: nothing to warn about.
  const lone = nodes.size <= 1 || owning.every((m) => nodeOf(m.id) === m.id);
  if (lone || n <= 1) return [];
  const out: string[] = [];
  if (nodes.size < n) {
    out.push(`only ${nodes.size} nodes own partitions for N=${n}: some keys keep two copies on one node, and that node's failure takes both; add nodes or lower N`);
  }
  if (hosts.size < Math.min(n, nodes.size)) {
    out.push(`only ${hosts.size} host${hosts.size === 1 ? '' : 's'} (${[...hosts].sort().join(', ')}) for N=${n}: replicas of a key share a machine; run nodes on distinct hosts to survive a machine failure`);
  }
  return out;
}
