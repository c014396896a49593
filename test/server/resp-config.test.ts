// CONFIG SET, CONFIG GET and CONFIG RESETSTAT: Redis 7's replies and error strings (the
// strings below are redis-server 7.0's own, captured from it), all-or-nothing checks, and
// each settable value taking effect at once, on connections already open.
import { Redis } from 'ioredis';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FD_RESERVE_BASE, fitMaxClients, openFileLimit } from '../../src/server/resp/fd-limit.js';
import { encodeCommand, type Harness, RawClient, rejects, startHarness } from './resp-harness.js';

/** Generous: a loaded 2-core machine; the idle timeout itself is 1 s. */
const CLOSE_DEADLINE_MS = 30_000;
let h: Harness;
let redis: Redis;
const logLevels: string[] = [];

test.before(async () => {
  h = await startHarness({ server: { setLogLevel: (l) => logLevels.push(l) }, store: { shards: 1, n: 1, r: 1, w: 1 } });
  redis = new Redis({ port: h.port, lazyConnect: true, maxRetriesPerRequest: 0 });
  await redis.connect();
});

test.after(async () => {
  redis.disconnect();
  await h.close();
});

const setFailed = (name: string, why: string) => new RegExp(`^ReplyError: ERR CONFIG SET failed \\(possibly related to argument '${name}'\\) - ${why}`);

test('CONFIG SET errors are Redis 7 words: unknown, immutable, bad values, duplicates, arity', async () => {
  await rejects(redis.call('config', 'set', 'foo', '1'), /ERR Unknown option or number of arguments for CONFIG SET - 'foo'/);
  await rejects(redis.call('config', 'set', 'port', '1'), setFailed('port', "can't set immutable config"));
  await rejects(redis.call('config', 'set', 'appendonly', 'yes'), setFailed('appendonly', "can't set immutable config"));
  await rejects(redis.call('config', 'set', 'maxclients', 'abc'), setFailed('maxclients', "argument couldn't be parsed into an integer"));
  await rejects(redis.call('config', 'set', 'maxclients', '0'), setFailed('maxclients', 'argument must be between 1 and 4294967295 inclusive'));
  // More clients than the open-file limit allows, less the engines' reserve: refused as Redis does, with the most it can take.
  const fdLimit = openFileLimit();
  if (fdLimit !== undefined) {
    const most = fitMaxClients(fdLimit * 2, FD_RESERVE_BASE).maxclients;
    await rejects(redis.call('config', 'set', 'maxclients', String(fdLimit * 2)), setFailed('maxclients', `The operating system is not able to handle the specified number of clients, try with ${most}`));
    assert.equal(await redis.call('config', 'get', 'maxclients'), ['maxclients', String(h.server.maxclients)], 'unchanged');
  }
  await rejects(redis.call('config', 'set', 'timeout', '-1'), setFailed('timeout', 'argument must be between 0 and 2147483647 inclusive'));
  await rejects(redis.call('config', 'set', 'client-query-buffer-limit', '1'), setFailed('client-query-buffer-limit', 'argument must be between 1048576 and 9223372036854775807 inclusive'));
  await rejects(redis.call('config', 'set', 'loglevel', 'bogus'), setFailed('loglevel', 'argument\\(s\\) must be one of the following: debug, verbose, notice, warning'));
  await rejects(redis.call('config', 'set', 'timeout', '5', 'timeout', '6'), setFailed('timeout', 'duplicate parameter'));
  await rejects(redis.call('config', 'set', 'timeout'), /ERR wrong number of arguments for 'config\|set' command/);
  await rejects(redis.call('config', 'resetstat', 'x'), /ERR wrong number of arguments for 'config\|resetstat' command/);
  // All or nothing: the bad second value leaves the first unset.
  await rejects(redis.call('config', 'set', 'timeout', '7', 'daemonize', 'yes'), /Unknown option|immutable/);
  assert.equal(await redis.call('config', 'get', 'timeout'), ['timeout', '0']);
});

test('CONFIG GET reads back every settable value, by glob; memory units are accepted', async () => {
  assert.is(await redis.call('config', 'set', 'maxmemory-clients', '64mb', 'proto-max-bulk-len', '2gb'), 'OK');
  const all = (await redis.call('config', 'get', '*')) as string[];
  const got = new Map<string, string>();
  for (let i = 0; i < all.length; i += 2) got.set(all[i]!, all[i + 1]!);
  for (const name of ['loglevel', 'timeout', 'maxclients', 'client-query-buffer-limit', 'proto-max-bulk-len', 'maxmemory-clients', 'busy-reply-threshold', 'lua-time-limit', 'ringkv-consistency']) {
    assert.ok(got.has(name), `CONFIG GET * lacks ${name}`);
  }
  assert.is(got.get('maxmemory-clients'), String(64 * 1024 * 1024));
  assert.is(got.get('proto-max-bulk-len'), String(2 * 1024 ** 3));
  assert.equal(await redis.call('config', 'get', 'LUA-*'), ['lua-time-limit', '5000']);
});

