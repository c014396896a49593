// Test helpers for real multi-host runs on one machine: each "host" is a loopback address
// (127.0.0.2, .3, ...) inside a private network namespace the test file creates for itself,
// so partitions are real iptables rules that vanish with the namespace (docs/notes.md).
//
// A test file calls `await enterNetns()` first. Outside a namespace it re-runs the same file
// under `unshare --net` (with `lo` up) and exits with that run's status, so the uvu summary
// the runner reads is the inner run's. Inside, it returns true. It returns false (the file
// should skip its tests and say why) when the machine cannot do it: not root, or no
// unshare/ip/iptables (.ci/run installs iptables).
import { execFileSync, spawn, spawnSync } from 'node:child_process';

const INSIDE = 'RINGKV_NETNS';

function has(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

/** Why this machine cannot run namespace tests, or undefined if it can. */
export function netnsUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root for unshare --net and iptables';
  for (const cmd of ['unshare', 'ip', 'iptables']) if (!has(cmd)) return `needs ${cmd} (apt-get install iptables iproute2)`;
  return undefined;
}

/**
 * True inside the private namespace. Outside, runs this file again inside one and exits
 * with its status (never returns). False if namespaces are unavailable here.
 */
export async function enterNetns(): Promise<boolean> {
  if (process.env[INSIDE] === '1') return true;
  const why = netnsUnavailable();
  if (why !== undefined) {
    console.log(`skipping: ${why}`);
    return false;
  }
  const child = spawn(
    'unshare',
    ['--net', 'sh', '-c', 'ip link set lo up && exec "$@"', 'sh', process.execPath, ...process.execArgv, ...process.argv.slice(1)],
    { stdio: 'inherit', env: { ...process.env, [INSIDE]: '1' } },
  );
  const code = await new Promise<number>((resolve) => child.on('close', (c, signal) => resolve(c ?? (signal ? 1 : 0))));
  process.exit(code);
}

function iptables(args: string[]): void {
  execFileSync('iptables', ['-w', ...args], { stdio: 'pipe' });
}

/** Drops every packet between the two groups of addresses, both ways (a silent partition). */
export function partition(a: readonly string[], b: readonly string[]): void {
  for (const x of a) {
    for (const y of b) {
      iptables(['-A', 'INPUT', '-s', x, '-d', y, '-j', 'DROP']);
      iptables(['-A', 'INPUT', '-s', y, '-d', x, '-j', 'DROP']);
    }
  }
}

/** Removes every partition. */
export function heal(): void {
  iptables(['-F', 'INPUT']);
}
