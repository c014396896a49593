// Runs on: the main thread. The Redis-protocol server in front of a Store:
// `const server = await startRespServer(store, { port: 6379 })`, `await server.close()`.
//
// Protected mode (as Redis's): without requirepass the server listens only on loopback
// addresses; asked for another address it refuses to start and says how to fix it.
import { createServer, type Server, type Socket } from 'node:net';
import type { Store } from '../../index.js';
import { ErrorCode, RingkvError } from '../../errors.js';
import { Connection, type ConnectionHost } from './connection.js';
import { KeyLocks } from './key-locks.js';
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
  /** Close a client idle this long (ms); 0 = never. Default 0. */
  idleTimeoutMs?: number;
  /** Allow FLUSHDB/FLUSHALL. Default false. */
  flushdbEnabled?: boolean;
  /** GET on a key with concurrent values answers one of them instead of -CONFLICT. Default false. */
  lww?: boolean;
  /** The store's settings, reported by CONFIG GET (e.g. { shards: '4', n: '3', 'sync-mode': 'batch' }). */
  storeConfig?: Record<string, string>;
  /** ringkv's version, for INFO and HELLO. Default '0.0.0'. */
  version?: string;
}

export interface RespServer {
  /** The port listened on (the one chosen, for port 0). */
  readonly port: number;
  readonly address: string;
  /** Open client connections. */
  connections(): number;
  /** Stops accepting, lets commands already received finish and answer, closes every socket. */
  close(): Promise<void>;
}

const DEFAULTS = {
  host: '127.0.0.1',
  port: 6379,
  maxBulkBytes: 512 * 1024 * 1024,
  maxInlineBytes: 64 * 1024,
  maxArgs: 1024 * 1024,
  maxPendingReplyBytes: 64 * 1024 * 1024,
  idleTimeoutMs: 0,
};
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
    flushdbEnabled: o.flushdbEnabled ?? false,
    lww: o.lww ?? false,
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
  const open = new Set<Connection>();
  let nextId = 1;
  let listening = 0;
  let closing: Promise<void> | undefined;
  const context: ServerContext = {
    store,
    options: o,
    locks: new KeyLocks(),
    stats: newStats(),
    startedAt: Date.now(),
    port: () => listening,
    *sessions(): Iterable<Session> {
      for (const c of open) yield c.session;
    },
  };
  const limits: ParserLimits = { maxBulkBytes: o.maxBulkBytes, maxInlineBytes: o.maxInlineBytes, maxArgs: o.maxArgs };
  const host: ConnectionHost = {
    context,
    flushQueue: new FlushQueue(),
    limits,
    maxPendingReplyBytes: o.maxPendingReplyBytes,
    idleTimeoutMs: o.idleTimeoutMs,
    closed: (conn) => open.delete(conn),
  };
  const server = createServer({ allowHalfOpen: true, noDelay: true, keepAlive: true }, (socket: Socket) => {
    if (closing !== undefined) {
      context.stats.connectionsRejected++;
      socket.destroy();
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
  };

  return {
    port: listening,
    address: o.host,
    connections: () => open.size,
    close: () => (closing ??= close()),
  };
}
