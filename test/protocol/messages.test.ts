// Frames round-trip, and bad frames (truncated, mutated, lying lengths) raise ERR_PROTOCOL
// without reading outside the frame or throwing anything else.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FrameReader, FrameType, FrameWriter, REPLICATE_MANY_MAX_BYTES, REPLICATE_MANY_MAX_ENTRIES, decodeReply, decodeRequest, encodeReply, encodeRequest, type Reply, type Request } from '../../src/protocol/index.js';
import { Random } from '../../src/storage/env/random.js';

const b = (s: string) => new TextEncoder().encode(s);

const samples: Request[] = [
  { type: FrameType.GET, hi: 0xdeadbeef, lo: 7, key: b('user:1') },
  {
    type: FrameType.PUT, hi: 1, lo: 0xffffffff, key: b('k'), context: new Uint8Array([1, 2, 3]),
    value: new Uint8Array(70_000).fill(9), writtenAt: 1_700_000_000_123, expiresAt: 0, maxSiblings: 64, lww: false, overwrite: false, increment: false,
  },
  { type: FrameType.PUT, hi: 2, lo: 3, key: b(''), context: new Uint8Array(0), value: null, writtenAt: 5, expiresAt: 10, maxSiblings: 1, lww: true, overwrite: false, increment: false },
  { type: FrameType.PUT, hi: 2, lo: 3, key: b('o'), context: new Uint8Array(0), value: b('x'), writtenAt: 5, expiresAt: 0, maxSiblings: 9, lww: false, overwrite: true, increment: false },
  // INCRBY at the replica: the value is the delta.
  { type: FrameType.PUT, hi: 2, lo: 3, key: b('n'), context: new Uint8Array(0), value: b('-12'), writtenAt: 5, expiresAt: 0, maxSiblings: 9, lww: false, overwrite: false, increment: true },
  { type: FrameType.REPLICATE, hi: 4, lo: 5, key: b('r'), object: b('object-bytes') },
  { type: FrameType.HINT, target: 'n1/s3', hi: 6, lo: 7, key: b('h'), object: b('obj') },
  { type: FrameType.HINTS_FOR, target: 'n1/s3', max: 500 },
  { type: FrameType.SCAN, from: { hi: 1, lo: 2, end: false }, to: { hi: 0, lo: 0, end: true }, max: 100, now: 1_700_000_000_000 },
  { type: FrameType.HINT_DONE, target: 'n1/s3', hi: 6, lo: 7, key: b('h'), object: b('obj') },
  { type: FrameType.TREE, from: { hi: 0x40000000, lo: 0, end: false }, to: { hi: 0x44000000, lo: 0, end: false }, depth: 10, maxEntries: 16384 },
  { type: FrameType.TREE, from: { hi: 0, lo: 0, end: false }, to: { hi: 0, lo: 0, end: true }, depth: 0, maxEntries: 1 },
  { type: FrameType.RANGE, from: { hi: 9, lo: 0xffffffff, end: false }, to: { hi: 0, lo: 0, end: true }, max: 512, maxBytes: 262144 },
  { type: FrameType.PURGE, from: { hi: 3, lo: 0, end: false }, to: { hi: 4, lo: 0, end: false }, before: 1_700_000_000_000, max: 8192 },
  { type: FrameType.DROP, from: { hi: 3, lo: 0, end: false }, to: { hi: 0, lo: 0, end: true }, before: 1_700_000_000_000, max: 8192 },
  {
    type: FrameType.REPLICATE_MANY,
    entries: [{ hi: 4, lo: 5, key: b('r1'), object: b('object-1') }, { hi: 0xffffffff, lo: 0, key: b(''), object: b('') }, { hi: 4, lo: 5, key: b('r1'), object: b('object-2') }],
  },
  { type: FrameType.REPLICATE_MANY, entries: [] },
];

test('every request type round-trips', () => {
  const w = new FrameWriter();
  const r = new FrameReader();
  samples.forEach((req, i) => {
    const frame = encodeRequest(w, 1000 + i, req).slice();
    r.reset(frame);
    assert.is(r.requestId, 1000 + i);
    assert.equal(decodeRequest(r), req);
  });
});

