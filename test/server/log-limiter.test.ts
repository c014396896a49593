// The rate limit of log lines an outsider can trigger: one per source per interval, the
// next one let through counting those held back, sources apart from each other.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { LogLimiter, sourceOf } from '../../src/log-limiter.js';

test('one line per source per minute; the next counts the lines held back', () => {
  let now = 0;
  const l = new LogLimiter(60_000, () => now);
  assert.is(l.allow('10.0.0.1'), 0);
  for (let i = 0; i < 5; i++) assert.is(l.allow('10.0.0.1'), false);
  assert.is(l.allow('10.0.0.2'), 0, 'another source is logged');
  now = 59_999;
  assert.is(l.allow('10.0.0.1'), false);
  now = 60_000;
  assert.is(l.allow('10.0.0.1'), 6);
  assert.is(l.allow('10.0.0.1'), false);
});

test('the source of an address drops the IPv4-mapped prefix', () => {
  assert.is(sourceOf('::ffff:127.0.0.1'), '127.0.0.1');
  assert.is(sourceOf('::1'), '::1');
  assert.is(sourceOf(undefined), 'unknown');
});

test.run();
