package shardlogtest

import "testing"

func testResharding(t *testing.T, newEngine NewEngine) { t.Skip("not written yet") }

func testListShards(t *testing.T, newEngine NewEngine) { t.Skip("not written yet") }

func testConsumers(t *testing.T, newEngine NewEngine) { t.Skip("not written yet") }

func testSubscriptions(t *testing.T, newEngine NewEngine) { t.Skip("not written yet") }
