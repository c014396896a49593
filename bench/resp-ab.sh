#!/usr/bin/env bash
# Two builds of ringkv side by side under redis-benchmark: did a change (a refactor, a move)
# cost speed? Each round starts the "before" build's server, then the "after" build's, on
# fresh temp data dirs (`ringkv start --shards 1 --n 1 --sync-mode periodic`), and runs
#   redis-benchmark -t T -n N -r 100000 -d 100 -c 50 -P P --csv
# for T in set, get and P in 1, 16 against each. The table has the median ops/s over the
# rounds and the ratio after/before. Markdown on stdout, progress on stderr.
#
#   bash bench/resp-ab.sh --before DIR --after DIR [-n 100000] [--rounds 3]
#
# DIR is a checkout with dist/ built (node build.mjs), e.g. `git worktree add /tmp/old REV`.
set -euo pipefail

before=""; after=""; requests=100000; rounds=3
while [ $# -gt 0 ]; do
  case "$1" in
    --before) before=${2:?}; shift 2 ;;
    --after) after=${2:?}; shift 2 ;;
    -n) requests=${2:?}; shift 2 ;;
    --rounds) rounds=${2:?}; shift 2 ;;
    -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "resp-ab: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
done
for d in "$before" "$after"; do
  [ -n "$d" ] && [ -f "$d/bin/ringkv.mjs" ] && [ -d "$d/dist" ] || { echo "resp-ab: --before and --after need checkouts with dist/ built" >&2; exit 2; }
done
command -v redis-benchmark >/dev/null || { echo "resp-ab: redis-benchmark is missing (apt-get install redis-tools)" >&2; exit 2; }

PORT=16399
ADMIN_PORT=18399
# How long a server may take to come up.
START_TIMEOUT_S=60
SHAPES=("set 1" "set 16" "get 1" "get 16")
results=$(mktemp)
pid=""; data=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; [ -n "$data" ] && rm -rf "$data"; rm -f "$results"; }
trap cleanup EXIT

run_build() { # label dir round
  data=$(mktemp -d)
  node "$2/bin/ringkv.mjs" start --dir "$data/d" --port $PORT --admin-port $ADMIN_PORT --shards 1 --n 1 --sync-mode periodic >"$data/log" 2>&1 &
  pid=$!
  for _ in $(seq $((START_TIMEOUT_S * 10))); do grep -q respPort "$data/log" 2>/dev/null && break; sleep 0.1; done
  grep -q respPort "$data/log" || { echo "resp-ab: $1 did not start: $(tail -3 "$data/log")" >&2; exit 1; }
  for shape in "${SHAPES[@]}"; do
    read -r t p <<<"$shape"
    rps=$(redis-benchmark -p $PORT -t "$t" -n "$requests" -r 100000 -d 100 -c 50 -P "$p" --csv | tail -1 | cut -d, -f2 | tr -d '"')
    echo "$1 $t $p $rps" >>"$results"
    echo "  round $3 $1 $t -P$p: $rps ops/s" >&2
  done
  kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""
  rm -rf "$data"; data=""
}

echo "Command: \`bash bench/resp-ab.sh --before $before --after $after -n $requests --rounds $rounds\`, $(date -u +%FT%TZ)"
echo
echo "Machine: $(nproc) cores, $(node -v), load $(cut -d' ' -f1 /proc/loadavg) at start; before $(git -C "$before" rev-parse --short HEAD), after $(git -C "$after" rev-parse --short HEAD)"
for r in $(seq "$rounds"); do
  run_build before "$before" "$r"
  run_build after "$after" "$r"
done
echo
echo "| test | before ops/s | after ops/s | after/before |"
echo "|---|---|---|---|"
for shape in "${SHAPES[@]}"; do
  read -r t p <<<"$shape"
  median() { grep "^$1 $t $p " "$results" | cut -d' ' -f4 | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
  b=$(median before); a=$(median after)
  echo "| ${t^^} -c 50 -P $p | $b | $a | $(awk -v a="$a" -v b="$b" 'BEGIN {printf "%.2f", a / b}') |"
done
