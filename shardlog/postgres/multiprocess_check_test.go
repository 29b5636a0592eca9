package postgres_test

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/shardlog"
)

// mpOp is one operation a child sent, and its outcome as far as the
// child printed it.
type mpOp struct {
	w    string
	n    int
	kind byte // p, b, c, s or m
	// acked: seqs holds the acknowledged sequence number of each record
	// (p: one; b: one per entry; c: first to last). refused: a conflict
	// refused it (c), actual is the number it reported.
	acked, refused bool
	seqs           []shardlog.SequenceNumber
	actual         shardlog.SequenceNumber
}

func (op *mpOp) String() string { return fmt.Sprintf("%c %s#%d", op.kind, op.w, op.n) }

func mpOpKey(w string, n int) string { return w + "#" + strconv.Itoa(n) }

// mpHistory is what the children printed, all generations together.
type mpHistory struct {
	ops map[string]*mpOp

	acks      map[byte]int // acknowledged records by kind
	conflicts int
	splits    int
	merges    int
	cutOps    int // operations in flight at a kill
	cutKills  int // kills that cut at least one operation
}

// add takes the complete output of one child, which ended, and returns
// the operations it sent without printing their outcome: those the kill
// cut.
func (h *mpHistory) add(lines []string) ([]*mpOp, error) {
	if h.ops == nil {
		h.ops, h.acks = map[string]*mpOp{}, map[byte]int{}
	}
	var sent []*mpOp
	for _, line := range lines {
		if line == mpReady {
			continue
		}
		f := strings.Fields(line)
		bad := func(why string, args ...any) error {
			return fmt.Errorf("line %q: %s", line, fmt.Sprintf(why, args...))
		}
		if len(f) < 3 {
			return nil, bad("not a line of the child")
		}
		if f[0] == "MS" {
			n, err := strconv.Atoi(f[2])
			if err != nil || len(f) != 4 || len(f[3]) != 1 || !strings.Contains("pbcsm", f[3]) {
				return nil, bad("malformed")
			}
			k := mpOpKey(f[1], n)
			if h.ops[k] != nil {
				return nil, bad("operation sent twice")
			}
			op := &mpOp{w: f[1], n: n, kind: f[3][0]}
			h.ops[k] = op
			sent = append(sent, op)
			continue
		}
		if (f[0] != "MA" && f[0] != "MR") || len(f[1]) != 1 || len(f) < 4 {
			return nil, bad("not a line of the child")
		}
		n, err := strconv.Atoi(f[3])
		if err != nil {
			return nil, bad("malformed")
		}
		op := h.ops[mpOpKey(f[2], n)]
		switch {
		case op == nil:
			return nil, bad("outcome of an operation never sent")
		case op.acked || op.refused:
			return nil, bad("second outcome")
		case op.kind != f[1][0]:
			return nil, bad("outcome of kind %c for an operation of kind %c", f[1][0], op.kind)
		}
		seqs := make([]shardlog.SequenceNumber, len(f)-4)
		for i, s := range f[4:] {
			if seqs[i], err = shardlog.ParseSequenceNumber("", s); err != nil {
				return nil, bad("%v", err)
			}
		}
		switch {
		case f[0] == "MR" && op.kind == 'c' && len(seqs) == 1:
			op.refused, op.actual = true, seqs[0]
			h.conflicts++
		case f[0] == "MR":
			return nil, bad("malformed")
		case op.kind == 'p' && len(seqs) == 1, op.kind == 'b' && len(seqs) >= 1:
			op.acked, op.seqs = true, seqs
		case op.kind == 'c' && len(seqs) == 2:
			first, last := seqs[0], seqs[1]
			if first.ShardIndex() != last.ShardIndex() || last.Position() < first.Position() || last.Position()-first.Position() >= mpMaxCond {
				return nil, bad("not a batch of 1-%d records", mpMaxCond)
			}
			op.acked = true
			for p := first.Position(); p <= last.Position(); p++ {
				op.seqs = append(op.seqs, shardlog.MakeSequenceNumber(p, first.ShardIndex()))
			}
		case op.kind == 's' && len(seqs) == 0:
			op.acked = true
			h.splits++
		case op.kind == 'm' && len(seqs) == 0:
			op.acked = true
			h.merges++
		default:
			return nil, bad("malformed")
		}
		h.acks[op.kind] += len(op.seqs)
	}
	var cut []*mpOp
	for _, op := range sent {
		if !op.acked && !op.refused {
			cut = append(cut, op)
		}
	}
	return cut, nil
}

