// A shard channel between the main thread and a real echo worker: a million frames there
// and back, back-pressure through the backlog, close from either side.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ErrorCode, RingkvError } from '../../src/errors.js';
import { BYE, patternLength, readPattern, writePattern } from './echo-worker.js';
import { startEcho, stopEchoes, within } from './echo-harness.js';

test.after(stopEchoes);

test('1M frames through a worker echo and back: in order, intact, none lost or duplicated', async () => {
  const { channel, served } = await startEcho(1 << 20);
  const total = 1_000_000;
  const inFlight = 1000;
  let sent = 0;
  let received = 0;
  let bad = 0;
  let sentBytes = 0;
  let receivedBytes = 0;
  let finish!: () => void;
  const finished = new Promise<void>((resolve) => (finish = resolve));
  // Frames owed to keep `inFlight` outstanding. The shard gives request space back only at
  // the end of a batch, and a batch goes on while requests keep coming, so even 1000 frames
  // in flight can meet a full queue for a moment (it did on a loaded CI machine): then the
  // rest wait and are tried again shortly.
  let owed = 0;
  let retry: NodeJS.Timeout | undefined;
  const sendOwed = (): void => {
    while (owed > 0) {
      const length = patternLength(sent);
      const r = channel.reserve(length);
      if (r === undefined) {
        retry ??= setTimeout(() => {
          retry = undefined;
          sendOwed();
        }, 1);
        return;
      }
      writePattern(r.buf, r.at, length, sent);
      channel.commit();
      sent++;
      owed--;
      sentBytes += length;
    }
  };
  const replies = channel.onReplies((buf, at, length) => {
    if (readPattern(buf, at, length) !== received || length !== patternLength(received)) bad++;
    received++;
    receivedBytes += length;
    if (sent + owed < total) {
      owed++;
      sendOwed();
    } else if (received === total) finish();
  });
  owed = inFlight;
  sendOwed();
  await within(60_000, finished, 'echo of 1M frames');
  assert.is(received, total);
  assert.is(bad, 0);
  assert.is(receivedBytes, sentBytes);
  await within(20_000, channel.close(), 'close');
  await replies;
  await within(20_000, served, 'worker serve() returning');
});

test('send() never drops: frames beyond a full queue wait in a backlog, in order', async () => {
  const { channel } = await startEcho(1024);
  const total = 50_000;
  let received = 0;
  let bad = 0;
  let finish!: () => void;
  const finished = new Promise<void>((resolve) => (finish = resolve));
  void channel.onReplies((buf, at, length) => {
    if (readPattern(buf, at, length) !== received) bad++;
    if (++received === total) finish();
  });
  const frame = new Uint8Array(204);
  let queued = 0;
  for (let seq = 0; seq < total; seq++) {
    const length = patternLength(seq);
    writePattern(frame, 0, length, seq);
    if (!channel.send(frame, 0, length)) queued++;
  }
  assert.ok(queued > total / 2, `most frames waited in the backlog (${queued})`);
  assert.is(channel.trySend(frame, 0, 4), false, 'trySend does not jump the backlog');
  await within(30_000, channel.writable(), 'backlog written');
  await within(30_000, finished, 'all echoed');
  assert.is(received, total);
  assert.is(bad, 0);
  await channel.close();
});

test('timers still run while replies stream in at 1 in flight (the reply loop takes event-loop turns)', async () => {
  // Polling with microtasks only (for 50 ms): without its own event-loop turns the reply
  // loop would keep the timer from firing while the echoes keep coming.
  const { channel } = await startEcho(4096, {}, { microPollMicros: 50_000, pollMicros: 50_000 });
  const frame = new Uint8Array(16);
  let replies = 0;
  let stop = false;
  void channel.onReplies(() => {
    replies++;
    if (!stop) channel.send(frame);
  });
  channel.send(frame);
  // A poll loop that starved timers would never let this one fire: the outcome is that it
  // fires at all while the echoes stream (how late it fires depends on the machine's load).
  await within(20_000, new Promise((r) => setTimeout(r, 10)), 'a 10 ms timer while replies stream');
  stop = true;
  assert.ok(replies > 0, `replies kept streaming (${replies})`);
  await channel.close();
});

test('a frame above maxFrameBytes is ERR_TOO_LARGE at once, even behind a backlog; reserve() is limited to one record', async () => {
  const { channel } = await startEcho(1024, {}, { maxFrameBytes: 4096 });
  const code = (fn: () => unknown): string | undefined => {
    try {
      fn();
    } catch (err) {
      return err instanceof RingkvError ? err.code : String(err);
    }
    return undefined;
  };
  assert.is(channel.maxRecordFrameBytes, 508);
  assert.is(channel.maxFrameBytes, 4096);
  assert.is(code(() => channel.send(new Uint8Array(4097))), ErrorCode.TOO_LARGE);
  assert.is(code(() => channel.sendOwned(new Uint8Array(4097))), ErrorCode.TOO_LARGE);
  assert.is(code(() => channel.reserve(509)), ErrorCode.TOO_LARGE);
  assert.is(code(() => channel.trySend(new Uint8Array(509))), ErrorCode.TOO_LARGE);
  while (channel.send(new Uint8Array(100)));
  assert.is(code(() => channel.send(new Uint8Array(4097))), ErrorCode.TOO_LARGE);
  assert.is(channel.bigBytesQueued, 0, 'nothing of a refused frame was queued');
  await channel.close();
});

