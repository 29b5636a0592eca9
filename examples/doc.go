// Package examples will hold runnable programs that show Shoal in use.
//
// The first, examples/orders (run with `go run ./examples/orders`), is
// planned as an order-processing service on the embedded store, with its
// read model, its archive, and a rebuild by replay. The packages it builds
// on exist: eventstore (streams of events over a shardlog stream),
// aggregate (event-sourced aggregates and their repository) and projection
// (read models fed from the store, with checkpoints). Its archive needs
// delivery, which is not built yet, and examples/orders is not written
// yet, so this directory holds only this comment for now. Until then, the
// runnable examples are the Example functions of those packages
// (`go doc -all github.com/shoal-dev/shoal/eventstore`) and `shoal demo`.
package examples
