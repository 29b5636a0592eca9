package shardlogtest

import "testing"

func testAppendKey(t *testing.T, newEngine NewEngine) { t.Skip("not written yet") }

func testReadKey(t *testing.T, newEngine NewEngine) { t.Skip("not written yet") }

func testConcurrency(t *testing.T, newEngine NewEngine) { t.Skip("not written yet") }

func testLinearizability(t *testing.T, newEngine NewEngine) { t.Skip("not written yet") }
