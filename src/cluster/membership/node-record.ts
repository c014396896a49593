// Runs on: main thread; pure. A node's record in the membership (what gossip carries about
// each node), its validation, and the merge rule every node applies to two copies of it.
//
// On the wire (JSON, inside a gossip message; field names never change, fields are only
// ever added):
//
//   { "id": "n1",                  node id, unique in the cluster, 1..64 chars [A-Za-z0-9._-]
//     "address": "10.0.0.1:7379",  where its peer port listens: host:port or [v6]:port
//     "dc": "dc1", "rack": "r1",   placement
//     "shards": 4,                 shard count: ring members n1/s0 .. n1/s3
//     "weight": 1,                 weight of each of its shards in the claim
//     "generation": 3,             incarnation: bumped (durably) at every start
//     "heartbeat": 1042,           the owner's version counter within a generation
//     "ringEpoch": 7,              the ring epoch the owner has adopted
//     "transfers": 0,              ranges the owner's shards still have to stream to new
//                                  replicas (transfer.ts); absent in older records: 0
//     "status": "up",              joining | up | leaving | left | removed
//     "statusVersion": 5 }         bumped by whoever changes the status
//
// Merge rule (`mergeRecords`), applied field group by field group, so that every node that
// has seen the same copies ends with the same record whatever the order it saw them in:
// - The owner's fields (address, dc, rack, shards, weight, generation, heartbeat, ringEpoch,
//   transfers)
//   come from the copy with the larger (generation, heartbeat): only the owner writes them,
//   and it bumps its heartbeat with every change, so this is the owner's latest word.
// - The status comes from the copy with the larger (statusVersion, rank of status), where
//   joining < up < leaving < left < removed: other nodes change it too (the claimant marks
//   a joiner up, an operator removes a dead node), and of two changes made concurrently at
//   the same version the one further along the lifecycle wins.
import { ErrorCode, RingkvError } from '../../errors.js';

export const NODE_STATUSES = ['joining', 'up', 'leaving', 'left', 'removed'] as const;
export type NodeStatus = (typeof NODE_STATUSES)[number];

/** Lifecycle order: of two statuses set at the same statusVersion, the later one wins. */
const STATUS_RANK: Readonly<Record<NodeStatus, number>> = { joining: 0, up: 1, leaving: 2, left: 3, removed: 4 };

/** Who a node is (from its configuration): the owner fields that do not change per round. */
export interface NodeIdentity {
  readonly id: string;
  readonly address: string;
  readonly dc: string;
  readonly rack: string;
  readonly shards: number;
  readonly weight: number;
}

export interface NodeRecord {
  readonly id: string;
  readonly address: string;
  readonly dc: string;
  readonly rack: string;
  readonly shards: number;
  readonly weight: number;
  readonly generation: number;
  readonly heartbeat: number;
  readonly ringEpoch: number;
  /** Transfers the owner still has to send (range-cleanup.ts waits for 0 on every node). */
  readonly transfers: number;
  readonly status: NodeStatus;
  readonly statusVersion: number;
}

/** Most shards a node may declare (a node runs one worker thread per shard). */
export const MAX_SHARDS = 1024;
/** Longest id, dc or rack name: they appear in member ids, metrics labels and logs. */
const MAX_NAME = 64;
/** Longest address: a bracketed IPv6 address with a port, or a DNS name. */
const MAX_ADDRESS = 300;
const NAME = /^[A-Za-z0-9._-]+$/;

/** Whether the node owns (or is about to own) partitions: joining, up and leaving nodes. */
export function isMemberStatus(status: NodeStatus): boolean {
  return status === 'joining' || status === 'up' || status === 'leaving';
}

/** The host part of 'host:port' or '[v6]:port' (members with one host fail together). */
export function hostOf(address: string): string {
  const colon = address.lastIndexOf(':');
  const host = colon < 0 ? address : address.slice(0, colon);
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

/** Checks a name (node id, dc, rack); returns it. Throws ERR_INVALID_ARGUMENT. */
export function checkName(what: string, value: unknown): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_NAME || !NAME.test(value)) {
    throw new RingkvError(ErrorCode.INVALID_ARGUMENT, `${what} must be 1..${MAX_NAME} characters of A-Z a-z 0-9 . _ -, got ${JSON.stringify(value)}`);
  }
  return value;
}

