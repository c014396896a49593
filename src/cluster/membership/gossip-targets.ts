// Runs on: main thread; pure. Whom a gossip round talks to.
//
// Each round: `fanout` peers chosen uniformly among those not down (suspects included, so
// they can refute the suspicion); with probability down / (reachable + 1) one down peer as
// well (so a recovered peer is noticed even if it does not gossip to us first); and, with
// probability 1 / (reachable + 1), one seed (what heals a cluster split into islands that
// each know only themselves, as in Cassandra). A node with no ring yet, or no reachable
// peer, always adds a seed: joiners that found only each other must still reach the
// cluster. Left and removed nodes get nothing.
import { randomInt, sample, type RandomSource } from './time-source.js';
import type { Liveness } from './failure-detector.js';
import { isMemberStatus, type NodeRecord } from './node-record.js';

/** Where a message goes: a known node (with its address), or a seed known only by address. */
export type Destination = { readonly node: string; readonly address: string } | { readonly seed: string };

export function chooseTargets(
  random: RandomSource,
  self: NodeRecord,
  records: readonly NodeRecord[],
  liveness: (id: string) => Liveness,
  seeds: readonly string[],
  fanout: number,
  hasRing: boolean,
): Destination[] {
  const reachable: NodeRecord[] = [];
  const down: NodeRecord[] = [];
  for (const r of records) {
    if (r.id === self.id || !isMemberStatus(r.status)) continue;
    (liveness(r.id) === 'down' ? down : reachable).push(r);
  }
  const picks = sample(random, reachable, fanout);
  if (down.length > 0 && random.next() < down.length / (reachable.length + 1)) picks.push(down[randomInt(random, down.length)]!);
  const out: Destination[] = picks.map((r) => ({ node: r.id, address: r.address }));
  const foreignSeeds = seeds.filter((s) => s !== self.address);
  if (foreignSeeds.length > 0 && (!hasRing || reachable.length === 0 || random.next() < 1 / (reachable.length + 1))) {
    const seed = foreignSeeds[randomInt(random, foreignSeeds.length)]!;
    if (!out.some((d) => 'node' in d && d.address === seed)) {
      const known = records.find((r) => r.address === seed && r.id !== self.id && isMemberStatus(r.status));
      out.push(known === undefined ? { seed } : { node: known.id, address: known.address });
    }
  }
  return out;
}
