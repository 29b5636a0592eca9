package shardlogtest

import "testing"

func testPutRecord(t *testing.T, newEngine NewEngine) { t.Skip("not written yet") }

func testPutRecords(t *testing.T, newEngine NewEngine) { t.Skip("not written yet") }

func testSequenceNumbers(t *testing.T, newEngine NewEngine) { t.Skip("not written yet") }

func testProvisionedLimits(t *testing.T, newEngine NewEngine) { t.Skip("not written yet") }
