package shardlogtest

import "testing"

func testIterators(t *testing.T, newEngine NewEngine) { t.Skip("not written yet") }

func testGetRecords(t *testing.T, newEngine NewEngine) { t.Skip("not written yet") }

func testCursor(t *testing.T, newEngine NewEngine) { t.Skip("not written yet") }
