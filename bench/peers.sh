#!/usr/bin/env bash
# peers.sh: the file engine next to its peers, side by side on this machine.
#
# Each of R repetitions (default 3) runs, back to back:
#   1. Redis 7 XADD, appendonly yes + appendfsync always (private server on :6390):
#        redis-benchmark -P 64 -c 4 -n $REDIS_N XADD bench '*' f <256 B>
#   2. NATS JetStream, nats-server v2.15.2 + natscli v0.5.0 `nats bench`
#        default store (:4232): js pub async 256 B ×$NATS_MSGS, then js ordered (replay)
#        sync_interval: always (:4233): js pub async ×$NATS_ALWAYS_MSGS, js pub sync ×$NATS_SYNC_MSGS,
#        and e2e-nats (a Go probe this script builds) at 1,000 msg/s: sync publish → ordered consumer latency
#   3. PostgreSQL at 127.0.0.1:5432, database test, user postgres, own table
#        pgbench single-row INSERT c16, 100-row INSERT c4, COPY of $PG_ROWS rows (~256 B each),
#        read of one stream's 10 rows by unique index (p50/p99), COPY out in id order (replay)
#   4. The file engine: go test -bench BenchmarkFile ./shardlog/file (shardlog/file/bench_test.go),
#        which also measures the raw group-commit floor (write 500×256 B + fdatasync).
# then prints the machine, every figure as median [min–max] over the repetitions, and the ratios
# file engine / peer computed within each repetition (median [min–max] of those).
#
# Usage: bash bench/peers.sh                 (from anywhere; about 2 min per repetition)
# Environment:
#   R=3                      repetitions
#   SKIP_SHOAL=1             peers only (the file engine need not compile)
#   SKIP_REDIS=1 SKIP_NATS=1 SKIP_PG=1   leave a peer out
#   BENCHTIME=2s             go test -benchtime
#   SHOAL_BENCH='BenchmarkFile'          go test -bench regexp
#   SHOAL_BENCH_RECORDS=1M   preload of Replay and ReadKey10 (10M for the issue's figure; slower)
#   REDIS_N=200000 NATS_MSGS=500000 NATS_ALWAYS_MSGS=10000 NATS_SYNC_MSGS=3000 PG_ROWS=1000000
#   PG_URL (default postgresql://postgres@127.0.0.1:5432/test)
#   SHOAL_BENCH_CACHE=$HOME/.cache/shoal-bench   where nats, nats-server and e2e-nats are installed
# Nothing is added to the repository's go.mod: the NATS tools are built with `go install` into
# the cache, e2e-nats in its own module there.
set -euo pipefail

