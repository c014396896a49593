// Runs on: main thread; pure. The gossip message: a plain JSON object carried in a CONTROL
// message between nodes (or handed over directly in the simulation). Encode and decode live
// here; nothing else builds or reads one.
//
//   { "v": 1,                      format version; a receiver refuses versions it lacks
//     "type": "syn" | "ack",       syn: a round's push (expects an ack); ack: the pull reply
//     "from": "n1",                the sender's node id
//     "to": "n2" | null,           the intended node (null: sent to a seed by address)
//     "nodes": [NodeRecord, ...],  syn: the sender's whole view; ack: the records where the
//                                  receiver knew more than the syn said (node-record.ts)
//     "ring": RingJSON | null }    the sender's ring, when it believes the receiver's is older
//
// Field names and type strings never change; new fields may be added (receivers ignore
// fields they do not know), a change of meaning takes a new `v`.
import { ErrorCode, RingkvError } from '../../errors.js';
import { Ring, type RingJSON } from '../../ring/index.js';
import { checkName, parseNodeRecord, type NodeRecord } from './node-record.js';

/** The format version this code writes; it reads exactly this one. */
export const GOSSIP_VERSION = 1;

/** Most records one message may carry: a cluster larger than this is out of scope, and the
 *  bound keeps a hostile message from costing more than a few milliseconds to check. */
export const MAX_GOSSIP_NODES = 1024;

export type GossipType = 'syn' | 'ack';

export interface GossipMessage {
  readonly v: typeof GOSSIP_VERSION;
  readonly type: GossipType;
  readonly from: string;
  readonly to: string | null;
  readonly nodes: readonly NodeRecord[];
  readonly ring: RingJSON | null;
}

/** A checked message, with the ring already rebuilt (and validated) when one came along. */
export interface ParsedGossip {
  readonly message: GossipMessage;
  readonly ring: Ring | undefined;
}

function protocol(message: string, cause?: unknown): RingkvError {
  return new RingkvError(ErrorCode.PROTOCOL, `bad gossip message: ${message}`, { cause });
}

/**
 * Checks a message received from a peer, whole, before anything acts on it. Throws
 * ERR_PROTOCOL saying what is wrong; never returns a partly checked message.
 */
export function parseGossip(raw: unknown): ParsedGossip {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw protocol('not a JSON object');
  const m = raw as Record<string, unknown>;
  if (m.v !== GOSSIP_VERSION) throw protocol(`version ${JSON.stringify(m.v)} is not supported (this node speaks ${GOSSIP_VERSION})`);
  if (m.type !== 'syn' && m.type !== 'ack') throw protocol(`type ${JSON.stringify(m.type)} is neither syn nor ack`);
  try {
    const from = checkName('from', m.from);
    const to = m.to === null || m.to === undefined ? null : checkName('to', m.to);
    if (!Array.isArray(m.nodes)) throw protocol('nodes must be an array');
    if (m.nodes.length > MAX_GOSSIP_NODES) throw protocol(`${m.nodes.length} node records, more than ${MAX_GOSSIP_NODES}`);
    const nodes = m.nodes.map(parseNodeRecord);
    const seen = new Set<string>();
    for (const r of nodes) {
      if (seen.has(r.id)) throw protocol(`node ${r.id} appears twice`);
      seen.add(r.id);
    }
    let ring: Ring | undefined;
    if (m.ring !== null && m.ring !== undefined) ring = Ring.fromJSON(m.ring as RingJSON);
    const message: GossipMessage = { v: GOSSIP_VERSION, type: m.type, from, to, nodes, ring: ring === undefined ? null : ring.toJSON() };
    return { message, ring };
  } catch (err) {
    if (err instanceof RingkvError && err.code === ErrorCode.PROTOCOL) throw err;
    throw protocol(err instanceof Error ? err.message : String(err), err);
  }
}

export function gossipMessage(type: GossipType, from: string, to: string | null, nodes: readonly NodeRecord[], ring: Ring | undefined): GossipMessage {
  return { v: GOSSIP_VERSION, type, from, to, nodes, ring: ring === undefined ? null : ring.toJSON() };
}