func (h *mpHistory) summary() string {
	return fmt.Sprintf("%d operations sent; records acknowledged: %d PutRecord, %d PutRecords, %d AppendKey; %d conflicts; %d splits, %d merges; %d operations cut by kills",
		len(h.ops), h.acks['p'], h.acks['b'], h.acks['c'], h.conflicts, h.splits, h.merges, h.cutOps)
}

// mpRec is a record found in the log, with what its data says.
type mpRec struct {
	r        shardlog.Record
	shard    string // the shard the scan found it in
	w        string
	kind     byte
	key      string
	n, i     int
	cnt      int
	expected string
}

func (r *mpRec) String() string {
	return fmt.Sprintf("%s at %s", r.r.Data, r.r.SequenceNumber)
}

func mpParse(r shardlog.Record) (*mpRec, error) {
	f := strings.Split(string(r.Data), "|")
	if len(f) != 8 || f[0] != "mp" || len(f[2]) != 1 {
		return nil, fmt.Errorf("record %s: data %q was not written by a child", r.SequenceNumber, r.Data)
	}
	var nums [3]int
	for j, s := range f[4:7] {
		v, err := strconv.Atoi(s)
		if err != nil {
			return nil, fmt.Errorf("record %s: data %q was not written by a child", r.SequenceNumber, r.Data)
		}
		nums[j] = v
	}
	rec := &mpRec{r: r, w: f[1], kind: f[2][0], key: f[3], n: nums[0], i: nums[1], cnt: nums[2], expected: f[7]}
	if rec.key != r.PartitionKey || rec.i < 0 || rec.i >= rec.cnt {
		return nil, fmt.Errorf("record %s: data %q under partition key %q", r.SequenceNumber, r.Data, r.PartitionKey)
	}
	return rec, nil
}

// mpErrors collects the check's findings and reports the first few.
type mpErrors struct {
	t testing.TB
	n int
}

func (e *mpErrors) add(format string, args ...any) {
	e.t.Helper()
	e.n++
	if e.n <= 30 {
		e.t.Errorf(format, args...)
	} else if e.n == 31 {
		e.t.Error("more problems follow; only the first 30 are shown")
	}
}

// mpScan reads every shard of the stream from TRIM_HORIZON with
// GetRecords.
func mpScan(ctx context.Context, l *shardlog.Log) ([]*mpRec, int, error) {
	var recs []*mpRec
	shards := 0
	for s, err := range l.ListShardsAll(ctx, shardlog.ListShardsInput{StreamName: mpStream}) {
		if err != nil {
			return nil, 0, err
		}
		shards++
		it, err := l.GetShardIterator(ctx, shardlog.GetShardIteratorInput{StreamName: mpStream, ShardID: s.ShardID, ShardIteratorType: shardlog.TrimHorizon})
		if err != nil {
			return nil, 0, err
		}
		iter := it.ShardIterator
		for empty := 0; ; {
			out, err := l.GetRecords(ctx, shardlog.GetRecordsInput{ShardIterator: iter})
			if err != nil {
				return nil, 0, fmt.Errorf("GetRecords %s: %w", s.ShardID, err)
			}
			for _, r := range out.Records {
				rec, err := mpParse(r)
				if err != nil {
					return nil, 0, fmt.Errorf("shard %s: %w", s.ShardID, err)
				}
				rec.shard = s.ShardID
				recs = append(recs, rec)
			}
			if out.NextShardIterator == "" {
				break // the end of a closed shard
			}
			if len(out.Records) == 0 {
				// Nothing writes any more: an open shard read to its end
				// (an empty page twice in a row, to be sure).
				if empty++; empty == 2 {
					break
				}
			} else {
				empty = 0
			}
			iter = out.NextShardIterator
		}
	}
	return recs, shards, nil
}