/** Checks an address 'host:port'; returns it. Throws ERR_INVALID_ARGUMENT. */
export function checkAddress(value: unknown): string {
  const bad = (): never => {
    throw new RingkvError(ErrorCode.INVALID_ARGUMENT, `address must be host:port (or [v6]:port), got ${JSON.stringify(value)}`);
  };
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_ADDRESS) return bad();
  const colon = value.lastIndexOf(':');
  if (colon <= 0) return bad();
  const port = Number(value.slice(colon + 1));
  if (!/^\d{1,5}$/.test(value.slice(colon + 1)) || port < 1 || port > 65535) return bad();
  if (/\s/.test(value) || hostOf(value) === '') return bad();
  return value;
}

function count(what: string, value: unknown, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    throw new RingkvError(ErrorCode.INVALID_ARGUMENT, `${what} must be an integer from ${min} to ${max}, got ${JSON.stringify(value)}`);
  }
  return value;
}

/**
 * A record from untrusted JSON, checked field by field and copied (no extra fields kept).
 * Throws ERR_INVALID_ARGUMENT naming the field.
 */
export function parseNodeRecord(raw: unknown): NodeRecord {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new RingkvError(ErrorCode.INVALID_ARGUMENT, 'a node record must be a JSON object');
  }
  const r = raw as Record<string, unknown>;
  const id = checkName('node id', r.id);
  const at = (what: string) => `node ${id}: ${what}`;
  const weight = r.weight;
  if (typeof weight !== 'number' || !Number.isFinite(weight) || weight <= 0) {
    throw new RingkvError(ErrorCode.INVALID_ARGUMENT, `${at('weight')} must be a positive finite number, got ${JSON.stringify(weight)}`);
  }
  const status = r.status;
  if (typeof status !== 'string' || !(NODE_STATUSES as readonly string[]).includes(status)) {
    throw new RingkvError(ErrorCode.INVALID_ARGUMENT, `${at('status')} must be one of ${NODE_STATUSES.join(', ')}, got ${JSON.stringify(status)}`);
  }
  return {
    id,
    address: checkAddress(r.address),
    dc: checkName(at('dc'), r.dc),
    rack: checkName(at('rack'), r.rack),
    shards: count(at('shards'), r.shards, 1, MAX_SHARDS),
    weight,
    generation: count(at('generation'), r.generation, 1),
    heartbeat: count(at('heartbeat'), r.heartbeat, 0),
    ringEpoch: count(at('ringEpoch'), r.ringEpoch, 0),
    transfers: r.transfers === undefined ? 0 : count(at('transfers'), r.transfers, 0),
    status: status as NodeStatus,
    statusVersion: count(at('statusVersion'), r.statusVersion, 0),
  };
}

/** Orders the owner's versions: (generation, heartbeat), then the content as a last resort
 *  (an honest owner never sends two contents under one version; the tie-break only keeps
 *  every node's choice the same if one did). */
export function compareIncarnation(a: NodeRecord, b: NodeRecord): number {
  if (a.generation !== b.generation) return a.generation - b.generation;
  if (a.heartbeat !== b.heartbeat) return a.heartbeat - b.heartbeat;
  const ka = ownerKey(a);
  const kb = ownerKey(b);
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}

/** Orders statuses: (statusVersion, lifecycle rank). */
export function compareStatus(a: NodeRecord, b: NodeRecord): number {
  if (a.statusVersion !== b.statusVersion) return a.statusVersion - b.statusVersion;
  return STATUS_RANK[a.status] - STATUS_RANK[b.status];
}

function ownerKey(r: NodeRecord): string {
  return JSON.stringify([r.address, r.dc, r.rack, r.shards, r.weight, r.ringEpoch, r.transfers]);
}

/**
 * The merge of two copies of one node's record (commutative, associative, idempotent).
 * Returns `a` itself when `b` adds nothing, so callers can test for change with ===.
 * REQUIRES: a.id === b.id.
 */
export function mergeRecords(a: NodeRecord, b: NodeRecord): NodeRecord {
  const owner = compareIncarnation(a, b) >= 0 ? a : b;
  const status = compareStatus(a, b) >= 0 ? a : b;
  if (owner === a && status === a) return a;
  if (owner === b && status === b) return b;
  return { ...owner, status: status.status, statusVersion: status.statusVersion };
}

/** Whether two records say the same thing. */
export function sameRecord(a: NodeRecord, b: NodeRecord): boolean {
  return a === b || (compareIncarnation(a, b) === 0 && a.status === b.status && a.statusVersion === b.statusVersion);
}