R=${R:-3}
SKIP_SHOAL=${SKIP_SHOAL:-0}
SKIP_REDIS=${SKIP_REDIS:-0}
SKIP_NATS=${SKIP_NATS:-0}
SKIP_PG=${SKIP_PG:-0}
BENCHTIME=${BENCHTIME:-2s}
SHOAL_BENCH=${SHOAL_BENCH:-BenchmarkFile}
REDIS_N=${REDIS_N:-200000}
NATS_MSGS=${NATS_MSGS:-500000}
NATS_ALWAYS_MSGS=${NATS_ALWAYS_MSGS:-10000}
NATS_SYNC_MSGS=${NATS_SYNC_MSGS:-3000}
PG_ROWS=${PG_ROWS:-1000000}
PG_URL=${PG_URL:-postgresql://postgres@127.0.0.1:5432/test}
CACHE=${SHOAL_BENCH_CACHE:-$HOME/.cache/shoal-bench}
BIN=$CACHE/bin
REDIS_PORT=6390
NATS_DEFAULT_PORT=4232
NATS_ALWAYS_PORT=4233
NATS_SERVER_VERSION=v2.15.2
NATSCLI_VERSION=v0.5.0
NATSGO_VERSION=v1.55.0
PAY=$(head -c 256 /dev/zero | tr '\0' 'x')
PG_TABLE=shoal_bench_events
PG_SEQ=shoal_bench_vseq

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/shoal-peers.XXXXXX")
RES=$WORK/results.tsv # run <TAB> metric <TAB> value
: >"$RES"
SKIPPED=()

REDIS_PID="" NATS_D_PID="" NATS_A_PID="" PG_OK=0
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
	wait "$pid" 2>/dev/null || true # reap it if it is our child
}
cleanup() {
	stop_pid "$REDIS_PID"
	stop_pid "$NATS_D_PID"
	stop_pid "$NATS_A_PID"
	if [[ $PG_OK == 1 ]]; then
		timeout 30 psql "$PG_URL" -q -c "DROP TABLE IF EXISTS $PG_TABLE; DROP SEQUENCE IF EXISTS $PG_SEQ" >/dev/null 2>&1 || true
	fi
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say() { printf '%s\n' "$*"; }
skip() { SKIPPED+=("$1: $2"); say "!! $1 skipped: $2"; }
# rec METRIC VALUE: one figure of the current run.
rec() {
	if [[ -n ${2:-} && $2 =~ ^[0-9.eE+-]+$ ]]; then
		printf '%s\t%s\t%s\n' "$RUN" "$1" "$2" >>"$RES"
		printf '   %-44s %s\n' "$1" "$2"
	else
		printf '   %-44s (no figure)\n' "$1"
	fi
}
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_port() { # port seconds
	local i
	for i in $(seq $(($2 * 10))); do port_busy "$1" && return 0; sleep 0.1; done
	return 1
}
# num: strip thousands separators from the first number on stdin.
num() { grep -oE '[0-9][0-9,]*(\.[0-9]+)?' | head -1 | tr -d ','; }

# ---------------------------------------------------------------- machine
say "# shoal peers.sh — $(date -Is)"
say "machine: $(nproc) vCPU, $(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo), $(awk '/^MemTotal/ {printf "%.1f GiB RAM", $2/1048576}' /proc/meminfo)"
say "kernel: $(uname -sr); $(go version 2>/dev/null || echo 'go: absent')"
say "scratch: $WORK on $(df -P "$WORK" | awk 'NR==2 {print $1}') ($(findmnt -no FSTYPE,OPTIONS -T "$WORK" 2>/dev/null || echo '?'))"
say "repetitions R=$R, go -benchtime $BENCHTIME, SHOAL_BENCH_RECORDS=${SHOAL_BENCH_RECORDS:-1M (default)}"
say "source: git $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$([[ -n $(git -C "$ROOT" status --porcelain -- shardlog 2>/dev/null) ]] && echo ' + uncommitted changes under shardlog/'); shardlog/file/*.go sha256 $(cat "$ROOT"/shardlog/file/*.go 2>/dev/null | sha256sum | cut -c1-12)"
say ""

# ---------------------------------------------------------------- setup
setup_redis() {
	[[ $SKIP_REDIS == 1 ]] && { skip redis "SKIP_REDIS=1"; return; }
	command -v redis-server >/dev/null && command -v redis-benchmark >/dev/null || { skip redis "redis-server or redis-benchmark not installed"; return; }
	port_busy $REDIS_PORT && { skip redis "port $REDIS_PORT is in use by another process"; return; }
	mkdir -p "$WORK/redis"
	if ! timeout 20 redis-server --bind 127.0.0.1 --port $REDIS_PORT --dir "$WORK/redis" --save "" \
		--appendonly yes --appendfsync always --daemonize yes \
		--pidfile "$WORK/redis/redis.pid" --logfile "$WORK/redis/server.log"; then
		skip redis "redis-server did not start"; return
	fi
	for _ in $(seq 100); do [[ -s $WORK/redis/redis.pid ]] && break; sleep 0.1; done
	REDIS_PID=$(cat "$WORK/redis/redis.pid" 2>/dev/null || true)
	if [[ -z $REDIS_PID ]] || ! wait_port $REDIS_PORT 10; then
		stop_pid "$REDIS_PID"; REDIS_PID=""
		skip redis "redis-server did not start on :$REDIS_PORT (log: $(tail -1 "$WORK/redis/server.log" 2>/dev/null))"; return
	fi
	say "redis: $(redis-server --version | awk '{print $3}') on :$REDIS_PORT, appendfsync always (pid $REDIS_PID)"
}

install_go_tool() { # name module@version
	[[ -x $BIN/$1 ]] && return 0
	say "installing $2 into $BIN (takes a few minutes the first time)"
	mkdir -p "$BIN"
	(cd "$WORK" && GOFLAGS=-buildvcs=false GOBIN=$BIN timeout 1200 go install "$2") >"$WORK/install-$1.log" 2>&1 || {
		tail -5 "$WORK/install-$1.log"
		return 1
	}
}

build_e2e() {
	local d=$CACHE/e2e-nats
	[[ -x $BIN/e2e-nats ]] && return 0
	mkdir -p "$d" "$BIN"
	cat >"$d/main.go" <<'EOF'
// e2e-nats (printing µs): JetStream publish->consume
// latency at a fixed rate. Usage: e2e-nats URL RATE SECONDS
package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func main() {
	url := os.Args[1]
	rate, _ := strconv.Atoi(os.Args[2])
	secs, _ := strconv.Atoi(os.Args[3])
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(secs+20)*time.Second)
	defer cancel()
	pc, err := nats.Connect(url)
	if err != nil {
		panic(err)
	}
	cc, err := nats.Connect(url)
	if err != nil {
		panic(err)
	}
	pjs, _ := jetstream.New(pc)
	cjs, _ := jetstream.New(cc)
	_ = pjs.DeleteStream(ctx, "e2e")
	s, err := pjs.CreateStream(ctx, jetstream.StreamConfig{Name: "e2e", Subjects: []string{"e2e.>"}, Storage: jetstream.FileStorage})
	if err != nil {
		panic(err)
	}
	_ = cjs // as in Appendix B: the ordered consumer is created through the publisher's stream handle
	cons, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		panic(err)
	}
	total := rate * secs
	lat := make([]time.Duration, 0, total)
	publat := make([]time.Duration, 0, total)
	var mu sync.Mutex
	done := make(chan struct{})
	cc2, err := cons.Consume(func(m jetstream.Msg) {
		sent := int64(binary.BigEndian.Uint64(m.Data()[:8]))
		d := time.Since(time.Unix(0, sent))
		mu.Lock()
		lat = append(lat, d)
		n := len(lat)
		mu.Unlock()
		if n == total {
			close(done)
		}
	})
	if err != nil {
		panic(err)
	}
	defer cc2.Stop()
	payload := make([]byte, 256)
	interval := time.Second / time.Duration(rate)
	next := time.Now()
	for i := 0; i < total; i++ {
		for time.Now().Before(next) {
			time.Sleep(time.Until(next))
		}
		next = next.Add(interval)
		t := time.Now()
		binary.BigEndian.PutUint64(payload, uint64(t.UnixNano()))
		if _, err := pjs.Publish(ctx, "e2e.a", payload); err != nil { // sync publish: waits for the stream's ack
			panic(err)
		}
		publat = append(publat, time.Since(t))
	}
	select {
	case <-done:
	case <-ctx.Done():
	}
	mu.Lock()
	defer mu.Unlock()
	pr := func(name string, l []time.Duration) {
		if len(l) == 0 {
			fmt.Printf("%s n=0\n", name)
			return
		}
		sort.Slice(l, func(i, j int) bool { return l[i] < l[j] })
		p := func(q float64) float64 { return float64(l[int(q*float64(len(l)-1))]) / 1e3 }
		fmt.Printf("%s n=%d p50_us=%.1f p90_us=%.1f p99_us=%.1f max_us=%.1f\n", name, len(l), p(.5), p(.9), p(.99), float64(l[len(l)-1])/1e3)
	}
	pr("publish_ack", publat)
	pr("publish_to_consume", lat)
	_ = pjs.DeleteStream(context.Background(), "e2e")
}
EOF
	say "building e2e-nats (nats.go $NATSGO_VERSION) in $d"
	(
		cd "$d" && rm -f go.mod go.sum &&
			timeout 60 go mod init e2e-nats &&
			GOFLAGS=-mod=mod timeout 600 go get "github.com/nats-io/nats.go@$NATSGO_VERSION" &&
			GOFLAGS=-buildvcs=false timeout 600 go build -o "$BIN/e2e-nats" .
	) >"$WORK/build-e2e.log" 2>&1 || {
		tail -5 "$WORK/build-e2e.log"
		return 1
	}
}

