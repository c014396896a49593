#!/usr/bin/env bash
# Cluster benchmark (issue 5): throughput and latency of ringkv clusters on loopback hosts
# (127.0.0.2, .3, ...: one `ringkv start --node-id` process each, N=3 W=2 R=2, sync periodic)
# against a single ringkv node and a 3-master Redis Cluster (redis-server --cluster-enabled,
# created with redis-cli --cluster create, appendfsync everysec), all on this machine, with
#   redis-benchmark -t set,get -n N -r 100000 -d 100 -c 50 -P P   (P = 1 and 16)
# against node 1 (any ringkv node coordinates; Redis Cluster with --cluster), plus
# `ringkv bench` against ringkv node 1; and the hint replay rate: one node of the 3-node
# cluster stopped, K keys written, the node restarted, time until its hints are delivered.
#
#   bash bench/cluster.sh [-n 100000] [--hint-keys 20000]
#
# Markdown on stdout, progress on stderr. Starts and stops its own servers (by PID, also on
# Ctrl-C) in temp dirs; installs redis-server/redis-tools with apt-get if missing.
set -euo pipefail
requests=100000; hint_keys=20000
while [ $# -gt 0 ]; do
  case "$1" in
    -n) requests=${2:?}; shift 2 ;;
    --hint-keys) hint_keys=${2:?}; shift 2 ;;
    -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "cluster.sh: unknown option '$1'" >&2; exit 2 ;;
  esac
done
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
log() { echo "cluster.sh: $*" >&2; }
if ! command -v redis-server >/dev/null || ! command -v redis-benchmark >/dev/null; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server redis-tools) >/dev/null
fi
node build.mjs >/dev/null
work=$(mktemp -d /tmp/ringkv-cluster-bench.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]:-}"; do [ -n "$p" ] && wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT INT TERM
export RINGKV_CLUSTER_SECRET=bench-secret

# start_node ID HOST DIR SEED N: a cluster node (1 shard: 5 processes already outnumber 2 cores).
start_node() {
  local seed=()
  [ -n "${4:-}" ] && seed=(--seeds "$4:7380")
  node bin/ringkv.mjs start --node-id "$1" --host "$2" --admin-host "$2" --dir "$3" --shards 1 --n "$5" \
    --sync-mode periodic --gossip-interval-ms 500 --log-level warn "${seed[@]}" >"$3.log" 2>&1 &
  pids+=($!)
}
wait_ready() { # HOST COUNT: until every node's ring has COUNT members at one epoch and a write succeeds
  for _ in $(seq 240); do
    local epochs="" ok=1 i
    for i in $(seq 1 "$2"); do
      local view
      view=$(curl -s "http://127.0.0.$((i + 1)):8380/ring" 2>/dev/null || true)
      [ "$(echo "$view" | grep -c '"host":')" -ge "$2" ] || ok=0
      epochs="$epochs $(echo "$view" | grep -m1 '"epoch"' | tr -dc 0-9)"
    done
    if [ "$ok" = 1 ] && [ "$(echo $epochs | tr ' ' '\n' | sort -u | wc -l)" = 1 ] \
      && [ "$(redis-cli -h "$1" -p 6380 set ready 1 2>/dev/null)" = OK ]; then
      sleep 2 # transfers of the last ring change settle
      return 0
    fi
    sleep 0.5
  done
  echo "cluster.sh: the ring of $2 nodes did not settle" >&2; exit 1
}
stop_all() {
  for p in "${pids[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]:-}"; do [ -n "$p" ] && wait "$p" 2>/dev/null || true; done
  pids=()
}
# run HOST PORT P [extra]: "ops/s p50 p99" of SET and GET
run() {
  redis-benchmark -h "$1" -p "$2" -t set,get -n "$requests" -r 100000 -d 100 -c 50 -P "$3" --csv ${4:-} 2>/dev/null \
    | awk '{gsub(/"/,""); split($0,f,","); if (f[1]=="SET" || f[1]=="GET") printf "%s %s %s %s\n", f[1], f[2], f[5], f[7]}'
}
rows=()
measure() { # LABEL HOST PORT [extra]
  for P in 1 16; do
    while read -r t ops p50 p99; do rows+=("| $1 | $t | $P | $ops | $p50 | $p99 |"); done < <(run "$2" "$3" "$P" "${4:-}")
  done
}

