#!/usr/bin/env bash
# eventstore.sh: the event store next to PostgreSQL, side by side on this machine.
#
# Builds the eventstore benchmarks once (eventstore/bench_test.go and
# eventstore/pgpeer_bench_test.go), then runs R repetitions (default 3). Each repetition runs
# three groups back to back, Shoal and PostgreSQL one after the other within each group (Shoal
# first in odd repetitions, PostgreSQL first in even ones):
#   append      BenchmarkAppend            | BenchmarkPGAppend
#               1 and 10 events per Append with Exact(n), file engine SyncAlways / SyncInterval(1s)
#               (and the memory engine) | one transaction of INSERTs, synchronous_commit on / off
#   load        BenchmarkLoad              | BenchmarkPGLoad
#               one aggregate of 10/100/1000 events among 10k others, read and every payload
#               msgpack-decoded | SELECT ... WHERE stream_id=$1 ORDER BY version, same decoding
#   concurrent  BenchmarkAppendConcurrent  | BenchmarkPGAppendConcurrent
#               16 goroutines (SHOAL_BENCH_PARALLELISM × GOMAXPROCS) appending one event at a time
#               to their own shares of 10k aggregates | as many connections, one INSERT each
# then prints the machine, every figure as median [min–max] over the repetitions, and the
# Shoal/PostgreSQL ratios computed within each repetition (median [min–max] of those).
#
# Usage: bash bench/eventstore.sh            (from anywhere; about 2–3 min per repetition)
# Environment:
#   R=3                     repetitions
#   BENCHTIME=2s            go test -benchtime
#   SHOAL_TEST_POSTGRES     the PostgreSQL server (default
#                           postgres://postgres@127.0.0.1:5432/test?sslmode=disable);
#                           the benchmarks create and drop their own tables
#   SKIP_PG=1               Shoal only
#   SHOAL_BENCH_PARALLELISM=8   goroutines per GOMAXPROCS of the concurrent benchmarks
#   OUT=bench/results-eventstore-<UTC date>.txt   where the output is saved (also printed)
set -euo pipefail

