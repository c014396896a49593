// Runs on: the main thread. The Redis-protocol server in front of a Store:
// `const server = await startRespServer(store, { port: 6379 })`, `await server.close()`.
//
// Protected mode (as Redis's): without requirepass the server listens only on loopback
// addresses; asked for another address it refuses to start and says how to fix it.
//
// Client limits (as Redis's, same names in CONFIG GET): maxclients connections (one over
// it is answered `-ERR max number of clients reached` and closed; fitted at start to the
// process's open-file limit, fd-limit.ts), client-query-buffer-limit bytes per command,
// maxmemory-clients bytes of unparsed input across all clients (client-input.ts), and the
// pre-AUTH limits of Redis 6.2 (10 arguments, 16 KiB bulks). connection.ts enforces them.
import { createServer, type Server, type Socket } from 'node:net';
import { totalmem } from 'node:os';
import type { Store } from '../../index.js';
import { MAX_PUT_VALUE_BYTES } from '../../coordinator/index.js';
import { ErrorCode, RingkvError } from '../../errors.js';
import { LogLimiter, sourceOf, type WarnLog } from '../../log-limiter.js';
import { ClientInputBudget } from './client-input.js';
import { REDIS_LOG_LEVELS } from './config.js';
import { Connection, type ConnectionHost } from './connection.js';
import { fitMaxClients, FD_RESERVE_BASE } from './fd-limit.js';
import { MemoryRelease } from './memory-release.js';
import { KeyLocks } from './key-locks.js';
import { LatencyRecorder } from './latency.js';
import type { ParserLimits } from './parser.js';
import type { ResolvedOptions, ServerContext, ServerStats, Session } from './session.js';
import { FlushQueue } from './writer.js';

export interface RespServerOptions {
  /** Address to listen on. Default '127.0.0.1'. Not loopback: requirepass is required. */
  host?: string;
  /** TCP port; 0 = any free port (see RespServer.port). Default 6379. */
  port?: number;
  /** The password of AUTH / HELLO ... AUTH (user 'default'). Default: none. */
  requirepass?: string;
  /** Largest bulk string of a request, as Redis's proto-max-bulk-len. Default 512 MiB (the store itself takes values up to 16 MiB − 64 KiB: larger ones answer -TOOLARGE). */
  maxBulkBytes?: number;
  /** Longest inline command or header line. Default 64 KiB. */
  maxInlineBytes?: number;
  /** Most arguments of one command. Default 1M. */
  maxArgs?: number;
  /** Replies encoded and not yet sent, per client, past which the client is closed. Default 64 MiB. */
  maxPendingReplyBytes?: number;
  /** Most client connections, as Redis's maxclients; lowered at start to fit the open-file limit. Default 10,000. */
  maxclients?: number;
  /** File descriptors kept for everything but clients (engines, peers, the admin port) when fitting maxclients. Default FD_RESERVE_BASE. */
  reservedFds?: number;
  /** Most bytes of one command, as Redis's client-query-buffer-limit. Default 1 GiB. */
  queryBufferLimit?: number;
  /** All clients' unparsed input together, as Redis 7's maxmemory-clients; 0 = no budget. Default DEFAULT_MAXMEMORY_CLIENTS. */
  maxmemoryClients?: number;
  /** A bulk longer than this is skipped unread and its command answered -TOOLARGE. Default: the store's value limit. */
  maxValueBytes?: number;
  /** Where warnings go (maxclients lowered, failed AUTH, rate-limited per source). Default: nowhere. */
  log?: WarnLog;
  /** Close a client idle this long (ms); 0 = never. Default 0. */
  idleTimeoutMs?: number;
  /** A Lua script (EVAL) running longer than this many ms is stopped with an error, as Redis's busy-reply-threshold (5000). Default 5000. */
  scriptTimeLimitMs?: number;
  /** Allow FLUSHDB/FLUSHALL. Default false. */
  flushdbEnabled?: boolean;
  /** GET on a key with concurrent values answers one of them instead of -CONFLICT. Default false. */
  lww?: boolean;
  /** The store's settings, reported by CONFIG GET (e.g. { shards: '4', n: '3', 'sync-mode': 'batch' }). */
  storeConfig?: Record<string, string>;
  /** Redis's loglevel word the process logs at (CONFIG GET loglevel). Default 'notice'. */
  logLevel?: string;
  /** Called by CONFIG SET loglevel with the logger's level (pino's: debug, info, warn, silent). */
  setLogLevel?: (level: string) => void;
  /** ringkv's version, for INFO and HELLO. Default '0.0.0'. */
  version?: string;
}

export interface RespServer {
  /** The port listened on (the one chosen, for port 0). */
  readonly port: number;
  readonly address: string;
  /** Open client connections. */
  connections(): number;
  /** maxclients in force (the one asked for, or lower to fit the open-file limit). */
  readonly maxclients: number;
  /** Latency per command type and per consistency level (the admin port's /metrics reads it on scrape). */
  readonly latency: LatencyRecorder;
  /** Bytes of unparsed input all clients hold now (what maxmemory-clients bounds). */
  clientInputBytes(): number;
  /** Stops accepting, lets commands already received finish and answer, closes every socket. */
  close(): Promise<void>;
}