for size in 1 3 5; do
  log "ringkv: $size node(s)"
  for i in $(seq 1 "$size"); do
    start_node "n$i" "127.0.0.$((i + 1))" "$work/c$size-n$i" "$([ "$i" -gt 1 ] && echo 127.0.0.2 || true)" "$([ "$size" -eq 1 ] && echo 1 || echo 3)"
    sleep 0.5
  done
  wait_ready 127.0.0.2 "$size"
  if [ "$size" -eq 1 ]; then label="ringkv 1 node (N=1)"; else label="ringkv $size nodes (N=3 W=2 R=2)"; fi
  measure "$label" 127.0.0.2 6380
  bench_line=$(node bin/ringkv.mjs bench -h 127.0.0.2 -p 6380 -n "$requests" -c 50 -P 16 -d 100 -t set,get 2>/dev/null | tr '\n' ' ' || true)
  rows+=("| $label, ringkv bench -P 16 | ${bench_line} | | | | |")
  if [ "$size" -eq 3 ]; then
    log "hint replay: stop n3, write $hint_keys keys, restart n3"
    kill "${pids[2]}"; wait "${pids[2]}" 2>/dev/null || true
    sleep 3
    redis-benchmark -h 127.0.0.2 -p 6380 -t set -n "$hint_keys" -r 1000000000 -d 100 -c 50 -P 16 -q >/dev/null 2>&1
    before=$(redis-cli -h 127.0.0.2 -p 6380 info stats | awk -F: '/hints_delivered/ {gsub(/\r/,""); print $2}')
    t0=$(date +%s.%N)
    start_node n3 127.0.0.4 "$work/c3-n3" 127.0.0.2 3
    pids[2]=${pids[-1]}; unset 'pids[-1]'
    delivered=0
    for _ in $(seq 600); do
      sum=0
      for h in 127.0.0.2 127.0.0.3; do
        d=$(redis-cli -h $h -p 6380 info stats 2>/dev/null | awk -F: '/hints_delivered/ {gsub(/\r/,""); print $2}')
        sum=$((sum + ${d:-0}))
      done
      delivered=$((sum - before))
      [ "$delivered" -ge "$hint_keys" ] && break
      sleep 0.2
    done
    t1=$(date +%s.%N)
    hint_line="hint replay: $delivered hints delivered in $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b-a}') s after the restart (incl. its start-up): $(awk -v a="$t0" -v b="$t1" -v n="$delivered" 'BEGIN{printf "%.0f", n/(b-a)}') hints/s"
  fi
  stop_all
done

log "redis cluster: 3 masters"
for port in 7001 7002 7003; do
  mkdir -p "$work/redis-$port"
  redis-server --port "$port" --bind 127.0.0.1 --cluster-enabled yes --cluster-config-file "$work/redis-$port/nodes.conf" \
    --dir "$work/redis-$port" --appendonly yes --appendfsync everysec --save '' >/dev/null 2>&1 &
  pids+=($!)
done
for port in 7001 7002 7003; do for _ in $(seq 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done; done
redis-cli --cluster create 127.0.0.1:7001 127.0.0.1:7002 127.0.0.1:7003 --cluster-replicas 0 --cluster-yes >/dev/null
for _ in $(seq 100); do redis-cli -p 7001 cluster info | grep -q 'cluster_state:ok' && break; sleep 0.1; done
measure "Redis Cluster 3 masters (no replicas, everysec)" 127.0.0.1 7001 --cluster
stop_all

echo "Cluster benchmark: bash bench/cluster.sh -n $requests --hint-keys $hint_keys"
echo "Machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), node $(node --version), $(redis-server --version | cut -d' ' -f3)"
echo "redis-benchmark -t set,get -n $requests -r 100000 -d 100 -c 50 -P P against node 1 (127.0.0.2); ringkv sync periodic, 1 shard per node"
echo
echo "| setup | test | -P | ops/s | p50 ms | p99 ms |"
echo "|---|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
echo
echo "${hint_line:-hint replay: not measured}"
