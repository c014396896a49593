// Runs on: any thread. The peer link's own messages: the frames two nodes exchange on a TCP
// link besides the data frames of src/protocol/messages.ts, which travel unchanged.
//
// Every frame has the data frames' 12-byte header (src/protocol/frame.ts: length u32, type
// u8, flags u8 = 0, reserved u16 = 0, request id u32, all little-endian) and the same field
// encodings (u32 little-endian; bytes and string = varint length + bytes, strings UTF-8).
// Link-level types are >= 128 (on the wire: numbers never change or get reused; new ones
// are added at the end). Types < 128 are data requests (1..63) and replies (64..127).
//
//   type            id   body
//   HELLO      128   0   cluster string, node string, minVersion u32, maxVersion u32,
//                        nonce bytes (NONCE_BYTES)
//   WELCOME    129   0   node string, version u32, nonce bytes (NONCE_BYTES), mac bytes (32)
//   PROOF      130   0   mac bytes (32)
//   ACCEPTED   131   0   (empty)
//   REFUSED    132   0   code string (RefusalCode), reason string
//   ROUTE      133   0   replica string, timeoutMs u32, ringEpoch u32
//                        -> every data request after it on this link is for `replica`, which
//                           should answer within `timeoutMs`, routed by the ring of epoch
//                           `ringEpoch` (0: none); sent only when one of them changes
//   CONTROL    134  id   json bytes (UTF-8 JSON: gossip, admin)
//   CONTROL_REPLY 135 id ok u8; ok = 1: json bytes; ok = 0: code string, message string
//
// The handshake (the client is the node that opened the connection):
//
//   client                                   server
//     HELLO (cluster, id, versions, nonce c) ->   same cluster? not its own id? a common version?
//                  <- WELCOME (id, version, nonce s, mac("server"))  or REFUSED, close
//     checks the server's id, version and mac
//     PROOF (mac("client"))                  ->   checks mac; no other live link from this id?
//                  <- ACCEPTED                  or REFUSED, close
//     data and CONTROL frames both ways; either side may send REFUSED and close instead
//
//   mac(role) = HMAC-SHA256(secret, role ‖ cluster ‖ client id ‖ server id ‖ nonce c ‖
//               nonce s ‖ version), each field varint length + bytes, version as a u32.
// The role label keeps a server's mac from serving as a client's proof; the nonces make
// every handshake's macs fresh; the version is covered so it cannot be downgraded unseen.
// The link is authenticated, not encrypted: frames after the handshake carry no mac.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { FrameReader, FrameWriter, protocolError } from '../../protocol/index.js';

export const PeerFrameType = {
  HELLO: 128,
  WELCOME: 129,
  PROOF: 130,
  ACCEPTED: 131,
  REFUSED: 132,
  ROUTE: 133,
  CONTROL: 134,
  CONTROL_REPLY: 135,
} as const;

/** First link-level frame type; everything below is a data frame (src/protocol/messages.ts). */
export const FIRST_LINK_FRAME_TYPE = 128;

/** Why a handshake was refused (in REFUSED frames; on the wire: only ever added). */
export const RefusalCode = {
  WRONG_CLUSTER: 'WRONG_CLUSTER',
  NO_COMMON_VERSION: 'NO_COMMON_VERSION',
  BAD_MAC: 'BAD_MAC',
  /** The client claims the server's own node id. */
  SELF: 'SELF',
  /** Another authenticated link from the same node id is live. */
  DUPLICATE_NODE: 'DUPLICATE_NODE',
  /** The server is not the node the client meant to reach. */
  WRONG_NODE: 'WRONG_NODE',
  /** A frame that has no place at this point of the handshake. */
  UNEXPECTED: 'UNEXPECTED',
} as const;

/** Random bytes per side per handshake: enough that a nonce never repeats. */
export const NONCE_BYTES = 32;
/** HMAC-SHA256 output. */
export const MAC_BYTES = 32;
/**
 * Largest frame before a link is authenticated: handshake frames hold ids and names only,
 * so a stranger cannot make a node buffer a 64 MiB frame.
 */
export const MAX_HANDSHAKE_FRAME_BYTES = 4096;

export interface Hello {
  cluster: string;
  node: string;
  minVersion: number;
  maxVersion: number;
  nonce: Uint8Array;
}

export interface Welcome {
  node: string;
  version: number;
  nonce: Uint8Array;
  mac: Uint8Array;
}

export interface Refused {
  code: string;
  reason: string;
}

/** What both macs of one handshake cover. */
export interface HandshakeFacts {
  cluster: string;
  clientNode: string;
  serverNode: string;
  clientNonce: Uint8Array;
  serverNonce: Uint8Array;
  version: number;
}

export type ControlReply = { ok: true; json: Uint8Array } | { ok: false; code: string; message: string };

export function newNonce(): Uint8Array {
  return new Uint8Array(randomBytes(NONCE_BYTES));
}

export function encodeHello(w: FrameWriter, h: Hello): Uint8Array {
  w.begin(PeerFrameType.HELLO, 0);
  w.string(h.cluster);
  w.string(h.node);
  w.u32(h.minVersion);
  w.u32(h.maxVersion);
  w.bytes(h.nonce);
  return w.end();
}

