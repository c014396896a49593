// Runs on: the main thread. CONFIG GET, CONFIG SET and CONFIG RESETSTAT.
//
// - CONFIG GET answers save '' (no snapshots), appendonly from the store's sync mode, the
//   server's own limits as enforced (maxclients after fitting it to the open-file limit,
//   client-query-buffer-limit, maxmemory-clients), every settable parameter below and
//   every entry of storeConfig. Patterns are Redis globs, case-insensitive.
// - CONFIG SET takes the parameters in SETTABLE: each value is checked first (all or
//   nothing, as Redis 7: one bad value sets none), then all are applied and take effect at
//   once (ServerContext.reconfigure: open connections' idle timeouts, the parsers' limits,
//   the input budget). Any other known parameter answers Redis's "can't set immutable
//   config"; an unknown one, Redis's "Unknown option". Error strings are Redis 7's.
// - CONFIG RESETSTAT zeroes INFO's counters (stats, errorstats, commandstats, latencystats).
import { CONSISTENCY_LEVELS } from '../../index.js';
import { isWord, text } from './args.js';
import { globMatch } from './glob.js';
import { appendOnly } from './info.js';
import { ErrorPrefix, OK, type Reply, ReplyError, RespMap } from './reply.js';
import { fitMaxClients } from './fd-limit.js';
import type { ResolvedOptions, Session } from './session.js';

/** Redis's loglevel words, and pino's level for each (the server logs through pino). */
export const REDIS_LOG_LEVELS: Readonly<Record<string, string>> = { debug: 'debug', verbose: 'info', notice: 'info', warning: 'warn', nothing: 'silent' };
/** The largest value of a 32-bit unsigned parameter (maxclients), as Redis bounds it. */
const UINT32_MAX = 4294967295;
/** Redis's bound of timeout (seconds, a C int). */
const INT32_MAX = 2147483647;
/** Redis's lower bound of client-query-buffer-limit: 1 MiB. */
const MIN_QUERY_BUFFER_LIMIT = 1024 * 1024;
/** Redis's memory units (k = 1000, kb = 1024, ...). */
const MEMORY_UNITS: Readonly<Record<string, number>> = { '': 1, b: 1, k: 1e3, kb: 1024, m: 1e6, mb: 1024 ** 2, g: 1e9, gb: 1024 ** 3 };

class BadValue extends Error {}

function integerIn(value: string, min: number, max: number): number {
  if (!/^-?\d+$/.test(value)) throw new BadValue("argument couldn't be parsed into an integer");
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < min || n > max) throw new BadValue(`argument must be between ${min} and ${max === Number.MAX_SAFE_INTEGER ? '9223372036854775807' : max} inclusive`);
  return n;
}

function memoryIn(value: string, min: number): number {
  const m = /^(\d+)([a-z]*)$/i.exec(value);
  const unit = m === null ? undefined : MEMORY_UNITS[m[2]!.toLowerCase()];
  if (m === null || unit === undefined) throw new BadValue('argument must be a memory value');
  const n = Number(m[1]) * unit;
  if (!Number.isSafeInteger(n) || n < min) throw new BadValue(`argument must be between ${min} and 9223372036854775807 inclusive`);
  return n;
}

interface Settable {
  get(o: ResolvedOptions): string;
  /** Checks `value`; throws BadValue (Redis's reason). Returns the change to apply. */
  parse(value: string, o: ResolvedOptions): (o: ResolvedOptions) => void;
}

const busyThreshold: Settable = {
  get: (o) => String(o.scriptTimeLimitMs),
  parse: (v) => {
    const ms = integerIn(v, 1, Number.MAX_SAFE_INTEGER);
    return (o) => (o.scriptTimeLimitMs = ms);
  },
};

