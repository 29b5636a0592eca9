package aggregatetest_test

import (
	"errors"
	"testing"

	"github.com/shoal-dev/shoal/aggregate"
	"github.com/shoal-dev/shoal/aggregate/aggregatetest"
)

type Opened struct{ Owner string }
type Deposited struct{ Amount int }
type Withdrawn struct{ Amount int }

var ErrInsufficient = errors.New("insufficient funds")

type Account struct {
	aggregate.Base
	Balance int
}

func (a *Account) Withdraw(amount int) error {
	if amount > a.Balance {
		return ErrInsufficient
	}
	a.Record(Withdrawn{Amount: amount})
	return nil
}

var Accounts = aggregate.Define[Account]("account",
	aggregate.Apply(func(a *Account, e Opened) {}),
	aggregate.Apply(func(a *Account, e Deposited) { a.Balance += e.Amount }),
	aggregate.Apply(func(a *Account, e Withdrawn) { a.Balance -= e.Amount }),
)

func TestWithdraw(t *testing.T) {
	aggregatetest.Given(Accounts, Opened{"ann"}, Deposited{100}).
		When(func(a *Account) error { return a.Withdraw(30) }).
		Then(t, Withdrawn{30})

	aggregatetest.Given(Accounts, Opened{"ann"}, Deposited{10}).
		When(func(a *Account) error { return a.Withdraw(30) }).
		ThenError(t, ErrInsufficient)
}
