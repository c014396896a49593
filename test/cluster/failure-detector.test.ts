// The failure detector on its own: phi over heartbeat inter-arrival times, the timeout mode,
// unreachable reports and replies, suspicion turning into down, restarts.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { defaultFailureDetectorOptions, FailureDetector, phiOf, type FailureDetectorOptions } from '../../src/cluster/membership/failure-detector.js';

const options = (o: Partial<FailureDetectorOptions> = {}): FailureDetectorOptions => ({ ...defaultFailureDetectorOptions(1000), ...o });

/** A peer heard from every `every` ms from t = 0 to t = until. Returns the last arrival. */
function feed(fd: FailureDetector, id: string, every: (i: number) => number, until: number): number {
  let t = 0;
  fd.reset(id, t);
  for (let i = 0; t + every(i) <= until; i++) {
    t += every(i);
    fd.heartbeat(id, t);
  }
  return t;
}

test('phi: log10(2) at the mean, growing with silence, finite far out', () => {
  assert.ok(Math.abs(phiOf(1000, 1000, 100) - Math.log10(2)) < 1e-9);
  let last = -1;
  for (let t = 0; t <= 20_000; t += 250) {
    const phi = phiOf(t, 1000, 200);
    assert.ok(phi >= last, `phi falls at ${t}`);
    last = phi;
  }
  const far = phiOf(1e7, 1000, 100);
  assert.ok(Number.isFinite(far) && far > 1000, `far tail ${far}`);
  assert.ok(phiOf(0, 1000, 100) < 1e-6);
});

test('a peer heard every second stays alive; silent, it turns suspect, then down after downAfterMs', () => {
  const fd = new FailureDetector(options());
  const last = feed(fd, 'a', () => 1000, 60_000);
  assert.is(fd.liveness('a', last + 900), 'alive');
  assert.is(fd.liveness('a', last + 3_000), 'alive', 'within the acceptable pause');
  let suspectAt = -1;
  for (let t = last; t < last + 60_000; t += 100) {
    const l = fd.liveness('a', t);
    if (l === 'suspect' && suspectAt < 0) suspectAt = t;
    if (l === 'down') {
      assert.ok(suspectAt > 0, 'suspect before down');
      assert.ok(t - suspectAt >= 10_000 && t - suspectAt < 10_200, `down ${t - suspectAt} ms after suspect`);
      break;
    }
  }
  const silence = suspectAt - last;
  assert.ok(silence > 3_000 && silence < 10_000, `suspected after ${silence} ms of silence`);
  assert.ok(fd.phi('a', suspectAt) >= 8 && fd.phi('a', suspectAt - 100) < 8);
  fd.heartbeat('a', last + 40_000);
  assert.is(fd.liveness('a', last + 40_000), 'alive', 'a heartbeat ends it at once');
});

test('irregular heartbeats make the detector more patient than regular ones', () => {
  const regular = new FailureDetector(options({ minStdDevMs: 50 }));
  const irregular = new FailureDetector(options({ minStdDevMs: 50 }));
  const a = feed(regular, 'p', () => 1000, 100_000);
  const b = feed(irregular, 'p', (i) => (i % 2 === 0 ? 200 : 1800), 100_000);
  assert.ok(irregular.phi('p', b + 4_500) < regular.phi('p', a + 4_500));
});

test('the history adapts to a new heartbeat rate', () => {
  const fd = new FailureDetector(options({ minStdDevMs: 100, acceptablePauseMs: 0 }));
  let t = feed(fd, 'p', () => 500, 50_000);
  const before = fd.phi('p', t + 2_000);
  for (let i = 0; i < 120; i++) fd.heartbeat('p', (t += 2_000));
  assert.ok(fd.phi('p', t + 2_000) < before / 10, 'slower heartbeats are the new normal');
});