test('replies round-trip', () => {
  const w = new FrameWriter();
  const r = new FrameReader();
  const replies: Reply[] = [
    { type: FrameType.OBJECT, object: b('xyz') },
    { type: FrameType.OBJECT, object: new Uint8Array(0) },
    { type: FrameType.OBJECT_PARTIAL, object: b('partial') },
    { type: FrameType.ACK },
    { type: FrameType.ERROR, code: 'ERR_QUORUM', message: 'only 1 of 2 acks' },
    { type: FrameType.HINTS, hints: [{ hi: 1, lo: 2, key: b('a'), object: b('o1') }, { hi: 3, lo: 4, key: b(''), object: b('') }] },
    { type: FrameType.KEYS, keys: [b('k1'), b('')], done: false, next: { hi: 7, lo: 8, end: false } },
    { type: FrameType.KEYS, keys: [], done: true, next: { hi: 0, lo: 0, end: true } },
    { type: FrameType.HASHES, entries: 12, complete: true, leaves: new Uint8Array(32).fill(3) },
    { type: FrameType.HASHES, entries: 4000, complete: true, leaves: new Uint8Array(32 * 1024).fill(5) },
    { type: FrameType.HASHES, entries: 16385, complete: false, leaves: new Uint8Array(0) },
    { type: FrameType.OBJECTS, entries: [{ hi: 1, lo: 2, key: b('a'), object: b('o1') }, { hi: 1, lo: 2, key: b('b'), object: b('') }], done: false, next: { hi: 1, lo: 3, end: false } },
    { type: FrameType.OBJECTS, entries: [], done: true, next: { hi: 0, lo: 0, end: true } },
    { type: FrameType.PURGED, purged: 17, done: false, next: { hi: 3, lo: 9, end: false } },
    { type: FrameType.PURGED, purged: 0, done: true, next: { hi: 0, lo: 0, end: true } },
  ];
  for (const reply of replies) {
    r.reset(encodeReply(w, 42, reply).slice());
    assert.is(r.requestId, 42);
    assert.equal(decodeReply(r), reply);
  }
});

test('frames several in one buffer are read one after another', () => {
  const w = new FrameWriter();
  const parts = samples.map((req, i) => encodeRequest(w, i, req).slice());
  const all = new Uint8Array(Buffer.concat(parts));
  const r = new FrameReader();
  let at = 0;
  for (let i = 0; i < samples.length; i++) {
    r.reset(all, at, all.length - at);
    assert.equal(decodeRequest(r), samples[i]);
    at += parts[i]!.length;
  }
});

test('TREE, HASHES, RANGE and OBJECTS frames that lie raise ERR_PROTOCOL', () => {
  const w = new FrameWriter();
  const r = new FrameReader();
  const bad = (frame: Uint8Array, decode: (r: FrameReader) => unknown) => {
    r.reset(frame.slice());
    assert.throws(() => decode(r), (e: any) => e.code === 'ERR_PROTOCOL');
  };
  // A tree deeper than MAX_TREE_DEPTH (12).
  bad(encodeRequest(w, 1, { type: FrameType.TREE, from: { hi: 0, lo: 0, end: false }, to: { hi: 0, lo: 0, end: true }, depth: 13, maxEntries: 1 }), decodeRequest);
  // A lower bound at the end of the ring: patch TREE's from.end byte (body offset 8).
  const tree = encodeRequest(w, 1, samples.find((x) => x.type === FrameType.TREE)!).slice();
  tree[12 + 8] = 1;
  bad(tree, decodeRequest);
  // Leaves that are not whole hashes, not a power of two, or present on an incomplete reply.
  for (const [complete, n] of [[true, 33], [true, 96], [true, 0], [false, 32]] as const) {
    w.begin(FrameType.HASHES, 1);
    w.u32(1);
    w.u8(complete ? 1 : 0);
    w.bytes(new Uint8Array(n));
    bad(w.end(), decodeReply);
  }
  // A done flag that is neither 0 nor 1; a count larger than the frame.
  const objects = encodeReply(w, 1, { type: FrameType.OBJECTS, entries: [], done: true, next: { hi: 0, lo: 0, end: true } }).slice();
  objects[12 + 4] = 2;
  bad(objects, decodeReply);
  w.begin(FrameType.OBJECTS, 1);
  w.u32(1_000_000);
  bad(w.end(), decodeReply);
  // PURGE with a time that is not a number; PURGED with a bad done flag.
  bad(encodeRequest(w, 1, { type: FrameType.PURGE, from: { hi: 0, lo: 0, end: false }, to: { hi: 0, lo: 0, end: true }, before: NaN, max: 1 }), decodeRequest);
  const purged = encodeReply(w, 1, { type: FrameType.PURGED, purged: 1, done: true, next: { hi: 0, lo: 0, end: true } }).slice();
  purged[12 + 4] = 2;
  bad(purged, decodeReply);
});

