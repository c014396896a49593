// The gossip message on the wire: what a Gossiper sends parses back; every malformed
// message is refused with ERR_PROTOCOL naming the problem, and changes nothing; bad
// identities and options are refused at construction.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Destination } from '../../src/cluster/membership/gossip-targets.js';
import { Gossiper, type GossiperInit } from '../../src/cluster/membership/gossip.js';
import { GOSSIP_VERSION, MAX_GOSSIP_NODES, parseGossip, type GossipMessage } from '../../src/cluster/membership/gossip-message.js';
import { Random } from '../../src/storage/env/random.js';

function node(id: string, init: Partial<GossiperInit> = {}) {
  const sent: { to: Destination; message: GossipMessage }[] = [];
  const clock = { t: 0, now() { return this.t; } };
  const g = new Gossiper({
    identity: { id, address: `10.0.0.${id.slice(1)}:7379`, dc: 'dc1', rack: 'r1', shards: 2, weight: 1 },
    generation: 1, seeds: [], ...init,
  }, { clock, random: new Random(1), send: (to, message) => sent.push({ to, message }) });
  return { g, sent, clock };
}

const code = (expected: string) => (err: unknown) => (err as { code?: string }).code === expected;

/** A valid syn from n2 (a joining node that knows nothing) to n1. */
function validSyn(): Record<string, unknown> {
  const { g, sent } = node('n2', { seeds: ['10.0.0.1:7379'] });
  g.tick();
  assert.is(sent.length, 1);
  assert.equal(sent[0]!.to, { seed: '10.0.0.1:7379' });
  return JSON.parse(JSON.stringify(sent[0]!.message));
}

test('what a gossiper sends is plain JSON that parses back to the same message', () => {
  const { g, sent, clock } = node('n1');
  g.tick(); // bootstraps: epoch 1
  assert.is(g.epoch, 1);
  g.receive('10.0.0.2:7379', validSyn());
  const ack = sent.find((s) => s.message.type === 'ack')!;
  assert.ok(ack !== undefined);
  assert.equal(ack.to, { node: 'n2', address: '10.0.0.2:7379' });
  const wire = JSON.parse(JSON.stringify(ack.message));
  assert.is(wire.v, GOSSIP_VERSION);
  assert.ok(wire.ring !== null, 'the joiner has no ring: it gets ours');
  const parsed = parseGossip(wire);
  assert.equal(JSON.parse(JSON.stringify(parsed.message)), wire);
  assert.is(parsed.ring!.epoch, 1);
  clock.t += 1000;
  g.tick();
  const syn = sent.filter((s) => s.message.type === 'syn').at(-1)!;
  assert.equal(syn.to, { node: 'n2', address: '10.0.0.2:7379' });
  assert.equal(parseGossip(JSON.parse(JSON.stringify(syn.message))).message.nodes.map((r) => r.id), ['n1', 'n2']);
});