test('closing the coordinator ends the shard serve() and the reply loop; later sends throw ERR_CLOSED', async () => {
  const { channel, served } = await startEcho(4096, { spinMicros: 10 });
  let replies = 0;
  const loop = channel.onReplies(() => replies++);
  for (let i = 0; i < 10; i++) channel.send(new Uint8Array(16));
  await new Promise((r) => setTimeout(r, 100)); // the shard goes to sleep
  await within(20_000, channel.close(), 'close');
  await within(20_000, loop, 'reply loop');
  await within(20_000, served, 'serve() returning');
  assert.is(replies, 10);
  try {
    channel.send(new Uint8Array(16));
    assert.unreachable('send after close');
  } catch (err) {
    assert.ok(err instanceof RingkvError && err.code === ErrorCode.CLOSED);
  }
});

test('closing from the shard ends the coordinator reply loop after the replies before it; later sends throw ERR_CLOSED', async () => {
  const { channel, served } = await startEcho(4096, { spinMicros: 10 });
  let replies = 0;
  const loop = channel.onReplies(() => replies++);
  for (let i = 0; i < 5; i++) channel.send(new Uint8Array(8));
  channel.send(BYE);
  for (let i = 0; i < 5; i++) channel.send(new Uint8Array(8)); // after the close: never answered
  await within(20_000, loop, 'reply loop ending');
  await within(20_000, served, 'serve() returning');
  assert.is(replies, 5);
  try {
    channel.send(new Uint8Array(8));
    assert.unreachable('send after close');
  } catch (err) {
    assert.ok(err instanceof RingkvError && err.code === ErrorCode.CLOSED);
  }
  await channel.close();
});

test('kick() wakes a sleeping shard so it runs its event loop (control-plane messages)', async () => {
  const { channel, worker } = await startEcho(4096, { spinMicros: 10, idleWaitMs: 60_000 });
  void channel.onReplies(() => {});
  // Asleep once it counted a sleep: nothing but a wake-up ends that sleep within a minute.
  await within(20_000, (async () => {
    while (channel.requests.stats().consumerSleeps === 0) await new Promise((r) => setTimeout(r, 1));
  })(), 'the shard asleep');
  let pongs = 0;
  worker.on('message', (m: unknown) => void (m === 'pong' && pongs++));
  worker.postMessage('ping');
  await new Promise((r) => setTimeout(r, 100));
  assert.is(pongs, 0, 'a sleeping shard does not see its messages');
  const wakes = channel.requests.stats().consumerWakes;
  channel.kick();
  await within(20_000, (async () => {
    while (pongs === 0) await new Promise((r) => setTimeout(r, 1));
  })(), 'the kicked shard answering');
  assert.is(pongs, 1, 'the kicked shard answered');
  assert.is(channel.requests.stats().consumerWakes, wakes + 1, 'the kick woke it (it was asleep: one wake-up)');
  await channel.close();
});

test('a reply loop parked on waitAsync wakes for a reply after the shard slept', async () => {
  // The shard's sleeps last a minute and the reply loop parks with no timeout: once each
  // side counted its sleep for this round, only the request (or the reply) wakes it.
  const { channel } = await startEcho(4096, { spinMicros: 10, idleWaitMs: 60_000 });
  const got: number[] = [];
  let wake!: () => void;
  let arrived = new Promise<void>((resolve) => (wake = resolve));
  void channel.onReplies((buf, at) => {
    got.push(buf[at]!);
    wake();
  });
  for (let round = 0; round < 3; round++) {
    await within(20_000, (async () => {
      while (channel.requests.stats().consumerSleeps <= round || channel.replies.stats().consumerSleeps <= round) await new Promise((r) => setTimeout(r, 1));
    })(), `round ${round}: both sides parked`);
    channel.send(new Uint8Array([round]));
    await within(20_000, arrived, `reply ${round}`);
    arrived = new Promise<void>((resolve) => (wake = resolve));
  }
  assert.equal(got, [0, 1, 2]);
  assert.ok(channel.requests.stats().consumerWakes >= 3, 'each request woke the sleeping shard');
  assert.ok(channel.replies.stats().consumerWakes >= 3, 'each reply woke the parked reply loop');
  await channel.close();
});

test.run();
