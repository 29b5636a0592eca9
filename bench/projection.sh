#!/usr/bin/env bash
# projection.sh: projection replay next to its peers, side by side on this machine.
#
# Each of R repetitions (default 3) runs, back to back (Shoal first in odd repetitions, the
# NATS peer first in even ones):
#   1. Shoal replay (projection/bench_test.go), one process, a store of $EVENTS events on the
#      file engine (4 shards, ~200-byte msgpack events, streams of 10), built before the timers:
#        BenchmarkReplayLazy/file     full CatchUpOnly Runner replay, handler reads ev.Version only
#        BenchmarkReplayLazy/memory   the same on the in-memory engine
#        BenchmarkReplayDecode/file   the same, handler decodes every payload (ev.Data())
#        BenchmarkBareDecode/1goroutine   msgpack.Unmarshal of the same payloads from a [][]byte
#        BenchmarkBareDecode/4goroutines  the same, one goroutine per shard's payloads
#   2. NATS JetStream ordered-consumer replay of $EVENTS messages of 200 bytes
#      (bench/natspeer, its own module: cd bench/natspeer && go run . -n $EVENTS -size 200 -r 1;
#      built once here, then run as the same binary)
#   3. PostgreSQL read model (projection/pgprojection/bench_test.go), $PG_EVENTS events, one row each:
#        BenchmarkPGReadModel/shoal          Runner + pgprojection.On, one tx.Exec INSERT per event,
#                                            BatchSize $PG_BATCH per transaction (with the checkpoint)
#        BenchmarkPGReadModel/shoal-queued   the same with pgprojection.OnQueued: a batch's INSERTs in one pgx.Batch
#        BenchmarkPGReadModel/raw-1conn      the same rows prebuilt, pgx.Batch of 1000 per transaction
#        BenchmarkPGReadModel/raw-4conns     the same on 4 connections (the runner's 4 shards)
# Each Shoal replay figure is events/s of wall time and cpu-ns/event (getrusage of the process over
# the timed replays, GC included), which moves less than wall time on a shared machine.
# Then it prints the machine, every figure as median [min–max] over the repetitions, and the ratios
# computed within each repetition (median [min–max] of those), against the issue's targets:
# lazy replay ≥ 1 M events/s, decode-all within 1.5× of bare decoding, PG read model within 2× of
# raw batched INSERT.
#
# Usage: bash bench/projection.sh          (from anywhere; about 2–3 min per repetition)
# Environment:
#   R=3                   repetitions
#   BENCHTIME=2x          go test -benchtime of the replay benchmarks (each op is a full replay;
#                         go runs one op first, untimed in the figure, then BENCHTIME ops)
#   PG_BENCHTIME=1x       go test -benchtime of BenchmarkPGReadModel
#   EVENTS=1000000        SHOAL_BENCH_EVENTS and natspeer -n
#   PG_EVENTS=200000      SHOAL_BENCH_PG_EVENTS
#   BATCH=1000            SHOAL_BENCH_BATCH: the replay runner's BatchSize
#   PG_BATCH=1000         SHOAL_BENCH_PG_BATCH: the PG runner's BatchSize
#   NATS_URL=nats://127.0.0.1:4222
#   SHOAL_TEST_POSTGRES   (default postgres://postgres@127.0.0.1:5432/test?sslmode=disable);
#                         the benchmark creates and drops its own tables
#   SKIP_NATS=1 SKIP_PG=1 leave a peer out
#   OUT=bench/results-projection-<UTC date>.txt   where the output is saved (also printed)
set -euo pipefail

