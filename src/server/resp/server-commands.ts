// Runs on: the main thread. Commands about the server and the whole keyspace: INFO,
// DBSIZE, SCAN, CONFIG GET, FLUSHDB.
//
// - DBSIZE counts the live keys exactly with a scan while the store's `approxKeys` is small
//   (info.ts, keyCount); above that it answers `approxKeys`, an approximation that counts
//   unmerged versions and tombstones; 0 without store stats. INFO keyspace counts the same way.
// - SCAN walks the store's keys with store.scan (the cursor is a ring token); MATCH filters
//   each page after the fact (pages may come back shorter than COUNT, even empty, as in
//   Redis); TYPE other than 'string' yields nothing (every value is a string).
// - FLUSHDB and FLUSHALL (one database: the same thing) answer an error saying how to
//   enable them unless the server was started with flushdbEnabled (`ringkv start
//   --allow-flushdb`). Enabled, they delete every key with store.clear(): a scan walk, page
//   by page, a tombstone per key written with `overwrite` (siblings go too), a bounded
//   number in flight, and answer +OK when the walk is done. ASYNC and SYNC are accepted and
//   behave alike (the reply waits for the walk). It is not atomic: a key written while the
//   flush runs may survive it; other clients are served meanwhile.
// - CONFIG GET answers save '' (no snapshots), appendonly from the store's sync mode,
//   the server's own limits as enforced (maxclients after fitting it to the open-file
//   limit, client-query-buffer-limit, maxmemory-clients), and every entry of storeConfig;
//   CONFIG SET is refused.
import { isWord, parseInteger, text } from './args.js';
import { defineCommand, type CommandSpec } from './command.js';
import { globMatch } from './glob.js';
import { appendOnly, forgetKeyspaceFigures, infoSections, infoText, keyCount, storeStatsSoon } from './info.js';
import { ErrorPrefix, OK, type Reply, ReplyError, RespMap, syntaxError } from './reply.js';
import type { Session } from './session.js';

async function info(s: Session, args: Buffer[]): Promise<Reply> {
  return infoText(s, infoSections(args.slice(1).map(text)));
}

async function dbsize(s: Session): Promise<Reply> {
  forgetKeyspaceFigures(s);
  return keyCount(s, await storeStatsSoon(s));
}

async function scan(s: Session, args: Buffer[]): Promise<Reply> {
  const cursor = text(args[1]!);
  if (!/^\d{1,20}$/.test(cursor) || BigInt(cursor) >= 1n << 64n) return new ReplyError(ErrorPrefix.ERR, 'invalid cursor');
  let count = 10;
  let match: string | undefined;
  let type: string | undefined;
  for (let i = 2; i < args.length; i += 2) {
    const a = args[i]!;
    if (i + 1 >= args.length) throw syntaxError();
    if (isWord(a, 'count')) {
      const n = parseInteger(args[i + 1]!);
      if (n === null || n < 1) throw syntaxError();
      count = Math.min(n, 100_000);
    } else if (isWord(a, 'match')) {
      match = text(args[i + 1]!);
    } else if (isWord(a, 'type')) {
      type = text(args[i + 1]!).toLowerCase();
    } else {
      throw syntaxError();
    }
  }
  const page = await s.server.store.scan({ cursor, count });
  const keys = type !== undefined && type !== 'string'
    ? []
    : page.keys.filter((k) => match === undefined || globMatch(match, Buffer.from(k).toString('latin1')));
  return [page.cursor, keys.map((k) => Buffer.from(k))];
}

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
    ['timeout', String(Math.floor(o.idleTimeoutMs / 1000))],
    ['proto-max-bulk-len', String(o.maxBulkBytes)],
    ['client-query-buffer-limit', String(o.queryBufferLimit)],
    ['maxclients', String(o.maxclients)],
    ['maxmemory-clients', String(o.maxmemoryClients)],
    ['maxmemory', '0'],
    // Redis answers BUSY past it; ringkv stops the script (scripting.ts). lua-time-limit is its old name.
    ['busy-reply-threshold', String(o.scriptTimeLimitMs)],
    ['lua-time-limit', String(o.scriptTimeLimitMs)],
    ['ringkv-max-inline-bytes', String(o.maxInlineBytes)],
    ['ringkv-max-args', String(o.maxArgs)],
    ['ringkv-max-pending-reply-bytes', String(o.maxPendingReplyBytes)],
    ['ringkv-flushdb-enabled', o.flushdbEnabled ? 'yes' : 'no'],
    ['ringkv-lww', o.lww ? 'yes' : 'no'],
  ]);
  for (const [k, v] of Object.entries(o.storeConfig)) t.set(k, v);
  return t;
}

function config(s: Session, args: Buffer[]): Reply {
  const sub = args[1]!;
  if (isWord(sub, 'get') && args.length >= 3) {
    const patterns = args.slice(2).map(text);
    const out: Reply[] = [];
    for (const [name, value] of configTable(s)) {
      if (patterns.some((p) => globMatch(p, name, true))) out.push(name, value);
    }
    return new RespMap(out);
  }
  if (isWord(sub, 'set') || isWord(sub, 'rewrite') || isWord(sub, 'resetstat')) {
    return new ReplyError(ErrorPrefix.ERR, `CONFIG ${text(sub).toUpperCase()} is not supported by ringkv (restart with other options)`);
  }
  return new ReplyError(ErrorPrefix.ERR, `unknown subcommand or wrong number of arguments for '${text(sub)}'. Try CONFIG GET.`);
}

async function flushdb(s: Session, args: Buffer[]): Promise<Reply> {
  const name = text(args[0]!).toUpperCase();
  if (args.length > 2 || (args.length === 2 && !isWord(args[1]!, 'async') && !isWord(args[1]!, 'sync'))) throw syntaxError();
  if (!s.server.options.flushdbEnabled) {
    return new ReplyError(
      ErrorPrefix.ERR,
      `${name} is disabled on this server; to allow it, restart with --allow-flushdb ` +
        `(or RINGKV_ALLOW_FLUSHDB=yes, or "allowFlushdb": true in the config file)`,
    );
  }
  await s.server.store.clear(s.writeOptions);
  return OK;
}

export const serverCommands: readonly CommandSpec[] = [
  defineCommand('info', { arity: -1, flags: [], run: info }),
  defineCommand('dbsize', { arity: 1, flags: ['readonly', 'fast'], run: dbsize }),
  defineCommand('scan', { arity: -2, flags: ['readonly'], run: scan }),
  defineCommand('config', { arity: -2, flags: [], run: config }),
  defineCommand('flushdb', { arity: -1, flags: ['write'], run: flushdb }),
  defineCommand('flushall', { arity: -1, flags: ['write'], run: flushdb }),
];
