// Runs on: any thread. A ring member (one shard, the unit that owns partitions) and the
// checks every ring input goes through.
import { ErrorCode, RingkvError } from '../errors.js';

/**
 * One physical owner of partitions: a shard of a node (id 'node/sK'). Members on the same
 * host are distinct owners, but placement prefers distinct racks, then hosts, then nodes.
 */
export interface Member {
  /** Unique across the cluster: node id + shard index, e.g. 'n1/s0'. */
  readonly id: string;
  /** The machine. Members with the same host fail together. */
  readonly host: string;
  /** The rack, within `dc`. A host sits in one rack. */
  readonly rack: string;
  /** The data centre. */
  readonly dc: string;
  /** Capacity: the member owns a share of partitions proportional to it. Positive, finite. */
  readonly weight: number;
}

/**
 * The node a member is a shard of: its id up to the last '/' ('n1/s0' -> 'n1'). An id with
 * no '/' (the shards of a single server: 's0', 's1') is a node of its own, so a lone
 * server's shards count as distinct owners.
 */
export function nodeOf(id: string): string {
  const slash = id.lastIndexOf('/');
  return slash < 0 ? id : id.slice(0, slash);
}

/** Largest supported partition count: owners fit in a Uint16Array index space and the
 *  claim and the preference-list cache stay small (65536 x a few bytes). */
export const MAX_PARTITIONS = 65536;

/** Default partition count (Riak's default ring size is 64; 256 keeps shares within
 *  ~1% for up to ~32 members and still builds a full cache in well under a millisecond). */
export const DEFAULT_PARTITIONS = 256;

export function invalid(message: string): RingkvError {
  return new RingkvError(ErrorCode.INVALID_ARGUMENT, message);
}

/** log2(q). Throws ERR_INVALID_ARGUMENT unless q is a power of two in [1, MAX_PARTITIONS]. */
export function partitionBits(q: number): number {
  if (!Number.isInteger(q) || q < 1 || q > MAX_PARTITIONS || (q & (q - 1)) !== 0) {
    throw invalid(`partition count must be a power of two from 1 to ${MAX_PARTITIONS}, got ${q}`);
  }
  return 31 - Math.clz32(q);
}

/**
 * Validates members and returns them sorted by id (the canonical order every ring
 * computation uses, so that results never depend on the order members were listed).
 */
export function canonicalMembers(members: readonly Member[]): Member[] {
  if (members.length === 0) throw invalid('a ring needs at least one member');
  const sorted = [...members].sort((a, b) => compareIds(a.id, b.id));
  for (let i = 0; i < sorted.length; i++) {
    const m = sorted[i]!;
    for (const field of ['id', 'host', 'rack', 'dc'] as const) {
      if (typeof m[field] !== 'string' || m[field] === '') {
        throw invalid(`member ${JSON.stringify(m.id)}: ${field} must be a non-empty string`);
      }
    }
    if (typeof m.weight !== 'number' || !Number.isFinite(m.weight) || m.weight <= 0) {
      throw invalid(`member ${m.id}: weight must be a positive finite number, got ${m.weight}`);
    }
    if (i > 0 && sorted[i - 1]!.id === m.id) throw invalid(`member id ${m.id} appears twice`);
  }
  const placeOfHost = new Map<string, Member>();
  for (const m of sorted) {
    const other = placeOfHost.get(m.host);
    if (other === undefined) placeOfHost.set(m.host, m);
    else if (other.rack !== m.rack || other.dc !== m.dc) {
      throw invalid(`host ${m.host} is in ${other.dc}/${other.rack} (member ${other.id}) and in ${m.dc}/${m.rack} (member ${m.id}): a host sits in one rack of one DC`);
    }
  }
  return sorted;
}

/** Code-unit order of ids (not locale order: identical on every node). */
export function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