/**
 * maxmemory-clients default: a quarter of the host's memory, at most 1 GiB. The store's
 * own memory (memtables, block caches, shard rings) is the rest; 1 GiB of input in flight
 * is 64 values of the largest size at once.
 */
export const DEFAULT_MAXMEMORY_CLIENTS = Math.min(1024 * 1024 * 1024, Math.floor(totalmem() / 4));
const DEFAULTS = {
  host: '127.0.0.1',
  port: 6379,
  maxBulkBytes: 512 * 1024 * 1024,
  maxInlineBytes: 64 * 1024,
  maxArgs: 1024 * 1024,
  maxPendingReplyBytes: 64 * 1024 * 1024,
  idleTimeoutMs: 0,
  maxclients: 10_000,
  reservedFds: FD_RESERVE_BASE,
  queryBufferLimit: 1024 * 1024 * 1024,
  maxmemoryClients: DEFAULT_MAXMEMORY_CLIENTS,
  maxValueBytes: MAX_PUT_VALUE_BYTES,
  /** Redis's busy-reply-threshold: past it Redis answers BUSY to others; ringkv stops the script. */
  scriptTimeLimitMs: 5000,
};
/** Before AUTH (Redis 6.2): commands of at most this many arguments... */
const UNAUTHENTICATED_MAX_ARGS = 10;
/** ...and bulks of at most this many bytes: enough for AUTH and HELLO, not for a memory attack. */
const UNAUTHENTICATED_MAX_BULK_BYTES = 16 * 1024;
/** Answer of a connection over maxclients (Redis's words: clients match on them). */
const MAX_CLIENTS_REPLY = '-ERR max number of clients reached\r\n';
/** A refused connection that does not close its end after the error is cut off after this long. */
const REFUSED_LINGER_MS = 1000;
/** close() waits this long for clients to take their last replies, then drops them. */
const CLOSE_TIMEOUT_MS = 5000;

/** Whether `host` can only be reached from this machine. */
export function isLoopback(host: string): boolean {
  const h = host.toLowerCase();
  return h === 'localhost' || h === '::1' || /^127\.\d+\.\d+\.\d+$/.test(h) || /^::ffff:127\.\d+\.\d+\.\d+$/.test(h);
}

function invalid(message: string): RingkvError {
  return new RingkvError(ErrorCode.INVALID_ARGUMENT, message);
}

function resolveOptions(o: RespServerOptions): ResolvedOptions {
  const count = (name: keyof typeof DEFAULTS, min: number): number => {
    const v = (o as Record<string, unknown>)[name] ?? DEFAULTS[name];
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) throw invalid(`RESP server option ${name} must be an integer >= ${min}, got ${String(v)}`);
    return v;
  };
  const host = o.host ?? DEFAULTS.host;
  const port = count('port', 0);
  if (port > 65535) throw invalid(`RESP server option port must be at most 65535, got ${port}`);
  if (o.requirepass !== undefined && (typeof o.requirepass !== 'string' || o.requirepass === '')) {
    throw invalid('RESP server option requirepass must be a non-empty string');
  }
  if (o.requirepass === undefined && !isLoopback(host)) {
    throw invalid(
      `protected mode: refusing to listen on ${host} without a password, which would let anyone who reaches ` +
        `this machine read and write the store. Set requirepass (clients then AUTH), or listen on 127.0.0.1 only`,
    );
  }
  return {
    host,
    port,
    requirepass: o.requirepass,
    maxBulkBytes: count('maxBulkBytes', 1),
    maxInlineBytes: count('maxInlineBytes', 64),
    maxArgs: count('maxArgs', 1),
    maxPendingReplyBytes: count('maxPendingReplyBytes', 1024),
    idleTimeoutMs: count('idleTimeoutMs', 0),
    maxclients: count('maxclients', 1),
    reservedFds: count('reservedFds', 0),
    queryBufferLimit: count('queryBufferLimit', 1024 * 1024),
    maxmemoryClients: count('maxmemoryClients', 0),
    maxValueBytes: count('maxValueBytes', 1),
    scriptTimeLimitMs: count('scriptTimeLimitMs', 1),
    flushdbEnabled: o.flushdbEnabled ?? false,
    lww: o.lww ?? false,
    logLevel: o.logLevel ?? 'notice',
    defaultConsistency: undefined,
    storeConfig: { ...(o.storeConfig ?? {}) },
    version: o.version ?? '0.0.0',
  };
}

