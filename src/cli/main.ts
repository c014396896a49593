// Runs on: the main thread. The `ringkv` command (bin/ringkv.mjs runs the built copy):
// dispatches the subcommand, and turns a CliError into its message and exit status.
//
//   ringkv start [options]    run a server (ringkv start --help)
//   ringkv status [--admin]   shard table of a running server
//   ringkv cluster <command>  membership: status, plan, commit, leave, remove <node>
//   ringkv bench [options]    load generator against a running server or an embedded store
//   ringkv version
import { bench } from './bench.js';
import { CliError } from './cli-error.js';
import { cluster } from './cluster.js';
import { start } from './start.js';
import { status } from './status.js';
import { version } from './version.js';

type Command = (argv: readonly string[]) => Promise<number> | number;

const COMMANDS: Record<string, { run: Command; summary: string }> = {
  start: { run: start, summary: 'Run a server (RESP + admin HTTP) on a data dir' },
  status: { run: status, summary: 'Show the shards of a running server' },
  cluster: { run: cluster, summary: 'Membership of a cluster: status, plan, commit, leave (decommission), remove <node>' },
  bench: { run: bench, summary: 'Load a running server over RESP (or --embedded <dir>: a store in this process) and print throughput and latency' },
  version: { run: version, summary: 'Print the version' },
};

function help(): string {
  const w = Math.max(...Object.keys(COMMANDS).map((c) => c.length));
  return [
    'Usage: ringkv <command> [options]',
    '',
    'Commands:',
    ...Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(w)}  ${c.summary}`),
    '',
    "Run 'ringkv <command> --help' for a command's options.",
    '',
  ].join('\n');
}

/** Runs the command line (without node and the script); resolves with the exit status. */
export async function main(argv: readonly string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === 'help' || name === '--help' || name === '-h') {
    process.stdout.write(help());
    return 0;
  }
  if (name === '--version' || name === '-v') return version();
  const command = COMMANDS[name];
  if (command === undefined) {
    process.stderr.write(`ringkv: unknown command '${name}'\n\n${help()}`);
    return 2;
  }
  try {
    return await command.run(rest);
  } catch (err) {
    if (err instanceof CliError) {
      process.stderr.write(`ringkv ${name}: ${err.message}\n`);
      return err.exitCode;
    }
    const e = err as Error & { code?: string };
    process.stderr.write(`ringkv ${name}: ${e.code ? `${e.code}: ` : ''}${e.message}\n`);
    return 1;
  }
}
