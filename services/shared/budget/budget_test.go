package budget_test

import (
	"context"
	"testing"
	"time"

	"github.com/o365gateway/gateway/services/shared/budget"
	"github.com/o365gateway/gateway/services/shared/budget/budgettest"
)

func TestRefill(t *testing.T) {
	r := budget.Rate{PerSecond: 10, Burst: 5}
	t0 := time.Unix(1000, 0)
	if left, wait := budget.Refill(5, t0, t0, r, 1); left != 4 || wait != 0 {
		t.Errorf("full bucket: %v %v", left, wait)
	}
	// 1 s refills 10 tokens but the bucket holds 5.
	if left, _ := budget.Refill(0, t0, t0.Add(time.Second), r, 1); left != 4 {
		t.Errorf("capped refill: %v", left)
	}
	// A debt of 2 tokens at 10/s is paid back in 200 ms.
	if left, wait := budget.Refill(-1, t0, t0, r, 1); left != -2 || wait != 200*time.Millisecond {
		t.Errorf("debt: %v %v", left, wait)
	}
	// A clock that goes back refills nothing.
	if left, _ := budget.Refill(1, t0, t0.Add(-time.Hour), r, 1); left != 0 {
		t.Errorf("clock back: %v", left)
	}
}

func TestLocalConformance(t *testing.T) {
	// A process's handles share its one Local store.
	stores := map[*testing.T]*budget.Local{}
	budgettest.Run(t, func(t *testing.T, now func() time.Time) budget.Store {
		if s, ok := stores[t]; ok {
			return s
		}
		s := &budget.Local{Now: now}
		stores[t] = s
		return s
	})
}

func TestLimiterWaitsAndHonoursTheContext(t *testing.T) {
	l := &budget.Limiter{Store: &budget.Local{}}
	r := budget.Rate{PerSecond: 1, Burst: 1}
	ctx := context.Background()
	if err := l.Wait(ctx, "k", r, 1); err != nil {
		t.Fatal(err)
	}
	// The bucket is empty: the next charge must wait a second; a context
	// that ends first ends the wait.
	cctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if err := l.Wait(cctx, "k", r, 1); err == nil {
		t.Fatal("waited past the context")
	}
	// No rate, or no limiter: no pacing.
	if err := l.Wait(cctx, "k", budget.Rate{}, 1); err != nil {
		t.Fatal(err)
	}
	var none *budget.Limiter
	if err := none.Wait(cctx, "k", r, 1); err != nil {
		t.Fatal(err)
	}
}
