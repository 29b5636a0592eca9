package kinesis

import "context"

type retentionInput struct {
	streamRef
	RetentionPeriodHours *int `json:"RetentionPeriodHours"`
}

func (a *api) increaseRetention(ctx context.Context, in *retentionInput) (empty, error) {
	name, hours, err := a.retention(in)
	if err != nil {
		return empty{}, err
	}
	return empty{}, a.log.IncreaseStreamRetentionPeriod(ctx, name, hours)
}

func (a *api) decreaseRetention(ctx context.Context, in *retentionInput) (empty, error) {
	name, hours, err := a.retention(in)
	if err != nil {
		return empty{}, err
	}
	return empty{}, a.log.DecreaseStreamRetentionPeriod(ctx, name, hours)
}

func (a *api) retention(in *retentionInput) (string, int, error) {
	name, err := a.name(in.streamRef)
	if err != nil {
		return "", 0, err
	}
	hours, err := required("RetentionPeriodHours", in.RetentionPeriodHours)
	return name, hours, err
}
