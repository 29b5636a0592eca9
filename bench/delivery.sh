#!/usr/bin/env bash
# delivery.sh: the delivery benchmarks of docs/performance.md ("Delivery"), with same-run ratios.
#
# Each of R repetitions (default 5) runs, back to back:
#   1. delivery/pgarchive (needs SHOAL_TEST_POSTGRES):
#        BenchmarkDeliverVsRawCopyFrom  Archive.Deliver and a raw pgx CopyFrom of the same
#                                       5,000 × 200 B rows, alternating batch by batch
#        BenchmarkTieredVsLiveLoad      eventstore Load of 1,000 events from the PostgreSQL
#                                       archive (all past retention) and from the live log,
#                                       alternating load by load
#   2. delivery: BenchmarkObjectArchive, BenchmarkGzipAlone, BenchmarkGzipEncodedAlone
#      (5 MiB batches of ~1 KiB JSON records; the filesystem store vs gzip of the same bytes)
#   3. delivery: BenchmarkObjectVisibility (-benchtime 1x: one 10 s session at a 1 s buffer
#      interval; SHOAL_BENCH_RATE records/s, default 200)
# Then it prints every figure as median [min–max] over the repetitions, and the ratios computed
# within each repetition.
#
# Usage: bash bench/delivery.sh > bench/results-delivery-DATE.txt   (about 30 s per repetition)
#        SUMMARY=bench/results-delivery-DATE.txt bash bench/delivery.sh   (the summary of a past run)
# Environment: R=5, SHOAL_TEST_POSTGRES (default postgres://postgres@127.0.0.1:5432/test?sslmode=disable)
set -euo pipefail
cd "$(dirname "$0")/.."
# summary FILE: every figure of FILE's "repN Benchmark..." lines as median [min-max], and the
# ratios computed within each repetition.
summary() {
  awk '
  # value of the metric named unit on a benchmark line
  function metric(unit,   i) { for (i = 4; i <= NF; i++) if ($i == unit) return $(i-1); return "" }
  { rep = $1; name = $2; sub(/-[0-9]+$/, "", name) }
  name == "BenchmarkDeliverVsRawCopyFrom" { v["pg deliver rows/s"][rep] = metric("deliver-rows/s"); v["pg raw CopyFrom rows/s"][rep] = metric("raw-rows/s"); v["pg deliver/raw (rate ratio)"][rep] = metric("deliver/raw") }
  name == "BenchmarkTieredVsLiveLoad" { v["tiered load events/s"][rep] = metric("tiered-events/s"); v["live load events/s"][rep] = metric("live-events/s"); v["tiered/live (time ratio)"][rep] = metric("tiered/live") }
  name == "BenchmarkObjectArchive" { oa[rep] = metric("MB/s"); v["object archive MB/s"][rep] = oa[rep]; oc[rep] = metric("cpu-MB/s"); v["object archive cpu-MB/s"][rep] = oc[rep] }
  name == "BenchmarkGzipAlone" { ga[rep] = metric("MB/s"); v["gzip alone MB/s"][rep] = ga[rep]; gc[rep] = metric("cpu-MB/s"); v["gzip alone cpu-MB/s"][rep] = gc[rep] }
  name == "BenchmarkGzipEncodedAlone" { ge[rep] = metric("MB/s"); v["gzip of the encoded lines MB/s"][rep] = ge[rep]; ec[rep] = metric("cpu-MB/s"); v["gzip of the encoded lines cpu-MB/s"][rep] = ec[rep] }
  name == "BenchmarkObjectVisibility" { v["visible p50 s"][rep] = metric("p50-s"); v["visible p99 s"][rep] = metric("p99-s"); v["visible max s"][rep] = metric("max-s") }
  END {
    for (r in oa) { if (r in ga) v["object archive / gzip alone"][r] = oa[r] / ga[r]; if (r in ge) v["object archive / gzip of the encoded lines"][r] = oa[r] / ge[r] }
    for (r in oc) { if (r in gc) v["object archive / gzip alone, per CPU-second"][r] = oc[r] / gc[r]; if (r in ec) v["object archive / gzip of the encoded lines, per CPU-second"][r] = oc[r] / ec[r] }
    for (k in v) {
      n = 0; delete a
      for (r in v[k]) a[++n] = v[k][r] + 0
      asort(a)
      med = (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
      printf "%-58s %12.6g [%.6g-%.6g] (n=%d)\n", k, med, a[1], a[n], n
    }
  }' "$1" | sort
}
if [ -n "${SUMMARY:-}" ]; then
  echo "# summary of $SUMMARY: median [min-max] over the repetitions"
  summary "$SUMMARY"
  exit 0
fi
R=${R:-5}
export SHOAL_TEST_POSTGRES=${SHOAL_TEST_POSTGRES:-postgres://postgres@127.0.0.1:5432/test?sslmode=disable}
out=$(mktemp)
bin=$(mktemp -d)
trap 'rm -rf "$out" "$bin"' EXIT

echo "# delivery benchmarks, git $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- . || echo '+uncommitted'), $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
echo "# $(go version); $(nproc) CPUs: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
go test -c -o "$bin/delivery-pgarchive.test" ./delivery/pgarchive
go test -c -o "$bin/delivery.test" ./delivery
for ((i = 1; i <= R; i++)); do
  echo "# repetition $i, $(date -u +%H:%M:%S), load average $(cut -d' ' -f1-3 /proc/loadavg)"
  (cd delivery/pgarchive && "$bin/delivery-pgarchive.test" -test.run '^$' -test.bench '^(BenchmarkDeliverVsRawCopyFrom|BenchmarkTieredVsLiveLoad)$') | grep '^Benchmark' | sed "s/^/rep$i /" | tee -a "$out"
  (cd delivery && "$bin/delivery.test" -test.run '^$' -test.bench '^(BenchmarkObjectArchive|BenchmarkGzipAlone|BenchmarkGzipEncodedAlone)$') | grep '^Benchmark' | sed "s/^/rep$i /" | tee -a "$out"
  (cd delivery && "$bin/delivery.test" -test.run '^$' -test.bench '^BenchmarkObjectVisibility$' -test.benchtime 1x) | grep '^Benchmark' | sed "s/^/rep$i /" | tee -a "$out"
done
echo "# end $(date -u +%H:%M:%S), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "# summary: median [min-max] over $R repetitions"
summary "$out"
