// The option table of `ringkv start`: precedence flag > env > config file > default,
// derived defaults, parse errors that name where the value came from, and --help.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CliError, CliErrorCode } from '../../src/cli/cli-error.js';
import { optionsInto, parseSize, resolveStartOptions, START_OPTIONS, type StartOptions } from '../../src/cli/options.js';
import { defaultStorageOptions } from '../../src/storage/index.js';
import { runCli } from '../support/cli-harness.js';
import { DEFAULT_MAXMEMORY_CLIENTS } from '../../src/server/resp/index.js';

const dir = mkdtempSync(join(tmpdir(), 'ringkv-options-'));

test.after(() => rmSync(dir, { recursive: true, force: true }));

function resolve(argv: string[], env: NodeJS.ProcessEnv = {}): StartOptions {
  const r = resolveStartOptions(argv, env);
  if (r.help) throw new Error('unexpected --help');
  return r.options;
}

function usageError(argv: string[], env: NodeJS.ProcessEnv = {}): CliError {
  try {
    resolveStartOptions(argv, env);
  } catch (err) {
    assert.instance(err, CliError);
    assert.is((err as CliError).code, CliErrorCode.USAGE);
    return err as CliError;
  }
  throw new Error('expected a usage error');
}

test('defaults: ./data, 127.0.0.1:6380, admin 8380, a shard per core but the main thread\'s, N/R/W 3/2/2 capped, batch sync, info', () => {
  const o = resolve([]);
  const cores = Math.max(1, availableParallelism());
  const shards = Math.max(1, cores - 1);
  assert.equal(o, {
    dir: './data',
    host: '127.0.0.1',
    port: 6380,
    adminHost: '127.0.0.1',
    adminPort: 8380,
    shards,
    autoShards: false,
    minShards: 1,
    maxShards: cores,
    n: Math.min(3, shards),
    r: Math.min(2, shards),
    w: Math.min(2, shards),
    syncMode: 'batch',
    memtableBytes: 64 * 1024 * 1024,
    blockCacheBytes: 128 * 1024 * 1024,
    walRecovery: 'strict',
    timeoutMs: 2000,
    requirepass: undefined,
    allowFlushdb: false,
    nodeId: undefined,
    clusterPort: 7380,
    seeds: [],
    clusterName: 'ringkv',
    clusterSecret: undefined,
    dc: 'dc1',
    rack: 'rack1',
    weight: 1,
    gossipIntervalMs: 1000,
    cleanupDelayMs: 60_000,
    autoCommit: true,
    transferBytesPerSecond: 16 * 1024 * 1024,
    replication: undefined,
    consistency: undefined,
    logLevel: 'info',
    maxclients: 10_000,
    clientQueryBufferLimit: 1024 * 1024 * 1024,
    maxmemoryClients: DEFAULT_MAXMEMORY_CLIENTS,
    busyReplyThreshold: 5000,
  });
  const one = resolve(['--shards', '1']);
  assert.equal([one.n, one.r, one.w], [1, 1, 1]);
});

