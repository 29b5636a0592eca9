package kinesis

import (
	"context"

	"github.com/shoal-dev/shoal/shardlog"
)

type retentionInput struct {
	streamRef
	RetentionPeriodHours *int `json:"RetentionPeriodHours"`
}

func (a *api) increaseRetention(ctx context.Context, in *retentionInput) (empty, error) {
	name, hours, err := a.retention(in)
	if err != nil {
		return empty{}, err
	}
	return empty{}, a.log.IncreaseStreamRetentionPeriod(ctx, shardlog.IncreaseStreamRetentionPeriodInput{StreamName: name, RetentionPeriodHours: hours})
}

func (a *api) decreaseRetention(ctx context.Context, in *retentionInput) (empty, error) {
	name, hours, err := a.retention(in)
	if err != nil {
		return empty{}, err
	}
	return empty{}, a.log.DecreaseStreamRetentionPeriod(ctx, shardlog.DecreaseStreamRetentionPeriodInput{StreamName: name, RetentionPeriodHours: hours})
}

func (a *api) retention(in *retentionInput) (string, int, error) {
	name, err := a.name(in.streamRef)
	if err != nil {
		return "", 0, err
	}
	hours, err := required("RetentionPeriodHours", in.RetentionPeriodHours)
	return name, hours, err
}
