// Package examples will hold runnable programs that show Shoal in use.
//
// The first, examples/orders (run with `go run ./examples/orders`), is
// planned as an order-processing service on the embedded store, with its
// read model, its archive, and a rebuild by replay. It needs the
// eventstore, aggregate, projection and delivery packages, which are not
// built yet, so this directory holds only this comment for now.
package examples
