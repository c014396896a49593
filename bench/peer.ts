// Runs on: the main thread of two processes. The TCP peer link (src/cluster) between two
// nodes on this machine: node n1 (this process, 127.0.0.2) sends GETs of a 100-byte value to
// replica n2/s0, served by a PeerServer in a child process (127.0.0.3) over a Replica on the
// in-memory engine, and to n3/s0 (127.0.0.4, same child): a real LSM shard in a worker
// thread behind a ShardTransport (localReplicaSender). Beside them, in the same run, a raw
// TCP echo of 100-byte messages between the same two processes: what the link costs on top
// of the socket.
//
//   1 in flight     round trips/s, p50/p99: one client awaits each reply before the next
//   256 in flight   round trips/s: 256 requests kept outstanding (send() with a sink)
//
//   node build.mjs && node dist/bench/peer.js [--seconds S]
import { spawn } from 'node:child_process';
import { connect, createServer, type Socket } from 'node:net';
import { createInterface } from 'node:readline';
import { hrtime } from 'node:process';
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { PeerServer, PeerTransport, localReplicaHandler, localReplicaSender } from '../src/cluster/index.js';
import { ShardTransport } from '../src/coordinator/shard-transport.js';
import { suggestedSpinMicros } from '../src/ipc/index.js';
import type { ReplySink } from '../src/coordinator/transport.js';
import { createTokenHasher } from '../src/hash/index.js';
import { FrameType, type Reply, type Request } from '../src/protocol/index.js';
import { Replica } from '../src/shard/replica.js';
import { MemoryEngine } from '../src/storage/index.js';
import { describeMachine, machineInfo } from './lib/machine.js';
import { LatencySampler, formatNs, formatOps } from './lib/stats.js';

const CLIENT_HOST = '127.0.0.2';
const SERVER_HOST = '127.0.0.3';
const SHARD_HOST = '127.0.0.4';
const PROMISE_HOST = '127.0.0.5';
const CLUSTER = 'bench';
const SECRET = 'bench-secret';
const VALUE_BYTES = 100;
const WARMUP_MS = 300;
const TIMEOUT_MS = 10_000;

const args = process.argv.slice(2);
const seconds = Number(args[args.indexOf('--seconds') + 1] ?? 2) || 2;

if (args.includes('--serve')) await serve();
else await main();

/** The child: PeerServers for n2/s0 (memory) and n3/s0 (worker shard), a raw echo server; prints the ports. */
async function serve(): Promise<void> {
  const engines = { data: await MemoryEngine.open(), hints: await MemoryEngine.open() };
  const replica = new Replica({ replica: 2, epoch: 1 }, engines);
  const handler = (_replica: string, req: Request): Promise<Reply> => Promise.resolve(replica.handleBatch([req])[0]!);
  const server = await PeerServer.listen({ node: 'n2', cluster: CLUSTER, secret: SECRET, host: SERVER_HOST, port: 0, handler });
  const dir = mkdtempSync(join(tmpdir(), 'ringkv-bench-peer-'));
  const shards = await ShardTransport.start({
    dir, shards: 1, storage: { syncMode: 'none' }, spinMicros: suggestedSpinMicros(1, availableParallelism()), restartDelayMs: 100, controlTimeoutMs: 30_000,
  });
  const shardServer = await PeerServer.listen({ node: 'n3', cluster: CLUSTER, secret: SECRET, host: SHARD_HOST, port: 0, sender: localReplicaSender('n3', shards) });
  // The same shard through the promise form (localReplicaHandler), as node n4.
  const shardByPromise = await PeerServer.listen({ node: 'n4', cluster: CLUSTER, secret: SECRET, host: PROMISE_HOST, port: 0, handler: localReplicaHandler('n4', shards) });
  const echo = createServer({ noDelay: true }, (s) => s.on('data', (c) => s.write(c)));
  await new Promise<void>((r) => echo.listen({ host: SERVER_HOST, port: 0 }, r));
  process.stdout.write(JSON.stringify({ peer: server.address.port, shard: shardServer.address.port, promise: shardByPromise.address.port, echo: (echo.address() as { port: number }).port }) + '\n');
  process.stdin.resume();
  process.stdin.on('end', () => {
    void shards.close().finally(() => {
      rmSync(dir, { recursive: true, force: true });
      process.exit(0);
    });
  });
}

