package shardlogtest

import "testing"

func testStreams(t *testing.T, newEngine NewEngine) { t.Skip("not written yet") }

func testTags(t *testing.T, newEngine NewEngine) { t.Skip("not written yet") }

func testHashKeys(t *testing.T, newEngine NewEngine) { t.Skip("not written yet") }

func testRetention(t *testing.T, newEngine NewEngine) { t.Skip("not written yet") }
