// Runs on: the main thread. Range transfer on a join: three ClusterNodes in this process
// (one shard each, N = 2, sync none) hold K keys of V bytes; a fourth joins, and the time
// from its ring being in force everywhere (settle 0) until no transfer is pending gives the
// keys/s and MB/s moved, at the default throttle or the one given; and the same from the first
// object moved (the stream alone, without the members' adoption of the ring).
//
//   node build.mjs && node dist/bench/transfer.js [--keys K] [--value V] [--mbps M (0: unlimited)]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { ClusterNode } from '../src/cluster/node.js';
import { DEFAULT_TRANSFER_BYTES_PER_SECOND } from '../src/cluster/transfer/transfer.js';

const args = process.argv.slice(2);
const arg = (name: string, dflt: number): number => {
  const i = args.indexOf(`--${name}`);
  return i < 0 ? dflt : Number(args[i + 1]);
};
const KEYS = arg('keys', 20_000);
const VALUE = arg('value', 1000);
const BPS = args.includes('--mbps') ? arg('mbps', 16) * 1024 * 1024 : DEFAULT_TRANSFER_BYTES_PER_SECOND;
/** Loopback hosts and port away from the tests' (which run in their own namespaces anyway). */
const host = (i: number): string => `127.0.0.${40 + i}`;
const PORT = 7491;

const root = mkdtempSync(`${tmpdir()}/ringkv-transfer-bench-`);
const nodes: ClusterNode[] = [];
const start = (i: number): Promise<ClusterNode> =>
  ClusterNode.start({
    id: `n${i}`, host: host(i), port: PORT, seeds: i === 1 ? [] : [`${host(1)}:${PORT}`], cluster: 'bench', secret: 'bench',
    dc: 'dc1', rack: 'r1', weight: 1, dir: `${root}/n${i}`, shards: 1, storage: { syncMode: 'none' },
    defaults: { n: 2, r: 1, w: 2, timeoutMs: 5000, sloppy: true, maxSiblings: 64, lww: false },
    handoffIntervalMs: 0, gossip: { intervalMs: 100, partitions: 64 }, transfer: { settleMs: 0, bytesPerSecond: BPS },
  });
const until = async (done: () => boolean): Promise<void> => {
  while (!done()) await new Promise((r) => setTimeout(r, 20));
};
const members = (n: ClusterNode): number => new Set(n.gossiper.ring?.members.map((m) => m.id) ?? []).size;

try {
  for (let i = 1; i <= 3; i++) nodes.push(await start(i));
  await until(() => nodes.every((n) => members(n) === 3 && n.gossiper.epoch === nodes[0]!.gossiper.epoch && n.transfers.pending === 0));
  const value = 'x'.repeat(VALUE);
  for (let i = 0; i < KEYS; i += 200) {
    await Promise.all(Array.from({ length: Math.min(200, KEYS - i) }, (_, j) => nodes[0]!.store.put(`key:${i + j}`, value)));
  }
  const before = nodes.map((n) => n.transfers.status());
  nodes.push(await start(4));
  await until(() => nodes.every((n) => members(n) === 4 && n.gossiper.epoch === nodes[0]!.gossiper.epoch));
  const t0 = performance.now();
  // The first object moved starts the stream (before it: members adopting the ring, its settle).
  const movedSoFar = (): number => nodes.slice(0, 3).reduce((s, n, i) => s + n.transfers.status().keysMoved - before[i]!.keysMoved, 0);
  let tFirst = 0;
  await until(() => {
    if (tFirst === 0 && movedSoFar() > 0) tFirst = performance.now();
    return nodes.every((n) => n.transfers.pending === 0);
  });
  const tEnd = performance.now();
  const seconds = (tEnd - t0) / 1000;
  const streaming = (tEnd - (tFirst || t0)) / 1000;
  const after = nodes.slice(0, 3).map((n) => n.transfers.status());
  const keys = after.reduce((s, t, i) => s + t.keysMoved - before[i]!.keysMoved, 0);
  const bytes = after.reduce((s, t, i) => s + t.bytesMoved - before[i]!.bytesMoved, 0);
  console.log(
    `transfer on join: ${KEYS} keys of ${VALUE} B on 3 nodes, N=2; throttle ${BPS === 0 ? 'none' : `${(BPS / 1048576).toFixed(0)} MiB/s per sender`}\n` +
      `  moved ${keys} objects, ${(bytes / 1048576).toFixed(1)} MiB in ${seconds.toFixed(2)} s: ${(keys / seconds).toFixed(0)} keys/s, ${(bytes / 1048576 / seconds).toFixed(1)} MiB/s\n` +
      `  streaming (first object moved to none pending; polled every 20 ms): ${streaming.toFixed(2)} s: ${(keys / streaming).toFixed(0)} keys/s, ${(bytes / 1048576 / streaming).toFixed(1)} MiB/s`,
  );
} finally {
  for (const n of nodes) await n.store.close();
  rmSync(root, { recursive: true, force: true });
}
