package postgres_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"testing"

	"github.com/shoal-dev/shoal/internal/pgtest"
	"github.com/shoal-dev/shoal/shardlog"
	"github.com/shoal-dev/shoal/shardlog/postgres"
)

// Two Logs, as two services would open them, share one log in a
// PostgreSQL schema: what the command side appends with an expected
// version, the read side reads by key.
//
// It needs a server (SHOAL_TEST_POSTGRES), so it is compiled, and run by
// TestExample, rather than run with checked output.
func Example() {
	ctx := context.Background()
	url := os.Getenv(pgtest.Env)

	commands, err := postgres.Open(ctx, url, postgres.Options{Schema: "shoal_example"})
	if err != nil {
		fmt.Println(err)
		return
	}
	cmdLog, err := shardlog.Open(ctx, commands)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer cmdLog.Close()
	if err := cmdLog.CreateStream(ctx, shardlog.CreateStreamInput{StreamName: "orders", ShardCount: 2}); err != nil {
		fmt.Println(err)
		return
	}
	// The key has no records yet: expect the zero sequence number.
	out, err := cmdLog.AppendKey(ctx, shardlog.AppendKeyInput{
		StreamName: "orders", PartitionKey: "order-1",
		Data: [][]byte{[]byte("created"), []byte("paid")},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	// Expecting it again fails: another writer got there first.
	_, err = cmdLog.AppendKey(ctx, shardlog.AppendKeyInput{
		StreamName: "orders", PartitionKey: "order-1", Data: [][]byte{[]byte("created")},
	})
	fmt.Println("second create:", err != nil)

	// The read side, in another process, opens the same schema.
	reads, err := postgres.Open(ctx, url, postgres.Options{Schema: "shoal_example"})
	if err != nil {
		fmt.Println(err)
		return
	}
	readLog, err := shardlog.Open(ctx, reads)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer readLog.Close()
	for r, err := range readLog.ReadKey(ctx, shardlog.ReadKeyInput{StreamName: "orders", PartitionKey: "order-1"}) {
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(string(r.Data), r.SequenceNumber.Compare(out.Last) <= 0)
	}
	// Output (with a server):
	// second create: true
	// created true
	// paid true
}

func TestExample(t *testing.T) {
	pool := pgtest.Pool(t)
	drop := func() {
		if _, err := pool.Exec(context.Background(), "DROP SCHEMA IF EXISTS shoal_example CASCADE"); err != nil {
			t.Errorf("drop schema: %v", err)
		}
	}
	drop()
	t.Cleanup(drop)

	// Run the example with its standard output captured, and check it.
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout := os.Stdout
	os.Stdout = w
	done := make(chan []byte)
	go func() {
		b, _ := io.ReadAll(r)
		done <- b
	}()
	Example()
	os.Stdout = stdout
	_ = w.Close()
	got := string(<-done)
	want := "second create: true\ncreated true\npaid true\n"
	if got != want {
		t.Fatalf("Example printed\n%s\nwant\n%s", got, want)
	}
}