test('CONFIG SET timeout closes an idle connection that was already open; 0 turns it off again', async () => {
  const idle = await RawClient.open(h.port);
  assert.is(await idle.call('PING'), 'PONG');
  assert.is(await redis.call('config', 'set', 'timeout', '1'), 'OK');
  await idle.whenClosed(CLOSE_DEADLINE_MS);
  assert.is(await redis.call('config', 'set', 'timeout', '0'), 'OK');
  assert.is(await redis.call('ping'), 'PONG');
});

test('CONFIG SET maxclients refuses the next connection at once', async () => {
  const open = h.server.connections();
  assert.is(await redis.call('config', 'set', 'maxclients', String(open)), 'OK');
  const over = await RawClient.open(h.port);
  const reply = await over.reply(CLOSE_DEADLINE_MS);
  assert.equal(reply, { error: 'ERR max number of clients reached' });
  over.close();
  assert.is(await redis.call('config', 'set', 'maxclients', '10000'), 'OK');
  const fine = await RawClient.open(h.port);
  assert.is(await fine.call('PING'), 'PONG');
  fine.close();
});

test('CONFIG SET client-query-buffer-limit applies to the next command of an open connection', async () => {
  const c = await RawClient.open(h.port);
  assert.is(await redis.call('config', 'set', 'client-query-buffer-limit', '1mb'), 'OK');
  c.send(encodeCommand(['SET', 'big', Buffer.alloc(2 * 1024 * 1024, 1)]));
  const reply = (await c.reply(CLOSE_DEADLINE_MS)) as { error: string };
  assert.match(reply.error, /query buffer limit reached/);
  await c.whenClosed(CLOSE_DEADLINE_MS);
  assert.is(await redis.call('config', 'set', 'client-query-buffer-limit', '1gb'), 'OK');
});

test('CONFIG SET busy-reply-threshold stops the next script at the new limit', async () => {
  assert.is(await redis.call('config', 'set', 'busy-reply-threshold', '100'), 'OK');
  await rejects(redis.call('eval', 'while true do end', '0'), /script time limit \(100 ms\)/);
  assert.is(await redis.call('config', 'set', 'lua-time-limit', '5000'), 'OK');
  assert.equal(await redis.call('config', 'get', 'busy-reply-threshold'), ['busy-reply-threshold', '5000']);
});

test('CONFIG SET ringkv-consistency is the level of open connections without their own CONSISTENCY', async () => {
  const own = await RawClient.open(h.port);
  assert.is(await own.call('CONSISTENCY', 'ONE'), 'OK');
  assert.is(await redis.call('config', 'set', 'ringkv-consistency', 'all'), 'OK');
  const shown = (await redis.call('consistency')) as unknown[];
  assert.is(shown[5], 'ALL');
  assert.is(((await own.call('CONSISTENCY')) as unknown[])[5], 'ONE');
  assert.is(await redis.call('set', 'c', '1'), 'OK'); // ALL of N=1 is met
  await rejects(redis.call('config', 'set', 'ringkv-consistency', 'most'), setFailed('ringkv-consistency', 'argument'));
  assert.is(await redis.call('config', 'set', 'ringkv-consistency', 'default'), 'OK');
  assert.is(((await redis.call('consistency')) as unknown[])[5], '');
  own.close();
});

test('CONFIG SET loglevel sets the logger (Redis words mapped to pino levels)', async () => {
  assert.is(await redis.call('config', 'set', 'loglevel', 'warning'), 'OK');
  assert.equal(await redis.call('config', 'get', 'loglevel'), ['loglevel', 'warning']);
  assert.is(logLevels.at(-1), 'warn');
  assert.is(await redis.call('config', 'set', 'loglevel', 'debug'), 'OK');
  assert.is(logLevels.at(-1), 'debug');
});

test('CONFIG RESETSTAT zeroes the counters INFO reports', async () => {
  await rejects(redis.call('nosuchcommand'), /unknown command/);
  assert.match((await redis.call('info', 'stats')) as string, /total_error_replies:[1-9]/);
  assert.is(await redis.call('config', 'resetstat'), 'OK');
  const stats = (await redis.call('info', 'stats')) as string;
  assert.match(stats, /total_error_replies:0\r\n/);
  assert.match(stats, /total_commands_processed:[12]\r\n/); // RESETSTAT and this INFO
});

test.run();