export function decodeHello(r: FrameReader): Hello {
  const h: Hello = { cluster: r.string(), node: r.string(), minVersion: r.u32(), maxVersion: r.u32(), nonce: r.bytes().slice() };
  r.done();
  if (h.nonce.length !== NONCE_BYTES) throw protocolError(`HELLO nonce of ${h.nonce.length} bytes, not ${NONCE_BYTES}`);
  return h;
}

export function encodeWelcome(w: FrameWriter, m: Welcome): Uint8Array {
  w.begin(PeerFrameType.WELCOME, 0);
  w.string(m.node);
  w.u32(m.version);
  w.bytes(m.nonce);
  w.bytes(m.mac);
  return w.end();
}

export function decodeWelcome(r: FrameReader): Welcome {
  const m: Welcome = { node: r.string(), version: r.u32(), nonce: r.bytes().slice(), mac: r.bytes().slice() };
  r.done();
  if (m.nonce.length !== NONCE_BYTES) throw protocolError(`WELCOME nonce of ${m.nonce.length} bytes, not ${NONCE_BYTES}`);
  return m;
}

export function encodeProof(w: FrameWriter, mac: Uint8Array): Uint8Array {
  w.begin(PeerFrameType.PROOF, 0);
  w.bytes(mac);
  return w.end();
}

export function decodeProof(r: FrameReader): Uint8Array {
  const mac = r.bytes().slice();
  r.done();
  return mac;
}

export function encodeAccepted(w: FrameWriter): Uint8Array {
  w.begin(PeerFrameType.ACCEPTED, 0);
  return w.end();
}

export function encodeRefused(w: FrameWriter, m: Refused): Uint8Array {
  w.begin(PeerFrameType.REFUSED, 0);
  w.string(m.code);
  w.string(m.reason);
  return w.end();
}

export function decodeRefused(r: FrameReader): Refused {
  const m: Refused = { code: r.string(), reason: r.string() };
  r.done();
  return m;
}

export function encodeRoute(w: FrameWriter, replica: string, timeoutMs: number, ringEpoch = 0): Uint8Array {
  w.begin(PeerFrameType.ROUTE, 0);
  w.string(replica);
  w.u32(timeoutMs);
  w.u32(ringEpoch);
  return w.end();
}

export function decodeRoute(r: FrameReader): { replica: string; timeoutMs: number; ringEpoch: number } {
  const m = { replica: r.string(), timeoutMs: r.u32(), ringEpoch: r.u32() };
  r.done();
  return m;
}

export function encodeControl(w: FrameWriter, requestId: number, json: Uint8Array): Uint8Array {
  w.begin(PeerFrameType.CONTROL, requestId);
  w.bytes(json);
  return w.end();
}

/** The JSON bytes: a view into the frame. */
export function decodeControl(r: FrameReader): Uint8Array {
  const json = r.bytes();
  r.done();
  return json;
}

export function encodeControlReply(w: FrameWriter, requestId: number, reply: ControlReply): Uint8Array {
  w.begin(PeerFrameType.CONTROL_REPLY, requestId);
  w.u8(reply.ok ? 1 : 0);
  if (reply.ok) w.bytes(reply.json);
  else {
    w.string(reply.code);
    w.string(reply.message);
  }
  return w.end();
}

export function decodeControlReply(r: FrameReader): ControlReply {
  const ok = r.u8();
  let reply: ControlReply;
  if (ok === 1) reply = { ok: true, json: r.bytes() };
  else if (ok === 0) reply = { ok: false, code: r.string(), message: r.string() };
  else throw protocolError(`CONTROL_REPLY ok byte ${ok}`);
  r.done();
  return reply;
}

/** The highest version both ranges hold, or undefined when they do not overlap. */
export function chooseVersion(a: { min: number; max: number }, b: { min: number; max: number }): number | undefined {
  const top = Math.min(a.max, b.max);
  return top >= Math.max(a.min, b.min) ? top : undefined;
}

/** The handshake mac of `role` ('server' in WELCOME, 'client' in PROOF). */
export function handshakeMac(secret: Uint8Array, role: 'client' | 'server', f: HandshakeFacts): Uint8Array {
  const w = macWriter;
  w.begin(0, 0); // a scratch frame: only the body bytes are hashed
  w.string(role);
  w.string(f.cluster);
  w.string(f.clientNode);
  w.string(f.serverNode);
  w.bytes(f.clientNonce);
  w.bytes(f.serverNonce);
  w.u32(f.version);
  const body = w.end().subarray(12);
  return createHmac('sha256', secret).update(body).digest();
}

/** Constant-time comparison of a received mac with the expected one. */
export function macMatches(expected: Uint8Array, received: Uint8Array): boolean {
  return expected.length === received.length && timingSafeEqual(expected, received);
}

const macWriter = new FrameWriter();

/** The secret as bytes (a string is taken as UTF-8). */
export function secretBytes(secret: string | Uint8Array): Uint8Array {
  return typeof secret === 'string' ? new TextEncoder().encode(secret) : secret;
}