start_nats() { # port storedir extra-jetstream-settings pid-variable
	local port=$1 dir=$2 extra=$3
	mkdir -p "$dir"
	cat >"$dir.conf" <<EOF
listen: 127.0.0.1:$port
jetstream { store_dir: "$dir", max_file_store: 20G, max_memory_store: 1G$extra }
EOF
	"$BIN/nats-server" -c "$dir.conf" >"$dir.log" 2>&1 &
	printf -v "$4" '%s' $!
}

setup_nats() {
	[[ $SKIP_NATS == 1 ]] && { skip nats "SKIP_NATS=1"; return; }
	command -v go >/dev/null || { skip nats "go not installed (needed to install nats-server and natscli)"; return; }
	install_go_tool nats-server "github.com/nats-io/nats-server/v2@$NATS_SERVER_VERSION" || { skip nats "go install nats-server@$NATS_SERVER_VERSION failed"; return; }
	install_go_tool nats "github.com/nats-io/natscli/nats@$NATSCLI_VERSION" || { skip nats "go install natscli@$NATSCLI_VERSION failed"; return; }
	build_e2e || say "!! e2e-nats build failed: the NATS publish→consume latency is left out"
	if port_busy $NATS_DEFAULT_PORT || port_busy $NATS_ALWAYS_PORT; then
		skip nats "port $NATS_DEFAULT_PORT or $NATS_ALWAYS_PORT is in use by another process"; return
	fi
	start_nats $NATS_DEFAULT_PORT "$WORK/nats-default" "" NATS_D_PID
	start_nats $NATS_ALWAYS_PORT "$WORK/nats-always" ", sync_interval: always" NATS_A_PID
	if ! wait_port $NATS_DEFAULT_PORT 15 || ! wait_port $NATS_ALWAYS_PORT 15; then
		tail -3 "$WORK"/nats-*.log
		stop_pid "$NATS_D_PID"; stop_pid "$NATS_A_PID"; NATS_D_PID="" NATS_A_PID=""
		skip nats "nats-server did not start"; return
	fi
	say "nats: $("$BIN/nats-server" --version) default store on :$NATS_DEFAULT_PORT (pid $NATS_D_PID), sync_interval: always on :$NATS_ALWAYS_PORT (pid $NATS_A_PID); natscli $("$BIN/nats" --version 2>&1)"
}

