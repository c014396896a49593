// Runs on: main thread. `npm run bench`: the index of ringkv's benchmarks. Without
// arguments it lists them and how to run each; with names it runs those, one after the
// other, each in a child process of its own (with --expose-gc, which the benches use to
// start every phase from a collected heap), passing the flags after the names to each.
//
//   npm run bench                          list the benchmarks
//   npm run bench -- storage --quick       run one (flags after the names go to each)
//   node dist/bench/run.js ipc engine      run several in turn
//
// Each bench prints its own markdown report; this index adds nothing to the numbers.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

interface Bench {
  /** What it measures, one line. */
  about: string;
  /** The program and its first arguments, relative to the package root. */
  command: readonly string[];
  /** Where its flags are described. */
  flags: string;
}

/** dist/bench/run.js -> the package root (bench/resp-matrix.sh lives in the sources). */
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

const BENCHES: Record<string, Bench> = {
  storage: {
    about: 'one shard\'s LSM engine vs classic-level and lmdb (load, gets, scans, mixed), each row in its own process',
    command: [process.execPath, '--expose-gc', 'dist/bench/storage.js'],
    flags: '--help lists its flags (--quick for a short run)',
  },
  engine: {
    about: 'the embedded store open() (1/2/4 shards, N=1 and N=3/W=2, sync batch/none) vs lmdb and classic-level',
    command: [process.execPath, '--expose-gc', 'dist/bench/engine.js'],
    flags: '--help lists its flags',
  },
  ipc: {
    about: 'the SharedArrayBuffer ring vs postMessage between the main thread and one worker',
    command: [process.execPath, '--expose-gc', 'dist/bench/ipc.js'],
    flags: 'flags: --seconds S, --repeats N, --only one-way|rt1|rtk (no --help: it runs)',
  },
  converge: {
    about: 'time until every replica agrees after a 10 s partition of 2 of 5 ringkv processes under writes (iptables in a network namespace), median of 3 rounds',
    command: [process.execPath, 'dist/bench/converge.js'],
    flags: '--help lists its flags (--rounds, --partition-s, --gossip-interval-ms, --timeout-ms; needs root for unshare --net and iptables)',
  },
  'resp-matrix': {
    about: 'redis-benchmark against ringkv start (N=1, N=3/W=2; batch, periodic) and redis-server side by side',
    command: ['bash', 'bench/resp-matrix.sh'],
    flags: '--help lists its flags (-n, --rounds; needs redis-server and redis-benchmark, installed if missing)',
  },
};

/** The command as a person would type it. */
function shown(command: readonly string[]): string {
  return (command[0] === process.execPath ? ['node', ...command.slice(1)] : command).join(' ');
}

function list(): string {
  const w = Math.max(...Object.keys(BENCHES).map((n) => n.length));
  return [
    'Usage: npm run bench -- <name> [<name> ...] [flags for each]',
    '       node dist/bench/run.js <name> ... (after node build.mjs)',
    '',
    'Benchmarks:',
    ...Object.entries(BENCHES).map(([name, b]) => [
      `  ${name.padEnd(w)}  ${b.about}`,
      `  ${''.padEnd(w)}  ${shown(b.command)}`,
      `  ${''.padEnd(w)}  ${b.flags}`,
    ].join('\n')),
    '',
    'Also: ringkv bench (redis-benchmark-like load of a server, or --embedded <dir> of a store in-process).',
    '',
  ].join('\n');
}

function run(name: string, bench: Bench, flags: readonly string[]): Promise<number> {
  process.stderr.write(`\n== ${name}: ${shown([...bench.command, ...flags])}\n`);
  return new Promise((resolve) => {
    const child = spawn(bench.command[0]!, [...bench.command.slice(1), ...flags], { cwd: ROOT, stdio: 'inherit' });
    child.on('error', (err) => {
      process.stderr.write(`${name}: ${err.message}\n`);
      resolve(1);
    });
    child.on('close', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
}

async function main(argv: readonly string[]): Promise<number> {
  let split = argv.findIndex((a) => a.startsWith('-'));
  if (split < 0) split = argv.length;
  const names = argv.slice(0, split);
  const flags = argv.slice(argv[split] === '--' ? split + 1 : split);
  if (names.length === 0 || names.includes('--help') || names.includes('-h')) {
    process.stdout.write(list());
    return 0;
  }
  const unknown = names.filter((n) => BENCHES[n] === undefined);
  if (unknown.length > 0) {
    process.stderr.write(`unknown benchmark${unknown.length > 1 ? 's' : ''}: ${unknown.join(', ')}\n\n${list()}`);
    return 2;
  }
  let status = 0;
  for (const name of names) status = Math.max(status, await run(name, BENCHES[name]!, flags));
  return status;
}

process.exitCode = await main(process.argv.slice(2));
