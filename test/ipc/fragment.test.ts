// The fragment record and its reassembly, in one thread over a real queue: fragmentation and
// joining byte for byte, whole frames between fragments, a partial frame never handed on,
// every malformed or out-of-order fragment refused as corruption, and buffer reuse.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ErrorCode, RingkvError } from '../../src/errors.js';
import {
  FRAGMENT_DATA_BYTES,
  FRAGMENT_HEADER_BYTES,
  fragmentDataBytes,
  isFragment,
  putFragmentHeader,
  writeFragment,
} from '../../src/ipc/fragment.js';
import { Reassembler } from '../../src/ipc/reassembler.js';
import { SpscQueue } from '../../src/ipc/queue.js';
import { FrameWriter, MAX_FRAME_BYTES } from '../../src/protocol/index.js';
import { bigFrame, checkBigFrame } from './echo-harness.js';

const MAX = 1 << 20;

/** A producer and a consumer over one new queue of `capacity` bytes, in this thread. */
function queue(capacity: number): { producer: SpscQueue; consumer: SpscQueue } {
  const { sab } = SpscQueue.create(capacity);
  return { producer: new SpscQueue(sab, 'producer'), consumer: new SpscQueue(sab, 'consumer') };
}

/** Streams `frames` (whole when they fit a record, else as fragments) through the queue; returns what the reader handed on. */
function stream(capacity: number, frames: Uint8Array[]): Uint8Array[] {
  const { producer, consumer } = queue(capacity);
  const dataBytes = fragmentDataBytes(producer.maxRecordBytes);
  const reassembler = new Reassembler(MAX);
  const out: Uint8Array[] = [];
  const drain = (): void => {
    consumer.drain((buf, at, length) => {
      if (!isFragment(buf, at, length)) out.push(buf.slice(at, at + length));
      else {
        const frame = reassembler.add(buf, at, length);
        if (frame !== undefined) out.push(frame.slice());
        reassembler.release();
      }
    });
  };
  let seq = 0;
  for (const f of frames) {
    if (f.length <= producer.maxRecordBytes) {
      while (!producer.tryWrite(f)) drain();
      continue;
    }
    seq++;
    for (let offset = 0; offset < f.length;) {
      const n = writeFragment(producer, f, 0, f.length, offset, seq, dataBytes);
      if (n === 0) drain();
      offset += n;
    }
  }
  producer.publish();
  drain();
  return out;
}

function code(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return err instanceof RingkvError ? err.code : String(err);
  }
  return undefined;
}

test('fragmentation: frames of 1 byte over a record up to many times the queue are joined byte for byte', () => {
  for (const capacity of [64, 1024, 1 << 16]) {
    const record = capacity / 2 - 4;
    const lengths = [record + 1, 2 * record, 3 * record + 5, 7 * capacity + 3];
    const frames = lengths.map((n, i) => bigFrame(n, i + 1));
    const out = stream(capacity, frames);
    assert.equal(out.map((f) => f.length), lengths, `capacity ${capacity}`);
    assert.equal(out.map((f) => checkBigFrame(f, 0, f.length)), [1, 2, 3, 4], `capacity ${capacity}: exact bytes`);
  }
});

test('whole frames between the fragments of a big frame pass straight through', () => {
  const { producer, consumer } = queue(1024);
  const dataBytes = fragmentDataBytes(producer.maxRecordBytes);
  const big = bigFrame(2000, 5);
  const seen: string[] = [];
  const reassembler = new Reassembler(MAX);
  let offset = 0;
  for (let round = 0; offset < big.length; round++) {
    offset += writeFragment(producer, big, 0, big.length, offset, 1, dataBytes);
    assert.ok(producer.tryWrite(new Uint8Array([round, 0, 0, 0])));
    producer.publish();
    consumer.drain((buf, at, length) => {
      if (!isFragment(buf, at, length)) seen.push(`small ${buf[at]}`);
      else if (reassembler.add(buf, at, length) !== undefined) seen.push('big');
    });
  }
  // 2000 bytes in fragments of 488: five fragments, a small frame after each.
  assert.equal(seen, ['small 0', 'small 1', 'small 2', 'small 3', 'big', 'small 4'], 'the big frame is handed on once, when its last fragment arrives');
  assert.is(reassembler.fragments, 5);
});