setup_pg() {
	[[ $SKIP_PG == 1 ]] && { skip postgres "SKIP_PG=1"; return; }
	command -v psql >/dev/null && command -v pgbench >/dev/null || { skip postgres "psql or pgbench not installed"; return; }
	local v
	v=$(timeout 10 psql "$PG_URL" -Atc 'show server_version' 2>&1) || { skip postgres "cannot connect to $PG_URL: $v"; return; }
	PG_OK=1
	mkdir -p "$WORK/pg"
	local hexd streams=$((PG_ROWS / 10))
	hexd=$(head -c 200 /dev/urandom | od -An -v -tx1 | tr -d ' \n')
	# the events table: events(id bigserial PK, stream_id, version, type, data bytea(200 B), created_at, UNIQUE(stream_id, version))
	timeout 60 psql "$PG_URL" -q -v ON_ERROR_STOP=1 >/dev/null <<EOF || { PG_OK=0; skip postgres "schema creation failed"; return; }
SET client_min_messages = warning;
DROP TABLE IF EXISTS $PG_TABLE; DROP SEQUENCE IF EXISTS $PG_SEQ;
CREATE TABLE $PG_TABLE (
  id bigserial PRIMARY KEY,
  stream_id text NOT NULL,
  version int NOT NULL,
  type text NOT NULL,
  data bytea NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (stream_id, version)
);
CREATE SEQUENCE $PG_SEQ;
EOF
	cat >"$WORK/pg/insert1.sql" <<EOF
\set s random(1, 100000)
INSERT INTO $PG_TABLE(stream_id, version, type, data) VALUES ('acct-' || :s, nextval('$PG_SEQ'), 'FundsDeposited', '\\x$hexd');
EOF
	{
		printf '\\set s random(1, 100000)\nINSERT INTO %s(stream_id, version, type, data) VALUES ' "$PG_TABLE"
		for k in $(seq 0 99); do
			[[ $k -gt 0 ]] && printf ',\n'
			printf "('acct-' || (:s + %d), nextval('%s'), 'FundsDeposited', '\\\\x%s')" "$k" "$PG_SEQ" "$hexd"
		done
		printf ';\n'
	} >"$WORK/pg/insert100.sql"
	cat >"$WORK/pg/read10.sql" <<EOF
\set s random(1, $streams)
SELECT id, version, type, data, created_at FROM $PG_TABLE WHERE stream_id = 's-' || :s ORDER BY version;
EOF
	# PG_ROWS rows: PG_ROWS/10 streams × 10 versions, data as bytea hex in COPY text format (\\x…)
	awk -v n="$streams" -v h="$hexd" 'BEGIN { for (s = 1; s <= n; s++) for (v = 1; v <= 10; v++) printf "s-%d\t%d\tFundsDeposited\t\\\\x%s\n", s, v, h }' >"$WORK/pg/events.tsv"
	say "postgres: $v at $PG_URL, table $PG_TABLE; COPY file $(du -h "$WORK/pg/events.tsv" | cut -f1) ($PG_ROWS rows); settings: $(timeout 10 psql "$PG_URL" -Atc "select string_agg(name || '=' || setting || coalesce(unit, ''), ' ') from pg_settings where name in ('fsync','synchronous_commit','wal_sync_method','shared_buffers','max_wal_size')")"
}

