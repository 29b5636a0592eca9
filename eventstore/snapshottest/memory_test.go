package snapshottest_test

import (
	"testing"

	"github.com/shoal-dev/shoal/eventstore"
	"github.com/shoal-dev/shoal/eventstore/snapshottest"
)

func TestMemorySnapshots(t *testing.T) {
	snapshottest.Run(t, func(*testing.T) eventstore.SnapshotStore {
		return eventstore.NewMemorySnapshots()
	})
}