test('a cluster node: N is not capped by its shards, needs the secret; --replication sets N; bad values are refused', () => {
  const node = resolve(['--node-id', 'n1', '--shards', '1', '--seeds', '127.0.0.2:7380,127.0.0.3:7380'], { RINGKV_CLUSTER_SECRET: 's' });
  assert.equal([node.n, node.r, node.w], [3, 2, 2], 'a cluster node keeps N=3, R=W=2');
  assert.equal([node.n, node.r, node.w], [3, 2, 2]);
  assert.equal(node.seeds, ['127.0.0.2:7380', '127.0.0.3:7380']);
  assert.throws(() => resolve(['--node-id', 'n1']), /cluster secret/);
  const dcs = resolve(['--node-id', 'n1', '--replication', 'dc1:2,dc2:2', '--consistency', 'LOCAL_QUORUM'], { RINGKV_CLUSTER_SECRET: 's' });
  assert.equal([dcs.n, dcs.replication, dcs.consistency], [4, { dc1: 2, dc2: 2 }, 'LOCAL_QUORUM']);
  assert.throws(() => resolve(['--replication', 'dc1:2']), /needs --node-id/);
  assert.throws(() => resolve(['--node-id', 'a/b'], { RINGKV_CLUSTER_SECRET: 's' }), /--node-id/);
  assert.throws(() => resolve(['--node-id', 'n1', '--seeds', 'nohost'], { RINGKV_CLUSTER_SECRET: 's' }), /host:port/);
  assert.throws(() => resolve(['--node-id', 'n1', '--consistency', 'SOME'], { RINGKV_CLUSTER_SECRET: 's' }), /--consistency/);
  assert.is(resolve(['--node-id', 'n1', '--transfer-bytes-per-second', '256KiB'], { RINGKV_CLUSTER_SECRET: 's' }).transferBytesPerSecond, 256 * 1024);
  assert.is(resolve([], { RINGKV_TRANSFER_BYTES_PER_SECOND: '0' }).transferBytesPerSecond, 0, '0: unlimited');
  assert.throws(() => resolve(['--transfer-bytes-per-second', 'fast']), /--transfer-bytes-per-second: expected a size/);
});

test('a flag beats the environment, which beats the config file, which beats the default', () => {
  const file = join(dir, 'ringkv.json');
  writeFileSync(file, JSON.stringify({ port: 1111, adminPort: 2222, logLevel: 'warn', syncMode: 'none', memtableBytes: '1MiB', shards: 4 }));
  const env = { RINGKV_PORT: '3333', RINGKV_ADMIN_PORT: '5555', RINGKV_SHARDS: '' };
  const o = resolve(['--config', file, '--port', '4444'], env);
  assert.is(o.port, 4444, 'flag');
  assert.is(o.adminPort, 5555, 'env over config');
  assert.is(o.logLevel, 'warn', 'config over default');
  assert.is(o.syncMode, 'none');
  assert.is(o.memtableBytes, 1024 * 1024);
  assert.is(o.shards, 4, 'an empty env var counts as unset');
  assert.is(o.host, '127.0.0.1', 'default');
  // RINGKV_CONFIG names the file too.
  assert.is(resolve([], { RINGKV_CONFIG: file }).adminPort, 2222);
});

test('the shard count defaults to that of the store already in --dir', () => {
  const storeDir = join(dir, 'store');
  mkdirSync(storeDir, { recursive: true });
  writeFileSync(join(storeDir, 'STORE.json'), JSON.stringify({ shards: 7, partitions: 256 }));
  const o = resolve(['--dir', storeDir]);
  assert.is(o.shards, 7);
  assert.is(o.n, 3);
});

test('bad values fail with the flag, env var or config key that gave them', () => {
  assert.match(usageError(['--port', '70000']).message, '--port: expected an integer in 0..65535, got "70000"');
  assert.match(usageError([], { RINGKV_SHARDS: 'many' }).message, 'RINGKV_SHARDS');
  assert.match(usageError(['--sync-mode', 'sometimes']).message, 'expected one of batch, periodic, none');
  assert.match(usageError(['--memtable-bytes', '12 parsecs']).message, '--memtable-bytes');
  assert.match(usageError(['--no-such-flag']).message, 'no-such-flag');
  assert.match(usageError(['--shards', '2', '--n', '3']).message, 'N (3) cannot exceed the shard count (2)');
  assert.match(usageError(['--shards', '3', '--w', '4']).message, 'W (4) cannot exceed N (3)');
  const file = join(dir, 'bad.json');
  writeFileSync(file, JSON.stringify({ prot: 1 }));
  assert.match(usageError(['--config', file]).message, 'unknown key "prot"');
  writeFileSync(file, JSON.stringify({ port: 'x' }));
  assert.match(usageError(['--config', file]).message, `"port" in ${file}`);
  assert.match(usageError(['--config', join(dir, 'missing.json')]).message, 'cannot read config file');
});