# ---------------------------------------------------------------- one repetition
run_redis() {
	[[ -n $REDIS_PID ]] || return 0
	local out
	timeout 20 redis-cli -p $REDIS_PORT DEL bench >/dev/null || true
	out=$(timeout 120 redis-benchmark -h 127.0.0.1 -p $REDIS_PORT -q -P 64 -c 4 -n "$REDIS_N" XADD bench '*' f "$PAY" 2>&1 | tr '\r' '\n' | grep 'requests per second' | tail -1 || true)
	rec redis.xadd_always_P64c4.rec_s "$(grep -oE '[0-9.]+ requests per second' <<<"$out" | num || true)"
	rec redis.xadd_always_P64c4.p50_us "$(grep -oE 'p50=[0-9.]+' <<<"$out" | awk -F= '{print $2 * 1000}' || true)"
	timeout 20 redis-cli -p $REDIS_PORT DEL bench >/dev/null || true
	timeout 20 redis-cli -p $REDIS_PORT BGREWRITEAOF >/dev/null || true # keep the AOF small between runs
}

natsbench() { # port args...
	local port=$1
	shift
	timeout 120 "$BIN/nats" -s "nats://127.0.0.1:$port" bench "$@" --no-progress 2>&1 | tr '\r' '\n' | grep 'stats:' | tail -1 || true
}
nats_us() { grep -oE "$1: [0-9,.]+us" | sed 's/^[^:]*: //' | num || true; }

run_nats() {
	[[ -n $NATS_D_PID ]] || return 0
	local out
	out=$(natsbench $NATS_DEFAULT_PORT js pub async bench.s --create --purge --storage file --size 256 --msgs "$NATS_MSGS")
	rec nats.default_async_pub.rec_s "$(grep -oE 'stats: [0-9,]+ msgs/sec' <<<"$out" | num || true)"
	out=$(natsbench $NATS_DEFAULT_PORT js ordered --msgs "$NATS_MSGS")
	rec nats.default_ordered_replay.rec_s "$(grep -oE 'stats: [0-9,]+ msgs/sec' <<<"$out" | num || true)"
	timeout 60 "$BIN/nats" -s "nats://127.0.0.1:$NATS_DEFAULT_PORT" stream purge benchstream -f >/dev/null 2>&1 || true
	out=$(natsbench $NATS_ALWAYS_PORT js pub async bench.s --create --purge --storage file --size 256 --msgs "$NATS_ALWAYS_MSGS")
	rec nats.always_async_pub.rec_s "$(grep -oE 'stats: [0-9,]+ msgs/sec' <<<"$out" | num || true)"
	out=$(natsbench $NATS_ALWAYS_PORT js pub sync bench.s --purge --storage file --size 256 --msgs "$NATS_SYNC_MSGS")
	rec nats.always_sync_pub.rec_s "$(grep -oE 'stats: [0-9,]+ msgs/sec' <<<"$out" | num || true)"
	rec nats.always_sync_pub.p50_us "$(nats_us P50 <<<"$out")"
	rec nats.always_sync_pub.p99_us "$(nats_us P99 <<<"$out")"
	if [[ -x $BIN/e2e-nats ]]; then
		out=$(timeout 60 "$BIN/e2e-nats" "nats://127.0.0.1:$NATS_ALWAYS_PORT" 1000 4 2>&1 | grep publish_to_consume || true)
		rec nats.always_e2e_1k.p50_us "$(grep -oE 'p50_us=[0-9.]+' <<<"$out" | cut -d= -f2 || true)"
		rec nats.always_e2e_1k.p99_us "$(grep -oE 'p99_us=[0-9.]+' <<<"$out" | cut -d= -f2 || true)"
	fi
}

