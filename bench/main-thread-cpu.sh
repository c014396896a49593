#!/usr/bin/env bash
# Main-thread CPU per command of a ringkv build under redis-benchmark: the number that
# explains the RESP rows (issue 11). Starts `ringkv start --shards 1 --n 1 --sync-mode
# periodic` from the checkout DIR (dist/ built), loads 100k keys, then runs
#   redis-benchmark -t TEST -n N -r 100000 -d 100 -c 50 -P PIPELINE
# and prints ops/s and the main thread's user+system CPU (/proc, 10 ms ticks) per command.
#
#   bash bench/main-thread-cpu.sh DIR TEST PIPELINE N     e.g. . get 16 400000
set -u
dir=$1; t=$2; p=$3; n=$4; port=6395
rm -rf /tmp/cpucmd-data
node $dir/bin/ringkv.mjs start --dir /tmp/cpucmd-data --shards 1 --n 1 --r 1 --w 1 --sync-mode periodic --port $port --admin-port 0 > /tmp/cpucmd.log 2>&1 &
pid=$!
for i in $(seq 100); do redis-cli -p $port ping >/dev/null 2>&1 && break; sleep 0.1; done
redis-benchmark -p $port -t set -n 100000 -r 100000 -d 100 -c 50 -P 16 -q >/dev/null 2>&1
a=$(awk '{print $14+$15}' /proc/$pid/task/$pid/stat)
ops=$(redis-benchmark -p $port -t $t -n $n -r 100000 -d 100 -c 50 -P $p --csv 2>/dev/null | tail -1 | cut -d, -f2 | tr -d '"')
b=$(awk '{print $14+$15}' /proc/$pid/task/$pid/stat)
kill -INT $pid; wait $pid 2>/dev/null
echo "$t -P$p: $ops ops/s, main thread $(echo "scale=2; ($b - $a) * 10000 / $n" | bc) µs of CPU per command"
