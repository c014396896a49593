#!/usr/bin/env bash
# The RESP benchmark matrix of issue 4, in one command: redis-benchmark against ringkv
# (`ringkv start`, N=1 and N=3/W=2) and redis-server side by side, in comparable pairs:
#
#   ringkv --sync-mode periodic (fsync every 100 ms)  vs  redis --appendfsync everysec
#   ringkv --sync-mode batch    (fsync before OK)     vs  redis --appendfsync always
#
# for each client shape (-c 50 -P 1, -c 50 -P 16, -c 1 -P 1) and test (SET, GET), and on
# one key (redis-benchmark's default, no -r: -c 50 -P 1 and -P 16, SET and INCR):
#   redis-benchmark -t set -n 200000 -r 100000 -d 100 -c C -P P --csv (one run per test)
# with the ringkv main thread's CPU per command beside each row (/proc, user + system).
# The -c 1 rows send a 20th of the requests (at least 1000): one client waits for every
# reply, and with batch/always for every fsync.
# Rounds alternate the servers (ringkv N=1, redis, ringkv N=3, then again); the table has
# the median over --rounds of ops/s, p50 and p99 (each column's own median) and the ratio
# ringkv/redis of the median ops/s. Markdown on stdout (with the command and the machine
# at the top), progress on stderr.
#
#   bash bench/resp-matrix.sh [-n 200000] [-r 100000] [-d 100] [--rounds 3] [--shards S] [--n1-shards S1]
#
# It builds ringkv (node build.mjs), starts its own servers on free ports with fresh temp
# data dirs, stops them by PID on exit (also on Ctrl-C), and installs redis-server and
# redis-tools with apt-get if they are missing. --shards: shard threads of the N=3 servers
# (default: the cores, at least 3); --n1-shards: of the N=1 servers (default: the cores less
# one, at least 1: the main thread parses RESP and coordinates, and redis-benchmark runs on
# the same machine).
# Smoke run: bash bench/resp-matrix.sh -n 2000 --rounds 1
set -euo pipefail

usage() { sed -n '2,23p' "$0" | sed 's/^# \{0,1\}//'; }
requests=200000; keyspace=100000; data=100; rounds=3; shards=""; n1_shards=""
args_text="$*"
while [ $# -gt 0 ]; do
  case "$1" in
    -n) requests=${2:?}; shift 2 ;;
    -r) keyspace=${2:?}; shift 2 ;;
    -d) data=${2:?}; shift 2 ;;
    --rounds) rounds=${2:?}; shift 2 ;;
    --shards) shards=${2:?}; shift 2 ;;
    --n1-shards) n1_shards=${2:?}; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "resp-matrix: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
done
for v in requests keyspace data rounds ${shards:+shards}; do
  [[ ${!v} =~ ^[0-9]+$ ]] && [ "${!v}" -ge 1 ] || { echo "resp-matrix: $v must be a positive integer, got '${!v}'" >&2; exit 2; }
done
[ -n "$shards" ] || shards=$(( $(nproc) > 3 ? $(nproc) : 3 ))
[ "$shards" -ge 3 ] || { echo "resp-matrix: --shards must be at least 3 (N=3 needs 3 replicas)" >&2; exit 2; }
# N=1 needs one shard: by default the cores less one for the main thread (RESP parsing and
# coordination), since redis-benchmark and the server share this machine's cores.
[ -n "$n1_shards" ] || n1_shards=$(( $(nproc) > 2 ? $(nproc) - 1 : 1 ))

# Client shapes "clients pipeline keys" (keys: random = -r keyspace with SET and GET; one =
# redis-benchmark's default single key, with SET and INCR: what a new user runs first) and
# the comparable pairs "ringkv-sync-mode redis-appendfsync".
SHAPES=("50 1 random" "50 16 random" "1 1 random" "50 1 one" "50 16 one")
PAIRS=("periodic everysec" "batch always")
# How long a server may take to come up, and to shut down cleanly after SIGTERM.
START_TIMEOUT_S=60
STOP_TIMEOUT_S=30

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
log() { echo "resp-matrix: $*" >&2; }

if ! command -v redis-server >/dev/null || ! command -v redis-benchmark >/dev/null || ! command -v redis-cli >/dev/null; then
  log "installing redis-server and redis-tools with apt-get"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server redis-tools) >/dev/null \
    || { echo "resp-matrix: cannot install redis-server/redis-tools (apt-get failed; install them by hand)" >&2; exit 1; }
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/ringkv-resp-matrix.XXXXXX")
pids=()
cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do
    for _ in $(seq $((STOP_TIMEOUT_S * 10))); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  pids=()
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

log "building ringkv"
node build.mjs

# A TCP port nothing listens on now (redis-server has no "any free port" setting).
free_port() { node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }

# stop PID: SIGTERM, wait for a clean exit, SIGKILL after STOP_TIMEOUT_S.
stop() {
  local pid=$1 keep=() p
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq $((STOP_TIMEOUT_S * 10))); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  for p in "${pids[@]}"; do [ "$p" = "$pid" ] || keep+=("$p"); done
  pids=("${keep[@]}")
}