pgq() { timeout "${2:-300}" psql "$PG_URL" -q -v ON_ERROR_STOP=1 -c "$1" >/dev/null 2>&1; }
pgb() { # seconds clients script -> tps
	timeout $(($1 + 60)) pgbench -n -M prepared -T "$1" -c "$2" -j 2 -f "$3" "$PG_URL" 2>&1 | grep -oE 'tps = [0-9.]+' | head -1 | num || true
}

run_pg() {
	[[ $PG_OK == 1 ]] || return 0
	local tps t0 t1 s
	pgq "TRUNCATE $PG_TABLE" && pgq CHECKPOINT || true
	tps=$(pgb 5 16 "$WORK/pg/insert1.sql")
	rec pg.insert1_c16.rec_s "$tps"
	pgq "TRUNCATE $PG_TABLE" || true
	tps=$(pgb 5 4 "$WORK/pg/insert100.sql")
	rec pg.insert100_c4.rec_s "$([[ -n $tps ]] && awk -v t="$tps" 'BEGIN { printf "%.0f", t * 100 }')"
	pgq "TRUNCATE $PG_TABLE" && pgq CHECKPOINT || true
	t0=$(now)
	if timeout 300 psql "$PG_URL" -q -v ON_ERROR_STOP=1 -c "\\copy $PG_TABLE(stream_id,version,type,data) FROM '$WORK/pg/events.tsv'" >/dev/null 2>&1; then
		t1=$(now)
		s=$(elapsed "$t0" "$t1")
		rec pg.copy_in.rec_s "$(awk -v n="$PG_ROWS" -v s="$s" 'BEGIN { printf "%.0f", n / s }')"
	else
		rec pg.copy_in.rec_s ""
	fi
	pgq "ANALYZE $PG_TABLE" || true
	rm -f "$WORK"/pg/rd_log*
	timeout 70 pgbench -n -M prepared -T 5 -c 1 -j 1 -f "$WORK/pg/read10.sql" -l --log-prefix="$WORK/pg/rd_log" "$PG_URL" >/dev/null 2>&1 || true
	if compgen -G "$WORK/pg/rd_log*" >/dev/null; then
		# column 3 of pgbench's per-transaction log is the latency in µs
		rec pg.read10_c1.p50_us "$(cat "$WORK"/pg/rd_log* | awk '{print $3}' | sort -n | awk '{a[NR] = $1} END {if (NR) print a[int((NR - 1) * 0.5) + 1]}')"
		rec pg.read10_c1.p99_us "$(cat "$WORK"/pg/rd_log* | awk '{print $3}' | sort -n | awk '{a[NR] = $1} END {if (NR) print a[int((NR - 1) * 0.99) + 1]}')"
	fi
	t0=$(now)
	if timeout 300 psql "$PG_URL" -q -c "\\copy (SELECT id, stream_id, version, type, data, created_at FROM $PG_TABLE ORDER BY id) TO '/dev/null'" >/dev/null 2>&1; then
		t1=$(now)
		s=$(elapsed "$t0" "$t1")
		rec pg.copy_out_replay.rec_s "$(awk -v n="$PG_ROWS" -v s="$s" 'BEGIN { printf "%.0f", n / s }')"
	fi
	# leave no WAL or dirty pages to be written during the next benchmark
	pgq "TRUNCATE $PG_TABLE" && pgq CHECKPOINT || true
}

SHOAL_TEST=""
setup_shoal() {
	[[ $SKIP_SHOAL == 1 ]] && { skip "file engine" "SKIP_SHOAL=1"; return; }
	say "building the file engine benchmark: go test -c ./shardlog/file"
	if ! (cd "$ROOT" && timeout 600 go test -c -o "$WORK/file.test" ./shardlog/file) >"$WORK/build-shoal.log" 2>&1; then
		tail -20 "$WORK/build-shoal.log"
		skip "file engine" "go test -c ./shardlog/file failed"
		return
	fi
	SHOAL_TEST=$WORK/file.test
}

