// /readyz's checks: a node is ready when its own shards are up and the default quorum is
// reachable; a peer being down does not make it unready.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readinessChecks, renderChecks } from '../../src/server/admin/readiness.js';

const members = (downIds: string[]) => ['n1/s0', 'n1/s1', 'n2/s0', 'n2/s1', 'n3/s0', 'n3/s1'].map((id) => ({ id, up: !downIds.includes(id) }));
const ready = (checks: ReturnType<typeof readinessChecks>) => checks.every((c) => c.ok);

test('a peer down: the survivors stay ready', () => {
  const checks = readinessChecks({ replicas: members(['n3/s0', 'n3/s1']), draining: false, self: 'n1', needed: 2 });
  assert.ok(ready(checks), renderChecks(checks, true));
  assert.not.ok(checks.some((c) => c.name.includes('n3')), 'another node\'s shards are not checked one by one');
});

test('its own shards down: not ready, naming the shard', () => {
  const checks = readinessChecks({ replicas: members(['n1/s0', 'n1/s1']), draining: false, self: 'n1', needed: 2 });
  assert.not.ok(ready(checks));
  assert.match(renderChecks(checks, false), '[-]shard n1/s0 failed: down');
});

test('too few replicas reachable for the default quorum: not ready', () => {
  const checks = readinessChecks({ replicas: members(['n2/s0', 'n2/s1', 'n3/s0', 'n3/s1', 'n1/s1']), draining: false, self: 'n1', needed: 2 });
  assert.not.ok(ready(checks));
  assert.match(renderChecks(checks, false), '[-]quorum failed: 1 replica(s) reachable, the default quorum needs 2');
});

test('a single server checks every shard', () => {
  const checks = readinessChecks({ replicas: [{ id: 's0', up: true }, { id: 's1', up: false }], draining: false, needed: 1 });
  assert.not.ok(ready(checks));
  assert.match(renderChecks(checks, false), '[-]shard s1 failed: down');
});

test.run();