/** Parameters CONFIG SET changes at run time. */
const SETTABLE: ReadonlyMap<string, Settable> = new Map<string, Settable>([
  ['loglevel', {
    get: (o) => o.logLevel,
    parse: (v) => {
      const level = v.toLowerCase();
      if (REDIS_LOG_LEVELS[level] === undefined) throw new BadValue('argument(s) must be one of the following: debug, verbose, notice, warning, nothing');
      return (o) => (o.logLevel = level);
    },
  }],
  ['timeout', {
    get: (o) => String(Math.floor(o.idleTimeoutMs / 1000)),
    parse: (v) => {
      const seconds = integerIn(v, 0, INT32_MAX);
      return (o) => (o.idleTimeoutMs = seconds * 1000);
    },
  }],
  ['maxclients', {
    get: (o) => String(o.maxclients),
    parse: (v, now) => {
      const n = integerIn(v, 1, UINT32_MAX);
      // As Redis: more clients than the open-file limit allows (less the engines' reserve) is refused.
      const fitted = fitMaxClients(n, now.reservedFds);
      if (fitted.maxclients < n) throw new BadValue(`The operating system is not able to handle the specified number of clients, try with ${fitted.maxclients}`);
      return (o) => (o.maxclients = n);
    },
  }],
  ['client-query-buffer-limit', {
    get: (o) => String(o.queryBufferLimit),
    parse: (v) => {
      const n = memoryIn(v, MIN_QUERY_BUFFER_LIMIT);
      return (o) => (o.queryBufferLimit = n);
    },
  }],
  ['proto-max-bulk-len', {
    get: (o) => String(o.maxBulkBytes),
    parse: (v) => {
      const n = memoryIn(v, 1024 * 1024);
      return (o) => (o.maxBulkBytes = n);
    },
  }],
  ['maxmemory-clients', {
    get: (o) => String(o.maxmemoryClients),
    parse: (v) => {
      const n = memoryIn(v, 0);
      return (o) => (o.maxmemoryClients = n);
    },
  }],
  ['busy-reply-threshold', busyThreshold],
  ['lua-time-limit', busyThreshold],
  // ringkv's own: the consistency level of every connection that has not sent CONSISTENCY.
  ['ringkv-consistency', {
    get: (o) => (o.defaultConsistency ?? 'default').toLowerCase(),
    parse: (v) => {
      if (isWord(Buffer.from(v), 'default')) return (o) => (o.defaultConsistency = undefined);
      const level = CONSISTENCY_LEVELS.find((l) => l.toLowerCase() === v.toLowerCase());
      if (level === undefined) throw new BadValue(`argument(s) must be one of the following: default, ${CONSISTENCY_LEVELS.join(', ').toLowerCase()}`);
      return (o) => (o.defaultConsistency = level);
    },
  }],
]);

/** Every parameter CONFIG GET knows, name -> value. */
function configTable(s: Session): Map<string, string> {
  const o = s.server.options;
  const t = new Map<string, string>([
    ['save', ''],
    ['appendonly', appendOnly(o.storeConfig)],
    ['databases', '1'],
    ['bind', o.host],
    ['port', String(s.server.port())],
    ['protected-mode', o.requirepass === undefined ? 'yes' : 'no'],
    ['maxmemory', '0'],
  ]);
  for (const [name, p] of SETTABLE) t.set(name, p.get(o));
  t.set('ringkv-max-inline-bytes', String(o.maxInlineBytes));
  t.set('ringkv-max-args', String(o.maxArgs));
  t.set('ringkv-max-pending-reply-bytes', String(o.maxPendingReplyBytes));
  t.set('ringkv-flushdb-enabled', o.flushdbEnabled ? 'yes' : 'no');
  t.set('ringkv-lww', o.lww ? 'yes' : 'no');
  for (const [k, v] of Object.entries(o.storeConfig)) if (!t.has(k)) t.set(k, v);
  return t;
}

function setFailed(name: string, reason: string): ReplyError {
  return new ReplyError(ErrorPrefix.ERR, `CONFIG SET failed (possibly related to argument '${name}') - ${reason}`);
}

function configSet(s: Session, args: Buffer[]): Reply {
  if (args.length < 4 || args.length % 2 !== 0) return new ReplyError(ErrorPrefix.ERR, "wrong number of arguments for 'config|set' command");
  const known = configTable(s);
  const changes: ((o: ResolvedOptions) => void)[] = [];
  const seen = new Set<string>();
  for (let i = 2; i < args.length; i += 2) {
    const name = text(args[i]!).toLowerCase();
    const p = SETTABLE.get(name);
    if (p === undefined) {
      if (known.has(name)) return setFailed(name, "can't set immutable config");
      return new ReplyError(ErrorPrefix.ERR, `Unknown option or number of arguments for CONFIG SET - '${text(args[i]!)}'`);
    }
    if (seen.has(name)) return setFailed(name, 'duplicate parameter');
    seen.add(name);
    try {
      changes.push(p.parse(text(args[i + 1]!), s.server.options));
    } catch (err) {
      if (err instanceof BadValue) return setFailed(name, err.message);
      throw err;
    }
  }
  for (const apply of changes) apply(s.server.options);
  s.server.reconfigure();
  return OK;
}

export function config(s: Session, args: Buffer[]): Reply {
  const sub = args[1]!;
  if (isWord(sub, 'get') && args.length >= 3) {
    const patterns = args.slice(2).map(text);
    const out: Reply[] = [];
    for (const [name, value] of configTable(s)) {
      if (patterns.some((p) => globMatch(p, name, true))) out.push(name, value);
    }
    return new RespMap(out);
  }
  if (isWord(sub, 'set')) return configSet(s, args);
  if (isWord(sub, 'resetstat')) {
    if (args.length !== 2) return new ReplyError(ErrorPrefix.ERR, "wrong number of arguments for 'config|resetstat' command");
    s.server.resetStats();
    return OK;
  }
  if (isWord(sub, 'rewrite')) return new ReplyError(ErrorPrefix.ERR, 'CONFIG REWRITE is not supported by ringkv (there is no config file it owns to rewrite)');
  return new ReplyError(ErrorPrefix.ERR, `unknown subcommand or wrong number of arguments for '${text(sub)}'. Try CONFIG GET.`);
}
