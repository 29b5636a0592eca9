// Package examples will hold runnable programs that show Shoal in use.
//
// The first, examples/orders (run with `go run ./examples/orders`), is
// planned as an order-processing service on the embedded store, with its
// read model, its archive, and a rebuild by replay. The packages it builds
// on exist: eventstore (streams of events over a shardlog stream),
// aggregate (event-sourced aggregates and their repository) and projection
// (read models fed from the store, with checkpoints) and delivery (its
// archive). examples/orders is not written yet. examples/archive (`go run
// ./examples/archive`) archives a stream to files with a delivery stream
// and reads a key back; the other runnable examples are the Example
// functions of the packages (`go doc -all
// github.com/shoal-dev/shoal/eventstore`) and `shoal demo`.
package examples
