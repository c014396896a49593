// Runs on: any thread. The claim's placement cost: how crowded a member would be at a
// partition, counting the members near it on the ring that share its host or rack.
import type { Member } from './member.js';

/** An unassigned partition in an owner table. */
export const FREE = -1;

/** Cost weights: the same member next to itself, the same host, the same rack. */
const SAME_MEMBER = 4;
const SAME_HOST = 2;
const SAME_RACK = 1;

/**
 * Member facts as small integers, and the placement cost. Owner tables are Int32Arrays of
 * member indices (into the canonical, id-sorted member list) or FREE.
 */
export class PlacementCost {
  readonly host: Int32Array;
  readonly rack: Int32Array;
  readonly idHash: Uint32Array;
  /** Cost weights in use: a level with a single value (one host, one rack) counts nothing,
   *  since no placement can avoid it. */
  private readonly sameHost: number;
  private readonly sameRack: number;

  constructor(readonly members: readonly Member[], readonly q: number, readonly spread: number) {
    this.host = intern(members.map((m) => m.host));
    this.rack = intern(members.map((m) => `${m.dc}\u0000${m.rack}`));
    this.idHash = Uint32Array.from(members, (m) => hashString(m.id));
    this.sameHost = this.host.some((h) => h > 0) ? SAME_HOST : 0;
    this.sameRack = this.rack.some((r) => r > 0) ? SAME_RACK : 0;
  }

  /** Whether member m at p has itself, or another member of its host, within the window. */
  crowded(owners: Int32Array, m: number, p: number): boolean {
    const q = this.q;
    const reach = Math.min(this.spread - 1, (q - 1) >> 1);
    for (let d = 1; d <= reach; d++) {
      if (this.relation(m, owners[(p + d) % q]!) >= SAME_HOST || this.relation(m, owners[(p - d + q) % q]!) >= SAME_HOST) return true;
    }
    return false;
  }

  /** Placement cost of member m at partition p against the assigned partitions near it. */
  cost(owners: Int32Array, m: number, p: number): number {
    const q = this.q;
    const reach = Math.min(this.spread - 1, (q - 1) >> 1);
    let cost = 0;
    for (let d = 1; d <= reach; d++) {
      const near = this.spread - d;
      cost += near * this.relation(m, owners[(p + d) % q]!) + near * this.relation(m, owners[(p - d + q) % q]!);
    }
    return cost;
  }

  private relation(m: number, o: number): number {
    if (o === FREE) return 0;
    if (o === m) return SAME_MEMBER;
    if (this.host[o] === this.host[m]) return this.sameHost;
    return this.rack[o] === this.rack[m] ? this.sameRack : 0;
  }

}

function intern(keys: readonly string[]): Int32Array {
  const ids = new Map<string, number>();
  return Int32Array.from(keys, (k) => {
    let id = ids.get(k);
    if (id === undefined) ids.set(k, (id = ids.size));
    return id;
  });
}

/** FNV-1a over UTF-16 code units, then mixed. Part of the claim: never change it, or nodes
 *  running different versions compute different rings. */
export function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return mix32(h);
}

/** murmur3's 32-bit finaliser. */
function mix32(h: number): number {
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}
