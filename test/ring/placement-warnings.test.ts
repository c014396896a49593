// Placement warnings: fewer hosts or nodes than N is said, a well spread ring says nothing.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { placementWarnings, Ring, type Member } from '../../src/ring/index.js';

const member = (id: string, host: string): Member => ({ id, host, rack: 'r1', dc: 'dc1', weight: 1 });

test('three nodes on one address: a shared-host warning, no shared-node warning', () => {
  const ring = Ring.build(['n1', 'n2', 'n3'].flatMap((n) => [member(`${n}/s0`, '127.0.0.1'), member(`${n}/s1`, '127.0.0.1')]), 64);
  const w = placementWarnings(ring, 3);
  assert.is(w.length, 1, w.join('\n'));
  assert.match(w[0]!, /only 1 host \(127\.0\.0\.1\) for N=3/);
});

test('two nodes for N=3: a shared-node warning', () => {
  const ring = Ring.build([member('n1/s0', 'h1'), member('n1/s1', 'h1'), member('n2/s0', 'h2')], 64);
  const w = placementWarnings(ring, 3);
  assert.ok(w.some((x) => /only 2 nodes own partitions for N=3/.test(x)), w.join('\n'));
});

test('three hosts for N=3, and a lone server, say nothing', () => {
  assert.equal(placementWarnings(Ring.build([member('a/s0', 'h1'), member('b/s0', 'h2'), member('c/s0', 'h3')], 64), 3), []);
  // A single server's shards ('s0', 's1') share one process by design.
  assert.equal(placementWarnings(Ring.build([member('s0', 'local'), member('s1', 'local')], 64), 2), []);
  assert.equal(placementWarnings(Ring.build([member('n1/s0', 'h1'), member('n1/s1', 'h1')], 64), 2), []);
});

test.run();