test('malformed messages are refused with ERR_PROTOCOL saying what is wrong', () => {
  const syn = validSyn();
  const nodes = syn.nodes as Record<string, unknown>[];
  const cases: [string, unknown, RegExp][] = [
    ['not an object', 'hello', /JSON object/],
    ['an array', [syn], /JSON object/],
    ['null', null, /JSON object/],
    ['future version', { ...syn, v: 2 }, /version 2 is not supported/],
    ['no version', { ...syn, v: undefined }, /version/],
    ['unknown type', { ...syn, type: 'push' }, /type "push"/],
    ['bad sender', { ...syn, from: 'n 2' }, /from/],
    ['bad to', { ...syn, to: 7 }, /to/],
    ['nodes not an array', { ...syn, nodes: {} }, /nodes must be an array/],
    ['too many nodes', { ...syn, nodes: new Array(MAX_GOSSIP_NODES + 1).fill(nodes[0]) }, /more than/],
    ['duplicate node', { ...syn, nodes: [nodes[0], nodes[0]] }, /appears twice/],
    ['bad status', { ...syn, nodes: [{ ...nodes[0], status: 'zombie' }] }, /status/],
    ['negative heartbeat', { ...syn, nodes: [{ ...nodes[0], heartbeat: -1 }] }, /heartbeat/],
    ['fractional generation', { ...syn, nodes: [{ ...nodes[0], generation: 1.5 }] }, /generation/],
    ['zero generation', { ...syn, nodes: [{ ...nodes[0], generation: 0 }] }, /generation/],
    ['no port', { ...syn, nodes: [{ ...nodes[0], address: '10.0.0.2' }] }, /address/],
    ['port out of range', { ...syn, nodes: [{ ...nodes[0], address: '10.0.0.2:70000' }] }, /address/],
    ['too many shards', { ...syn, nodes: [{ ...nodes[0], shards: 5000 }] }, /shards/],
    ['zero weight', { ...syn, nodes: [{ ...nodes[0], weight: 0 }] }, /weight/],
    ['record not an object', { ...syn, nodes: ['n2'] }, /JSON object/],
    ['ring owned by a stranger', { ...syn, ring: { epoch: 1, q: 2, members: [{ id: 'a/s0', host: 'a', rack: 'r', dc: 'd', weight: 1 }], owners: ['a/s0', 'b/s0'] } }, /not a member/],
    ['ring of bad size', { ...syn, ring: { epoch: 1, q: 3, members: [{ id: 'a/s0', host: 'a', rack: 'r', dc: 'd', weight: 1 }], owners: ['a/s0', 'a/s0', 'a/s0'] } }, /power of two/],
    ['ring not an object', { ...syn, ring: 5 }, /ring/],
  ];
  for (const [what, raw, message] of cases) {
    try {
      parseGossip(raw);
      assert.unreachable(`${what}: accepted`);
    } catch (err) {
      assert.ok(code('ERR_PROTOCOL')(err), `${what}: ${String(err)}`);
      assert.match((err as Error).message, message, what);
    }
  }
});

test('a malformed message changes nothing in the receiver; one for another node is ignored', () => {
  const { g, sent } = node('n1');
  g.tick();
  const before = JSON.stringify([g.records(), g.epoch]);
  const syn = validSyn();
  const bad = { ...syn, nodes: [...(syn.nodes as object[]), { id: 'n9', status: 'up' }] };
  assert.throws(() => g.receive('10.0.0.2:7379', bad), (err: unknown) => code('ERR_PROTOCOL')(err) && /from 10\.0\.0\.2:7379/.test(String(err)));
  assert.is(JSON.stringify([g.records(), g.epoch]), before, 'the valid records in it were not taken either');
  const sends = sent.length;
  g.receive('10.0.0.2:7379', { ...syn, to: 'n7' });
  assert.is(JSON.stringify([g.records(), g.epoch]), before);
  assert.is(sent.length, sends, 'no reply');
  assert.is(g.stats.rejected, 2);
  g.receive('10.0.0.2:7379', syn);
  assert.is(g.records().length, 2);
});

test('bad identities and options are refused with ERR_INVALID_ARGUMENT', () => {
  const bad: Partial<GossiperInit>[] = [
    { identity: { id: '', address: '10.0.0.1:1', dc: 'd', rack: 'r', shards: 1, weight: 1 } },
    { identity: { id: 'n1', address: 'nowhere', dc: 'd', rack: 'r', shards: 1, weight: 1 } },
    { identity: { id: 'n1', address: '10.0.0.1:1', dc: 'd c', rack: 'r', shards: 1, weight: 1 } },
    { identity: { id: 'n1', address: '10.0.0.1:1', dc: 'd', rack: 'r', shards: 0, weight: 1 } },
    { identity: { id: 'n1', address: '10.0.0.1:1', dc: 'd', rack: 'r', shards: 1, weight: -1 } },
    { generation: 0 },
    { seeds: ['host-without-port'] },
    { options: { fanout: 0 } },
    { options: { partitions: 100 } },
    { options: { intervalMs: 0 } },
    { options: { autoCommit: 'yes' as unknown as boolean } },
  ];
  for (const init of bad) assert.throws(() => node('n1', init), code('ERR_INVALID_ARGUMENT'), JSON.stringify(init));
});

test.run();