R=${R:-3}
BENCHTIME=${BENCHTIME:-2s}
SKIP_PG=${SKIP_PG:-0}
export SHOAL_TEST_POSTGRES=${SHOAL_TEST_POSTGRES:-postgres://postgres@127.0.0.1:5432/test?sslmode=disable}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=${OUT:-$ROOT/bench/results-eventstore-$(date -u +%F).txt}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/shoal-es.XXXXXX")
RES=$WORK/results.tsv # run <TAB> metric <TAB> value
: >"$RES"
TEST_PID=""
PG_OK=0

# drop_leftovers PID: tables a killed benchmark process could not drop (each
# process names its tables shoal_es_bench_<pid>_...).
drop_leftovers() {
	[[ $PG_OK == 1 && -n $1 ]] || return 0
	local t
	for t in $(timeout 30 psql "$SHOAL_TEST_POSTGRES" -Atc "SELECT tablename FROM pg_tables WHERE tablename LIKE 'shoal\\_es\\_bench\\_$1\\_%'" 2>/dev/null); do
		timeout 60 psql "$SHOAL_TEST_POSTGRES" -q -c "DROP TABLE IF EXISTS $t" >/dev/null 2>&1 || true
	done
}
cleanup() {
	if [[ -n $TEST_PID ]]; then
		kill "$TEST_PID" 2>/dev/null && wait "$TEST_PID" 2>/dev/null
		drop_leftovers "$TEST_PID"
	fi
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

exec > >(tee "$OUT") 2>&1

say() { printf '%s\n' "$*"; }

# ---------------------------------------------------------------- machine
say "# shoal eventstore.sh — $(date -u -Is)"
say "machine: $(nproc) vCPU, $(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo), $(awk '/^MemTotal/ {printf "%.1f GiB RAM", $2/1048576}' /proc/meminfo)"
say "kernel: $(uname -sr); $(go version 2>/dev/null || echo 'go: absent')"
say "temp dir (b.TempDir, the file engine's data): $WORK on $(df -P "$WORK" | awk 'NR==2 {print $1}') ($(findmnt -no FSTYPE,OPTIONS -T "$WORK" 2>/dev/null || echo '?'))"
say "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
say "repetitions R=$R, go -benchtime $BENCHTIME, SHOAL_BENCH_PARALLELISM=${SHOAL_BENCH_PARALLELISM:-8 (default)}"
say "source: git $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$([[ -n $(git -C "$ROOT" status --porcelain -- eventstore shardlog 2>/dev/null) ]] && echo ' + uncommitted changes under eventstore/ or shardlog/'); eventstore/*.go sha256 $(cat "$ROOT"/eventstore/*.go 2>/dev/null | sha256sum | cut -c1-12)"

if [[ $SKIP_PG == 1 ]]; then
	say "postgres: skipped (SKIP_PG=1)"
	unset SHOAL_TEST_POSTGRES
elif ! command -v psql >/dev/null; then
	say "postgres: psql not installed, so not checked; the PostgreSQL benchmarks connect to $SHOAL_TEST_POSTGRES"
	PG_OK=1
elif settings=$(timeout 20 psql "$SHOAL_TEST_POSTGRES" -Atc "SELECT string_agg(name || '=' || current_setting(name), ' ' ORDER BY name) FROM pg_settings WHERE name IN ('fsync', 'synchronous_commit', 'wal_sync_method', 'full_page_writes', 'commit_delay', 'wal_writer_delay', 'shared_buffers', 'max_wal_size')" 2>&1); then
	PG_OK=1
	say "postgres: $(timeout 20 psql "$SHOAL_TEST_POSTGRES" -Atc 'SHOW server_version') at ${SHOAL_TEST_POSTGRES%%\?*} (TCP, pgx v5 pool); server settings: $settings"
	say "          'always' runs keep synchronous_commit=on (each commit waits for the WAL fdatasync);"
	say "          'interval' runs set synchronous_commit=off for their sessions (the WAL writer flushes every wal_writer_delay)"
else
	say "postgres: unreachable at $SHOAL_TEST_POSTGRES ($settings); Shoal only"
	unset SHOAL_TEST_POSTGRES
fi
say ""

# ---------------------------------------------------------------- build
cd "$ROOT"
say "build: go test -c -o \$WORK/eventstore.test ./eventstore"
if ! timeout 600 go test -c -o "$WORK/eventstore.test" ./eventstore >"$WORK/build.log" 2>&1; then
	cat "$WORK/build.log"
	say "!! build failed"
	exit 1
fi
say ""

# ---------------------------------------------------------------- runs
# bench NAME REGEXP: runs the benchmarks and records every metric as
# <benchmark without -procs>.<unit>
bench() {
	local label=$1 re=$2 out=$WORK/$1-$RUN.txt
	say "   \$ go test -run '^\$' -bench '$re' -benchtime $BENCHTIME -count 1 ./eventstore     (load average $(cut -d' ' -f1 /proc/loadavg))"
	# exec: $! is the test process, whose pid names its PostgreSQL tables
	(cd "$ROOT/eventstore" && TMPDIR=$WORK exec "$WORK/eventstore.test" -test.run '^$' -test.bench "$re" \
		-test.benchtime "$BENCHTIME" -test.count 1 -test.timeout 25m) >"$out" 2>&1 &
	TEST_PID=$!
	wait "$TEST_PID" || say "   !! exited with an error (figures below are those it printed)"
	drop_leftovers "$TEST_PID"
	TEST_PID=""
	grep -vE '^(goos|goarch|pkg|cpu|PASS|ok )' "$out" | sed 's/^/   | /'
	awk -v run="$RUN" '
		$1 ~ /^Benchmark/ && $2 ~ /^[0-9]+$/ {
			name = $1; sub(/-[0-9]+$/, "", name)
			for (i = 3; i + 1 <= NF; i += 2) printf "%s\t%s.%s\t%s\n", run, name, $(i + 1), $i
		}' "$out" >>"$RES"
}

GROUPS_SHOAL=('^BenchmarkAppend$' '^BenchmarkLoad$' '^BenchmarkAppendConcurrent$')
GROUPS_PG=('^BenchmarkPGAppend$' '^BenchmarkPGLoad$' '^BenchmarkPGAppendConcurrent$')
GROUP_NAMES=(append load concurrent)
for RUN in $(seq "$R"); do
	say "=== repetition $RUN/$R $(date -u +%T)"
	for g in 0 1 2; do
		if [[ -z ${SHOAL_TEST_POSTGRES:-} ]]; then
			bench "shoal-${GROUP_NAMES[$g]}" "${GROUPS_SHOAL[$g]}"
		elif ((RUN % 2 == 1)); then
			bench "shoal-${GROUP_NAMES[$g]}" "${GROUPS_SHOAL[$g]}"
			bench "pg-${GROUP_NAMES[$g]}" "${GROUPS_PG[$g]}"
		else
			bench "pg-${GROUP_NAMES[$g]}" "${GROUPS_PG[$g]}"
			bench "shoal-${GROUP_NAMES[$g]}" "${GROUPS_SHOAL[$g]}"
		fi
	done
done
say ""

# ---------------------------------------------------------------- report
# Figures: label | Shoal metric | PostgreSQL metric
FIGURES='
append 1 event, durable: events/s|BenchmarkAppend/1events/always.events/s|BenchmarkPGAppend/1events/always.events/s
append 1 event, durable: p50 µs|BenchmarkAppend/1events/always.p50-µs|BenchmarkPGAppend/1events/always.p50-µs
append 1 event, durable: p99 µs|BenchmarkAppend/1events/always.p99-µs|BenchmarkPGAppend/1events/always.p99-µs
append 1 event, interval / sync_commit off: events/s|BenchmarkAppend/1events/interval.events/s|BenchmarkPGAppend/1events/interval.events/s
append 1 event, interval / sync_commit off: p50 µs|BenchmarkAppend/1events/interval.p50-µs|BenchmarkPGAppend/1events/interval.p50-µs
append 1 event, memory engine: events/s|BenchmarkAppend/1events/memory.events/s|
append 10 events, durable: events/s|BenchmarkAppend/10events/always.events/s|BenchmarkPGAppend/10events/always.events/s
append 10 events, durable: p50 µs|BenchmarkAppend/10events/always.p50-µs|BenchmarkPGAppend/10events/always.p50-µs
append 10 events, durable: p99 µs|BenchmarkAppend/10events/always.p99-µs|BenchmarkPGAppend/10events/always.p99-µs
append 10 events, durable, PG with COPY: events/s|BenchmarkAppend/10events/always.events/s|BenchmarkPGAppend/10events-copy/always.events/s
append 10 events, interval / sync_commit off: events/s|BenchmarkAppend/10events/interval.events/s|BenchmarkPGAppend/10events/interval.events/s
append 10 events, interval / sync_commit off: p50 µs|BenchmarkAppend/10events/interval.p50-µs|BenchmarkPGAppend/10events/interval.p50-µs
append 10 events, memory engine: events/s|BenchmarkAppend/10events/memory.events/s|
load 10 events (file): µs per load|BenchmarkLoad/10/file.ns/op|BenchmarkPGLoad/10.ns/op
load 10 events (file): p50 µs|BenchmarkLoad/10/file.p50-µs|BenchmarkPGLoad/10.p50-µs
load 100 events (file): µs per load|BenchmarkLoad/100/file.ns/op|BenchmarkPGLoad/100.ns/op
load 100 events (file): p50 µs|BenchmarkLoad/100/file.p50-µs|BenchmarkPGLoad/100.p50-µs
load 1000 events (file): µs per load (target ≤ 1000)|BenchmarkLoad/1000/file.ns/op|BenchmarkPGLoad/1000.ns/op
load 1000 events (file): p50 µs (target ≤ 1000)|BenchmarkLoad/1000/file.p50-µs|BenchmarkPGLoad/1000.p50-µs
load 1000 events (file): p99 µs|BenchmarkLoad/1000/file.p99-µs|BenchmarkPGLoad/1000.p99-µs
load 1000 events (file): events/s|BenchmarkLoad/1000/file.events/s|BenchmarkPGLoad/1000.events/s
load 1000 events (file, no payload decoding): µs per load|BenchmarkLoad/1000/file-nodecode.ns/op|
load 1000 events (memory engine): µs per load|BenchmarkLoad/1000/memory.ns/op|
concurrent appends, 10k aggregates, durable: events/s|BenchmarkAppendConcurrent/10k-aggregates/always.events/s|BenchmarkPGAppendConcurrent/10k-aggregates/always.events/s
concurrent appends, durable: p50 µs|BenchmarkAppendConcurrent/10k-aggregates/always.p50-µs|BenchmarkPGAppendConcurrent/10k-aggregates/always.p50-µs
concurrent appends, durable: p99 µs|BenchmarkAppendConcurrent/10k-aggregates/always.p99-µs|BenchmarkPGAppendConcurrent/10k-aggregates/always.p99-µs
concurrent appends, interval / sync_commit off: events/s|BenchmarkAppendConcurrent/10k-aggregates/interval.events/s|BenchmarkPGAppendConcurrent/10k-aggregates/interval.events/s
concurrent appends, memory engine: events/s|BenchmarkAppendConcurrent/10k-aggregates/memory.events/s|
'
# Ratios, within each repetition: label | numerator | denominator  (> 1: Shoal is better)
RATIOS='
append 1 event, durable: events/s Shoal ÷ PG|BenchmarkAppend/1events/always.events/s|BenchmarkPGAppend/1events/always.events/s
append 1 event, interval: events/s Shoal ÷ PG|BenchmarkAppend/1events/interval.events/s|BenchmarkPGAppend/1events/interval.events/s
append 10 events, durable: events/s Shoal ÷ PG|BenchmarkAppend/10events/always.events/s|BenchmarkPGAppend/10events/always.events/s
append 10 events, durable: events/s Shoal ÷ PG COPY|BenchmarkAppend/10events/always.events/s|BenchmarkPGAppend/10events-copy/always.events/s
append 10 events, interval: events/s Shoal ÷ PG|BenchmarkAppend/10events/interval.events/s|BenchmarkPGAppend/10events/interval.events/s
load 10 events: time PG ÷ Shoal (speed-up)|BenchmarkPGLoad/10.ns/op|BenchmarkLoad/10/file.ns/op
load 100 events: time PG ÷ Shoal (speed-up)|BenchmarkPGLoad/100.ns/op|BenchmarkLoad/100/file.ns/op
load 1000 events: time PG ÷ Shoal (speed-up)|BenchmarkPGLoad/1000.ns/op|BenchmarkLoad/1000/file.ns/op
load 1000 events: p50 PG ÷ Shoal (speed-up)|BenchmarkPGLoad/1000.p50-µs|BenchmarkLoad/1000/file.p50-µs
concurrent, durable: events/s Shoal ÷ PG|BenchmarkAppendConcurrent/10k-aggregates/always.events/s|BenchmarkPGAppendConcurrent/10k-aggregates/always.events/s
concurrent, interval: events/s Shoal ÷ PG|BenchmarkAppendConcurrent/10k-aggregates/interval.events/s|BenchmarkPGAppendConcurrent/10k-aggregates/interval.events/s
'

AWK_FMT="$(cat "$ROOT/bench/fmt.awk")"'

function load(res,   line, p, k) {
	while ((getline line < res) > 0) {
		split(line, p, "\t"); k = p[2]
		if (k ~ /\.ns\/op$/) p[3] = p[3] / 1000 # shown in µs
		cnt[k]++; v[k, cnt[k]] = p[3]; val[p[1], k] = p[3]; runs[p[1]] = 1
	}
}
function med(k,   n, i) {
	if (k == "") return ""
	if (!(k in cnt)) return "not measured"
	n = cnt[k]; delete vals; for (i = 1; i <= n; i++) vals[i] = v[k, i] + 0
	return summary(vals, n)
}'

say "=== summary: median [min–max] over $R repetition(s), $(date -u -Is)"
say "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
say ""
printf '%s' "$FIGURES" | awk -F'|' -v res="$RES" "$AWK_FMT"'
	BEGIN { load(res); printf "%-62s %-34s %s\n", "figure", "Shoal", "PostgreSQL" }
	NF >= 2 { printf "%-62s %-34s %s\n", $1, med($2), ($3 == "" ? "–" : med($3)) }'
say ""
printf '%s' "$RATIOS" | awk -F'|' -v res="$RES" "$AWK_FMT"'
	BEGIN { load(res); printf "%-62s %s\n", "ratio (within each repetition; > 1: Shoal is better)", "median [min–max]" }
	NF >= 3 {
		n = 0; delete vals
		for (r in runs) if (((r, $2) in val) && ((r, $3) in val) && val[r, $3] + 0 != 0) vals[++n] = val[r, $2] / val[r, $3]
		if (n == 0) { printf "%-62s %s\n", $1, "not measured"; next }
		printf "%-62s %s\n", $1, summary(vals, n) "×"
	}'
say ""
printf '%s' "" | awk -v res="$RES" "$AWK_FMT"'
	BEGIN {
		load(res); k = "BenchmarkLoad/1000/file.ns/op"; p = "BenchmarkLoad/1000/file.p50-µs"
		if (!(k in cnt)) { print "target: load of 1000 events ≤ 1 ms: not measured"; exit }
		met = 0; for (i = 1; i <= cnt[k]; i++) if (v[k, i] + 0 <= 1000) met++
		printf "target: load of 1000 events (file engine, with decoding) ≤ 1 ms: mean %s µs, p50 %s µs: %s (%d of %d repetitions)\n", med(k), med(p), (met * 2 > cnt[k] ? "met" : "MISSED"), met, cnt[k]
	}'
