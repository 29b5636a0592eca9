#!/usr/bin/env bash
# serve.sh: `shoal serve` next to the local Kinesis emulators, through the same Go SDK client,
# side by side on this machine in the same run (issue 6: PutRecords of 500 × 256 B and
# GetRecords, target ≥ 5× the faster emulator, with records durable on disk).
#
# Servers (each started fresh for each of its runs, on loopback, and stopped after it):
#   shoal        go build ./cmd/shoal; shoal serve --addr 127.0.0.1:$SHOAL_PORT --data <fresh dir>
#                (file engine, SyncAlways: records are fdatasync'd before PutRecords answers)
#   kinesalite   npm kinesalite@$KINESALITE_VERSION: node cli.js --port $KINESALITE_PORT
#                (in memory: memdown, no --path; nothing reaches the disk)
#   kinesis-mock npm kinesis-local@$KINESIS_LOCAL_VERSION: kinesis-mock's Scala.js build on Node
#                (node main.js, KINESIS_MOCK_PLAIN_PORT; in memory, SHOULD_PERSIST_DATA false)
# The emulators are installed with `npm install --prefix $EMU_DIR` (pinned versions; kept between
# runs, installed again only when a version is missing). kinesis-local needs no Java: the npm
# package is a single Scala.js file (main.js) plus server.json, its TLS certificate, which it
# opens relative to the working directory, so it is started from its package directory.
#
# Each of R repetitions (default 3) runs bench/kinesispeer (its own module, built once) against
# each server in turn (shoal first in odd repetitions, last in even ones):
#   kinesispeer -endpoint http://127.0.0.1:PORT -shards $SHARDS -duration $DURATION
#               -clients $CLIENTS -batch $BATCH -size $SIZE -read -pid <server pid>
# which creates a stream (DescribeStreamSummary polled until ACTIVE), puts for $DURATION from
# $CLIENTS goroutines (acknowledged records only; no SDK retries, so throttles and errors are
# counted in its output, not hidden), then reads every shard from TRIM_HORIZON with GetRecords
# (Limit 10000) until caught up. Client and server share the machine's cores.
# Then it prints the machine, every figure as median [min–max] over the repetitions, and the
# ratios computed within each repetition (shoal ÷ the faster emulator of that repetition).
#
# Usage: bash bench/serve.sh                 (from anywhere; about 1 min per repetition)
# Environment:
#   R=3                      repetitions
#   DURATION=10s SHARDS=4 CLIENTS=4 BATCH=500 SIZE=256     kinesispeer flags
#   SKIP_KINESALITE=1 SKIP_KINESIS_MOCK=1                  leave an emulator out
#   SHOAL_REV=<git rev>      build shoal from that commit (git archive) instead of the work tree
#   KINESALITE_VERSION=3.3.3 KINESIS_LOCAL_VERSION=0.6.2
#   EMU_DIR=$HOME/.cache/shoal-bench/kinesis-emulators     npm --prefix of the emulators
#   SHOAL_PORT=45671 KINESALITE_PORT=45672 KINESIS_MOCK_PORT=45673 (its TLS port: +1)
#   OUT=bench/results-serve-<UTC date>.txt   where the output is saved (also printed)
set -euo pipefail

