// The RESP layer alone, on the main thread: parse, command lookup, dispatch, reply order and
// encoding of pipelined SET and GET, over a store that answers at once (a Map) and a socket
// that only counts what it is given. CPU µs per command (process.cpuUsage) is the figure:
// it is what this layer costs before the coordinator, the shard rings and the syscalls.
//
//   node build.mjs && node dist/bench/resp-layer.js [commands=400000] [pipeline=16]
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import type { Store } from '../src/index.js';
import { ClientInputBudget } from '../src/server/resp/client-input.js';
import { Connection, type ConnectionHost } from '../src/server/resp/connection.js';
import { KeyLocks } from '../src/server/resp/key-locks.js';
import { LatencyRecorder } from '../src/server/resp/latency.js';
import { MemoryRelease } from '../src/server/resp/memory-release.js';
import type { ParserLimits } from '../src/server/resp/parser.js';
import type { ResolvedOptions, ServerContext } from '../src/server/resp/session.js';
import { FlushQueue } from '../src/server/resp/writer.js';

const total = Number(process.argv[2] ?? 400_000);
const pipeline = Number(process.argv[3] ?? 16);
const KEYS = 100_000;
const VALUE = Buffer.alloc(100, 'x');

/** A store that answers at once from a Map (values as the real store hands them: views). */
class MapStore {
  private readonly map = new Map<string, Uint8Array>();
  private static readonly CONTEXT = new Uint8Array(0);
  get(key: Uint8Array): Promise<unknown> {
    const v = this.map.get(Buffer.from(key.buffer, key.byteOffset, key.length).toString('latin1'));
    return Promise.resolve(v === undefined ? undefined : { values: [v], context: MapStore.CONTEXT, expiresAt: [0] });
  }
  put(key: Uint8Array, value: Uint8Array): Promise<unknown> {
    this.map.set(Buffer.from(key.buffer, key.byteOffset, key.length).toString('latin1'), value);
    return Promise.resolve(undefined);
  }
}

/** The socket side a Connection uses; write() resolves the waiter once `expect` bytes came. */
class CountingSocket extends EventEmitter {
  remoteAddress = '127.0.0.1';
  remotePort = 1;
  destroyed = false;
  writableEnded = false;
  writableLength = 0;
  writes = 0;
  bytes = 0;
  waiter: (() => void) | undefined;
  expect = 0;
  setNoDelay(): this { return this; }
  setTimeout(): this { return this; }
  pause(): this { return this; }
  resume(): this { return this; }
  end(): this { return this; }
  destroy(): this { this.destroyed = true; return this; }
  write(data: Uint8Array, cb?: () => void): boolean {
    this.writes++;
    this.bytes += data.length;
    if (cb !== undefined) queueMicrotask(cb);
    if (this.bytes >= this.expect && this.waiter !== undefined) {
      const w = this.waiter;
      this.waiter = undefined;
      w();
    }
    return true;
  }
}

function encode(args: (string | Buffer)[]): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
  for (const a of args) {
    const b = typeof a === 'string' ? Buffer.from(a) : a;
    parts.push(Buffer.from(`$${b.length}\r\n`), b, Buffer.from('\r\n'));
  }
  return Buffer.concat(parts);
}

function host(store: MapStore): ConnectionHost {
  const options: ResolvedOptions = {
    host: '127.0.0.1', port: 0, requirepass: undefined, maxBulkBytes: 512 << 20, maxInlineBytes: 64 << 10,
    maxArgs: 1 << 20, maxPendingReplyBytes: 64 << 20, idleTimeoutMs: 0, maxclients: 10_000, reservedFds: 256, queryBufferLimit: 1 << 30,
    maxmemoryClients: 0, maxValueBytes: 16 << 20, flushdbEnabled: false, lww: false, storeConfig: {}, version: '0.0.0', scriptTimeLimitMs: 5000,
    logLevel: 'notice', defaultConsistency: undefined,
  };
  const context: ServerContext = {
    store: store as unknown as Store, options, locks: new KeyLocks(), startedAt: Date.now(), port: () => 0, sessions: () => [],
    reconfigure: () => {}, resetStats: () => {}, latency: new LatencyRecorder(),
    stats: {
      connectionsReceived: 0, connectionsRejected: 0, commandsProcessed: 0, protocolErrors: 0, outputLimitCloses: 0,
      queryLimitCloses: 0, keyspaceHits: 0, keyspaceMisses: 0, conflicts: 0, netInputBytes: 0, netOutputBytes: 0, errorReplies: new Map(),
    },
  };
  const limits: ParserLimits = { maxBulkBytes: options.maxBulkBytes, maxInlineBytes: options.maxInlineBytes, maxArgs: options.maxArgs, maxValueBytes: options.maxValueBytes };
  return {
    context, flushQueue: new FlushQueue(), limits, unauthenticatedLimits: limits, inputBudget: new ClientInputBudget(0, () => []),
    memory: new MemoryRelease(), authFailed: () => {}, maxPendingReplyBytes: options.maxPendingReplyBytes, closed: () => {},
  };
}

/** Pre-encoded reads of `pipeline` commands each, over random keys, and the reply bytes each gets. */
function reads(command: 'set' | 'get', count: number): Buffer[] {
  const out: Buffer[] = [];
  let seed = 42;
  for (let r = 0; r < count; r++) {
    const frames: Buffer[] = [];
    for (let i = 0; i < pipeline; i++) {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      const key = `key:${String(seed % KEYS).padStart(12, '0')}`;
      frames.push(command === 'set' ? encode(['SET', key, VALUE]) : encode(['GET', key]));
    }
    out.push(Buffer.concat(frames));
  }
  return out;
}

async function run(command: 'set' | 'get', store: MapStore): Promise<void> {
  const socket = new CountingSocket();
  new Connection(socket as unknown as Socket, host(store), 1);
  const chunks = reads(command, 2048);
  const rounds = Math.ceil(total / pipeline);
  const replyBytes = command === 'set' ? 5 * pipeline : -1; // GET: any reply completes the read (one write)
  const go = async (n: number): Promise<void> => {
    for (let r = 0; r < n; r++) {
      const done = new Promise<void>((resolve) => (socket.waiter = resolve));
      socket.expect = replyBytes < 0 ? socket.bytes + 1 : socket.bytes + replyBytes;
      socket.emit('data', chunks[r % chunks.length]!);
      await done;
    }
  };
  await go(Math.min(rounds, 4000)); // warm up
  const writes = socket.writes;
  const t0 = process.cpuUsage();
  const w0 = performance.now();
  await go(rounds);
  const cpu = process.cpuUsage(t0);
  const wall = performance.now() - w0;
  const n = rounds * pipeline;
  console.log(
    `${command.toUpperCase()} -P${pipeline}: ${((cpu.user + cpu.system) / n).toFixed(3)} us CPU/command, ` +
      `${((wall * 1000) / n).toFixed(3)} us wall/command, ${(n / (socket.writes - writes)).toFixed(1)} commands/write`,
  );
}

const store = new MapStore();
await run('set', store);
await run('get', store);
