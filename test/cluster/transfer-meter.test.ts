// Transfers' progress numbers (transfer-meter.ts): the rate over its window, the bytes left
// estimated from each task's bytes per fraction of its range, and the ETA from both. Pure:
// times are given, not read.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { TransferMeter } from '../../src/cluster/transfer/transfer-meter.js';
import type { TransferProgress } from '../../src/cluster/transfer/transfer-file.js';

const task = (partition: number): TransferProgress => ({ partition, source: 'a/s0', target: 'c/s0', epoch: 2, cursor: 0n });

test('nothing measured yet: no rate, the size unknown, no ETA; nothing pending: ETA 0', () => {
  const m = new TransferMeter();
  assert.is(m.rate(1000), 0);
  assert.is(m.remainingBytes([task(0)], () => 0), null);
  assert.is(m.etaMs(null, 1, 1000), null);
  assert.is(m.remainingBytes([], () => 0), 0);
  assert.is(m.etaMs(0, 0, 1000), 0);
  // Pending but nothing streaming (a target down): no ETA, even with nothing left to measure.
  assert.is(m.etaMs(0, 3, 1000), null);
});

test('a task a quarter through after 1000 bytes has about 3000 left; one not started counts as the mean size', () => {
  const m = new TransferMeter();
  const t = task(0);
  const waiting = task(1);
  const progress = new Map([[t, 0.25], [waiting, 0]]);
  m.page(t, 500, 0, 0);
  m.page(t, 500, 0.125, 1000);
  assert.is(m.bytesOf(t), 1000);
  assert.is(m.remainingBytes([t], (x) => progress.get(x)!), 3000);
  // The waiting task is taken as one whole partition of the measured size (4000 bytes).
  assert.is(m.remainingBytes([t, waiting], (x) => progress.get(x)!), 7000);
});

test('the rate is bytes over the window; the ETA is what is left at that rate; a stall drops the rate to 0', () => {
  const m = new TransferMeter();
  const t = task(0);
  for (let ms = 0; ms <= 6000; ms += 500) m.page(t, 1000, ms / 12_000, ms);
  // 1000 bytes every 500 ms: 2000 B/s once a whole window has passed.
  const rate = m.rate(6000);
  assert.ok(rate > 1900 && rate < 2300, `rate ${rate}`);
  assert.is(m.etaMs(4000, 1, 6000), Math.round((4000 / rate) * 1000));
  assert.is(m.rate(6000 + 10_000), 0, 'no page for longer than the window');
  assert.is(m.etaMs(4000, 1, 6000 + 10_000), null);
});

test.run();