async function main(): Promise<void> {
  console.log(`# peer link bench: ${describeMachine(machineInfo())}`);
  const child = spawn(process.execPath, [new URL(import.meta.url).pathname, '--serve'], { stdio: ['pipe', 'pipe', 'inherit'] });
  try {
    const ports = JSON.parse(await new Promise<string>((r) => createInterface({ input: child.stdout! }).once('line', r))) as { peer: number; shard: number; promise: number; echo: number };
    const transport = new PeerTransport({
      self: 'n1', cluster: CLUSTER, secret: SECRET, localAddress: CLIENT_HOST,
      addressOf: (n) => (n === 'n2' ? { host: SERVER_HOST, port: ports.peer } : n === 'n3' ? { host: SHARD_HOST, port: ports.shard } : n === 'n4' ? { host: PROMISE_HOST, port: ports.promise } : undefined),
      replicasOf: (n) => [`${n}/s0`],
    });
    const key = new TextEncoder().encode('bench-key');
    const h = await createTokenHasher();
    h.hash(key);
    const put: Request = { type: FrameType.PUT, hi: h.hi, lo: h.lo, key, context: new Uint8Array(0), value: new Uint8Array(VALUE_BYTES).fill(1), writtenAt: Date.now(), expiresAt: 0, maxSiblings: 64, lww: false };
    const get: Request = { type: FrameType.GET, hi: h.hi, lo: h.lo, key };
    for (const replica of ['n2/s0', 'n3/s0']) {
      await transport.request(replica, put, TIMEOUT_MS);
      const first = await transport.request(replica, get, TIMEOUT_MS);
      if (first.type !== FrameType.OBJECT || first.object.length < VALUE_BYTES) throw new Error(`the seeded value did not come back from ${replica}`);
    }

    const rows: string[][] = [['case', 'round trips/s', 'p50', 'p99']];
    const echo = await echoSocket(ports.echo);
    const e1 = await oneInFlight((done) => echo.ping(done));
    rows.push(['raw TCP echo, 100 B, 1 in flight', formatOps(e1.rate), formatNs(e1.p50), formatNs(e1.p99)]);
    const p1 = await oneInFlight((done) => transport.request('n2/s0', get, TIMEOUT_MS).then(() => done(), (e) => { throw e; }));
    rows.push(['peer link GET (100 B value), 1 in flight', formatOps(p1.rate), formatNs(p1.p50), formatNs(p1.p99)]);
    const pk = await manyInFlight(transport, 'n2/s0', get, 256);
    rows.push(['peer link GET (100 B value), 256 in flight', formatOps(pk), '', '']);
    const s1 = await oneInFlight((done) => transport.request('n3/s0', get, TIMEOUT_MS).then(() => done(), (e) => { throw e; }));
    rows.push(['  -> worker LSM shard, 1 in flight', formatOps(s1.rate), formatNs(s1.p50), formatNs(s1.p99)]);
    const sk = await manyInFlight(transport, 'n3/s0', get, 256);
    rows.push(['  -> worker LSM shard, 256 in flight', formatOps(sk), '', '']);
    // n4 serves the same shard through a promise per request and a copy per value.
    const rk = await manyInFlight(transport, 'n4/s0', get, 256);
    rows.push(['  -> the same shard via handler(), 256 in flight', formatOps(rk), '', '']);
    echo.socket.destroy();
    await transport.close();
    for (const r of rows) console.log(r.map((c, i) => (i === 0 ? c.padEnd(48) : c.padStart(14))).join(''));
  } finally {
    child.stdin!.end(); // the child closes its shard and removes its directory
    if (child.exitCode === null) await new Promise((r) => child.once('exit', r));
  }
}

/** Sequential round trips for `seconds` after a warm-up: rate and latency. */
async function oneInFlight(op: (done: () => void) => void): Promise<{ rate: number; p50: number; p99: number }> {
  const once = () => new Promise<void>((r) => op(r));
  const warmUntil = performance.now() + WARMUP_MS;
  while (performance.now() < warmUntil) await once();
  const sampler = new LatencySampler(2_000_000);
  const end = performance.now() + seconds * 1000;
  let n = 0;
  const t0 = performance.now();
  while (performance.now() < end) {
    const s = hrtime.bigint();
    await once();
    sampler.add(Number(hrtime.bigint() - s));
    n++;
  }
  const rate = n / ((performance.now() - t0) / 1000);
  const sum = sampler.summary();
  return { rate, p50: sum.p50Ns, p99: sum.p99Ns };
}

/** `window` requests kept outstanding through send() for `seconds`: round trips/s. */
function manyInFlight(t: PeerTransport, replica: string, req: Request, window: number): Promise<number> {
  return new Promise((resolve, reject) => {
    let counting = false;
    let n = 0;
    let stopAt = Infinity;
    let outstanding = 0;
    let t0 = 0;
    const sink: ReplySink = {
      onReply: (reply) => {
        if (reply.type !== FrameType.OBJECT || reply.object.length < VALUE_BYTES) {
          reject(new Error(`unexpected reply ${JSON.stringify(reply).slice(0, 200)}`));
          return;
        }
        outstanding--;
        if (counting) n++;
        const now = performance.now();
        if (now < stopAt) {
          outstanding++;
          t.send(replica, req, TIMEOUT_MS, sink, 0);
        } else if (outstanding === 0) resolve(n / ((now - t0) / 1000));
      },
      onError: (err) => reject(err),
    };
    for (let i = 0; i < window; i++) {
      outstanding++;
      t.send(replica, req, TIMEOUT_MS, sink, 0);
    }
    setTimeout(() => {
      counting = true;
      t0 = performance.now();
      stopAt = t0 + seconds * 1000;
    }, WARMUP_MS);
  });
}

/** A raw socket to the echo server: ping() sends 100 bytes and calls back when 100 came back. */
async function echoSocket(port: number): Promise<{ socket: Socket; ping(done: () => void): void }> {
  const socket = connect({ host: SERVER_HOST, port, localAddress: CLIENT_HOST, noDelay: true });
  await new Promise((r) => socket.once('connect', r));
  const msg = new Uint8Array(VALUE_BYTES).fill(2);
  let got = 0;
  let waiter: (() => void) | undefined;
  socket.on('data', (c: Buffer) => {
    got += c.length;
    if (got >= VALUE_BYTES && waiter) {
      got -= VALUE_BYTES;
      const w = waiter;
      waiter = undefined;
      w();
    }
  });
  return {
    socket,
    ping(done) {
      waiter = done;
      socket.write(msg);
    },
  };
}