function newStats(): ServerStats {
  return {
    connectionsReceived: 0,
    connectionsRejected: 0,
    commandsProcessed: 0,
    protocolErrors: 0,
    outputLimitCloses: 0,
    queryLimitCloses: 0,
    keyspaceHits: 0,
    keyspaceMisses: 0,
    conflicts: 0,
    netInputBytes: 0,
    netOutputBytes: 0,
    errorReplies: new Map(),
  };
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

export async function startRespServer(store: Store, options: RespServerOptions = {}): Promise<RespServer> {
  const o = resolveOptions(options);
  const reservedFds = o.reservedFds;
  const fitted = fitMaxClients(o.maxclients, reservedFds);
  if (fitted.warning !== undefined) options.log?.warn({ maxclients: fitted.maxclients, asked: o.maxclients, openFileLimit: fitted.openFileLimit, reservedFds }, fitted.warning);
  o.maxclients = fitted.maxclients;
  const open = new Set<Connection>();
  let nextId = 1;
  let listening = 0;
  let closing: Promise<void> | undefined;
  const context: ServerContext = {
    store,
    options: o,
    locks: new KeyLocks(),
    stats: newStats(),
    latency: new LatencyRecorder(),
    startedAt: Date.now(),
    port: () => listening,
    *sessions(): Iterable<Session> {
      for (const c of open) yield c.session;
    },
    reconfigure: () => reconfigure(),
    resetStats: () => {
      Object.assign(context.stats, newStats());
      context.latency.reset();
      inputBudget.closes = 0;
    },
  };
  const limits: ParserLimits = {
    maxBulkBytes: o.maxBulkBytes,
    maxInlineBytes: o.maxInlineBytes,
    maxArgs: o.maxArgs,
    maxValueBytes: o.maxValueBytes,
    maxCommandBytes: o.queryBufferLimit,
  };
  const unauthenticatedLimits: ParserLimits = {
    ...limits,
    maxArgs: Math.min(o.maxArgs, UNAUTHENTICATED_MAX_ARGS),
    maxBulkBytes: Math.min(o.maxBulkBytes, UNAUTHENTICATED_MAX_BULK_BYTES),
    unauthenticated: true,
  };
  const authLog = new LogLimiter();
  const memory = new MemoryRelease();
  const inputBudget = new ClientInputBudget(o.maxmemoryClients, () => open);
  /** CONFIG SET changed `o`: every value takes effect now, for open connections too. */
  const reconfigure = (): void => {
    limits.maxBulkBytes = o.maxBulkBytes;
    limits.maxCommandBytes = o.queryBufferLimit;
    unauthenticatedLimits.maxBulkBytes = Math.min(o.maxBulkBytes, UNAUTHENTICATED_MAX_BULK_BYTES);
    unauthenticatedLimits.maxCommandBytes = o.queryBufferLimit;
    inputBudget.limit = o.maxmemoryClients;
    inputBudget.change(0);
    for (const c of open) {
      c.applyIdleTimeout(o.idleTimeoutMs);
      c.session.useDefaultConsistency();
    }
    options.setLogLevel?.(REDIS_LOG_LEVELS[o.logLevel] ?? 'info');
  };
  const host: ConnectionHost = {
    context,
    flushQueue: new FlushQueue(),
    limits,
    unauthenticatedLimits,
    inputBudget,
    memory,
    authFailed: (address) => {
      const source = sourceOf(address.slice(0, address.lastIndexOf(':')));
      const suppressed = authLog.allow(source);
      if (suppressed !== false) options.log?.warn({ source, suppressed }, `failed AUTH from ${source} (wrong password)${suppressed > 0 ? `; ${suppressed} more from it not logged in the last minute` : ''}`);
    },
    maxPendingReplyBytes: o.maxPendingReplyBytes,
    closed: (conn) => open.delete(conn),
  };
  const server = createServer({ allowHalfOpen: true, noDelay: true, keepAlive: true }, (socket: Socket) => {
    if (closing !== undefined) {
      context.stats.connectionsRejected++;
      socket.destroy();
      return;
    }
    if (open.size >= o.maxclients) {
      context.stats.connectionsRejected++;
      socket.on('error', () => {});
      const linger = setTimeout(() => socket.destroy(), REFUSED_LINGER_MS);
      socket.once('close', () => clearTimeout(linger));
      socket.end(MAX_CLIENTS_REPLY);
      return;
    }
    context.stats.connectionsReceived++;
    open.add(new Connection(socket, host, nextId++));
  });
  try {
    await listen(server, o.port, o.host);
  } catch (err) {
    // EADDRINUSE, EACCES, EADDRNOTAVAIL: the message names the address.
    throw new RingkvError(ErrorCode.IO, `RESP server cannot listen on ${o.host}:${o.port}: ${(err as Error).message}`, { cause: err });
  }
  // After listen: accept errors (EMFILE) must not crash the process.
  server.on('error', () => {});
  const addr = server.address();
  listening = typeof addr === 'object' && addr !== null ? addr.port : o.port;

  const close = async (): Promise<void> => {
    const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
    const all = Promise.all([...open].map((c) => c.shutdown()));
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => {
      timer = setTimeout(() => resolve('late'), CLOSE_TIMEOUT_MS);
    });
    if ((await Promise.race([all, late])) === 'late') for (const c of open) c.destroy();
    clearTimeout(timer);
    await stopped;
    memory.stop();
  };

  return {
    port: listening,
    address: o.host,
    connections: () => open.size,
    get maxclients() {
      return o.maxclients;
    },
    latency: context.latency,
    clientInputBytes: () => inputBudget.bytes,
    close: () => (closing ??= close()),
  };
}