test('--auto-shards: a cluster node only, max at most the cores, a defaulted --shards kept within the bounds', () => {
  const cores = Math.max(1, availableParallelism());
  const secret = { RINGKV_CLUSTER_SECRET: 's' };
  const on = resolve(['--node-id', 'n1', '--auto-shards'], secret);
  assert.equal([on.autoShards, on.minShards, on.maxShards], [true, 1, cores]);
  assert.is(resolve(['--node-id', 'n1'], { ...secret, RINGKV_AUTO_SHARDS: 'yes' }).autoShards, true);
  const file = join(dir, 'auto.json');
  writeFileSync(file, JSON.stringify({ nodeId: 'n1', autoShards: true, minShards: 1, maxShards: 1, shards: 1 }));
  const fromFile = resolve(['--config', file], secret);
  assert.equal([fromFile.autoShards, fromFile.maxShards], [true, 1]);
  // A count from the dir or the cores is brought within the bounds; one given explicitly must be within them.
  const nodeDir = join(dir, 'node');
  mkdirSync(nodeDir, { recursive: true });
  writeFileSync(join(nodeDir, 'NODE.json'), JSON.stringify({ id: 'n1', generation: 3, shards: 64 }));
  assert.is(resolve(['--node-id', 'n1', '--dir', nodeDir, '--auto-shards', '--max-shards', '1'], secret).shards, 1);
  assert.is(resolve(['--node-id', 'n1', '--dir', nodeDir], secret).shards, 64, 'without the policy the dir count stands');
  assert.match(usageError(['--node-id', 'n1', '--auto-shards', '--max-shards', '1', '--shards', '2'], secret).message, '--shards (2) must be within');
  assert.match(usageError(['--auto-shards']).message, 'needs --node-id');
  assert.match(usageError(['--node-id', 'n1', '--min-shards', '1'], secret).message, '--min-shards bounds the load-based shard policy: it needs --auto-shards');
  assert.match(usageError(['--node-id', 'n1', '--auto-shards', '--max-shards', String(cores + 1)], secret).message, `cannot exceed the ${cores} cores`);
  assert.match(usageError(['--node-id', 'n1', '--auto-shards', '--min-shards', '2', '--max-shards', '1'], secret).message, '--min-shards (2) cannot exceed --max-shards (1)');
  assert.match(usageError(['--node-id', 'n1', '--auto-shards', '--min-shards', '0'], secret).message, '--min-shards: expected an integer');
  assert.match(usageError([], { RINGKV_AUTO_SHARDS: 'perhaps' }).message, 'RINGKV_AUTO_SHARDS: expected yes or no');
});

test('--allow-flushdb is a switch; RINGKV_ALLOW_FLUSHDB and "allowFlushdb" take yes/no', () => {
  assert.is(resolve(['--allow-flushdb']).allowFlushdb, true);
  assert.is(resolve([], { RINGKV_ALLOW_FLUSHDB: 'yes' }).allowFlushdb, true);
  assert.is(resolve([], { RINGKV_ALLOW_FLUSHDB: 'off' }).allowFlushdb, false);
  const file = join(dir, 'flush.json');
  writeFileSync(file, JSON.stringify({ allowFlushdb: true }));
  assert.is(resolve(['--config', file]).allowFlushdb, true);
  assert.is(resolve(['--config', file], { RINGKV_ALLOW_FLUSHDB: 'no' }).allowFlushdb, false, 'env over config');
  assert.match(usageError([], { RINGKV_ALLOW_FLUSHDB: 'maybe' }).message, 'RINGKV_ALLOW_FLUSHDB: expected yes or no');
  assert.match(usageError(['--allow-flushdb=yes']).message, 'allow-flushdb');
});

test('--wal-recovery: strict by default, skip-damaged from the flag or RINGKV_WAL_RECOVERY; anything else is refused', () => {
  assert.is(resolve([]).walRecovery, 'strict');
  assert.is(resolve(['--wal-recovery', 'skip-damaged']).walRecovery, 'skip-damaged');
  assert.is(resolve([], { RINGKV_WAL_RECOVERY: 'skip-damaged' }).walRecovery, 'skip-damaged');
  assert.match(usageError(['--wal-recovery', 'lenient']).message, 'expected one of strict, skip-damaged');
});