test('a partial frame is never handed on, and a reset drops it', () => {
  const r = new Reassembler(MAX);
  const frag = new Uint8Array(FRAGMENT_HEADER_BYTES + 8);
  putFragmentHeader(frag, 0, 1, 24, 0);
  assert.is(r.add(frag, 0, frag.length), undefined);
  putFragmentHeader(frag, 0, 1, 24, 8);
  assert.is(r.add(frag, 0, frag.length), undefined);
  assert.ok(r.partial);
  assert.is(r.partialBytes, 16);
  r.reset();
  assert.not.ok(r.partial);
  // A new frame starts cleanly after the reset.
  putFragmentHeader(frag, 0, 2, 8, 0);
  assert.is(r.add(frag, 0, frag.length)?.length, 8);
});

test('corruption: out of order, skipped, restarted, mixed frames, overruns and oversize totals are ERR_CORRUPTION', () => {
  const frag = (seq: number, total: number, offset: number, n = 8): Uint8Array => {
    const f = new Uint8Array(FRAGMENT_HEADER_BYTES + n);
    putFragmentHeader(f, 0, seq, total, offset);
    return f;
  };
  const cases: [string, Uint8Array[]][] = [
    ['a continuation with no frame started', [frag(1, 32, 8)]],
    ['a skipped fragment', [frag(1, 32, 0), frag(1, 32, 16)]],
    ['a repeated fragment', [frag(1, 32, 0), frag(1, 32, 0)]],
    ['a fragment of another frame', [frag(1, 32, 0), frag(2, 32, 8)]],
    ['a changed total', [frag(1, 32, 0), frag(1, 40, 8)]],
    ['an overrun', [frag(1, 12, 0), frag(1, 12, 8)]],
    ['a total above the limit', [frag(1, MAX + 1, 0)]],
    ['a zero total', [frag(1, 0, 0)]],
    ['a header without data', [frag(1, 32, 0, 0)]],
  ];
  for (const [what, frags] of cases) {
    const r = new Reassembler(MAX);
    const last = frags.pop()!;
    for (const f of frags) r.add(f, 0, f.length);
    assert.is(code(() => r.add(last, 0, last.length)), ErrorCode.CORRUPTION, what);
    assert.not.ok(r.partial, `${what}: the partial frame is dropped`);
  }
});

test('no protocol frame reads as a fragment: a frame starts with its length, below 2^26', () => {
  const w = new FrameWriter();
  for (const bodyBytes of [0, 1, 1000, 70_000]) {
    w.begin(1, 0x47415246); // a request id equal to the marker does not matter: it is not first
    for (let i = 0; i < bodyBytes; i++) w.u8(0x47);
    const f = w.end();
    assert.not.ok(isFragment(f, 0, f.length));
  }
  const top = new Uint8Array(12);
  new DataView(top.buffer).setUint32(0, MAX_FRAME_BYTES - 4, true);
  assert.ok(top[3]! < 0x47, 'the largest frame length has a small fourth byte');
  const f = new Uint8Array(FRAGMENT_HEADER_BYTES + 1);
  putFragmentHeader(f, 0, 1, 1, 0);
  assert.ok(isFragment(f, 0, f.length));
});

test('fragment size: 128 KiB on big queues, what a record leaves on small ones, none on a queue too small', () => {
  assert.is(fragmentDataBytes((1 << 20) / 2 - 4), FRAGMENT_DATA_BYTES);
  assert.is(fragmentDataBytes(2044), 2024);
  assert.is(fragmentDataBytes(28), 8);
  assert.is(fragmentDataBytes(20), 0);
  assert.is(FRAGMENT_DATA_BYTES % 8, 0);
});

test('buffers: a released buffer is reused for the next big frame; one above keepBytes is not kept', () => {
  const r = new Reassembler(MAX, 4096);
  const whole = (total: number): Uint8Array => {
    const f = new Uint8Array(FRAGMENT_HEADER_BYTES + total);
    putFragmentHeader(f, 0, 1, total, 0);
    return r.add(f, 0, f.length)!;
  };
  const a = whole(4000);
  r.release();
  const b = whole(3000);
  assert.is(b.buffer, a.buffer, 'the kept buffer was reused');
  assert.is(b.length, 3000, 'as a view of exactly the frame');
  const c = whole(2000);
  assert.is.not(c.buffer, a.buffer, 'a buffer still lent is not reused');
  r.release();
  const big = whole(5000);
  r.release();
  const next = whole(5000);
  assert.is.not(next.buffer, big.buffer, 'a buffer above keepBytes was not kept');
});

test.run();
