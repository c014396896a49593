// WATCH across nodes of a cluster (real processes on 127.0.0.x, over TCP): a key watched
// through one node and written through another aborts EXEC on the first, and a write of
// another key does not.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Cluster } from '../support/cluster-harness.js';

const NODE_FLAGS = ['--shards', '1', '--n', '2', '--r', '2', '--w', '2', '--sync-mode', 'none', '--gossip-interval-ms', '200'];

test('EXEC answers nil after a write of the watched key through another node, and only then', async () => {
  // Addresses of its own, so it does not meet other cluster tests on 127.0.0.2.. .
  const cluster = new Cluster(2, NODE_FLAGS, [
    { id: 'n1', host: '127.0.13.2' },
    { id: 'n2', host: '127.0.13.3' },
  ]);
  try {
    await cluster.start();
    await cluster.settle(2);
    const a = cluster.nodes[0]!.client();
    const b = cluster.nodes[1]!.client();
    try {
      await a.set('cw', '1');
      await a.watch('cw');
      await b.set('cw-other', 'x');
      assert.equal(await a.multi().incr('cw').exec(), [[null, 2]], 'another key written elsewhere: EXEC runs');

      await a.watch('cw');
      await b.set('cw', '10');
      assert.is(await a.multi().incr('cw').exec(), null, 'the watched key written through the other node');
      assert.is(await a.get('cw'), '10');

      await a.watch('cw');
      await b.del('cw');
      assert.is(await a.multi().set('cw', 'mine').exec(), null, 'deleted through the other node');
      assert.is(await b.get('cw'), null);
    } finally {
      a.disconnect();
      b.disconnect();
    }
  } finally {
    await cluster.close();
  }
});

test.run();
