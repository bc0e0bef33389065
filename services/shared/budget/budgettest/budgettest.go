// Package budgettest is the conformance suite of budget.Store: every store
// (in memory, SQLite, PostgreSQL) must charge buckets the same way.
package budgettest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/o365gateway/gateway/services/shared/budget"
)

// Clock is a settable clock for stores that take one.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock on.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// Run runs the suite. open returns a fresh store (two calls may share the
// underlying database: the suite's keys are unique per subtest) reading
// time from now.
func Run(t *testing.T, open func(t *testing.T, now func() time.Time) budget.Store) {
	ctx := context.Background()
	t.Run("BurstThenPaced", func(t *testing.T) {
		clock := &Clock{now: time.Unix(1_700_000_000, 0)}
		s := open(t, clock.Now)
		r := budget.Rate{PerSecond: 4, Burst: 3}
		for i := range 3 {
			if d := charge(t, s, "burst", r); d != 0 {
				t.Fatalf("charge %d inside the burst waits %v", i, d)
			}
		}
		// Empty: the 4th and 5th charges queue a quarter second apart.
		if d := charge(t, s, "burst", r); !near(d, 250*time.Millisecond) {
			t.Fatalf("4th charge waits %v, want 250ms", d)
		}
		if d := charge(t, s, "burst", r); !near(d, 500*time.Millisecond) {
			t.Fatalf("5th charge waits %v, want 500ms", d)
		}
		// After the debt is paid and a second more, 3 tokens (the burst,
		// not 4) are back.
		clock.Advance(1500 * time.Millisecond)
		for i := range 3 {
			if d := charge(t, s, "burst", r); d != 0 {
				t.Fatalf("charge %d after the refill waits %v", i, d)
			}
		}
		if d := charge(t, s, "burst", r); d == 0 {
			t.Fatal("the refill exceeded the burst")
		}
	})
	t.Run("KeysAreIndependent", func(t *testing.T) {
		clock := &Clock{now: time.Unix(1_700_000_000, 0)}
		s := open(t, clock.Now)
		r := budget.Rate{PerSecond: 1, Burst: 1}
		charge(t, s, "a", r)
		if d := charge(t, s, "b", r); d != 0 {
			t.Fatalf("key b waits %v for key a", d)
		}
	})
	t.Run("SharedByTwoHandles", func(t *testing.T) {
		// Two handles on one store (two replicas) draw on one budget:
		// together they get the burst once, not twice.
		clock := &Clock{now: time.Unix(1_700_000_000, 0)}
		a, b := open(t, clock.Now), open(t, clock.Now)
		r := budget.Rate{PerSecond: 1, Burst: 4}
		var wg sync.WaitGroup
		waits := make(chan time.Duration, 8)
		for i := range 8 {
			s := a
			if i%2 == 1 {
				s = b
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				d, err := s.Charge(ctx, t.Name()+"/shared", r, 1)
				if err != nil {
					t.Error(err)
				}
				waits <- d
			}()
		}
		wg.Wait()
		close(waits)
		free := 0
		for d := range waits {
			if d == 0 {
				free++
			}
		}
		if free != 4 {
			t.Fatalf("%d of 8 charges went without waiting, want the burst of 4", free)
		}
	})
}

func charge(t *testing.T, s budget.Store, key string, r budget.Rate) time.Duration {
	t.Helper()
	d, err := s.Charge(context.Background(), t.Name()+"/"+key, r, 1)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func near(d, want time.Duration) bool {
	diff := d - want
	return diff > -5*time.Millisecond && diff < 5*time.Millisecond
}
