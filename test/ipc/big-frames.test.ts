// Frames larger than a queue record between the main thread and a real echo worker: they
// cross as fragments both ways and come back byte for byte; small frames overtake a big one
// that waits for room; a side that dies or closes in the middle of a big frame leaves
// nothing half-delivered on the other.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { fragmentDataBytes } from '../../src/ipc/fragment.js';
import { maxRecordBytes } from '../../src/ipc/queue-layout.js';
import { DIE, DIE_REPLY_BYTES, STALL, patternLength, readPattern, writePattern } from './echo-worker.js';
import { bigFrame, checkBigFrame, startEcho, stopEchoes, within } from './echo-harness.js';

test.after(stopEchoes);

/** Sends each frame and collects the echoes (copied), in arrival order. */
async function echoAll(capacity: number, lengths: number[]): Promise<{ lengths: number[]; seeds: number[] }> {
  const { channel } = await startEcho(capacity);
  const got = { lengths: [] as number[], seeds: [] as number[] };
  let finish!: () => void;
  const finished = new Promise<void>((resolve) => (finish = resolve));
  void channel.onReplies((buf, at, length) => {
    got.lengths.push(length);
    got.seeds.push(checkBigFrame(buf, at, length));
    if (got.lengths.length === lengths.length) finish();
  });
  lengths.forEach((n, i) => channel.send(bigFrame(n, i + 1)));
  await within(60_000, finished, 'echoes');
  await channel.close();
  return got;
}

test('frames of every size around the record and fragment limits echo back intact; small ones in order, big ones in order', async () => {
  const capacity = 4096;
  const record = maxRecordBytes(capacity); // 2044
  const data = fragmentDataBytes(record); // 2024
  const lengths = [16, record - 1, record, record + 1, data, 2 * data, 2 * data + 1, 3 * data - 1, 65_536 + 3, 300_001, record];
  const got = await echoAll(capacity, lengths);
  const sent = lengths.map((n, i) => `${i + 1}:${n}`);
  const echoed = got.seeds.map((seed, k) => `${seed}:${got.lengths[k]}`);
  assert.equal([...echoed].sort(), [...sent].sort(), 'every frame came back once, with exactly the bytes sent');
  const order = (big: boolean) => got.seeds.filter((_, k) => got.lengths[k]! > record === big);
  assert.equal(order(false), [1, 2, 3, 5, 11], 'whole-record frames keep their order');
  assert.equal(order(true), [4, 6, 7, 8, 9, 10], 'fragmented frames keep their order');
});

test('600 KiB, 1 MiB and 16 MiB frames cross a 1 MiB queue both ways intact', async () => {
  const lengths = [600 * 1024, 1 << 20, 16 << 20, 600 * 1024];
  const got = await echoAll(1 << 20, lengths);
  assert.equal(got.lengths, lengths);
  assert.equal(got.seeds, [1, 2, 3, 4]);
});

test('small frames sent while a big one waits for room overtake it; every frame arrives intact', async () => {
  const { channel } = await startEcho(1 << 16);
  const order: string[] = [];
  let bad = 0;
  let finish!: () => void;
  const finished = new Promise<void>((resolve) => (finish = resolve));
  const small = 200;
  void channel.onReplies((buf, at, length) => {
    if (length === 3) order.push('stall');
    else if (length > 1000) {
      if (checkBigFrame(buf, at, length) !== 7) bad++;
      order.push('big');
    } else {
      if (readPattern(buf, at, length) < 0) bad++;
      order.push('small');
    }
    if (order.length === small + 2) finish();
  });
  // The shard sleeps on STALL: the big frame fills the queue and waits; the small frames go
  // into the backlog, which is written before the big frame's remaining fragments.
  channel.send(STALL);
  channel.send(bigFrame(1 << 20, 7));
  await new Promise((r) => setImmediate(r));
  assert.ok(channel.bigBytesQueued > 0, 'the big frame waits for room');
  const frame = new Uint8Array(256);
  for (let seq = 1; seq <= small; seq++) {
    const length = patternLength(seq);
    writePattern(frame, 0, length, seq);
    channel.send(frame, 0, length);
  }
  await within(30_000, finished, 'all echoes');
  assert.is(bad, 0);
  assert.is(order[0], 'stall');
  assert.is(order.at(-1), 'big', 'every small frame was answered before the big one');
  assert.is(channel.bigFramesWritten, 1);
  await channel.close();
});

test('a shard that dies in the middle of a big reply: nothing half is handed on, the reply loop ends', async () => {
  const { channel, exited } = await startEcho(1 << 20);
  const lengths: number[] = [];
  const loop = channel.onReplies((_buf, _at, length) => void lengths.push(length));
  channel.send(new Uint8Array([1, 2, 3, 4]));
  channel.send(DIE);
  assert.is(await within(10_000, exited, 'the shard exiting'), 3);
  // Half of the reply's fragments were published before the exit: let the loop read them.
  const until = Date.now() + 10_000;
  while (channel.partialReplyBytes < DIE_REPLY_BYTES / 2 && Date.now() < until) await new Promise((r) => setTimeout(r, 5));
  assert.is(channel.partialReplyBytes, DIE_REPLY_BYTES / 2, 'the partial reply was read, and held back');
  assert.equal(lengths, [4], 'only the whole reply was handed on');
  await within(20_000, channel.close(), 'close');
  await within(20_000, loop, 'reply loop ending');
  assert.is(channel.partialReplyBytes, 0, 'the partial reply was dropped');
  assert.equal(lengths, [4]);
});

test('a coordinator that closes in the middle of a big request: the shard never sees a partial frame', async () => {
  const { channel, served } = await startEcho(1 << 20);
  let closing: Promise<void> | undefined;
  // The shard sleeps on STALL while the big frame fills the queue; it answers STALL only after
  // draining those fragments, and the close comes as that answer arrives: mid-frame.
  void channel.onReplies((_buf, _at, length) => {
    if (length === 3) closing = channel.close();
  });
  channel.send(STALL);
  channel.send(bigFrame(8 << 20, 9));
  const report = await within(10_000, served, 'serve() returning');
  await within(20_000, closing!, 'close');
  assert.ok(channel.fragmentsWritten > 0, 'fragments of the big frame were written');
  assert.is(channel.bigFramesWritten, 0, 'but not all of them');
  assert.ok(report.fragments > 0, `the shard read fragments (${report.fragments})`);
  assert.is(report.joined, 0, 'it joined no frame from them');
  assert.is(report.requests, 1, 'it handled STALL only');
  assert.is(report.largest, 3);
});

test('many big frames in a row through a queue smaller than each stay intact and in order', async () => {
  const lengths = Array.from({ length: 12 }, (_, i) => 100_000 + i * 37_001);
  const got = await echoAll(1 << 16, lengths);
  assert.equal(got.lengths, lengths);
  assert.equal(got.seeds, lengths.map((_, i) => i + 1));
});

test.run();
