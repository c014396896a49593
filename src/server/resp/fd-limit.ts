// Runs on: the main thread. Fits maxclients to the process's open-file limit at start, as
// Redis does: every client is a descriptor, and the engines need theirs too (a WAL and
// tables per shard, peer links, the admin port). A server that let clients take the last
// descriptors would fail its writes with EMFILE instead of refusing one more client.
//
// Node has no getrlimit: the soft limit is read from /proc/self/limits (Linux). Elsewhere,
// or if the file cannot be read, maxclients is taken as asked.
import { readFileSync } from 'node:fs';

/**
 * Descriptors of a process before any client: stdio, the event loop's and each worker
 * thread's epoll and eventfd pairs, the piscina job threads, the RESP, admin and peer
 * listeners, log files, and a cluster node's peer links (two per peer: a few dozen
 * peers). Measured: 34 with two shards, idle (50 under a write load).
 */
export const FD_RESERVE_BASE = 128;
/**
 * Per shard: its WAL, the tables its engines keep open (up to the tiered compaction's 12
 * runs each, plus merge outputs) and its hint store. Measured: under 10 after a write load
 * on a small memtable; 48 leaves room for a compaction backlog.
 */
export const FD_RESERVE_PER_SHARD = 48;
/** The soft limit on open files ('Max open files' in /proc/self/limits); undefined when unknown or unlimited. */
export function openFileLimit(limitsFile = '/proc/self/limits'): number | undefined {
  let text: string;
  try {
    text = readFileSync(limitsFile, 'utf8');
  } catch {
    return undefined;
  }
  const m = /^Max open files\s+(\S+)/m.exec(text);
  if (m === null || m[1] === 'unlimited') return undefined;
  const n = Number(m[1]);
  return Number.isSafeInteger(n) && n > 0 ? n : undefined;
}

export interface FittedMaxClients {
  maxclients: number;
  openFileLimit: number | undefined;
  /** Set when maxclients was lowered: the line to log. */
  warning?: string;
}

/**
 * maxclients as asked, or lowered to the open-file limit less `reservedFds` (at least 1:
 * the warning then says how far short the limit is).
 */
export function fitMaxClients(asked: number, reservedFds: number, limit = openFileLimit()): FittedMaxClients {
  if (limit === undefined || asked + reservedFds <= limit) return { maxclients: asked, openFileLimit: limit };
  const maxclients = Math.max(1, limit - reservedFds);
  return {
    maxclients,
    openFileLimit: limit,
    warning:
      `maxclients lowered from ${asked} to ${maxclients}: the open-file limit (ulimit -n) is ${limit} and ${reservedFds} ` +
      `descriptors are kept for the engines; raise the limit (ulimit -n ${asked + reservedFds}, or LimitNOFILE= in a systemd unit) to allow ${asked}`,
  };
}

/** Descriptors to keep for everything but clients, for a node of `shards` shards. */
export function reservedFds(shards: number): number {
  return FD_RESERVE_BASE + FD_RESERVE_PER_SHARD * shards;
}
