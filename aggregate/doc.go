// Package aggregate is a generic repository over a user's aggregate type,
// built on package eventstore.
//
// The user writes plain Go: a state struct that embeds Base, command
// methods that check the state and Record events, and one Apply function
// per event type, gathered in a Type:
//
//	type Order struct {
//		aggregate.Base
//		Shipped bool
//	}
//
//	func (o *Order) Ship() error {
//		if o.Shipped {
//			return ErrShipped
//		}
//		o.Record(OrderShipped{})
//		return nil
//	}
//
//	var Orders = aggregate.Define[Order]("order",
//		aggregate.Apply(func(o *Order, e OrderShipped) { o.Shipped = true }),
//	)
//
// A Repository loads an aggregate (its latest snapshot plus the events
// after it), saves what a command recorded with the loaded version as the
// expected version, and Update retries a command when another writer got
// there first. Snapshot policies (WithSnapshotEvery, WithSnapshotWhen) store the
// state now and then so that long-lived aggregates load fast. LoadAsOf
// rebuilds an aggregate as it was at a version or a time, read-only. Package
// aggregatetest tests aggregates in the given/when/then style.
package aggregate
