package delivery_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shoal-dev/shoal/delivery"
	"github.com/shoal-dev/shoal/projection"
	"github.com/shoal-dev/shoal/shardlog"
)

// rtCPOnly is a CheckpointStore without leases.
type rtCPOnly struct{ projection.CheckpointStore }

func TestNewValidatesConfig(t *testing.T) {
	l := rtLog(t, 1)
	defer l.Close()
	base := func() delivery.Config { return rtConfig(l, &rtDest{}, time.Minute) }
	cases := []struct {
		name, field, reason string
		edit                func(c *delivery.Config)
	}{
		{"empty name", "Name", "1-64", func(c *delivery.Config) { c.Name = "" }},
		{"long name", "Name", "1-64", func(c *delivery.Config) { c.Name = strings.Repeat("a", 65) }},
		{"bad character", "Name", "[a-zA-Z0-9_.-]", func(c *delivery.Config) { c.Name = "a/b" }},
		{"negative version", "Version", "negative", func(c *delivery.Config) { c.Version = -1 }},
		{"size 129", "Buffering.SizeMiB", "1-128", func(c *delivery.Config) { c.Buffering.SizeMiB = 129 }},
		{"size negative", "Buffering.SizeMiB", "1-128", func(c *delivery.Config) { c.Buffering.SizeMiB = -1 }},
		{"interval 901 s", "Buffering.Interval", "0-15m0s", func(c *delivery.Config) { c.Buffering.Interval = 901 * time.Second }},
		{"interval negative", "Buffering.Interval", "0-15m0s", func(c *delivery.Config) { c.Buffering.Interval = -time.Second }},
		{"retry duration", "Retry.Duration", "24h0m0s", func(c *delivery.Config) { c.Retry.Duration = 25 * time.Hour }},
		{"min backoff", "Retry.MinBackoff", "negative", func(c *delivery.Config) { c.Retry.MinBackoff = -1 }},
		{"max below min", "Retry.MaxBackoff", "below", func(c *delivery.Config) { c.Retry.MinBackoff, c.Retry.MaxBackoff = time.Minute, time.Second }},
		{"on exhausted", "Retry.OnExhausted", "ToErrorOutput", func(c *delivery.Config) { c.Retry.OnExhausted = 7 }},
		{"transform retries", "TransformRetries", "300", func(c *delivery.Config) { c.TransformRetries = 301 }},
		{"no destination", "Destination", "required", func(c *delivery.Config) { c.Destination = nil }},
		{"no log", "Source.Log", "required", func(c *delivery.Config) { c.Source.Log = nil }},
		{"no stream", "Source.StreamName", "required", func(c *delivery.Config) { c.Source.StreamName = "" }},
		{"owner without store", "Source.Checkpoints", "SharedStore", func(c *delivery.Config) { c.Source.Owner = "a" }},
		{"owner with a store without leases", "Source.Checkpoints", "keeps no leases", func(c *delivery.Config) {
			c.Source.Owner, c.Source.Checkpoints = "a", rtCPOnly{projection.NewMemoryStore()}
		}},
		{"lease ttl", "Source.LeaseTTL", "30ms", func(c *delivery.Config) { c.Source.LeaseTTL = time.Millisecond }},
		{"shutdown timeout", "ShutdownTimeout", "negative", func(c *delivery.Config) { c.ShutdownTimeout = -1 }},
		{"relist interval", "RelistInterval", "negative", func(c *delivery.Config) { c.RelistInterval = -1 }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := base()
			tc.edit(&c)
			s, err := delivery.New(c)
			require.Error(t, err)
			assert.Nil(t, s)
			var ae *shardlog.ArgumentError
			require.ErrorAs(t, err, &ae)
			assert.Equal(t, tc.field, ae.Field)
			assert.Contains(t, ae.Reason, tc.reason)
			assert.True(t, errors.Is(err, shardlog.ErrInvalidArgument))
		})
	}
}

func TestNewAcceptsEdgesAndFillsDefaults(t *testing.T) {
	l := rtLog(t, 1)
	defer l.Close()
	for _, c := range []delivery.Config{
		func() delivery.Config {
			c := rtConfig(l, &rtDest{}, 900*time.Second)
			c.Buffering.SizeMiB = 128
			return c
		}(),
		func() delivery.Config { c := rtConfig(l, &rtDest{}, 0); c.Buffering.SizeMiB = 1; return c }(),
		func() delivery.Config { c := rtConfig(l, &rtDest{}, 0); c.Name = strings.Repeat("a", 64); return c }(),
		func() delivery.Config { c := rtConfig(l, &rtDest{}, 0); c.Name = "a-B_9.x"; return c }(),
		func() delivery.Config {
			c := rtConfig(l, &rtDest{}, 0)
			c.Source.Owner, c.Source.Checkpoints = "a", projection.NewMemoryStore()
			return c
		}(),
	} {
		_, err := delivery.New(c)
		require.NoError(t, err, c.Name)
	}

	s, err := delivery.New(delivery.Config{Name: "d", Source: delivery.Source{Log: l, StreamName: rtSource}, Destination: &rtDest{}})
	require.NoError(t, err)
	c := s.Config()
	assert.Equal(t, 5, c.Buffering.SizeMiB)
	assert.Equal(t, 300*time.Second, c.Buffering.Interval)
	assert.Equal(t, 1, c.Version)
	assert.Equal(t, 3, c.TransformRetries)
	assert.Equal(t, 24*time.Hour, c.Retry.Duration)
	assert.Equal(t, time.Second, c.Retry.MinBackoff)
	assert.Equal(t, time.Minute, c.Retry.MaxBackoff)
	assert.NotNil(t, c.Source.Checkpoints)
	assert.Equal(t, 10*time.Second, c.Source.LeaseTTL)
	assert.Equal(t, "d", s.Name())
	assert.Equal(t, delivery.Active, s.Status().State)

	// An interval of zero, given, stays zero.
	s, err = delivery.New(rtConfig(l, &rtDest{}, 0))
	require.NoError(t, err)
	assert.Equal(t, time.Duration(0), s.Config().Buffering.Interval)

	// A destination that is an ErrorOutput is the error output.
	s, err = delivery.New(delivery.Config{Name: "d", Source: delivery.Source{Log: l, StreamName: rtSource}, Destination: &rtDestWithErr{}})
	require.NoError(t, err)
	assert.NotNil(t, s.Config().ErrorOutput)
}

type rtDestWithErr struct {
	rtDest
	rtErrOut
}
