package delivery

import (
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/shoal-dev/shoal/shardlog"
)

func TestConversionError(t *testing.T) {
	bad := errors.New("bad json")
	var fs []ConversionFailure
	for i := range 5 {
		fs = append(fs, ConversionFailure{Index: i * 2, SequenceNumber: shardlog.MakeSequenceNumber(uint64(i+1), 0), Err: fmt.Errorf("field %d: %w", i, bad)})
	}
	err := error(&ConversionError{Failures: fs})
	assert.ErrorIs(t, err, bad)
	assert.Contains(t, err.Error(), "5 record(s) could not be converted; record 0 (sequence number 4294967296): field 0: bad json")
	assert.Contains(t, err.Error(), "; and 2 more")
	var ce *ConversionError
	assert.True(t, errors.As(fmt.Errorf("encode: %w", err), &ce))
	assert.Len(t, ce.Failures, 5)
}