# start_ringkv NAME SYNC_MODE N W SHARDS -> sets started_pid and started_port (RESP port from its ready line).
start_ringkv() {
  local name=$1 sync=$2 n=$3 w=$4 count=$5 r
  r=$(( n < 2 ? n : 2 ))
  mkdir -p "$work/$name"
  node bin/ringkv.mjs start --dir "$work/$name/data" --port 0 --admin-port 0 --shards "$count" \
    --n "$n" --r "$r" --w "$w" --sync-mode "$sync" --log-level info >"$work/$name/log" 2>&1 &
  started_pid=$!
  pids+=("$started_pid")
  started_port=""
  for _ in $(seq $((START_TIMEOUT_S * 10))); do
    started_port=$(sed -n 's/.*"respPort":\([0-9]*\).*/\1/p' "$work/$name/log" | head -1)
    [ -n "$started_port" ] && return 0
    kill -0 "$started_pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "resp-matrix: ringkv $name did not start:" >&2; cat "$work/$name/log" >&2; exit 1
}

# start_redis NAME APPENDFSYNC -> sets started_pid and started_port.
start_redis() {
  local name=$1 fsync=$2
  mkdir -p "$work/$name"
  started_port=$(free_port)
  redis-server --port "$started_port" --bind 127.0.0.1 --save '' --appendonly yes --appendfsync "$fsync" \
    --dir "$work/$name" --daemonize no --logfile "$work/$name/log" &
  started_pid=$!
  pids+=("$started_pid")
  for _ in $(seq $((START_TIMEOUT_S * 10))); do
    redis-cli -h 127.0.0.1 -p "$started_port" ping >/dev/null 2>&1 && return 0
    kill -0 "$started_pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "resp-matrix: redis-server $name did not start:" >&2; cat "$work/$name/log" >&2 || true; exit 1
}

results="$work/results.tsv" # server  pair  clients  pipeline  test  rps  p50  p99  main-thread µs/command
: >"$results"

# main_cpu_ticks PID: user + system CPU ticks of the process's main thread (its TID is its PID).
main_cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/task/$1/stat" 2>/dev/null || echo 0; }
TICK_US=$(( 1000000 / $(getconf CLK_TCK) ))

