// Runs on: the main thread. The Redis-protocol (RESP2/RESP3) server in front of a Store:
// Redis clients (ioredis, node-redis, redis-cli, redis-benchmark) speak to ringkv.
//
//   const server = await startRespServer(store, { port: 6379 });
//   ...
//   await server.close();   // then store.close()
//
// parser.ts reads requests, writer.ts encodes replies, connection.ts keeps a connection's
// replies in order, commands.ts is the table (kv-commands, version-commands,
// connection-commands, server-commands), key-locks.ts orders commands on one key.
export { startRespServer, isLoopback, DEFAULT_MAXMEMORY_CLIENTS, type RespServer, type RespServerOptions } from './server.js';
export { reservedFds } from './fd-limit.js';
export { ErrorPrefix } from './reply.js';
