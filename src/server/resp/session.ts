// Runs on: the main thread. What a command sees: its connection's state (Session) and the
// server's (ServerContext). Commands change a session only synchronously, when they are
// dispatched, so a connection's state changes in the order its commands arrive.
import type { Store, ConsistencyLevel } from '../../index.js';
import type { KeyLocks } from './key-locks.js';
import type { LatencyRecorder } from './latency.js';
import type { Protocol } from './writer.js';

/** The server's options with every default filled in. */
export interface ResolvedOptions {
  host: string;
  port: number;
  requirepass: string | undefined;
  maxBulkBytes: number;
  maxInlineBytes: number;
  maxArgs: number;
  maxPendingReplyBytes: number;
  idleTimeoutMs: number;
  maxclients: number;
  /** Descriptors kept for the engines: CONFIG SET maxclients may not take them (fd-limit.ts). */
  reservedFds: number;
  queryBufferLimit: number;
  maxmemoryClients: number;
  maxValueBytes: number;
  flushdbEnabled: boolean;
  /** A script running longer than this (ms) is stopped. */
  scriptTimeLimitMs: number;
  lww: boolean;
  /** Redis's loglevel word (CONFIG SET loglevel; config.ts maps it to the logger's level). */
  logLevel: string;
  /** The consistency level of connections that have not sent CONSISTENCY; undefined = the store's. */
  defaultConsistency: ConsistencyLevel | undefined;
  storeConfig: Record<string, string>;
  version: string;
}

/** Counters for INFO; the server's own, beside the store's. */
export interface ServerStats {
  connectionsReceived: number;
  connectionsRejected: number;
  commandsProcessed: number;
  protocolErrors: number;
  outputLimitCloses: number;
  /** Clients closed for a command over client-query-buffer-limit. */
  queryLimitCloses: number;
  keyspaceHits: number;
  keyspaceMisses: number;
  /** Reads answered CONFLICT because the key had concurrent values. */
  conflicts: number;
  netInputBytes: number;
  netOutputBytes: number;
  /** Error replies sent, by prefix (ERR, CONFLICT, ...), EXEC's elements included: INFO's total_error_replies and errorstats. */
  errorReplies: Map<string, number>;
}

export interface ServerContext {
  readonly store: Store;
  readonly options: ResolvedOptions;
  readonly locks: KeyLocks;
  readonly stats: ServerStats;
  /** Latency per command type and consistency level (INFO commandstats, /metrics). */
  readonly latency: LatencyRecorder;
  /** Date.now() when the server started. */
  readonly startedAt: number;
  /** The port the server listens on (known once it listens). */
  port(): number;
  /** Every open connection's session (CLIENT LIST, INFO clients). */
  sessions(): Iterable<Session>;
  /** After CONFIG SET changed `options`: applies them to open connections, parsers, the budget and the log. */
  reconfigure(): void;
  /** CONFIG RESETSTAT: zeroes the counters INFO reports. */
  resetStats(): void;
}

/** Read/write options of one connection (CONSISTENCY ...); undefined = the store's default. */

export interface Consistency {
  r: number | undefined;
  w: number | undefined;
  /** A consistency level (LOCAL_QUORUM, ...): replaces r and w. */
  level: ConsistencyLevel | undefined;
  /** false: strict quorum (hints and stand-ins do not count toward W, fallbacks not toward R); true: sloppy. */
  sloppy: boolean | undefined;
}

export class Session {
  proto: Protocol = 2;
  authed: boolean;
  name: string | null = null;
  libName = '';
  libVersion = '';
  /** MULTI's queue and WATCH's keys. */
  /** MULTI is open: commands queue (the transaction itself: transactionOf in transaction.ts). */
  inMulti = false;
  /** Whether the connection has issued a write (WAIT answers 0 before it). */
  wrote = false;
  /** Set by QUIT: the connection closes once earlier replies are written. */
  quit = false;
  /** Passed to every store read of this connection; replaced (never mutated) by CONSISTENCY. */
  readOptions: { r?: number; level?: ConsistencyLevel; sloppy?: boolean } = {};
  /** Passed to every store write of this connection; replaced (never mutated) by CONSISTENCY. */
  writeOptions: { w?: number; level?: ConsistencyLevel; sloppy?: boolean } = {};
  /** writeOptions with overwrite (a plain SET's), made once per writeOptions. */
  private overwriteOf: Session['writeOptions'] | undefined;
  private overwrite: Session['writeOptions'] & { overwrite: true } = { overwrite: true };
  /** The connection sent CONSISTENCY: the server's default (CONFIG SET ringkv-consistency) no longer applies. */
  ownConsistency = false;
  readonly createdAt = Date.now();
  lastCommandAt = Date.now();

  constructor(
    readonly server: ServerContext,
    readonly id: number,
    /** host:port of the client. */
    readonly address: string,
  ) {
    this.authed = server.options.requirepass === undefined;
    this.useDefaultConsistency();
  }

  /** Takes the server's default consistency level (unless this connection chose its own). */
  useDefaultConsistency(): void {
    if (this.ownConsistency) return;
    const level = this.server.options.defaultConsistency;
    const { readOptions, writeOptions } = requestOptions({ r: undefined, w: undefined, level, sloppy: undefined });
    this.readOptions = readOptions;
    this.writeOptions = writeOptions;
  }

  /** The store options of a plain SET (writeOptions, superseding what the key holds), shared by every such SET. */
  get overwriteOptions(): Session['writeOptions'] & { overwrite: true } {
    if (this.overwriteOf !== this.writeOptions) {
      this.overwriteOf = this.writeOptions;
      this.overwrite = Object.freeze({ ...this.writeOptions, overwrite: true as const });
    }
    return this.overwrite;
  }

  get consistency(): Consistency {
    return { r: this.readOptions.r, w: this.writeOptions.w, level: this.readOptions.level, sloppy: this.writeOptions.sloppy };
  }

  setConsistency(c: Consistency): void {
    this.ownConsistency = true;
    const { readOptions, writeOptions } = requestOptions(c);
    this.readOptions = readOptions;
    this.writeOptions = writeOptions;
  }
}

/** The store options of reads and writes under consistency `c`. */
export function requestOptions(c: Consistency): { readOptions: Session['readOptions']; writeOptions: Session['writeOptions'] } {
  const sloppy = c.sloppy === undefined ? {} : { sloppy: c.sloppy };
  // STRICT / SLOPPY apply to reads (fallbacks toward R) as to writes (hints toward W).
  if (c.level !== undefined) return { readOptions: { level: c.level, ...sloppy }, writeOptions: { level: c.level, ...sloppy } };
  return {
    readOptions: { ...(c.r === undefined ? {} : { r: c.r }), ...sloppy },
    writeOptions: { ...(c.w === undefined ? {} : { w: c.w }), ...sloppy },
  };
}
