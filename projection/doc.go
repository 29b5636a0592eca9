// Package projection feeds read models from every shard of an eventstore
// stream: each shard in order on its own goroutine, a child shard only
// after all its parents are finished (so each stream's events arrive in
// version order across splits and merges), with per-(projection, shard)
// checkpoints, retries, parked (dead-letter) events, leases for several
// instances, and rebuilds by replay.
//
// # Declaring a projection
//
//	p := projection.New("order-totals")
//	projection.On(p, func(ctx context.Context, ev projection.Event[OrderPlaced]) error {
//		placed, err := ev.Data() // decoded only when asked
//		...
//	})
//	r, err := projection.NewRunner(store, projection.Options{Checkpoints: cps}, p)
//	err = r.Run(ctx)
//
// Handlers of one shard run one after another; handlers of different
// shards run concurrently, so a handler must be safe for that.
//
// # What is applied, and how often
//
// The runner reads a batch (Options.BatchSize events), applies it, and
// then writes the shard's checkpoint. What happens at a crash depends on
// where the checkpoint lives:
//
//   - With a Transactor store (pgprojection), the batch's handler writes
//     and the checkpoint commit in one PostgreSQL transaction: after a
//     crash, every event's effect is there exactly once.
//   - With any other store (MemoryStore, FileStore, redisprojection), the
//     events applied since the last checkpoint are applied again after a
//     crash: at-least-once, so handlers should be idempotent (keyed by
//     stream ID and version, say).
//
// When Run returns after ctx is cancelled, what was applied is
// checkpointed. FileStore's SaveCheckpoint is on disk (fsync'd) when it
// returns; Redis's durability is the server's appendfsync setting.
//
// # Failures
//
// A handler error (or panic) is retried with backoff (Options.Retry); after
// the last attempt the event is parked, a dead-letter record with the
// error that the store keeps beside the checkpoint, and the runner moves
// on, or with Options.StopOnPark stops with a *HandlerError and leaves the
// checkpoint before the event. An event is never skipped silently.
//
// # Several instances
//
// Set Options.Owner and use a SharedStore (pgprojection, redisprojection,
// or MemoryStore within one process). Each shard is then processed by the
// instance holding its lease. Instances heartbeat, renew their leases
// every LeaseTTL/3, and balance: each takes up to its share of the ready
// shards (shards/instances, the remainder going to the first instances
// in name order) and gives back what is over it.
// A lease changes hands only when it was released or expired, and a holder
// stops acting on its lease when its local deadline (last renewal's send
// time plus the TTL) passes: it checks before every batch, retry and,
// without a Transactor, handler call. So two live instances process one
// shard at once only if a single handler call outlasts the lease (a pause
// longer than the TTL). A checkpoint write carries the lease's token and is
// refused with ErrLeaseLost once the token is stale: an instance that
// paused past its TTL cannot move a checkpoint, nor, with pgprojection,
// commit its read-model writes.
//
// # Rebuilding
//
// Rebuild resets a projection (OnReset, then its checkpoints) and replays
// every shard from its trim horizon, reporting progress; with a store whose
// archive is an eventstore.ShardArchive, from the archive's first record
// instead, handing off to the log per shard (see eventstore.ReadShard).
// ReplayKey
// re-applies one stream's events to rebuild one aggregate's view, reading
// past retention from the store's archive. To rebuild without downtime,
// run the changed projection under a new name beside the old one.
package projection
