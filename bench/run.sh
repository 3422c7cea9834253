#!/usr/bin/env bash
# bench/run.sh: wrk drives verification start and check over HTTP against a
# durable SQLite store, beside a minimal net/http hello-world server as the
# reference ceiling, in alternating rounds; then an open-loop run at half the
# measured maximum rate gives the p99. See bench/README.md.
#
# Environment (all optional):
#   ROUNDS=3        alternating closed-loop rounds (hello, start, check)
#   HALF_ROUNDS=3   open-loop rounds at half the max rate (0: skip)
#   THREADS=2 CONNS=64 DURATION=10s   wrk -t -c -d (also -c and -d of bench/rate)
#   OUT=dir         results folder (default bench/out/<date-time>)
#   DATA_ROOT=dir   where the SQLite data folders go (default: a temp dir on /tmp)
#   PERF=1          record a perf profile of ringfence during each closed-loop run
#   FRAUD=false     fraud.enabled for ringfence: the load is one sequential range
#                   of numbers from one client, exactly what the guard exists to
#                   stop, so the verify-core measurement runs with it off
set -euo pipefail

ROUNDS=${ROUNDS:-3}
HALF_ROUNDS=${HALF_ROUNDS:-$ROUNDS}
THREADS=${THREADS:-2}
CONNS=${CONNS:-64}
DURATION=${DURATION:-10s}
PERF=${PERF:-0}
FRAUD=${FRAUD:-false}
MAX_CHECKS_PER_ID=4 # ringfence fails a verification after 5 wrong codes

cd "$(dirname "$0")/.."
BENCH=$PWD/bench
OUT=${OUT:-$BENCH/out/$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/ringfence-bench.XXXXXX")
DATA_ROOT=${DATA_ROOT:-$WORK}
BIN=$WORK/bin

PIDS=()
cleanup() {
	local pid
	for pid in "${PIDS[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	for pid in "${PIDS[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	rm -rf "$WORK"
}
trap cleanup EXIT

log() { printf '%s %s\n' "$(date +%T)" "$*" >&2; }

# seconds DURATION: wrk's duration (10s, 2m, 1h) in seconds.
seconds() {
	case $1 in
	*h) echo $((${1%h} * 3600)) ;;
	*m) echo $((${1%m} * 60)) ;;
	*s) echo "${1%s}" ;;
	*) echo "$1" ;;
	esac
}
DUR_S=$(seconds "$DURATION")

# free_port: a TCP port on 127.0.0.1 nothing listens on, below the ephemeral
# range, so no outgoing connection (wrk's, seed's) can be holding it.
EPHEMERAL_LOW=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
free_port() {
	local port
	while :; do
		port=$((10000 + RANDOM % (EPHEMERAL_LOW - 10000)))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
			echo "$port"
			return
		fi
	done
}

# wait_http URL [PID]: until URL answers 2xx, at most 30 s; fails at once if
# PID exits.
wait_http() {
	local i
	for i in $(seq 300); do
		if curl -fsS -o /dev/null "$1" 2>/dev/null; then
			return 0
		fi
		if [[ -n ${2:-} ]] && ! kill -0 "$2" 2>/dev/null; then
			return 1
		fi
		sleep 0.1
	done
	log "no answer from $1"
	return 1
}

# stop PID: end a process this script started and wait for it.
stop() {
	kill "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
	local keep=() pid
	for pid in "${PIDS[@]}"; do
		[[ $pid == "$1" ]] || keep+=("$pid")
	done
	PIDS=("${keep[@]}")
}

# start_hello: sets HELLO_PID and HELLO_URL.
start_hello() {
	local port attempt
	for attempt in 1 2 3; do
		port=$(free_port)
		"$BIN/hello" -addr "127.0.0.1:$port" 2>>"$OUT/hello.log" &
		HELLO_PID=$!
		PIDS+=("$HELLO_PID")
		HELLO_URL=http://127.0.0.1:$port
		if wait_http "$HELLO_URL/healthz" "$HELLO_PID"; then
			return 0
		fi
		stop "$HELLO_PID"
	done
	log "hello did not start: $(tail -2 "$OUT/hello.log")"
	return 1
}