test('timeout mode: suspect once silent for suspectAfterMs, not before', () => {
  const fd = new FailureDetector(options({ mode: 'timeout', suspectAfterMs: 5_000, downAfterMs: 2_000 }));
  fd.reset('a', 0);
  fd.heartbeat('a', 1_000);
  assert.is(fd.liveness('a', 5_999), 'alive');
  assert.is(fd.liveness('a', 6_000), 'suspect');
  assert.is(fd.liveness('a', 7_999), 'suspect');
  assert.is(fd.liveness('a', 8_000), 'down');
});

test('unreachableThreshold failed requests in a row make a peer suspect, whatever its heartbeat; a reply or a heartbeat clears them', () => {
  const fd = new FailureDetector(options());
  feed(fd, 'a', () => 1000, 10_000);
  fd.unreachable('a', 10_050);
  assert.is(fd.liveness('a', 10_100), 'alive', 'one lost message is not a failure');
  fd.reply('a');
  fd.unreachable('a', 10_150);
  assert.is(fd.liveness('a', 10_200), 'alive', 'the reply reset the count');
  fd.unreachable('a', 10_300);
  assert.is(fd.liveness('a', 10_300), 'suspect');
  fd.reply('a');
  assert.is(fd.liveness('a', 10_400), 'alive');
  fd.unreachable('a', 10_500);
  fd.unreachable('a', 10_600);
  assert.is(fd.liveness('a', 10_600), 'suspect');
  fd.heartbeat('a', 11_000);
  assert.is(fd.liveness('a', 11_000), 'alive');
  const eager = new FailureDetector(options({ unreachableThreshold: 1 }));
  feed(eager, 'a', () => 1000, 10_000);
  eager.unreachable('a', 10_050);
  assert.is(eager.liveness('a', 10_050), 'suspect');
});

test('unreachable reports that go on make a peer down downAfterMs after the threshold was reached', () => {
  const fd = new FailureDetector(options({ downAfterMs: 5_000 }));
  feed(fd, 'a', () => 1000, 10_000);
  fd.unreachable('a', 9_500);
  fd.unreachable('a', 10_000);
  assert.is(fd.liveness('a', 14_999), 'suspect');
  fd.unreachable('a', 14_000); // later reports do not restart the clock
  assert.is(fd.liveness('a', 15_000), 'down');
});

test('a reset (restart: new generation) makes a down peer alive with a fresh history', () => {
  const fd = new FailureDetector(options());
  feed(fd, 'a', () => 1000, 10_000);
  assert.is(fd.liveness('a', 60_000), 'down');
  fd.reset('a', 60_000);
  assert.is(fd.liveness('a', 60_000), 'alive');
  assert.is(fd.silence('a', 61_000), 1_000);
});

test('an unknown peer is alive with phi 0; a forgotten one is unknown again', () => {
  const fd = new FailureDetector(options());
  assert.is(fd.liveness('x', 1e9), 'alive');
  assert.is(fd.phi('x', 1e9), 0);
  assert.is(fd.silence('x', 1e9), undefined);
  fd.unreachable('x', 5); // nothing to mark
  assert.is(fd.liveness('x', 10), 'alive');
  fd.reset('x', 0);
  assert.ok(fd.has('x'));
  fd.forget('x');
  assert.not.ok(fd.has('x'));
});

test('bad options are refused with ERR_INVALID_ARGUMENT', () => {
  const bad: Partial<FailureDetectorOptions>[] = [
    { mode: 'gossip' as 'phi' }, { phiThreshold: 0 }, { expectedIntervalMs: -1 }, { minStdDevMs: NaN },
    { suspectAfterMs: Infinity }, { acceptablePauseMs: -5 }, { downAfterMs: -1 }, { unreachableThreshold: 0 }, { unreachableThreshold: 1.5 },
  ];
  for (const o of bad) {
    assert.throws(() => new FailureDetector(options(o)), (err: { code?: string }) => err.code === 'ERR_INVALID_ARGUMENT', JSON.stringify(o));
  }
});

test.run();