run_shoal() {
	[[ -n $SHOAL_TEST ]] || return 0
	local out=$WORK/shoal-$RUN.txt
	say "   \$ go test -run '^\$' -bench '$SHOAL_BENCH' -benchtime $BENCHTIME ./shardlog/file"
	(cd "$ROOT/shardlog/file" && timeout 1800 "$SHOAL_TEST" -test.run '^$' -test.bench "$SHOAL_BENCH" -test.benchtime "$BENCHTIME" -test.count 1 -test.timeout 25m) >"$out" 2>&1 || say "   !! go test exited with an error (figures below are those it printed)"
	sed 's/^/   | /' "$out"
	# BenchmarkFile/<name>-<procs>  N  <v> ns/op  <v> <unit> ...  ->  file.<name>.<unit>
	awk -v run="$RUN" '
		$1 ~ /^BenchmarkFile\// {
			name = $1; sub(/^BenchmarkFile\//, "", name); sub(/-[0-9]+$/, "", name)
			for (i = 3; i + 1 <= NF; i += 2) printf "%s\tfile.%s.%s\t%s\n", run, name, $(i + 1), $i
		}' "$out" >>"$RES"
}

setup_redis
setup_nats
setup_pg
setup_shoal
say ""

for RUN in $(seq "$R"); do
	say "=== repetition $RUN/$R $(date +%T)"
	run_redis
	run_nats
	run_pg
	sync
	run_shoal
done
say ""

# ---------------------------------------------------------------- report
# Figures: label | metric | target or note
FIGURES='
Redis XADD appendfsync always, P64 c4 (rec/s)|redis.xadd_always_P64c4.rec_s|
Redis same, p50 per pipelined request (µs)|redis.xadd_always_P64c4.p50_us|
NATS JS default store, async publish (msg/s)|nats.default_async_pub.rec_s|
NATS JS default, ordered consumer replay (msg/s)|nats.default_ordered_replay.rec_s|
NATS JS sync_interval always, async publish (msg/s)|nats.always_async_pub.rec_s|
NATS JS always, sync publish (msg/s)|nats.always_sync_pub.rec_s|
NATS JS always, sync publish ack p50 (µs)|nats.always_sync_pub.p50_us|
NATS JS always, sync publish ack p99 (µs)|nats.always_sync_pub.p99_us|
NATS JS always, publish→consume p50 at 1k/s (µs)|nats.always_e2e_1k.p50_us|
NATS JS always, publish→consume p99 at 1k/s (µs)|nats.always_e2e_1k.p99_us|
PostgreSQL single-row INSERT, 16 clients (rows/s)|pg.insert1_c16.rec_s|
PostgreSQL 100-row INSERT, 4 clients (rows/s)|pg.insert100_c4.rec_s|
PostgreSQL COPY in (rows/s)|pg.copy_in.rec_s|
PostgreSQL read 10 rows by index, p50 (µs)|pg.read10_c1.p50_us|
PostgreSQL read 10 rows by index, p99 (µs)|pg.read10_c1.p99_us|
PostgreSQL COPY out in id order (rows/s)|pg.copy_out_replay.rec_s|
Raw group-commit floor, 500×256 B + fdatasync (rec/s)|file.GroupCommitFloor500.records/s|
Raw floor, commit p50 (µs)|file.GroupCommitFloor500.commit-p50-µs|
File SyncAlways, concurrent PutRecord (rec/s)|file.DurablePutRecordConcurrent.records/s|
File SyncAlways, concurrent PutRecord ack p50 (µs)|file.DurablePutRecordConcurrent.p50-µs|≤ 1000
File SyncAlways, concurrent PutRecord ack p99 (µs)|file.DurablePutRecordConcurrent.p99-µs|≤ 3000
File SyncAlways, PutRecords×500, 4 putters (rec/s)|file.DurablePutRecords500.records/s|≥ 500000
File SyncInterval(1s), PutRecords×500 (rec/s)|file.IntervalPutRecords500.records/s|≥ 1000000
File replay, GetRecords all shards (rec/s)|file.Replay.records/s|≥ 1000000
File replay, records preloaded|file.Replay.records|
File clean reopen before replay (ms)|file.Replay.clean-reopen-ms|
File ReadKey 10 records, p50 (µs)|file.ReadKey10.p50-µs|≤ 20
File ReadKey 10 records, p99 (µs)|file.ReadKey10.p99-µs|
File ReadKey, records preloaded|file.ReadKey10.records|
File ReadKey, process RSS after preload (MiB)|file.ReadKey10.rss-MiB|
File ReadKey, Go heap in use after preload (MiB)|file.ReadKey10.heap-MiB|
File put→subscriber p50 at 1k/s (µs)|file.PushLatency/1k.p50-µs|≤ 650
File put→subscriber p99 at 1k/s (µs)|file.PushLatency/1k.p99-µs|≤ 3000
File put→subscriber p50 at 10k/s (µs)|file.PushLatency/10k.p50-µs|≤ 650
File put→subscriber p99 at 10k/s (µs)|file.PushLatency/10k.p99-µs|≤ 3000
File put ack p50 at 10k/s (µs)|file.PushLatency/10k.ack-p50-µs|
'
# Ratios, within each repetition: label | numerator | denominator | target
RATIOS='
concurrent PutRecord ÷ Redis XADD always|file.DurablePutRecordConcurrent.records/s|redis.xadd_always_P64c4.rec_s|≥ 2
concurrent PutRecord ÷ NATS JS always async|file.DurablePutRecordConcurrent.records/s|nats.always_async_pub.rec_s|
concurrent PutRecord ÷ PG single-row INSERT c16|file.DurablePutRecordConcurrent.records/s|pg.insert1_c16.rec_s|
PutRecords×500 durable ÷ PG COPY in|file.DurablePutRecords500.records/s|pg.copy_in.rec_s|≥ 5
PutRecords×500 durable ÷ PG 100-row INSERT|file.DurablePutRecords500.records/s|pg.insert100_c4.rec_s|
PutRecords×500 durable ÷ raw floor (batch 500)|file.DurablePutRecords500.records/s|file.GroupCommitFloor500.records/s|≥ 0.5
PutRecords×500 interval ÷ NATS JS default async|file.IntervalPutRecords500.records/s|nats.default_async_pub.rec_s|
replay ÷ NATS JS ordered consumer|file.Replay.records/s|nats.default_ordered_replay.rec_s|≥ 8
replay ÷ PG COPY out|file.Replay.records/s|pg.copy_out_replay.rec_s|
ReadKey p50: PG ÷ file (speed-up)|pg.read10_c1.p50_us|file.ReadKey10.p50-µs|
put→subscriber p50 at 1k/s ÷ NATS JS always p50|file.PushLatency/1k.p50-µs|nats.always_e2e_1k.p50_us|≤ 1
put→subscriber p99 at 1k/s ÷ NATS JS always p99|file.PushLatency/1k.p99-µs|nats.always_e2e_1k.p99_us|
'

