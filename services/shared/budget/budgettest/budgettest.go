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
func Run(t *testing.T, open func(t *testing.T, now func() time.Time) budget.PrunableStore) {
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
	t.Run("PruneForgetsIdleBuckets", func(t *testing.T) {
		// Later than every other subtest's clock: a store shared with them
		// may forget their buckets too, never this one's too early.
		clock := &Clock{now: time.Unix(1_800_000_000, 0)}
		s := open(t, clock.Now)
		// A token every 100,000 s: a bucket is still far from full a day
		// after it was drained, so that a forgotten one (created full) and
		// a kept one answer differently.
		r := budget.Rate{PerSecond: 1e-5, Burst: 2}
		charge(t, s, "idle", r)
		charge(t, s, "idle", r)
		// 20 hours idle: too recent to forget, whatever the cut-off asked.
		clock.Advance(20 * time.Hour)
		if _, err := s.Prune(ctx, clock.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if d := charge(t, s, "idle", r); d == 0 {
			t.Fatal("a bucket used 20 hours ago was forgotten: its charge did not wait")
		}
		// Idle past ForgetAfter, and older than the cut-off: forgotten.
		clock.Advance(budget.ForgetAfter + time.Hour)
		n, err := s.Prune(ctx, clock.Now())
		if err != nil || n < 1 {
			t.Fatalf("prune forgot %d buckets (%v), want at least the idle one", n, err)
		}
		for i := range 2 {
			if d := charge(t, s, "idle", r); d != 0 {
				t.Fatalf("charge %d of the forgotten bucket waits %v: it was kept", i, d)
			}
		}
		// A cut-off earlier than the bucket's last use keeps it.
		clock.Advance(budget.ForgetAfter + time.Hour)
		if _, err := s.Prune(ctx, clock.Now().Add(-2*budget.ForgetAfter)); err != nil {
			t.Fatal(err)
		}
		if d := charge(t, s, "idle", r); d == 0 {
			t.Fatal("a bucket used after the cut-off was forgotten")
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
	t.Run("PauseHoldsEveryCharge", func(t *testing.T) {
		// A Retry-After of 2 s pauses a full bucket: the next charge waits
		// the pause and its own refill; once the pause is over the bucket
		// refills from empty at its rate.
		clock := &Clock{now: time.Unix(1_700_000_000, 0)}
		s := open(t, clock.Now)
		r := budget.Rate{PerSecond: 10, Burst: 100}
		charge(t, s, "pause", r)
		lower(t, s, "pause", r, budget.PauseTokens(2*time.Second, r))
		if d := charge(t, s, "pause", r); !near(d, 2100*time.Millisecond) {
			t.Fatalf("charge during the pause waits %v, want 2.1s", d)
		}
		clock.Advance(2100 * time.Millisecond)
		if d := charge(t, s, "pause", r); !near(d, 100*time.Millisecond) {
			t.Fatalf("charge after the pause waits %v, want 100ms (refilling from empty)", d)
		}
	})
	t.Run("PauseOfANewBucket", func(t *testing.T) {
		clock := &Clock{now: time.Unix(1_700_000_000, 0)}
		s := open(t, clock.Now)
		r := budget.Rate{PerSecond: 20, Burst: 3000}
		lower(t, s, "fresh", r, budget.PauseTokens(5*time.Second, r))
		if d := charge(t, s, "fresh", r); !near(d, 5050*time.Millisecond) {
			t.Fatalf("charge of a bucket paused before its first charge waits %v, want 5.05s", d)
		}
	})
	t.Run("LongerPauseWins", func(t *testing.T) {
		clock := &Clock{now: time.Unix(1_700_000_000, 0)}
		s := open(t, clock.Now)
		r := budget.Rate{PerSecond: 1, Burst: 10}
		for _, p := range []time.Duration{time.Second, 3 * time.Second, 2 * time.Second} {
			lower(t, s, "longer", r, budget.PauseTokens(p, r))
		}
		if d := charge(t, s, "longer", r); !near(d, 4*time.Second) {
			t.Fatalf("charge waits %v, want the longest pause and its own token: 4s", d)
		}
	})
	t.Run("LowerToWhatIsLeft", func(t *testing.T) {
		// Microsoft reports 95% of its budget used: of a bucket of 100, 5
		// tokens are left. Lowering never raises a bucket.
		clock := &Clock{now: time.Unix(1_700_000_000, 0)}
		s := open(t, clock.Now)
		r := budget.Rate{PerSecond: 1, Burst: 100}
		lower(t, s, "lower", r, budget.LeftOf(0.95, r))
		lower(t, s, "lower", r, budget.LeftOf(0.5, r))
		for i := range 5 {
			if d := charge(t, s, "lower", r); d != 0 {
				t.Fatalf("charge %d of the 5 left waits %v", i, d)
			}
		}
		if d := charge(t, s, "lower", r); !near(d, time.Second) {
			t.Fatalf("6th charge waits %v, want 1s", d)
		}
	})
	t.Run("GiveBack", func(t *testing.T) {
		clock := &Clock{now: time.Unix(1_700_000_000, 0)}
		s := open(t, clock.Now)
		r := budget.Rate{PerSecond: 1, Burst: 1}
		charge(t, s, "back", r)
		if _, err := s.Charge(ctx, t.Name()+"/back", r, -1); err != nil {
			t.Fatal(err)
		}
		if d := charge(t, s, "back", r); d != 0 {
			t.Fatalf("a token given back is not there: waits %v", d)
		}
	})
	t.Run("AdaptedRateSharedByTwoHandles", func(t *testing.T) {
		// One replica meets a 429 and halves the rate (budget.AIMD keeps
		// the shortfall in a bucket of the store, refilled with Burst 0);
		// the other's calls are charged double, and the rate climbs back
		// in time, to the configured rate and no further.
		clock := &Clock{now: time.Unix(1_700_000_000, 0)}
		a := &budget.Limiter{Store: open(t, clock.Now)}
		b := &budget.Limiter{Store: open(t, clock.Now)}
		aimd := budget.AIMD{Keep: 0.5, Floor: 0.1, Climb: time.Minute}
		c := budget.Charge{Key: t.Name() + "/adapted", Rate: budget.Rate{PerSecond: 10, Burst: 600}, Cost: 1}
		if got := b.Adapt(ctx, aimd, c); got != c {
			t.Fatalf("before any 429: %+v, want the charge as configured", got)
		}
		if !a.Throttled(ctx, aimd, a.Adapt(ctx, aimd, c)) {
			t.Fatal("the 429 did not lower the rate")
		}
		if got := b.Adapt(ctx, aimd, c); !nearRate(got.Paced, 5) || !nearRate(got.Cost, 2) {
			t.Fatalf("the other handle's charge after the 429: %+v, want paced at 5/s, costing 2", got)
		}
		clock.Advance(15 * time.Second)
		if got := b.Adapt(ctx, aimd, c); !nearRate(got.Paced, 7.5) {
			t.Fatalf("15 s later the rate is %v, want 7.5/s", got.Paced)
		}
		clock.Advance(time.Hour)
		if got := a.Adapt(ctx, aimd, c); got != c {
			t.Fatalf("an hour later: %+v, want the charge as configured", got)
		}
	})
	t.Run("PauseSharedByTwoHandles", func(t *testing.T) {
		// One replica meets the 429; the other's next call waits too.
		clock := &Clock{now: time.Unix(1_700_000_000, 0)}
		a, b := open(t, clock.Now), open(t, clock.Now)
		r := budget.Rate{PerSecond: 20, Burst: 3000}
		charge(t, a, "sharedpause", r)
		lower(t, a, "sharedpause", r, budget.PauseTokens(3*time.Second, r))
		if d := charge(t, b, "sharedpause", r); !near(d, 3050*time.Millisecond) {
			t.Fatalf("the other handle's charge waits %v, want 3.05s", d)
		}
	})
}

func lower(t *testing.T, s budget.Store, key string, r budget.Rate, tokens float64) {
	t.Helper()
	if err := s.Lower(context.Background(), t.Name()+"/"+key, r, tokens); err != nil {
		t.Fatal(err)
	}
}

func charge(t *testing.T, s budget.Store, key string, r budget.Rate) time.Duration {
	t.Helper()
	d, err := s.Charge(context.Background(), t.Name()+"/"+key, r, 1)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func nearRate(r, want float64) bool { return r > want-1e-6 && r < want+1e-6 }

func near(d, want time.Duration) bool {
	diff := d - want
	return diff > -5*time.Millisecond && diff < 5*time.Millisecond
}
