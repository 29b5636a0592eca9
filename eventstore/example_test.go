package eventstore_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/shoal-dev/shoal/eventstore"
	"github.com/shoal-dev/shoal/shardlog"
	"github.com/shoal-dev/shoal/shardlog/memory"
)

type AccountOpened struct {
	Owner string `json:"owner"`
}

type Deposited struct {
	Amount int `json:"amount"`
}

// openStore returns a store on a new in-memory log.
func openStore(ctx context.Context, reg *eventstore.Registry) *eventstore.Store {
	log, err := shardlog.Open(ctx, memory.New())
	if err != nil {
		panic(err)
	}
	store, err := eventstore.Open(ctx, log, "accounts",
		eventstore.WithRegistry(reg),
		eventstore.WithCreateIfMissing(shardlog.CreateStreamInput{ShardCount: 2}))
	if err != nil {
		panic(err)
	}
	return store
}

// Append with an expected version, then read the stream.
func Example() {
	ctx := context.Background()
	reg := eventstore.NewRegistry()
	eventstore.Register[AccountOpened](reg, "account.opened")
	eventstore.Register[Deposited](reg, "account.deposited")
	store := openStore(ctx, reg)

	res, err := store.Append(ctx, "acct-1", eventstore.NoStream,
		AccountOpened{Owner: "ann"}, Deposited{Amount: 10})
	if err != nil {
		panic(err)
	}
	fmt.Println("appended versions", res.FirstVersion, "to", res.LastVersion)

	for ev, err := range store.Read(ctx, "acct-1", 0) {
		if err != nil {
			panic(err)
		}
		data, err := ev.Data()
		if err != nil {
			panic(err)
		}
		fmt.Printf("%d %s %+v\n", ev.Version, ev.Type, data)
	}
	// Output:
	// appended versions 1 to 2
	// 1 account.opened {Owner:ann}
	// 2 account.deposited {Amount:10}
}

// A writer that expected an older version gets a typed error with both
// versions.
func ExampleStore_Append_conflict() {
	ctx := context.Background()
	reg := eventstore.NewRegistry()
	eventstore.Register[Deposited](reg, "account.deposited")
	store := openStore(ctx, reg)

	store.Append(ctx, "acct-2", eventstore.NoStream, Deposited{Amount: 1})
	store.Append(ctx, "acct-2", eventstore.Exact(1), Deposited{Amount: 2})

	_, err := store.Append(ctx, "acct-2", eventstore.Exact(1), Deposited{Amount: 3})
	var wrong *eventstore.WrongExpectedVersionError
	fmt.Println(errors.Is(err, eventstore.ErrWrongExpectedVersion), errors.As(err, &wrong))
	fmt.Println("expected", wrong.Expected, "actual", wrong.Actual)
	// Output:
	// true true
	// expected 1 actual 2
}

// Re-sending the same events (same IDs) after an uncertain failure stores
// them once.
func ExampleStore_Append_idempotent() {
	ctx := context.Background()
	reg := eventstore.NewRegistry()
	eventstore.Register[Deposited](reg, "account.deposited")
	store := openStore(ctx, reg)

	ev := eventstore.NewEvent(Deposited{Amount: 5}, eventstore.Metadata{CorrelationID: "req-7"})
	first, _ := store.Append(ctx, "acct-3", eventstore.NoStream, ev)
	again, _ := store.Append(ctx, "acct-3", eventstore.NoStream, ev)
	v, _ := store.Version(ctx, "acct-3")
	fmt.Println(first.LastVersion, again.LastVersion, again.Deduplicated, v)
	// Output:
	// 1 1 true 1
}

// DepositedV1 is how deposits were stored before amounts had a currency.
type DepositedV1 struct {
	Amount int `json:"amount"`
}

// DepositedV2 is the current shape.
type DepositedV2 struct {
	Cents    int    `json:"cents"`
	Currency string `json:"currency"`
}

// An upcaster reads events stored with an old schema as the current type.
func ExampleUpcast() {
	ctx := context.Background()
	old := eventstore.NewRegistry()
	eventstore.Register[DepositedV1](old, "account.deposited")
	log, _ := shardlog.Open(ctx, memory.New())
	v1, _ := eventstore.Open(ctx, log, "accounts", eventstore.WithRegistry(old),
		eventstore.WithCreateIfMissing(shardlog.CreateStreamInput{ShardCount: 1}))
	v1.Append(ctx, "acct-4", eventstore.NoStream, DepositedV1{Amount: 3})

	// Later: the type changed; schema 1 is upcast on read.
	cur := eventstore.NewRegistry()
	eventstore.Register[DepositedV2](cur, "account.deposited", eventstore.SchemaVersion(2))
	eventstore.Upcast(cur, "account.deposited", 1, func(o DepositedV1) (DepositedV2, error) {
		return DepositedV2{Cents: o.Amount * 100, Currency: "EUR"}, nil
	})
	v2, _ := eventstore.Open(ctx, log, "accounts", eventstore.WithRegistry(cur))
	ev, _ := v2.Last(ctx, "acct-4")
	d, _ := eventstore.DataAs[DepositedV2](&ev)
	fmt.Printf("%+v\n", d)
	// Output:
	// {Cents:300 Currency:EUR}
}

// Subscribe reads every shard: here a replay of everything stored, then
// a checkpoint to resume from.
func ExampleStore_Subscribe() {
	ctx := context.Background()
	reg := eventstore.NewRegistry()
	eventstore.Register[Deposited](reg, "account.deposited")
	store := openStore(ctx, reg)
	for i := range 3 {
		store.Append(ctx, fmt.Sprint("acct-", i), eventstore.Any, Deposited{Amount: i})
	}

	sub, _ := store.Subscribe(eventstore.SubscribeOptions{CatchUpOnly: true})
	total := 0
	for ev, err := range sub.Events(ctx) {
		if err != nil {
			panic(err)
		}
		d, _ := eventstore.DataAs[Deposited](&ev)
		total += d.Amount
	}
	cp := sub.Checkpoint() // save it; SubscribeOptions{From: cp} resumes
	fmt.Println(total, len(cp.Shards) > 0)
	// Output:
	// 3 true
}