test('REPLICATE_MANY is bounded: too many entries or bytes raise ERR_PROTOCOL both ways; one large entry alone passes', () => {
  const w = new FrameWriter();
  const r = new FrameReader();
  const entry = (object: Uint8Array) => ({ hi: 1, lo: 2, key: b('k'), object });
  const protocol = (e: any) => e.code === 'ERR_PROTOCOL';
  const many = (count: number, object = new Uint8Array(0)): Request => ({ type: FrameType.REPLICATE_MANY, entries: Array.from({ length: count }, () => entry(object)) });
  // At the limits: round-trips.
  for (const req of [many(REPLICATE_MANY_MAX_ENTRIES), many(2, new Uint8Array(REPLICATE_MANY_MAX_BYTES / 2 - 1)), many(1, new Uint8Array(REPLICATE_MANY_MAX_BYTES * 2))]) {
    r.reset(encodeRequest(w, 1, req).slice());
    assert.equal(decodeRequest(r), req);
  }
  // Past them: the encoder refuses.
  assert.throws(() => encodeRequest(w, 1, many(REPLICATE_MANY_MAX_ENTRIES + 1)), protocol);
  assert.throws(() => encodeRequest(w, 1, many(2, new Uint8Array(REPLICATE_MANY_MAX_BYTES / 2))), protocol);
  // ...and so does the decoder, for frames written by hand.
  const handMade = (count: number, object: Uint8Array): Uint8Array => {
    w.begin(FrameType.REPLICATE_MANY, 1);
    w.u32(count);
    for (let i = 0; i < count; i++) {
      w.u32(1);
      w.u32(2);
      w.bytes(b('k'));
      w.bytes(object);
    }
    return w.end().slice();
  };
  for (const frame of [handMade(REPLICATE_MANY_MAX_ENTRIES + 1, new Uint8Array(0)), handMade(3, new Uint8Array(REPLICATE_MANY_MAX_BYTES / 2))]) {
    r.reset(frame);
    assert.throws(() => decodeRequest(r), protocol);
  }
  // A count that claims more entries than the frame holds; bytes left over after the entries.
  const lying = handMade(2, b('o'));
  lying[12] = 3;
  r.reset(lying);
  assert.throws(() => decodeRequest(r), protocol);
  const short = handMade(2, b('o'));
  short[12] = 1;
  r.reset(short);
  assert.throws(() => decodeRequest(r), protocol);
});

test('truncated frames at every length raise ERR_PROTOCOL', () => {
  const w = new FrameWriter();
  const r = new FrameReader();
  for (const req of samples.slice(0, 1).concat(samples.slice(3))) {
    const frame = encodeRequest(w, 1, req).slice();
    for (let n = 0; n < frame.length; n++) {
      assert.throws(() => r.reset(frame, 0, n), (e: any) => e.code === 'ERR_PROTOCOL');
    }
  }
});

test('100k mutated frames decode or raise ERR_PROTOCOL, nothing else', () => {
  const rnd = new Random(99);
  const w = new FrameWriter();
  const r = new FrameReader();
  const frames = samples.map((req, i) => encodeRequest(w, i, req).slice()).filter((f) => f.length < 1000);
  let rejected = 0;
  for (let i = 0; i < 100_000; i++) {
    const f = frames[rnd.int(frames.length)]!.slice();
    const flips = 1 + rnd.int(4);
    for (let k = 0; k < flips; k++) f[rnd.int(f.length)] = rnd.int(256);
    try {
      r.reset(f);
      decodeRequest(r);
    } catch (err: any) {
      if (err.code !== 'ERR_PROTOCOL') throw err;
      rejected++;
    }
  }
  assert.ok(rejected > 10_000, `rejected ${rejected}`);
});

test.run();