// mpReadKey reads the key's records with ReadKey.
func mpReadKey(ctx context.Context, l *shardlog.Log, key string) ([]shardlog.Record, error) {
	var recs []shardlog.Record
	for r, err := range l.ReadKey(ctx, shardlog.ReadKeyInput{StreamName: mpStream, PartitionKey: key}) {
		if err != nil {
			return nil, err
		}
		recs = append(recs, r)
	}
	return recs, nil
}

// mpCheck checks the log against the history (see TestMultiProcessKill)
// and returns the sequence numbers ReadKey yields for each key.
func mpCheck(t *testing.T, ctx context.Context, l *shardlog.Log, h *mpHistory) map[string][]shardlog.SequenceNumber {
	t.Helper()
	errs := &mpErrors{t: t}
	recs, shards, err := mpScan(ctx, l)
	if err != nil {
		t.Fatalf("scan: %v", err)
	}
	t.Logf("scan: %d records in %d shards", len(recs), shards)

	// Exactly once, in the right shard, sent by a writer.
	byOp := map[string][]*mpRec{}
	bySeq := map[shardlog.SequenceNumber]*mpRec{}
	byID := map[string]*mpRec{}
	for _, rec := range recs {
		if rec.r.SequenceNumber.ShardID() != rec.shard {
			errs.add("record %s found in shard %s", rec, rec.shard)
		}
		if prev := bySeq[rec.r.SequenceNumber]; prev != nil {
			errs.add("sequence number %s read twice: %s and %s", rec.r.SequenceNumber, prev, rec)
		}
		bySeq[rec.r.SequenceNumber] = rec
		id := mpOpKey(rec.w, rec.n) + "." + strconv.Itoa(rec.i)
		if prev := byID[id]; prev != nil {
			errs.add("record in the log twice: %s and %s", prev, rec)
			continue
		}
		byID[id] = rec
		op := h.ops[mpOpKey(rec.w, rec.n)]
		switch {
		case op == nil:
			errs.add("record %s: no child sent it", rec)
			continue
		case op.kind != rec.kind:
			errs.add("record %s: the child sent operation %s", rec, op)
			continue
		}
		byOp[mpOpKey(rec.w, rec.n)] = append(byOp[mpOpKey(rec.w, rec.n)], rec)
	}

	// Acknowledged: there, where the acknowledgement said. Refused: not
	// there. Cut by a kill: there or not, an AppendKey batch whole.
	committedCut := 0
	for k, op := range h.ops {
		if op.kind == 's' || op.kind == 'm' {
			continue
		}
		found := byOp[k]
		slices.SortFunc(found, func(a, b *mpRec) int { return a.i - b.i })
		switch {
		case op.acked:
			if len(found) != len(op.seqs) {
				errs.add("acknowledged %s with %d records: %d in the log", op, len(op.seqs), len(found))
			}
			for i, seq := range op.seqs {
				rec := bySeq[seq]
				switch {
				case rec == nil:
					errs.add("acknowledged %s: record %d missing at %s", op, i, seq)
				case mpOpKey(rec.w, rec.n) != k || rec.i != i || rec.cnt != len(op.seqs):
					errs.add("acknowledged %s: record %d at %s, where %s is", op, i, seq, rec)
				}
			}
		case op.refused:
			for _, rec := range found {
				errs.add("%s was refused (conflict, actual %s), yet its record %s is in the log", op, op.actual, rec)
			}
		case len(found) > 0:
			committedCut++
			if op.kind == 'c' {
				whole := len(found) == found[0].cnt
				for i, rec := range found {
					whole = whole && rec.i == i && rec.r.SequenceNumber.ShardIndex() == found[0].r.SequenceNumber.ShardIndex() &&
						rec.r.SequenceNumber.Position() == found[0].r.SequenceNumber.Position()+uint64(i)
				}
				if !whole {
					errs.add("%s, cut by a kill, is in the log in part: %v", op, found)
				}
			}
		}
	}
	t.Logf("%d operations cut by kills had committed (allowed; each found once)", committedCut)

	// By key: ReadKey yields what the scan found, in order; each writer's
	// records in the order it wrote them; each conditional key a chain.
	byKey := map[string][]shardlog.SequenceNumber{}
	scanned := map[string]int{}
	for _, rec := range recs {
		scanned[rec.key]++
	}
	for _, key := range slices.Concat(mpPutKeys, mpCondKeys) {
		got, err := mpReadKey(ctx, l, key)
		if err != nil {
			t.Fatalf("ReadKey %s: %v", key, err)
		}
		if len(got) != scanned[key] {
			errs.add("ReadKey %s: %d records; the scan found %d", key, len(got), scanned[key])
		}
		cond := slices.Contains(mpCondKeys, key)
		type pos struct{ n, i int }
		last := map[string]pos{}
		var prev *mpRec
		expect := shardlog.SequenceNumber{} // the chain's next expected number
		for j, r := range got {
			byKey[key] = append(byKey[key], r.SequenceNumber)
			rec := bySeq[r.SequenceNumber]
			if rec == nil || string(rec.r.Data) != string(r.Data) {
				errs.add("ReadKey %s: record %d, %q at %s, is not the scan's", key, j, r.Data, r.SequenceNumber)
				continue
			}
			if rec.key != key {
				errs.add("ReadKey %s: record %s is of another key", key, rec)
			}
			if prev != nil && r.SequenceNumber.Compare(prev.r.SequenceNumber) <= 0 {
				errs.add("ReadKey %s: %s after %s", key, rec, prev)
			}
			if p, ok := last[rec.w]; ok && (rec.n < p.n || rec.n == p.n && rec.i <= p.i) {
				errs.add("ReadKey %s: writer %s's order broken: %s after its operation %d record %d", key, rec.w, rec, p.n, p.i)
			}
			last[rec.w] = pos{rec.n, rec.i}
			if cond {
				switch {
				case rec.kind != 'c':
					errs.add("ReadKey %s: %s was not appended by AppendKey", key, rec)
				case rec.i == 0 && rec.expected != expect.String():
					errs.add("ReadKey %s: %s expected %s, but the record before it is at %s: a conditional append took a stale view", key, rec, rec.expected, expect)
				case rec.i > 0 && (prev == nil || prev.w != rec.w || prev.n != rec.n || prev.i != rec.i-1 || r.SequenceNumber != prev.r.SequenceNumber.Next()):
					errs.add("ReadKey %s: %s does not follow the record before it in its batch (%v)", key, rec, prev)
				}
				expect = r.SequenceNumber
			}
			prev = rec
		}
	}
	if errs.n > 0 {
		t.Errorf("%d problems", errs.n)
	}
	return byKey
}

// mpCheckWatcher checks that the Log kept open during the run, which
// learnt of every reshard from other processes, reads each key as a fresh
// Log does. The change feed pushes changes within a second; the check
// allows five, for a loaded machine.
func mpCheckWatcher(t *testing.T, ctx context.Context, l *shardlog.Log, byKey map[string][]shardlog.SequenceNumber) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for _, key := range slices.Concat(mpPutKeys, mpCondKeys) {
		for {
			got, err := mpReadKey(ctx, l, key)
			if err != nil {
				t.Fatalf("watcher: ReadKey %s: %v", key, err)
			}
			seqs := make([]shardlog.SequenceNumber, len(got))
			for i, r := range got {
				seqs[i] = r.SequenceNumber
			}
			if slices.Equal(seqs, byKey[key]) {
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("watcher: ReadKey %s: %d records; a fresh Log reads %d", key, len(got), len(byKey[key]))
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}