AWK_FMT="$(cat "$ROOT/bench/fmt.awk")"'
'

say "=== summary: median [min–max] over $R repetition(s), $(date -Is)"
say "machine: $(nproc) vCPU $(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo), $(awk '/^MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
say ""
printf '%s' "$FIGURES" | awk -F'|' -v res="$RES" "$AWK_FMT"'
	BEGIN {
		while ((getline line < res) > 0) { split(line, p, "\t"); k = p[2]; cnt[k]++; v[k, cnt[k]] = p[3] }
		printf "%-54s %-34s %s\n", "figure", "median [min–max]", "target"
	}
	NF >= 2 {
		if (!(($2) in cnt)) { printf "%-54s %-34s %s\n", $1, "not measured", $3; next }
		n = cnt[$2]; delete vals; for (i = 1; i <= n; i++) vals[i] = v[$2, i] + 0
		printf "%-54s %-34s %s\n", $1, summary(vals, n), $3
	}'
say ""
printf '%s' "$RATIOS" | awk -F'|' -v res="$RES" "$AWK_FMT"'
	BEGIN {
		while ((getline line < res) > 0) { split(line, p, "\t"); val[p[1], p[2]] = p[3]; runs[p[1]] = 1 }
		printf "%-54s %-34s %s\n", "ratio (within each repetition)", "median [min–max]", "target"
	}
	NF >= 3 {
		n = 0; delete vals
		for (r in runs) if (((r, $2) in val) && ((r, $3) in val) && val[r, $3] + 0 != 0) vals[++n] = val[r, $2] / val[r, $3]
		if (n == 0) { printf "%-54s %-34s %s\n", $1, "not measured", $4; next }
		printf "%-54s %-34s %s\n", $1, summary(vals, n) "×", $4
	}'
if ((${#SKIPPED[@]})); then
	say ""
	for s in "${SKIPPED[@]}"; do say "skipped: $s"; done
fi
