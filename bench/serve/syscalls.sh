#!/usr/bin/env bash
# System calls per answered request of one server, counted by `perf stat` as the server's
# parent (so every thread and forked worker inherits the counters; attaching with -p or -t to a
# running server misses its worker threads on this VM), during one wrk run.
#
#   bench/serve/syscalls.sh PORT CODES_FILE -- SERVER COMMAND...
#   bench/serve/syscalls.sh 18081 bench/data/package-886000/codes.txt -- \
#       build-bench/cli/shortlink serve --snapshots DIR --trust KEY.pub --listen 127.0.0.1:18081 \
#       --admin none --threads 1 --state-dir /tmp/state
#   bench/serve/syscalls.sh 18083 bench/data/package-886000/codes.txt -- nginx -p DIR -c nginx.conf
#
# The server runs pinned to CPU ${SERVER_CPU:-1}, wrk (-t1 -c${CONNECTIONS:-64} -d${SECONDS_RUN:-5}s,
# serve/random_codes.lua) to CPU ${WRK_CPU:-0}. The counts cover the server's whole life (start-up
# included: nginx reading a large map makes a few thousand calls), divided by wrk's requests.
# Bounded: one wrk run; the server is stopped by PID. 127.0.0.1 only.
set -euo pipefail
port=$1
codes=$2
shift 3
here=$(cd "$(dirname "$0")" && pwd)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
events=raw_syscalls:sys_enter,syscalls:sys_enter_recvfrom,syscalls:sys_enter_read
events=$events,syscalls:sys_enter_sendto,syscalls:sys_enter_writev,syscalls:sys_enter_write
events=$events,syscalls:sys_enter_epoll_wait,syscalls:sys_enter_epoll_ctl,syscalls:sys_enter_io_uring_enter
events=$events,context-switches
perf stat -x, -o "$out/perf.txt" -e "$events" -- taskset -c "${SERVER_CPU:-1}" "$@" \
    > "$out/server.log" 2>&1 &
perf_pid=$!
for _ in $(seq 1 600); do
    if curl -s -o /dev/null "http://127.0.0.1:$port/"; then break; fi
    sleep 0.1
done
taskset -c "${WRK_CPU:-0}" wrk -t1 -c"${CONNECTIONS:-64}" -d"${SECONDS_RUN:-5}"s \
    -s "$here/random_codes.lua" "http://127.0.0.1:$port" -- "$codes" > "$out/wrk.txt"
server_pid=$(pgrep -P "$(pgrep -P "$perf_pid" | head -1)" | head -1 || true)
kill -TERM "$(pgrep -P "$perf_pid" | head -1)" 2>/dev/null || true
[ -n "$server_pid" ] && kill -TERM "$server_pid" 2>/dev/null || true
wait "$perf_pid" || true
requests=$(awk '/requests in/ {print $1}' "$out/wrk.txt")
echo "requests $requests ($(awk '/Requests\/sec/ {print $2}' "$out/wrk.txt") req/s)"
awk -F, -v r="$requests" '$1 ~ /^[0-9]/ && $1 > 0 {printf "%-34s %10d %7.3f per request\n", $3, $1, $1 / r}' \
    "$out/perf.txt"
