package filesnapshot_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/shoal-dev/shoal/eventstore"
	"github.com/shoal-dev/shoal/eventstore/filesnapshot"
)

func Example() {
	dir, err := os.MkdirTemp("", "snapshots")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)

	store, err := filesnapshot.Open(dir)
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, v := range []uint64{3, 2} {
		// Version 2 arrives late: a no-op, since version 3 is stored.
		err := store.SaveSnapshot(ctx, eventstore.Snapshot{
			StreamID:      "order-1",
			Version:       v,
			Type:          "order",
			SchemaVersion: 1,
			Data:          fmt.Appendf(nil, `{"lines":%d}`, v),
			TakenAt:       at,
		})
		if err != nil {
			panic(err)
		}
	}

	snap, ok, err := store.LoadSnapshot(ctx, "order-1")
	if err != nil {
		panic(err)
	}
	fmt.Println(ok, snap.Version, snap.Type, string(snap.Data), snap.TakenAt)

	_, ok, err = store.LoadSnapshot(ctx, "order-2")
	fmt.Println(ok, err)
	// Output:
	// true 3 order {"lines":3} 2026-01-02 03:04:05 +0000 UTC
	// false <nil>
}
