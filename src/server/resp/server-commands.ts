// Runs on: the main thread. Commands about the server and the whole keyspace: INFO,
// DBSIZE, SCAN, CONFIG, FLUSHDB.
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
// - CONFIG: config.ts.
import { isWord, parseInteger, text } from './args.js';
import { defineCommand, type CommandSpec } from './command.js';
import { config } from './config.js';
import { globMatch } from './glob.js';
import { forgetKeyspaceFigures, infoSections, infoText, keyCount, storeStatsSoon } from './info.js';
import { ErrorPrefix, OK, type Reply, ReplyError, syntaxError } from './reply.js';
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