test('sizes take bytes or KiB/MiB/GiB (and k/m/g, KB/MB/GB) suffixes', () => {
  assert.is(parseSize('65536'), 65536);
  assert.is(parseSize(4096), 4096);
  assert.is(parseSize('64KiB'), 64 * 1024);
  assert.is(parseSize('64m'), 64 * 1024 * 1024);
  assert.is(parseSize('1GB'), 1e9);
  assert.is(parseSize('1.5MiB'), 1.5 * 1024 * 1024);
  assert.throws(() => parseSize('-1'));
  assert.throws(() => parseSize('10 furlongs'));
});

test('ringkv start --help documents every option with its default and env var; a bad flag exits 2', async () => {
  const r = await runCli(['start', '--help']);
  assert.is(r.code, 0);
  for (const spec of Object.values(START_OPTIONS)) {
    assert.match(r.stdout, spec.value === '' ? `--${spec.flag}  ` : `--${spec.flag} <`);
    assert.match(r.stdout, `default: ${spec.defaultText}; env: ${spec.env}; config key: ${spec.configKey}`);
  }
  assert.match(r.stdout, '--config <file.json>');
  const bad = await runCli(['start', '--prot', '1']);
  assert.is(bad.code, 2);
  assert.match(bad.stderr, "Unknown option '--prot'");
});

test('ringkv version, ringkv help, and an unknown command', async () => {
  const v = await runCli(['version']);
  assert.is(v.code, 0);
  assert.match(v.stdout, /^ringkv \d+\.\d+\.\d+ \(node v\d+/);
  const h = await runCli([]);
  assert.is(h.code, 0);
  for (const c of ['start', 'status', 'bench', 'version']) assert.match(h.stdout, `  ${c} `);
  const u = await runCli(['frobnicate']);
  assert.is(u.code, 2);
  assert.match(u.stderr, "unknown command 'frobnicate'");
});

test('client limits: maxclients, client-query-buffer-limit and maxmemory-clients as flags, env or sizes; too small refused', () => {
  const o = resolve(['--maxclients', '50', '--client-query-buffer-limit', '64MiB'], { RINGKV_MAXMEMORY_CLIENTS: '0' });
  assert.equal([o.maxclients, o.clientQueryBufferLimit, o.maxmemoryClients], [50, 64 * 1024 * 1024, 0]);
  assert.throws(() => resolve(['--maxclients', '0']), /--maxclients/);
  assert.throws(() => resolve(['--client-query-buffer-limit', '1MiB']), /--client-query-buffer-limit: expected a size in bytes of at least 17825792/);
  assert.throws(() => resolve(['--maxmemory-clients', '1MiB']), /expected 0 or a size of at least/);
});

test('rows name where their value goes: open() and the cluster node take storage and quorum from optionsInto', () => {
  const o = resolve(['--dir', dir, '--memtable-bytes', '1MiB', '--sync-mode', 'none', '--n', '1', '--timeout-ms', '700']);
  assert.equal(optionsInto(o, 'storage'), { syncMode: 'none', memtableBytes: 1024 * 1024, blockCacheBytes: defaultStorageOptions().blockCacheBytes, walRecovery: 'strict' });
  assert.equal(optionsInto(o, 'quorum'), { n: 1, r: 1, w: 1, timeoutMs: 700 });
  // The storage rows' defaults are the engine's: one place.
  const d = resolve(['--dir', dir]);
  const engine = defaultStorageOptions();
  for (const [key, value] of Object.entries(optionsInto(d, 'storage'))) assert.equal(value, engine[key as keyof typeof engine], key);
  // Every storage row names a StorageOptions field.
  for (const [key, spec] of Object.entries(START_OPTIONS)) if (spec.into === 'storage') assert.ok(key in engine, key);
});

test.run();