R=${R:-3}
DURATION=${DURATION:-10s}
SHARDS=${SHARDS:-4}
CLIENTS=${CLIENTS:-4}
BATCH=${BATCH:-500}
SIZE=${SIZE:-256}
SKIP_KINESALITE=${SKIP_KINESALITE:-0}
SKIP_KINESIS_MOCK=${SKIP_KINESIS_MOCK:-0}
SHOAL_REV=${SHOAL_REV:-}
KINESALITE_VERSION=${KINESALITE_VERSION:-3.3.3}
KINESIS_LOCAL_VERSION=${KINESIS_LOCAL_VERSION:-0.6.2}
EMU_DIR=${EMU_DIR:-$HOME/.cache/shoal-bench/kinesis-emulators}
EMU_SHOWN=${EMU_DIR/#$HOME/\$HOME} # as the results show it: no machine path
SHOAL_PORT=${SHOAL_PORT:-45671}
KINESALITE_PORT=${KINESALITE_PORT:-45672}
KINESIS_MOCK_PORT=${KINESIS_MOCK_PORT:-45673}
KINESIS_MOCK_TLS_PORT=$((KINESIS_MOCK_PORT + 1))

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=${OUT:-$ROOT/bench/results-serve-$(date -u +%F).txt}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/shoal-serve.XXXXXX")
RES=$WORK/results.tsv # run <TAB> metric <TAB> value
: >"$RES"
SERVER="" CHILD=""

alive() { # pid: running (a zombie does not count)
	local st
	st=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
	[[ $st != Z* ]]
}
stop_pid() {
	local pid=$1
	[[ -n $pid ]] || return 0
	kill "$pid" 2>/dev/null || return 0
	for _ in $(seq 50); do alive "$pid" || break; sleep 0.1; done
	alive "$pid" && kill -9 "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null || true # reap it: it is our child
}
cleanup() {
	stop_pid "$CHILD"
	stop_pid "$SERVER"
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

exec > >(tee "$OUT") 2>&1

say() { printf '%s\n' "$*"; }
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_port() { # port seconds
	local i
	for i in $(seq $(($2 * 10))); do port_busy "$1" && return 0; sleep 0.1; done
	return 1
}

# ---------------------------------------------------------------- machine
say "# shoal serve.sh — $(date -u -Is)"
say "machine: $(nproc) vCPU, $(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo), $(awk '/^MemTotal/ {printf "%.1f GiB RAM", $2/1048576}' /proc/meminfo)"
say "kernel: $(uname -sr); $(go version 2>/dev/null || echo 'go: absent'); node $(node --version 2>/dev/null || echo absent); npm $(npm --version 2>/dev/null || echo absent)"
say "scratch (shoal serve --data): $WORK on $(df -P "$WORK" | awk 'NR==2 {print $1}') ($(findmnt -no FSTYPE,OPTIONS -T "$WORK" 2>/dev/null || echo '?'))"
say "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
say "repetitions R=$R; kinesispeer: $SHARDS shards, $CLIENTS clients × PutRecords of $BATCH × $SIZE B for $DURATION, then GetRecords (Limit 10000) of every shard from TRIM_HORIZON"
if [[ -n $SHOAL_REV ]]; then
	say "source: shoal at git $(git -C "$ROOT" rev-parse --short "$SHOAL_REV") (SHOAL_REV=$SHOAL_REV, git archive; the work tree is not used)"
else
	say "source: git $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$([[ -n $(git -C "$ROOT" status --porcelain -- server cmd shardlog 2>/dev/null) ]] && echo ' + uncommitted changes under server/, cmd/ or shardlog/'); server/kinesis/*.go sha256 $(cat "$ROOT"/server/kinesis/*.go 2>/dev/null | sha256sum | cut -c1-12)"
fi
say "durability: shoal serve fdatasyncs every put before answering (file engine, SyncAlways); kinesalite (memdown) and kinesis-mock (SHOULD_PERSIST_DATA=false) keep records in memory only"
say ""

# ---------------------------------------------------------------- build and install
cd "$ROOT"
say "build: go build ./cmd/shoal; (cd bench/kinesispeer && go build)"
SRC=$ROOT
if [[ -n $SHOAL_REV ]]; then
	SRC=$WORK/src
	mkdir -p "$SRC"
	git -C "$ROOT" archive "$SHOAL_REV" | tar -x -C "$SRC"
fi
if ! (cd "$SRC" && timeout 600 go build -o "$WORK/shoal" ./cmd/shoal) >"$WORK/build.log" 2>&1 ||
	! (cd "$ROOT/bench/kinesispeer" && timeout 600 go build -o "$WORK/kinesispeer" .) >>"$WORK/build.log" 2>&1; then
	cat "$WORK/build.log"
	say "!! build failed (SHOAL_REV=HEAD builds the last commit instead of the work tree)"
	exit 1
fi

SERVERS=(shoal)
EMULATORS=()
npm_installed() { # package version
	[[ -f $EMU_DIR/node_modules/$1/package.json ]] &&
		[[ $(node -p "require('$EMU_DIR/node_modules/$1/package.json').version" 2>/dev/null) == "$2" ]]
}
want=()
[[ $SKIP_KINESALITE == 1 ]] && say "kinesalite: skipped (SKIP_KINESALITE=1)" || want+=("kinesalite@$KINESALITE_VERSION")
[[ $SKIP_KINESIS_MOCK == 1 ]] && say "kinesis-mock: skipped (SKIP_KINESIS_MOCK=1)" || want+=("kinesis-local@$KINESIS_LOCAL_VERSION")
if ((${#want[@]})); then
	if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
		say "!! node or npm not installed: no emulator"
		want=()
	else
		missing=()
		for p in "${want[@]}"; do npm_installed "${p%@*}" "${p#*@}" || missing+=("$p"); done
		if ((${#missing[@]})); then
			mkdir -p "$EMU_DIR"
			say "install: npm install --prefix $EMU_SHOWN ${want[*]}"
			timeout 600 npm install --prefix "$EMU_DIR" --no-audit --no-fund "${want[@]}" >"$WORK/npm.log" 2>&1 ||
				{ sed 's/^/   | /' "$WORK/npm.log"; say "!! npm install failed"; }
		fi
	fi
fi
if [[ $SKIP_KINESALITE != 1 ]] && npm_installed kinesalite "$KINESALITE_VERSION"; then
	EMULATORS+=(kinesalite)
	say "kinesalite: $KINESALITE_VERSION ($EMU_SHOWN/node_modules/kinesalite), in memory, on :$KINESALITE_PORT"
elif [[ $SKIP_KINESALITE != 1 ]]; then
	say "!! kinesalite $KINESALITE_VERSION not installed in $EMU_SHOWN: left out"
fi
if [[ $SKIP_KINESIS_MOCK != 1 ]] && npm_installed kinesis-local "$KINESIS_LOCAL_VERSION"; then
	EMULATORS+=(kinesis-mock)
	say "kinesis-mock: kinesis-local $KINESIS_LOCAL_VERSION (Scala.js build on Node, $EMU_SHOWN/node_modules/kinesis-local), in memory, on :$KINESIS_MOCK_PORT"
elif [[ $SKIP_KINESIS_MOCK != 1 ]]; then
	say "!! kinesis-local $KINESIS_LOCAL_VERSION not installed in $EMU_SHOWN: left out"
fi
say "shoal: shoal serve on :$SHOAL_PORT, --data under $WORK"
SERVERS+=("${EMULATORS[@]}")
for s in "${SERVERS[@]}"; do
	case $s in
	shoal) p=$SHOAL_PORT ;; kinesalite) p=$KINESALITE_PORT ;; kinesis-mock) p=$KINESIS_MOCK_PORT ;;
	esac
	if port_busy "$p"; then
		say "!! port $p ($s) is in use by another process"
		exit 1
	fi
done
say ""

# ---------------------------------------------------------------- runs
# start_server NAME: a fresh server of that kind in the background; sets SERVER and PORT.
start_server() {
	local log=$WORK/$1-$RUN.log
	case $1 in
	shoal)
		PORT=$SHOAL_PORT
		rm -rf "$WORK/data"
		"$WORK/shoal" serve --addr "127.0.0.1:$PORT" --data "$WORK/data" >"$log" 2>&1 &
		;;
	kinesalite)
		PORT=$KINESALITE_PORT
		node "$EMU_DIR/node_modules/kinesalite/cli.js" --port "$PORT" >"$log" 2>&1 &
		;;
	kinesis-mock)
		PORT=$KINESIS_MOCK_PORT
		(cd "$EMU_DIR/node_modules/kinesis-local" && exec env KINESIS_MOCK_PLAIN_PORT="$PORT" \
			KINESIS_MOCK_TLS_PORT="$KINESIS_MOCK_TLS_PORT" SHOULD_PERSIST_DATA=false LOG_LEVEL=WARN \
			node main.js) >"$log" 2>&1 &
		;;
	esac
	SERVER=$!
	if ! wait_port "$PORT" 60 || ! alive "$SERVER"; then
		say "   !! $1 did not start on :$PORT:"
		tail -5 "$log" | sed 's/^/   | /'
		stop_pid "$SERVER"
		SERVER=""
		return 1
	fi
}

# bench NAME: one kinesispeer run against a fresh server NAME.
bench() {
	local name=$1 out=$WORK/peer-$1-$RUN.txt secs
	start_server "$name" || return 0
	secs=$(awk -v d="$DURATION" 'BEGIN { n = d + 0; if (d ~ /ms$/) n /= 1000; else if (d ~ /m$/) n *= 60; print int(n) + 600 }')
	say "   \$ kinesispeer -endpoint http://127.0.0.1:$PORT -shards $SHARDS -duration $DURATION -clients $CLIENTS -batch $BATCH -size $SIZE -read -pid $SERVER   # $name (load average $(cut -d' ' -f1 /proc/loadavg))"
	# bounded: a hung server must not hang the benchmark
	timeout "$secs" "$WORK/kinesispeer" -endpoint "http://127.0.0.1:$PORT" -shards "$SHARDS" -duration "$DURATION" \
		-clients "$CLIENTS" -batch "$BATCH" -size "$SIZE" -read -pid "$SERVER" >"$out" 2>&1 &
	CHILD=$!
	local ok=1
	wait "$CHILD" || ok=0
	CHILD=""
	sed 's/^/   | /' "$out"
	((ok)) || say "   !! kinesispeer exited with an error (figures below are those it printed)"
	alive "$SERVER" || { say "   !! $name exited during the run:"; tail -5 "$WORK/$name-$RUN.log" | sed 's/^/   | /'; }
	stop_pid "$SERVER"
	SERVER=""
	awk -v run="$RUN" -v s="$name" '
		($1 == "put" || $1 == "get") {
			for (i = 2; i <= NF; i++) { split($i, kv, "="); printf "%s\t%s.%s.%s\t%s\n", run, s, $1, kv[1], kv[2] }
		}' "$out" >>"$RES"
}

for RUN in $(seq "$R"); do
	say "=== repetition $RUN/$R $(date -u +%T)"
	order=("${SERVERS[@]}")
	if ((RUN % 2 == 0)); then
		order=()
		for ((i = ${#SERVERS[@]} - 1; i >= 0; i--)); do order+=("${SERVERS[i]}"); done
	fi
	for s in "${order[@]}"; do bench "$s"; done
done
say ""

# ---------------------------------------------------------------- report
FIGURES=''
for s in "${SERVERS[@]}"; do
	FIGURES+="$s PutRecords: acknowledged records/s|$s.put.records_per_sec
$s PutRecords: call latency p50 ms|$s.put.p50_ms
$s PutRecords: call latency p99 ms|$s.put.p99_ms
$s PutRecords: throttled calls + errors + failed records|$s.put.bad
$s PutRecords: server CPU µs per record|$s.put.server_cpu_us_per_record
$s GetRecords catch-up: records/s|$s.get.records_per_sec
$s GetRecords: server CPU µs per record|$s.get.server_cpu_us_per_record
"
done

AWK_FMT="$(cat "$ROOT/bench/fmt.awk")"'

function load(res,   line, p, k, r, s, ph) {
	while ((getline line < res) > 0) {
		split(line, p, "\t"); add(p[1], p[2], p[3])
	}
	# derived: throttled + errors + failed records of each put
	for (r in runs) for (s in srv) {
		if ((r, s ".put.records_per_sec") in val)
			add(r, s ".put.bad", val[r, s ".put.throttled"] + val[r, s ".put.errors"] + val[r, s ".put.failed_records"])
	}
	# the faster emulator of each repetition, per phase
	for (r in runs) for (ph in phases) {
		best = ""
		for (s in srv) if (s != "shoal" && ((r, s "." ph ".records_per_sec") in val))
			if (best == "" || val[r, s "." ph ".records_per_sec"] + 0 > best + 0) best = val[r, s "." ph ".records_per_sec"]
		if (best != "") add(r, "faster-emulator." ph ".records_per_sec", best)
	}
}
function add(r, k, x,   s) {
	cnt[k]++; v[k, cnt[k]] = x; val[r, k] = x; runs[r] = 1
	s = k; sub(/\..*/, "", s); if (s != "faster-emulator") srv[s] = 1
	s = k; sub(/^[^.]*\./, "", s); sub(/\..*/, "", s); phases[s] = 1
}
function med(k,   n, i) {
	if (!(k in cnt)) return "not measured"
	n = cnt[k]; delete vals; for (i = 1; i <= n; i++) vals[i] = v[k, i] + 0
	return summary(vals, n)
}'

RATIOS='
PutRecords: shoal ÷ the faster emulator (target ≥ 5)|shoal.put.records_per_sec|faster-emulator.put.records_per_sec|>=5
GetRecords: shoal ÷ the faster emulator (target ≥ 5)|shoal.get.records_per_sec|faster-emulator.get.records_per_sec|>=5
PutRecords: shoal ÷ kinesalite|shoal.put.records_per_sec|kinesalite.put.records_per_sec|
GetRecords: shoal ÷ kinesalite|shoal.get.records_per_sec|kinesalite.get.records_per_sec|
PutRecords: shoal ÷ kinesis-mock|shoal.put.records_per_sec|kinesis-mock.put.records_per_sec|
GetRecords: shoal ÷ kinesis-mock|shoal.get.records_per_sec|kinesis-mock.get.records_per_sec|
PutRecords server CPU per record: kinesalite ÷ shoal|kinesalite.put.server_cpu_us_per_record|shoal.put.server_cpu_us_per_record|
'

say "=== summary: median [min–max] over $R repetition(s), $(date -u -Is)"
say "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
say ""
printf '%s' "$FIGURES" | awk -F'|' -v res="$RES" "$AWK_FMT"'
	BEGIN { load(res); printf "%-62s %s\n", "figure", "median [min–max]" }
	NF >= 2 { printf "%-62s %s\n", $1, med($2) }'
say ""
printf '%s' "$RATIOS" | awk -F'|' -v res="$RES" "$AWK_FMT"'
	BEGIN { load(res); printf "%-62s %s\n", "ratio (within each repetition)", "median [min–max]" }
	NF >= 3 {
		n = 0; met = 0; delete vals
		op = substr($4, 1, 2); lim = substr($4, 3) + 0
		for (r in runs) if (((r, $2) in val) && ((r, $3) in val) && val[r, $3] + 0 != 0) {
			vals[++n] = val[r, $2] / val[r, $3]
			if ((op == "<=" && vals[n] <= lim) || (op == ">=" && vals[n] >= lim)) met++
		}
		if (n == 0) { printf "%-62s %s\n", $1, "not measured"; next }
		s = summary(vals, n) "×"
		if ($4 != "") s = s sprintf("  %s (%d of %d repetitions)", (met * 2 > n ? "met" : "MISSED"), met, n)
		printf "%-62s %s\n", $1, s
	}'
say ""
say "The ≥ 5× target compares durable shoal (fdatasync per put) with in-memory emulators; both emulators"
say "are single-threaded Node.js processes, shoal uses every core, and the client shares the same cores."
