package firehose

import "github.com/shoal-dev/shoal/delivery"

// Runtime is what the Manager runs per delivery stream (for fakes).
type Runtime = runtime

// SetRuntime makes the Manager build runtimes with f instead of
// delivery.New.
func SetRuntime(o *ManagerOptions, f func(delivery.Config) (Runtime, error)) { o.newRuntime = f }