# start_ringfence NAME: a fresh data folder and process; sets RF_PID and RF_URL.
start_ringfence() {
	local port attempt dir=$DATA_ROOT/data-$1
	for attempt in 1 2 3; do
		port=$(free_port)
		rm -rf "$dir"
		mkdir -p "$dir"
		RINGFENCE_DATA_DIR=$dir \
			RINGFENCE_HTTP_ADDR=127.0.0.1:$port \
			RINGFENCE_BOOTSTRAP_API_KEY=$BENCH_KEY \
			RINGFENCE_LOG_LEVEL=warn \
			RINGFENCE_FRAUD_ENABLED=$FRAUD \
			"$BIN/ringfence" serve >"$OUT/ringfence-$1.log" 2>&1 &
		RF_PID=$!
		PIDS+=("$RF_PID")
		RF_URL=http://127.0.0.1:$port
		if wait_http "$RF_URL/healthz" "$RF_PID"; then
			return 0
		fi
		stop "$RF_PID"
		log "ringfence did not start (attempt $attempt): $(tail -1 "$OUT/ringfence-$1.log")"
	done
	return 1
}

# cpu_seconds PID: CPU time (user + system) a process has used so far.
CLK_TCK=$(getconf CLK_TCK)
cpu_seconds() {
	awk -v hz="$CLK_TCK" '{print ($14 + $15) / hz}' "/proc/$1/stat"
}

# run_wrk SCRIPT URL OUTFILE SERVER_PID: one wrk run; appends the CPU the
# server and wrk used, in cores, to OUTFILE.
run_wrk() {
	local perf_pid="" before after wrk_cpu
	if [[ $PERF == 1 ]]; then
		perf record -F 499 -g -p "$4" -o "${3%.txt}.perf.data" -- sleep "$DUR_S" >/dev/null 2>&1 &
		perf_pid=$!
	fi
	before=$(cpu_seconds "$4")
	local TIMEFORMAT='%U %S %R'
	wrk_cpu=$({ time BENCH_THREADS=$THREADS BENCH_IDS=$WORK/ids.txt wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency \
		-s "$BENCH/$1" "$2" >"$3" 2>&1; } 2>&1) || log "wrk failed: $(tail -3 "$3")"
	after=$(cpu_seconds "$4")
	if [[ -n $perf_pid ]]; then
		wait "$perf_pid" || true
	fi
	read -r u s real <<<"$wrk_cpu"
	awk -v b="$before" -v a="$after" -v u="$u" -v s="$s" -v r="$real" \
		'BEGIN { printf "bench-cpu: server %.2f cores, wrk %.2f cores (of %d)\n", (a - b) / r, (u + s) / r, '"$(nproc)"' }' >>"$3"
	local rps errs
	rps=$(awk '/^Requests\/sec:/ {print $2}' "$3")
	errs=$(awk '/^bench-errors:/ {print $2}' "$3")
	log "  $(basename "$3" .txt): ${rps:-?} req/s, errors ${errs:-?}, p50 $(awk '$1=="50%" {print $2}' "$3"), p99 $(awk '$1=="99%" {print $2}' "$3"), $(grep '^bench-cpu' "$3" | cut -d' ' -f2-)"
}

# seed_ids COUNT AREA FILE: COUNT verifications on $RF_URL, "id wrongcode" lines in FILE.
seed_ids() {
	"$BIN/seed" -url "$RF_URL" -n "$1" -area "$2" -o "$3" 2>&1 | sed 's/^/  /' >&2
}

# ids_for RATE: ids enough for RATE req/s over DURATION at <= 4 checks each, plus 50%.
ids_for() {
	local n
	n=$(awk -v r="$1" -v d="$DUR_S" -v k="$MAX_CHECKS_PER_ID" 'BEGIN { n = int(r * d * 1.5 / k) + 1; if (n < 2000) n = 2000; print n }')
	echo $((n > 7000000 ? 7000000 : n))
}

# ---------------------------------------------------------------------------

if [[ $(stat -f -c %T "$DATA_ROOT") == tmpfs ]]; then
	log "warning: $DATA_ROOT is tmpfs: fsync costs nothing there, the store is not durable"
fi

log "building into $BIN"
mkdir -p "$BIN"
CGO_ENABLED=0 go build -o "$BIN/" ./cmd/ringfence ./bench/hello ./bench/seed ./bench/rate ./bench/summary

BENCH_KEY=bench_$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
export BENCH_KEY

