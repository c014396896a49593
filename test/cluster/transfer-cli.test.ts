// `ringkv cluster` (a child process, as an operator runs it) against the admin servers of
// three in-process cluster nodes: status shows the nodes and the transfers; commands need
// the secret and say why they are refused; `leave` waits, printing progress, until the
// node has streamed its data away and is left, and the data is then on the new owners.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startAdminServer, type AdminServer } from '../../src/server/admin/index.js';
import { runCli } from '../support/cli-harness.js';
import { enterNetns } from '../support/netns.js';
import { N, Nodes, SECRET, eventually, hostOf, missingReplicas, preload } from './transfer-harness.js';
import { tokenOf } from '../support/diverge.js';
import { FrameType } from '../../src/protocol/index.js';
import { EMPTY_CLOCK, encodeContext } from '../../src/version/index.js';

const inside = await enterNetns();

if (inside) {
  const c = new Nodes();
  const admins = new Map<string, AdminServer>();
  let keys: Map<string, string>;
  const at = (id: string): string => `${hostOf(id)}:${admins.get(id)!.port}`;
  const withSecret = { RINGKV_CLUSTER_SECRET: SECRET };

  test.before(async () => {
    for (const id of ['n1', 'n2', 'n3']) {
      const node = await c.start(id);
      admins.set(id, await startAdminServer(node.store, { host: hostOf(id), port: 0, n: N, cluster: node.admin(SECRET) }));
    }
    await c.ringOf(['n1', 'n2', 'n3']);
    await c.transfersDone();
    keys = await preload(c.node('n1'), 'cli', 1000);
  });

  test.after(async () => {
    for (const a of admins.values()) await a.close();
    await c.close();
  });

  test('status lists the nodes as the node sees them and its transfers; --json gives the view', async () => {
    const r = await runCli(['cluster', 'status', '--admin', at('n2')]);
    assert.is(r.code, 0, r.stderr);
    assert.match(r.stdout, /node n2\): ring epoch \d+, claimant n1, ready/);
    assert.match(r.stdout, /^Node\s+Address\s+Status\s+Liveness\s+Partitions\s+Epoch\s+Sending/m);
    for (const id of ['n1', 'n3']) assert.match(r.stdout, new RegExp(`^${id}\\s+${hostOf(id).replace(/\./g, '\\.')}:\\d+\\s+up\\s+alive`, 'm'));
    assert.match(r.stdout, /^n2\*/m);
    assert.match(r.stdout, /^Transfers: 0 pending, \d+ done, \d+ keys/m);
    const j = await runCli(['cluster', 'status', '--json', '--host', hostOf('n3'), '--admin-port', String(admins.get('n3')!.port)]);
    assert.is(j.code, 0, j.stderr);
    const view = JSON.parse(j.stdout) as { self: string; nodes: unknown[]; transfers: { pending: number } };
    assert.is(view.self, 'n3');
    assert.is(view.nodes.length, 3);
    assert.is(view.transfers.pending, 0);
  });

  test('repair runs an anti-entropy round now: a key one replica missed is on all of them after; cleanup finds nothing to delete', async () => {
    const node = c.node('n1');
    const key = 'missed-by-one';
    const t = tokenOf(key);
    const list = node.store.ring.listOf(node.store.ring.partitionOf(t.hi, t.lo), N);
    const reply = await node.store.transport.request(list[0]!, { type: FrameType.PUT, ...t, context: encodeContext(EMPTY_CLOCK), value: new TextEncoder().encode('only-one'), writtenAt: Date.now(), expiresAt: 0, maxSiblings: 64, lww: false, overwrite: false }, 5000);
    assert.is(reply.type, FrameType.OBJECT);
    assert.equal(await missingReplicas(node, new Map([[key, 'only-one']])), [`${key} on ${list[1]}: absent`]);
    let repaired = 0;
    for (const id of ['n1', 'n2', 'n3']) {
      const r = await runCli(['cluster', 'repair', '--admin', at(id)], withSecret);
      assert.is(r.code, 0, r.stderr);
      const m = /^(\d+) partitions exchanged: \d+ equal, \d+ repaired \((\d+) keys\), \d+ skipped \(too few replicas up\), 0 failed$/m.exec(r.stdout);
      assert.ok(m, r.stdout);
      repaired += Number(m[2]);
    }
    assert.ok(repaired <= 1, `${repaired} keys repaired, only one differed`); // 0 if the minute's own round came first
    assert.equal(await missingReplicas(node, new Map([[key, 'only-one']])), []);
    const clean = await runCli(['cluster', 'cleanup', '--admin', at('n2')], withSecret);
    assert.is(clean.code, 0, clean.stderr);
    assert.match(clean.stdout, /^0 handed-away ranges deleted$/m);
  });

  test('bad invocations: exit 2 with a usage message; refusals: exit 1 with the node\'s code', async () => {
    const none = await runCli(['cluster', 'leave', '--admin', at('n1')], { RINGKV_CLUSTER_SECRET: '' });
    assert.is(none.code, 2);
    assert.match(none.stderr, 'RINGKV_CLUSTER_SECRET');
    const wrong = await runCli(['cluster', 'plan', '--admin', at('n1')], { RINGKV_CLUSTER_SECRET: 'not it' });
    assert.is(wrong.code, 1);
    assert.match(wrong.stderr, 'ERR_UNAUTHORIZED');
    const bogus = await runCli(['cluster', 'bogus', '--admin', at('n1')], withSecret);
    assert.is(bogus.code, 2);
    assert.match(bogus.stderr, "unknown command 'bogus'");
    const noNode = await runCli(['cluster', 'remove', '--admin', at('n1')], withSecret);
    assert.is(noNode.code, 2);
    assert.match(noNode.stderr, 'remove takes one node id');
    const alive = await runCli(['cluster', 'remove', 'n2', '--admin', at('n1')], withSecret);
    assert.is(alive.code, 1);
    assert.match(alive.stderr, /ERR_NOT_READY: node n2 is alive, not down/);
    const both = await runCli(['cluster', 'status', '--admin', at('n1'), '--host', hostOf('n1')]);
    assert.is(both.code, 2);
    const plan = await runCli(['cluster', 'plan', '--admin', at('n1')], withSecret);
    assert.is(plan.code, 0, plan.stderr);
    assert.match(plan.stdout, /a commit would move 0 partitions/);
    const gone = await runCli(['cluster', 'status', '--admin', '127.0.0.1:1']);
    assert.is(gone.code, 1);
    assert.match(gone.stderr, 'cannot reach the ringkv admin server');
  });

  test('shards <n> changes a node\'s shard workers through its admin port; a bad count is a usage error', async () => {
    const bad = await runCli(['cluster', 'shards', 'many', '--admin', at('n2')], withSecret);
    assert.is(bad.code, 2);
    const r = await runCli(['cluster', 'shards', '2', '--admin', at('n2')], withSecret);
    assert.is(r.code, 0, r.stderr);
    assert.match(r.stdout, 'shards 1 -> 2');
    await eventually(() => (c.running().every((n) => n.gossiper.ring?.member('n2/s1') !== undefined) ? undefined : 'n2/s1 not in the ring'), 30_000);
    const back = await runCli(['cluster', 'shards', '1', '--admin', at('n2')], withSecret);
    assert.is(back.code, 0, back.stderr);
    await eventually(() => (c.node('n2').local.count === 1 ? undefined : 'n2 still runs 2 shards'), 30_000);
    await c.transfersDone();
    assert.equal((await missingReplicas(c.node('n1'), keys)).slice(0, 10), []);
  });

  test('leave waits, printing progress, until the node has streamed its data away and is left', async () => {
    const r = await runCli(['cluster', 'leave', '--admin', at('n3'), '--timeout', '60'], withSecret);
    assert.is(r.code, 0, r.stderr);
    assert.match(r.stdout, 'node n3 is leaving');
    assert.match(r.stdout, /node n3 has left \(0 pending, [1-9]\d* done, [1-9]\d* keys .* moved.*\): it can be stopped now/);
    assert.is(c.node('n3').transfers.pending, 0);
    await eventually(() => (c.running().every((n) => n.gossiper.record('n3')!.status === 'left') ? undefined : 'not left everywhere'), 30_000);
    await c.transfersDone();
    const missing = await missingReplicas(c.node('n1'), keys);
    assert.equal(missing.slice(0, 10), [], `${missing.length} replicas missing`);
    const again = await runCli(['cluster', 'leave', '--admin', at('n3'), '--no-wait'], withSecret);
    assert.is(again.code, 1);
    assert.match(again.stderr, 'ERR_NOT_READY');
  });
}

test.run();