# bench SERVER PAIR PORT CLIENTS PIPELINE KEYS PID: one redis-benchmark run per test, its CSV
# row into $results with the server's main-thread CPU per command (µs; "-" for redis).
bench() {
  local server=$1 pair=$2 port=$3 c=$4 p=$5 keys=$6 pid=$7 out t tests range before after cpu
  if [ "$keys" = one ]; then tests="set incr"; range=(); else tests="set get"; range=(-r "$keyspace"); fi
  # One client waits for each reply (and each fsync with batch/always: ~300/s): a 20th of the requests.
  local n=$requests
  [ "$c" = 1 ] && n=$(( requests / 20 > 1000 ? requests / 20 : 1000 ))
  for t in $tests; do
    before=$(main_cpu_ticks "$pid")
    out=$(redis-benchmark -h 127.0.0.1 -p "$port" -t "$t" -n "$n" "${range[@]}" -d "$data" -c "$c" -P "$p" --csv 2>"$work/bench.err") \
      || log "redis-benchmark against $server ($pair, -t $t -c $c -P $p) exited with an error: $(head -c 300 "$work/bench.err")"
    after=$(main_cpu_ticks "$pid")
    cpu=$(awk -v d=$(( after - before )) -v us="$TICK_US" -v n="$n" 'BEGIN { printf "%.1f", d * us / n }')
    [ "$server" = redis ] && cpu="-"
    # The header names the columns: "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms",...
    printf '%s\n' "$out" | awk -F, -v s="$server" -v pair="$pair" -v c="$c" -v p="$p" -v keys="$keys" -v cpu="$cpu" '
      { gsub(/"/, "") }
      $1 == "test" { for (i = 1; i <= NF; i++) col[$i] = i; next }
      ("rps" in col) && NF > 1 { print s "\t" pair "\t" c "\t" p "\t" $1 (keys == "one" ? " (one key)" : "") "\t" $(col["rps"]) "\t" $(col["p50_latency_ms"]) "\t" $(col["p99_latency_ms"]) "\t" cpu }
    ' >>"$results"
  done
}

cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
echo "## RESP: ringkv vs redis-server, side by side"
echo
echo "Command: \`bash bench/resp-matrix.sh${args_text:+ $args_text}\`, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo
echo "Machine: $(nproc) cores (nproc), ${cpu:-unknown CPU}, node $(node --version), $(redis-server --version | sed 's/ sha=.*//'), load $(cut -d' ' -f1 /proc/loadavg) at start"
echo
echo "Each cell: \`redis-benchmark -t T -n $requests -r $keyspace -d $data -c C -P P --csv\` (T = set, get; \"one key\" rows: -t set, incr without -r; -c 1 rows: a 20th of -n); median of $rounds rounds"
echo "(ops/s, p50 and p99 each their own median), rounds alternated ringkv N=1, redis, ringkv N=3/W=2."
echo "ringkv: \`ringkv start --shards $n1_shards --n 1 --r 1 --w 1\` or \`--shards $shards --n 3 --r 2 --w 2\`, \`--sync-mode periodic|batch\`;"
echo "redis: \`redis-server --save '' --appendonly yes --appendfsync everysec|always\`. Ratio = ringkv ops/s / redis ops/s."
echo "cpu µs/cmd: the ringkv main thread's CPU time (user + system, /proc) over the run / requests (median)."
echo

for pair in "${PAIRS[@]}"; do
  read -r sync fsync <<<"$pair"
  label="$sync/$fsync"
  log "starting ringkv (N=1, N=3/W=2; sync-mode $sync) and redis-server (appendfsync $fsync)"
  start_ringkv "ringkv-n1-$sync" "$sync" 1 1 "$n1_shards"; k1_pid=$started_pid; k1_port=$started_port
  start_ringkv "ringkv-n3-$sync" "$sync" 3 2 "$shards"; k3_pid=$started_pid; k3_port=$started_port
  start_redis "redis-$fsync" "$fsync"; r_pid=$started_pid; r_port=$started_port
  for shape in "${SHAPES[@]}"; do
    read -r c p keys <<<"$shape"
    for round in $(seq "$rounds"); do
      log "$label -c $c -P $p ($keys keys) round $round/$rounds"
      bench "ringkv N=1" "$label" "$k1_port" "$c" "$p" "$keys" "$k1_pid"
      bench "redis" "$label" "$r_port" "$c" "$p" "$keys" "$r_pid"
      bench "ringkv N=3/W=2" "$label" "$k3_port" "$c" "$p" "$keys" "$k3_pid"
    done
  done
  stop "$k1_pid"; stop "$k3_pid"; stop "$r_pid"
done

# The table: one row per (pair, shape, test, ringkv config), in the order measured, with
# redis's medians for the same pair, shape and test beside each.
echo "| ringkv sync / redis fsync | -c | -P | test | ringkv | ops/s | p50 ms | p99 ms | cpu µs/cmd | redis ops/s | p50 ms | p99 ms | ringkv/redis |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
awk -F'\t' '
  function median(key, what,    n, i, j, t, v) {
    n = split(vals[key, what], v, " ")
    for (i = 2; i <= n; i++) for (j = i; j > 1 && v[j - 1] + 0 > v[j] + 0; j--) { t = v[j]; v[j] = v[j - 1]; v[j - 1] = t }
    return n == 0 ? "" : v[int((n + 1) / 2)]
  }
  # Remembers the first-seen order of each dimension (list name, value).
  function note(list, value) { if (!((list, value) in known)) { known[list, value] = 1; order[list, ++count[list]] = value } }
  {
    note("pair", $2); note("shape", $3 " " $4); note("test", $5); if ($1 != "redis") note("server", $1)
    key = $1 SUBSEP $2 SUBSEP $3 " " $4 SUBSEP $5
    have[key] = 1
    vals[key, "rps"] = vals[key, "rps"] " " $6; vals[key, "p50"] = vals[key, "p50"] " " $7; vals[key, "p99"] = vals[key, "p99"] " " $8; vals[key, "cpu"] = vals[key, "cpu"] " " $9
  }
  END {
    for (a = 1; a <= count["pair"]; a++) for (b = 1; b <= count["shape"]; b++) for (c = 1; c <= count["test"]; c++) for (d = 1; d <= count["server"]; d++) {
      pair = order["pair", a]; shape = order["shape", b]; test = order["test", c]; server = order["server", d]
      key = server SUBSEP pair SUBSEP shape SUBSEP test; rkey = "redis" SUBSEP pair SUBSEP shape SUBSEP test
      if (!(key in have) && !(rkey in have)) continue
      split(shape, cp, " ")
      rps = median(key, "rps"); rrps = median(rkey, "rps")
      ratio = (rps != "" && rrps + 0 > 0) ? sprintf("%.2f", rps / rrps) : "n/a"
      printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", pair, cp[1], cp[2], test, server, \
        (rps == "" ? "error" : sprintf("%.0f", rps)), median(key, "p50"), median(key, "p99"), median(key, "cpu"), \
        (rrps == "" ? "error" : sprintf("%.0f", rrps)), median(rkey, "p50"), median(rkey, "p99"), ratio
    }
  }
' "$results"
echo
missing=$(( ${#PAIRS[@]} * ${#SHAPES[@]} * rounds * 3 * 2 - $(wc -l <"$results") ))
if [ "$missing" -gt 0 ]; then
  echo "$missing of $(( ${#PAIRS[@]} * ${#SHAPES[@]} * rounds * 3 * 2 )) measurements are missing (a redis-benchmark run failed: see stderr)."
fi