R=${R:-3}
BENCHTIME=${BENCHTIME:-2x}
PG_BENCHTIME=${PG_BENCHTIME:-1x}
EVENTS=${EVENTS:-1000000}
PG_EVENTS=${PG_EVENTS:-200000}
BATCH=${BATCH:-1000}
PG_BATCH=${PG_BATCH:-1000}
NATS_URL=${NATS_URL:-nats://127.0.0.1:4222}
SKIP_NATS=${SKIP_NATS:-0}
SKIP_PG=${SKIP_PG:-0}
export SHOAL_TEST_POSTGRES=${SHOAL_TEST_POSTGRES:-postgres://postgres@127.0.0.1:5432/test?sslmode=disable}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=${OUT:-$ROOT/bench/results-projection-$(date -u +%F).txt}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/shoal-proj.XXXXXX")
RES=$WORK/results.tsv # run <TAB> metric <TAB> value
: >"$RES"
CHILD=""

cleanup() {
	if [[ -n $CHILD ]]; then
		kill "$CHILD" 2>/dev/null && wait "$CHILD" 2>/dev/null
	fi
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

exec > >(tee "$OUT") 2>&1

say() { printf '%s\n' "$*"; }

# ---------------------------------------------------------------- machine
say "# shoal projection.sh — $(date -u -Is)"
say "machine: $(nproc) vCPU, $(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo), $(awk '/^MemTotal/ {printf "%.1f GiB RAM", $2/1048576}' /proc/meminfo)"
say "kernel: $(uname -sr); $(go version 2>/dev/null || echo 'go: absent')"
say "temp dir (the file engine's data): $WORK on $(df -P "$WORK" | awk 'NR==2 {print $1}') ($(findmnt -no FSTYPE,OPTIONS -T "$WORK" 2>/dev/null || echo '?'))"
say "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
say "repetitions R=$R; replay: $EVENTS events, BatchSize $BATCH, -benchtime $BENCHTIME; PG: $PG_EVENTS events, BatchSize $PG_BATCH, -benchtime $PG_BENCHTIME"
say "source: git $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$([[ -n $(git -C "$ROOT" status --porcelain -- projection eventstore shardlog 2>/dev/null) ]] && echo ' + uncommitted changes under projection/, eventstore/ or shardlog/'); projection/*.go sha256 $(cat "$ROOT"/projection/*.go "$ROOT"/projection/pgprojection/*.go 2>/dev/null | sha256sum | cut -c1-12)"

NATS_OK=0
if [[ $SKIP_NATS == 1 ]]; then
	say "nats: skipped (SKIP_NATS=1)"
else
	hp=${NATS_URL#*://}
	host=${hp%:*} port=${hp##*:}
	if info=$(timeout 3 bash -c "exec 3<>/dev/tcp/$host/$port; IFS= read -r -t 2 line <&3; printf '%s' \"\$line\"" 2>/dev/null) && [[ $info == INFO* ]]; then
		NATS_OK=1
		ver=$(sed -n 's/.*"version":"\([^"]*\)".*/\1/p' <<<"$info")
		say "nats: nats-server ${ver:-?} at $NATS_URL (JetStream $(grep -q '"jetstream":true' <<<"$info" && echo on || echo 'off?')); the peer makes its own file-storage R1 stream, deleted afterwards"
	else
		say "nats: unreachable at $NATS_URL; Shoal only"
	fi
fi

PG_OK=0
if [[ $SKIP_PG == 1 ]]; then
	say "postgres: skipped (SKIP_PG=1)"
elif ! command -v psql >/dev/null; then
	say "postgres: psql not installed, so not checked; the benchmark connects to $SHOAL_TEST_POSTGRES"
	PG_OK=1
elif settings=$(timeout 20 psql "$SHOAL_TEST_POSTGRES" -Atc "SELECT string_agg(name || '=' || current_setting(name), ' ' ORDER BY name) FROM pg_settings WHERE name IN ('fsync', 'synchronous_commit', 'wal_sync_method', 'shared_buffers', 'max_wal_size')" 2>&1); then
	PG_OK=1
	say "postgres: $(timeout 20 psql "$SHOAL_TEST_POSTGRES" -Atc 'SHOW server_version') at ${SHOAL_TEST_POSTGRES%%\?*} (TCP, pgx v5 pool); server settings: $settings"
else
	say "postgres: unreachable at $SHOAL_TEST_POSTGRES ($settings); no PG figures"
fi
say ""

# ---------------------------------------------------------------- build
cd "$ROOT"
say "build: go test -c ./projection ./projection/pgprojection; (cd bench/natspeer && go build)"
if ! timeout 600 go test -c -o "$WORK/projection.test" ./projection >"$WORK/build.log" 2>&1 ||
	! timeout 600 go test -c -o "$WORK/pgprojection.test" ./projection/pgprojection >>"$WORK/build.log" 2>&1; then
	cat "$WORK/build.log"
	say "!! build failed"
	exit 1
fi
if [[ $NATS_OK == 1 ]] && ! (cd "$ROOT/bench/natspeer" && timeout 600 go build -o "$WORK/natspeer" .) >>"$WORK/build.log" 2>&1; then
	cat "$WORK/build.log"
	say "!! natspeer build failed; Shoal only"
	NATS_OK=0
fi
say ""

# ---------------------------------------------------------------- runs
# record OUTFILE: every benchmark metric as <benchmark without -procs>.<unit>
record() {
	awk -v run="$RUN" '
		$1 ~ /^Benchmark/ && $2 ~ /^[0-9]+$/ {
			name = $1; sub(/-[0-9]+$/, "", name)
			for (i = 3; i + 1 <= NF; i += 2) printf "%s\t%s.%s\t%s\n", run, name, $(i + 1), $i
		}' "$1" >>"$RES"
}

# gobench LABEL BINARY PKGDIR REGEXP BENCHTIME [ENV=VALUE...]
gobench() {
	local label=$1 bin=$2 dir=$3 re=$4 bt=$5 out=$WORK/$1-$RUN.txt
	shift 5
	say "   \$ $* go test -run '^\$' -bench '$re' -benchtime $bt -count 1 ./${dir#"$ROOT"/}     (load average $(cut -d' ' -f1 /proc/loadavg))"
	(cd "$dir" && TMPDIR=$WORK exec env "$@" "$bin" -test.run '^$' -test.bench "$re" \
		-test.benchtime "$bt" -test.count 1 -test.timeout 30m) >"$out" 2>&1 &
	CHILD=$!
	wait "$CHILD" || say "   !! exited with an error (figures below are those it printed)"
	CHILD=""
	grep -vE '^(goos|goarch|pkg|cpu|PASS|ok )' "$out" | sed 's/^/   | /'
	record "$out"
}

shoal_replay() {
	gobench shoal "$WORK/projection.test" "$ROOT/projection" \
		'^(BenchmarkReplayLazy|BenchmarkReplayDecode|BenchmarkBareDecode)$' "$BENCHTIME" \
		SHOAL_BENCH_EVENTS="$EVENTS" SHOAL_BENCH_BATCH="$BATCH"
}

# nats_replay: one natspeer run; a failed run (the publish phase can stall
# on a busy server) is tried once more.
nats_replay() {
	local out=$WORK/nats-$RUN.txt try ok
	for try in 1 2; do
		say "   \$ (cd bench/natspeer && go run . -url $NATS_URL -n $EVENTS -size 200 -r 1)     (load average $(cut -d' ' -f1 /proc/loadavg))"
		(cd "$ROOT/bench/natspeer" && exec "$WORK/natspeer" -url "$NATS_URL" -n "$EVENTS" -size 200 -r 1) >"$out" 2>&1 &
		CHILD=$!
		ok=1
		wait "$CHILD" || ok=0
		CHILD=""
		sed 's/^/   | /' "$out"
		((ok)) && break
		say "   !! exited with an error$([[ $try == 1 ]] && echo '; trying once more')"
	done
	awk -v run="$RUN" '$1 == "nats-ordered-replay" && $2 != "median" {
		for (i = 2; i <= NF; i++) if ($i ~ /^msgs_per_sec=/) { sub(/^msgs_per_sec=/, "", $i); printf "%s\tnats.events/s\t%s\n", run, $i }
	}' "$out" >>"$RES"
}

pg_readmodel() {
	gobench pg "$WORK/pgprojection.test" "$ROOT/projection/pgprojection" \
		'^BenchmarkPGReadModel$' "$PG_BENCHTIME" \
		SHOAL_BENCH_PG_EVENTS="$PG_EVENTS" SHOAL_BENCH_PG_BATCH="$PG_BATCH"
}

for RUN in $(seq "$R"); do
	say "=== repetition $RUN/$R $(date -u +%T)"
	if [[ $NATS_OK == 1 ]] && ((RUN % 2 == 0)); then
		nats_replay
		shoal_replay
	else
		shoal_replay
		[[ $NATS_OK == 1 ]] && nats_replay
	fi
	[[ $PG_OK == 1 ]] && pg_readmodel
done
say ""

# ---------------------------------------------------------------- report
# Figures: label | metric
FIGURES='
replay, lazy (no payload decoding), file engine: events/s|BenchmarkReplayLazy/file.events/s
replay, lazy, in-memory engine: events/s|BenchmarkReplayLazy/memory.events/s
replay, decoding every payload, file engine: events/s|BenchmarkReplayDecode/file.events/s
bare msgpack decoding, 1 goroutine: events/s|BenchmarkBareDecode/1goroutine.events/s
bare msgpack decoding, 4 goroutines: events/s|BenchmarkBareDecode/4goroutines.events/s
NATS JetStream ordered consumer replay (200 B): msgs/s|nats.events/s
replay, lazy, file engine: CPU ns per event|BenchmarkReplayLazy/file.cpu-ns/event
replay, lazy, in-memory engine: CPU ns per event|BenchmarkReplayLazy/memory.cpu-ns/event
replay, decoding, file engine: CPU ns per event|BenchmarkReplayDecode/file.cpu-ns/event
bare msgpack decoding, 1 goroutine: CPU ns per event|BenchmarkBareDecode/1goroutine.cpu-ns/event
bare msgpack decoding, 4 goroutines: CPU ns per event|BenchmarkBareDecode/4goroutines.cpu-ns/event
payload bytes (msgpack)|BenchmarkBareDecode/1goroutine.payload-B
PG read model, Shoal, one INSERT per event: events/s|BenchmarkPGReadModel/shoal.events/s
PG read model, Shoal, OnQueued (one pgx.Batch per batch): events/s|BenchmarkPGReadModel/shoal-queued.events/s
PG raw batched INSERT, 1 connection: rows/s|BenchmarkPGReadModel/raw-1conn.events/s
PG raw batched INSERT, 4 connections: rows/s|BenchmarkPGReadModel/raw-4conns.events/s
'
# Ratios, within each repetition: label | numerator | denominator | target: "<=x" or ">=x" (optional)
RATIOS='
Shoal lazy replay ÷ NATS ordered consumer (speed-up)|BenchmarkReplayLazy/file.events/s|nats.events/s|
decode-all replay time ÷ bare decode time, 1 goroutine (target ≤ 1.5)|BenchmarkBareDecode/1goroutine.events/s|BenchmarkReplayDecode/file.events/s|<=1.5
decode-all replay time ÷ bare decode time, 4 goroutines|BenchmarkBareDecode/4goroutines.events/s|BenchmarkReplayDecode/file.events/s|
decode-all replay CPU ÷ bare decode CPU, 1 goroutine|BenchmarkReplayDecode/file.cpu-ns/event|BenchmarkBareDecode/1goroutine.cpu-ns/event|
decode-all replay time ÷ lazy replay time|BenchmarkReplayLazy/file.events/s|BenchmarkReplayDecode/file.events/s|
PG read model time ÷ raw batched INSERT time, 4 conns (target ≤ 2)|BenchmarkPGReadModel/raw-4conns.events/s|BenchmarkPGReadModel/shoal.events/s|<=2
PG read model time ÷ raw batched INSERT time, 1 conn|BenchmarkPGReadModel/raw-1conn.events/s|BenchmarkPGReadModel/shoal.events/s|
PG read model, OnQueued, time ÷ raw batched INSERT time, 4 conns|BenchmarkPGReadModel/raw-4conns.events/s|BenchmarkPGReadModel/shoal-queued.events/s|<=2
PG read model, OnQueued, time ÷ raw batched INSERT time, 1 conn|BenchmarkPGReadModel/raw-1conn.events/s|BenchmarkPGReadModel/shoal-queued.events/s|
'

AWK_FMT="$(cat "$ROOT/bench/fmt.awk")"'

function load(res,   line, p, k) {
	while ((getline line < res) > 0) {
		split(line, p, "\t"); k = p[2]
		cnt[k]++; v[k, cnt[k]] = p[3]; val[p[1], k] = p[3]; runs[p[1]] = 1
	}
}
function med(k,   n, i) {
	if (!(k in cnt)) return "not measured"
	n = cnt[k]; delete vals; for (i = 1; i <= n; i++) vals[i] = v[k, i] + 0
	return summary(vals, n)
}'

say "=== summary: median [min–max] over $R repetition(s), $(date -u -Is)"
say "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
say ""
printf '%s' "$FIGURES" | awk -F'|' -v res="$RES" "$AWK_FMT"'
	BEGIN { load(res); printf "%-72s %s\n", "figure", "median [min–max]" }
	NF >= 2 { printf "%-72s %s\n", $1, med($2) }'
say ""
printf '%s' "$RATIOS" | awk -F'|' -v res="$RES" "$AWK_FMT"'
	BEGIN { load(res); printf "%-72s %s\n", "ratio (within each repetition)", "median [min–max]" }
	NF >= 3 {
		n = 0; met = 0; delete vals
		op = substr($4, 1, 2); lim = substr($4, 3) + 0
		for (r in runs) if (((r, $2) in val) && ((r, $3) in val) && val[r, $3] + 0 != 0) {
			vals[++n] = val[r, $2] / val[r, $3]
			if ((op == "<=" && vals[n] <= lim) || (op == ">=" && vals[n] >= lim)) met++
		}
		if (n == 0) { printf "%-72s %s\n", $1, "not measured"; next }
		s = summary(vals, n) "×"
		if ($4 != "") s = s sprintf("  %s (%d of %d repetitions)", (met * 2 > n ? "met" : "MISSED"), met, n)
		printf "%-72s %s\n", $1, s
	}'
say ""
printf '%s' "" | awk -v res="$RES" "$AWK_FMT"'
	BEGIN {
		load(res); k = "BenchmarkReplayLazy/file.events/s"
		if (!(k in cnt)) { print "target: lazy replay ≥ 1 M events/s: not measured"; exit }
		met = 0; for (i = 1; i <= cnt[k]; i++) if (v[k, i] + 0 >= 1e6) met++
		printf "target: lazy replay (file engine) ≥ 1 M events/s: %s events/s: %s (%d of %d repetitions)\n", med(k), (met * 2 > cnt[k] ? "met" : "MISSED"), met, cnt[k]
	}'
