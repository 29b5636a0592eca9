#!/usr/bin/env bash
# postgres.sh: the PostgreSQL engine's benchmarks of docs/performance.md ("PostgreSQL engine"), each
# Shoal figure next to the plain-SQL peer measured in the same run (shardlog/postgres/bench*_test.go).
#
# Each of R repetitions (default 3) runs, back to back (each benchmark in a fresh schema):
#   0. pgbench, 16 clients, 5 s each, on a scratch table: a one-row INSERT per transaction, then
#        the same with pg_notify in the transaction (PostgreSQL serializes the commits of
#        transactions that NOTIFY, under one database-wide lock: the probe measures that ceiling)
#   1. BenchmarkPutRecordConcurrent  -benchtime ${PUT_ROUNDS}x: rounds of 1,024 durable PutRecord
#        calls from 64 producers through a Log, and 1,024 INSERTs of events (UNIQUE (stream,
#        version)) from 64 producers, alternating
#   2. BenchmarkPutRecords500        -benchtime ${BATCHES}x: PutRecords×500 through a Log and a raw
#        pgx CopyFrom of the same 500 rows into a plain table, alternating
#   3. BenchmarkSubscriberLatency: put → subscriber in a child process, against INSERT + pg_notify →
#        LISTEN and SELECT; the sides alternate every quarter second. Twice: at 200 puts/s
#        (-benchtime ${LAT_PUTS_LOW}x) and at 1,000 puts/s (-benchtime ${LAT_PUTS}x), reported as
#        SubscriberLatency@200 and @1000
#   4. BenchmarkLargeLog             -benchtime ${READS}x, in the first R_LARGE repetitions only:
#        SHOAL_BENCH_RECORDS rows over SHOAL_BENCH_SPANS hours loaded into a Log (partitioned by the
#        engine's PartitionSpan, default one day) and into a plain indexed table; ReadKey of 10
#        records against the bare indexed SELECT, alternating; then EnforceRetention of the older
#        half against DELETE of the same rows
# Then it prints every figure as median [min-max] over the repetitions; the ratios are computed
# within each run of a benchmark (both sides interleaved), and their median is shown.
#
# Usage: bash bench/postgres.sh > bench/results-postgres-DATE.txt
#        SHOAL_BENCH_RECORDS=10M R=1 ONLY_LARGE=1 bash bench/postgres.sh   (the documented 10 M-row run)
#        SUMMARY=bench/results-postgres-DATE.txt bash bench/postgres.sh   (the summary of a past run)
# Environment: R=3, R_LARGE=$R, ONLY_LARGE=1 (run BenchmarkLargeLog only), PUT_ROUNDS=10, BATCHES=200, LAT_PUTS_LOW=2000, LAT_PUTS=6000, READS=4000,
#   SHOAL_BENCH_RECORDS=100k (rows of BenchmarkLargeLog), SHOAL_BENCH_SPANS=24 (hours they span),
#   SHOAL_BENCH_PARTITION (the engine's PartitionSpan in BenchmarkLargeLog, e.g. 1h; default the engine's, 24h),
#   SHOAL_TEST_POSTGRES (default postgres://postgres@127.0.0.1:5432/test?sslmode=disable)
set -euo pipefail
cd "$(dirname "$0")/.."
# summary FILE: every figure of FILE's "repN Benchmark..." lines as median [min-max] over the
# repetitions, with the issue's target where it sets one.
summary() {
  awk '
  { rep = $1; name = $2; sub(/-[0-9]+$/, "", name); sub(/^Benchmark/, "", name)
    for (i = 4; i < NF; i += 2) { k = name " " $(i + 1); v[k][rep] = $i } }
  END {
    t["PutRecords500 shoal/copy"] = "target >= 0.7"
    t["LargeLog shoal/select"] = "target <= 1.2 (p50 ratio)"
    t["SubscriberLatency@200 shoal-p50-µs"] = "target <= 5000"
    t["SubscriberLatency@1000 shoal-p50-µs"] = "target <= 5000"
    for (k in v) {
      n = 0; delete a
      for (r in v[k]) a[++n] = v[k][r] + 0
      asort(a)
      med = (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
      met = ""
      if (k == "PutRecords500 shoal/copy") met = med >= 0.7 ? "met" : "missed"
      if (k == "LargeLog shoal/select") met = med <= 1.2 ? "met" : "missed"
      if (k ~ /^SubscriberLatency@[0-9]+ shoal-p50-µs$/) met = med <= 5000 ? "met" : "missed"
      printf "%-44s %12.6g [%.6g-%.6g] (n=%d)%s\n", k, med, a[1], a[n], n, (k in t) ? "   " t[k] ": " met : ""
    }
  }' "$1" | sort
}
if [ -n "${SUMMARY:-}" ]; then
  echo "# summary of $SUMMARY: median [min-max] over the repetitions"
  grep '^rep[0-9]* Benchmark' "$SUMMARY" > "${TMPDIR:-/tmp}/postgres-summary.$$" || true
  summary "${TMPDIR:-/tmp}/postgres-summary.$$"
  rm -f "${TMPDIR:-/tmp}/postgres-summary.$$"
  exit 0
fi
R=${R:-3}
R_LARGE=${R_LARGE:-$R}
PUT_ROUNDS=${PUT_ROUNDS:-10}
BATCHES=${BATCHES:-200}
LAT_PUTS_LOW=${LAT_PUTS_LOW:-2000}
LAT_PUTS=${LAT_PUTS:-6000}
READS=${READS:-4000}
export SHOAL_BENCH_RECORDS=${SHOAL_BENCH_RECORDS:-100k}
export SHOAL_TEST_POSTGRES=${SHOAL_TEST_POSTGRES:-postgres://postgres@127.0.0.1:5432/test?sslmode=disable}
out=$(mktemp)
bin=$(mktemp -d)

echo "# PostgreSQL engine benchmarks, git $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- . || echo '+uncommitted'), $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
echo "# $(go version); $(nproc) CPUs: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); $(awk '/^MemTotal/ {printf "%.1f GiB RAM", $2/1048576}' /proc/meminfo)"
echo "# server: $(psql "$SHOAL_TEST_POSTGRES" -Atc "SELECT version()" 2>/dev/null | cut -d' ' -f1-2); $(psql "$SHOAL_TEST_POSTGRES" -Atc "SELECT string_agg(name || '=' || current_setting(name), ', ' ORDER BY name) FROM pg_settings WHERE name IN ('synchronous_commit', 'fsync', 'wal_sync_method', 'shared_buffers', 'max_wal_size', 'checkpoint_timeout')" 2>/dev/null)"
echo "# R=$R R_LARGE=$R_LARGE ONLY_LARGE=${ONLY_LARGE:-} PUT_ROUNDS=$PUT_ROUNDS BATCHES=$BATCHES LAT_PUTS_LOW=$LAT_PUTS_LOW LAT_PUTS=$LAT_PUTS READS=$READS SHOAL_BENCH_RECORDS=$SHOAL_BENCH_RECORDS SHOAL_BENCH_SPANS=${SHOAL_BENCH_SPANS:-24} SHOAL_BENCH_PARTITION=${SHOAL_BENCH_PARTITION:-default}"
go test -c -o "$bin/postgres.test" ./shardlog/postgres
run() { # repetition benchtime regexp [name suffix]
  (cd shardlog/postgres && "$bin/postgres.test" -test.run '^$' -test.bench "$3" -test.benchtime "$2" -test.timeout 3h) | grep '^Benchmark' |
    sed -E "s/^(Benchmark[A-Za-z0-9]+)/\1${4:-}/; s/^/rep$1 /" | tee -a "$out"
}
probe_table=shoal_bench_notify_probe_$$
trap 'rm -rf "$out" "$bin"; psql "$SHOAL_TEST_POSTGRES" -qc "DROP TABLE IF EXISTS $probe_table" >/dev/null 2>&1 || true' EXIT
# probe REPETITION: pgbench tx/s of a one-row INSERT, and of the same with pg_notify, 16 clients.
probe() {
  local a b
  psql "$SHOAL_TEST_POSTGRES" -qc "SET client_min_messages = warning; CREATE TABLE IF NOT EXISTS $probe_table (x int); TRUNCATE $probe_table" >/dev/null
  echo "INSERT INTO $probe_table VALUES (1);" > "$bin/insert.sql"
  printf 'BEGIN;\nINSERT INTO %s VALUES (1);\nSELECT pg_notify(%s, %s);\nCOMMIT;\n' "$probe_table" "'$probe_table'" "''" > "$bin/notify.sql"
  a=$(pgbench -n -T 5 -c 16 -j 2 -f "$bin/insert.sql" "$SHOAL_TEST_POSTGRES" 2>&1 | grep -oE 'tps = [0-9.]+' | head -1 | cut -d' ' -f3)
  b=$(pgbench -n -T 5 -c 16 -j 2 -f "$bin/notify.sql" "$SHOAL_TEST_POSTGRES" 2>&1 | grep -oE 'tps = [0-9.]+' | head -1 | cut -d' ' -f3)
  if [ -n "$a" ] && [ -n "$b" ]; then
    echo "rep$1 BenchmarkPgbenchNotifyProbe 1 $a insert-tx/s $b notify-tx/s $(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.4g", b / a }') notify/insert" | tee -a "$out"
  else
    echo "# rep$1: the pgbench probe gave no figure"
  fi
}
for ((i = 1; i <= R; i++)); do
  echo "# repetition $i, $(date -u +%H:%M:%S), load average $(cut -d' ' -f1-3 /proc/loadavg)"
  if [ -z "${ONLY_LARGE:-}" ]; then
    probe "$i"
    run "$i" "${PUT_ROUNDS}x" '^BenchmarkPutRecordConcurrent$'
    run "$i" "${BATCHES}x" '^BenchmarkPutRecords500$'
    SHOAL_BENCH_RATE=200 run "$i" "${LAT_PUTS_LOW}x" '^BenchmarkSubscriberLatency$' @200
    SHOAL_BENCH_RATE=1000 run "$i" "${LAT_PUTS}x" '^BenchmarkSubscriberLatency$' @1000
  fi
  if ((i <= R_LARGE)); then
    run "$i" "${READS}x" '^BenchmarkLargeLog$'
  fi
done
echo "# end $(date -u +%H:%M:%S), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "# summary: median [min-max] over the repetitions (ratios: computed within each run, then the median)"
summary "$out"
