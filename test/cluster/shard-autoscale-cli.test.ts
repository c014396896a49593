// `ringkv start --auto-shards` as an operator runs it (a child process, in a private network
// namespace): the node logs that the policy is on with its bounds, `ringkv cluster status`
// prints the policy's line, /metrics carries its series, and the first sample's decision is
// logged. Bad combinations exit 2 before anything starts.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runCli, startServer } from '../support/cli-harness.js';
import { enterNetns } from '../support/netns.js';
import { eventually } from './transfer-harness.js';

const inside = await enterNetns();
const SECRET = 'auto-shards-cli-secret';
const HOST = '127.0.0.2';

if (inside) {
  test('a node started with --auto-shards reports the policy in its log, cluster status and metrics', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ringkv-auto-shards-'));
    const server = await startServer(
      ['--node-id', 'n1', '--host', HOST, '--port', '0', '--admin-host', HOST, '--admin-port', '0', '--cluster-port', '7397',
        '--dir', dir, '--n', '1', '--r', '1', '--w', '1', '--sync-mode', 'none', '--auto-shards', '--max-shards', '1'],
      { RINGKV_CLUSTER_SECRET: SECRET },
    );
    try {
      const admin = `${HOST}:${server.adminPort}`;
      const logged = (): Record<string, unknown>[] => server.output().stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
      const on = logged().find((l) => l.msg === 'shard policy on');
      assert.ok(on, server.output().stdout);
      assert.equal([on!.minShards, on!.maxShards, on!.intervalMs], [1, 1, 10_000]);
      assert.is(server.ready.shards, 1, 'the defaulted --shards (the cores) is kept within --max-shards');

      // The first sample reads each shard once: nothing to measure yet, or the ring still settling.
      await eventually(async () => {
        const r = await runCli(['cluster', 'status', '--admin', admin]);
        return /^Shard policy: 1 shards \(1\.\.1\), .*last decision: hold \((no-sample|unsettled)/m.test(r.stdout) ? undefined : r.stdout + r.stderr;
      }, 20_000);
      const metrics = await (await fetch(`http://${admin}/metrics`)).text();
      assert.match(metrics, /^ringkv_shard_policy_target_shards 1$/m);
      assert.match(metrics, /^ringkv_shard_policy_bound_shards\{bound="min"\} 1$/m);
      assert.match(metrics, /^ringkv_shard_policy_changes_total\{direction="grow"\} 0$/m);
      assert.ok(logged().some((l) => typeof l.msg === 'string' && l.msg.startsWith('shard policy holds: ') && typeof l.reason === 'string'), server.output().stdout);
    } finally {
      const r = await server.stop();
      rmSync(dir, { recursive: true, force: true });
      assert.is(r.code, 0, r.stderr);
    }
  });

  test('--auto-shards alone, or with a maximum above the cores, exits 2 with the reason', async () => {
    const alone = await runCli(['start', '--auto-shards', '--port', '0', '--admin-port', '0']);
    assert.is(alone.code, 2);
    assert.match(alone.stderr, '--auto-shards changes a cluster node\'s shard count at runtime: it needs --node-id');
    const many = await runCli(['start', '--node-id', 'n1', '--auto-shards', '--max-shards', '1024'], { RINGKV_CLUSTER_SECRET: SECRET });
    assert.is(many.code, 2);
    assert.match(many.stderr, /--max-shards \(1024\) cannot exceed the \d+ cores/);
  });
}

test.run();