{
	echo "date: $(date -u +%FT%TZ)"
	echo "nproc: $(nproc)"
	echo "cpu: $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)"
	echo "kernel: $(uname -r)"
	echo "go: $(go version)"
	echo "wrk: $(wrk -v 2>&1 | head -1)"
	echo "data: $DATA_ROOT ($(stat -f -c %T "$DATA_ROOT"))"
	echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "settings: ROUNDS=$ROUNDS HALF_ROUNDS=$HALF_ROUNDS THREADS=$THREADS CONNS=$CONNS DURATION=$DURATION FRAUD=$FRAUD"
} >"$OUT/machine.txt"
sed 's/^/  /' "$OUT/machine.txt" >&2

check_rate=0 # the last valid check rate, to size the ids of the next round
for r in $(seq "$ROUNDS"); do
	log "round $r/$ROUNDS"

	start_hello
	run_wrk start.lua "$HELLO_URL" "$OUT/r$r-hello.txt" "$HELLO_PID"
	stop "$HELLO_PID"

	start_ringfence "r$r-start"
	run_wrk start.lua "$RF_URL" "$OUT/r$r-start.txt" "$RF_PID"
	stop "$RF_PID"
	start_rate=$(awk '/^Requests\/sec:/ {print int($2)}' "$OUT/r$r-start.txt")

	# Check: a fresh store holding enough verifications; one retry with more
	# if the run cycled an id more than 4 times.
	for attempt in 1 2; do
		if ((check_rate == 0)); then
			# No check measured yet: checks are cheaper than starts; guess high.
			guess=$((${start_rate:-1000} * 3))
		else
			guess=$((check_rate * attempt))
		fi
		n=$(ids_for "$guess")
		start_ringfence "r$r-check"
		seed_ids "$n" 646 "$WORK/ids.txt"
		run_wrk check.lua "$RF_URL" "$OUT/r$r-check.txt" "$RF_PID"
		stop "$RF_PID"
		check_rate=$(awk '/^Requests\/sec:/ {print int($2)}' "$OUT/r$r-check.txt")
		check_rate=${check_rate:-0}
		overrun=$(awk '/^bench-overrun:/ {print $2}' "$OUT/r$r-check.txt")
		if [[ ${overrun:-0} == 0 ]]; then
			break
		fi
		log "  check overran its $n ids; again with more"
		check_rate=$((check_rate * 2))
	done
done

if ((HALF_ROUNDS > 0)); then
	start_max=$("$BIN/summary" -dir "$OUT" -median start)
	check_max=$("$BIN/summary" -dir "$OUT" -median check)
	start_half=$((start_max / 2))
	check_half=$((check_max / 2))
	log "open loop at half the max rate: start $start_half req/s, check $check_half req/s"
	for r in $(seq "$HALF_ROUNDS"); do
		log "half-rate round $r/$HALF_ROUNDS"

		start_ringfence "half-r$r-start"
		"$BIN/rate" -url "$RF_URL" -mode start -rate "$start_half" -d "$DURATION" -c "$CONNS" -area 628 >"$OUT/half-start-r$r.txt" 2>&1 || true
		stop "$RF_PID"
		log "  start: $(awk '$1=="99%" {print "p99 " $2}' "$OUT/half-start-r$r.txt"), $(grep '^bench-errors' "$OUT/half-start-r$r.txt")"

		start_ringfence "half-r$r-check"
		seed_ids "$(ids_for "$check_half")" 646 "$WORK/ids.txt"
		"$BIN/rate" -url "$RF_URL" -mode check -ids "$WORK/ids.txt" -rate "$check_half" -d "$DURATION" -c "$CONNS" >"$OUT/half-check-r$r.txt" 2>&1 || true
		stop "$RF_PID"
		log "  check: $(awk '$1=="99%" {print "p99 " $2}' "$OUT/half-check-r$r.txt"), $(grep '^bench-errors' "$OUT/half-check-r$r.txt")"

		# The same generator against hello-world at start's half rate: the floor
		# the generator and the machine set.
		start_hello
		"$BIN/rate" -url "$HELLO_URL" -mode start -rate "$start_half" -d "$DURATION" -c "$CONNS" >"$OUT/half-hello-r$r.txt" 2>&1 || true
		stop "$HELLO_PID"
	done
fi

echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/machine.txt"
echo
"$BIN/summary" -dir "$OUT" | tee "$OUT/summary.txt"
echo
echo "results: $OUT"
