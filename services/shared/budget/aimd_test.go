package budget_test

import (
	"context"
	"testing"
	"time"

	"github.com/o365gateway/gateway/services/shared/budget"
	"github.com/o365gateway/gateway/services/shared/budget/budgettest"
	"github.com/o365gateway/gateway/services/shared/telemetry/telemetrytest"
)

// aimd is Partner Center's adaptation: halved by a 429, down to a tenth,
// climbing back by the configured rate per minute.
var aimd = budget.AIMD{Keep: 0.5, Floor: 0.1, Climb: time.Minute}

// adaptive is a limiter on an in-memory store read at a settable clock,
// and a bucket of 10/s.
func adaptive(t *testing.T, burst float64) (*budget.Limiter, *budgettest.Clock, budget.Charge) {
	t.Helper()
	clock := &budgettest.Clock{}
	clock.Advance(time.Duration(time.Unix(1_700_000_000, 0).UnixNano()))
	l := &budget.Limiter{Store: &budget.Local{Now: clock.Now}}
	return l, clock, budget.Charge{Key: "aimdtest/" + t.Name(), Rate: budget.Rate{PerSecond: 10, Burst: burst}, Cost: 1}
}

// pacedAt is the rate a call to c's bucket is paced at now.
func pacedAt(t *testing.T, l *budget.Limiter, c budget.Charge) float64 {
	t.Helper()
	got := l.Adapt(context.Background(), aimd, c)
	if got.Paced == 0 {
		if got.Cost != c.Cost {
			t.Fatalf("a charge at the configured rate costs %v, want %v", got.Cost, c.Cost)
		}
		return c.Rate.PerSecond
	}
	if want := c.Cost * c.Rate.PerSecond / got.Paced; !approx(got.Cost, want) {
		t.Fatalf("a charge paced at %v/s costs %v, want %v", got.Paced, got.Cost, want)
	}
	return got.Paced
}

func approx(a, b float64) bool { return a > b-1e-6 && a < b+1e-6 }

// waits charges n calls to c's bucket at its adapted rate and returns how
// long each waits.
func waits(t *testing.T, l *budget.Limiter, c budget.Charge, n int) []time.Duration {
	t.Helper()
	out := make([]time.Duration, n)
	for i := range out {
		a := l.Adapt(context.Background(), aimd, c)
		d, err := l.Store.Charge(context.Background(), a.Key, a.Rate, a.Cost)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = d
	}
	return out
}

// After a 429 the next calls wait twice as long: the bucket refills at its
// configured 10/s, each call now costs 2.
func TestAIMDThrottledCallsWaitLonger(t *testing.T) {
	for _, throttled := range []bool{false, true} {
		l, _, c := adaptive(t, 1)
		ctx := context.Background()
		first := l.Adapt(ctx, aimd, c)
		if first != c {
			t.Fatalf("before any 429: %+v, want the charge as configured", first)
		}
		if throttled && !l.Throttled(ctx, aimd, first) {
			t.Fatal("the 429 did not lower the rate")
		}
		step := 100 * time.Millisecond
		if throttled {
			step = 200 * time.Millisecond
		}
		for i, d := range waits(t, l, c, 6) {
			// The first call takes the one token (at cost 2: a debt of 1).
			want := time.Duration(i)*step + step/2
			if !throttled {
				want = time.Duration(i) * step
			}
			if d < want-time.Millisecond || d > want+time.Millisecond {
				t.Fatalf("throttled %v: call %d waits %v, want %v", throttled, i, d, want)
			}
		}
	}
}

// The calls of a burst are charged at one rate and meet their 429s
// together: the first halves the rate, the others change nothing. A 429 to
// a call charged at the halved rate halves it again, down to the floor (a
// tenth), where it stays.
func TestAIMDBurstCountsOnceThenHalvesToTheFloor(t *testing.T) {
	l, _, c := adaptive(t, 600)
	ctx := context.Background()
	burst := make([]budget.Charge, 5)
	for i := range burst {
		burst[i] = l.Adapt(ctx, aimd, c)
	}
	for i, b := range burst {
		if got := l.Throttled(ctx, aimd, b); got != (i == 0) {
			t.Fatalf("429 %d of the burst lowered the rate: %v", i, got)
		}
	}
	for _, want := range []float64{5, 2.5, 1.25, 1, 1, 1} {
		if got := pacedAt(t, l, c); !approx(got, want) {
			t.Fatalf("paced at %v/s, want %v/s", got, want)
		}
		l.Throttled(ctx, aimd, l.Adapt(ctx, aimd, c))
	}
	// A late 429 to a call charged before all of this lowers nothing.
	if l.Throttled(ctx, aimd, burst[4]) {
		t.Fatal("a 429 to a call charged at 10/s lowered a rate of 1/s")
	}
}

// Without 429s the rate climbs back linearly (the configured rate per
// minute) up to the configured rate, never above. A 429 to a call charged
// before the climb, at a rate under the one reached since, halves the rate
// reached.
func TestAIMDClimbsBackToTheConfiguredRate(t *testing.T) {
	l, clock, c := adaptive(t, 600)
	ctx := context.Background()
	l.Throttled(ctx, aimd, l.Adapt(ctx, aimd, c))
	old := l.Adapt(ctx, aimd, c)
	for _, step := range []struct {
		after time.Duration
		want  float64
	}{{0, 5}, {6 * time.Second, 6}, {9 * time.Second, 7.5}, {14 * time.Second, 9.83333333}, {time.Second, 10}, {time.Hour, 10}} {
		clock.Advance(step.after)
		if got := pacedAt(t, l, c); !approx(got, step.want) {
			t.Fatalf("%v later: paced at %v/s, want %v/s", step.after, got, step.want)
		}
	}
	if !l.Throttled(ctx, aimd, old) || !approx(pacedAt(t, l, c), 5) {
		t.Fatalf("a 429 to a call paced at 5/s, the rate back at 10/s: paced at %v/s, want 5/s", pacedAt(t, l, c))
	}
}

// A pause keeps its length at a lowered rate: the debt it leaves is
// refilled at the configured rate; the call after it costs the lowered
// rate's two tokens.
func TestAIMDPauseAtALoweredRate(t *testing.T) {
	l, _, c := adaptive(t, 10)
	ctx := context.Background()
	l.Throttled(ctx, aimd, l.Adapt(ctx, aimd, c))
	l.Apply(ctx, budget.Signal{Kind: budget.Pause, Bucket: c, For: 2 * time.Second})
	if d := waits(t, l, c, 1)[0]; d < 2199*time.Millisecond || d > 2201*time.Millisecond {
		t.Fatalf("the call after a 2 s pause waits %v, want 2.2s", d)
	}
}

// Nothing adapts without an AIMD, a rate, a limiter or a working store:
// calls are charged as configured and a 429 lowers nothing.
func TestAIMDNotAdapted(t *testing.T) {
	l, _, c := adaptive(t, 10)
	ctx := context.Background()
	var none *budget.Limiter
	down := &budget.Limiter{Store: failingStore{}}
	unpaced := c
	unpaced.Rate = budget.Rate{}
	for _, x := range []struct {
		name string
		l    *budget.Limiter
		a    budget.AIMD
		c    budget.Charge
	}{{"zero AIMD", l, budget.AIMD{}, c}, {"zero rate", l, aimd, unpaced}, {"no limiter", none, aimd, c}, {"store down", down, aimd, c}} {
		if x.l.Throttled(ctx, x.a, x.c) {
			t.Errorf("%s: a 429 lowered the rate", x.name)
		}
		if got := x.l.Adapt(ctx, x.a, x.c); got != x.c {
			t.Errorf("%s: charged %+v, want %+v", x.name, got, x.c)
		}
	}
	if got := pacedAt(t, l, c); got != 10 {
		t.Fatalf("paced at %v/s after 429s that adapt nothing, want 10/s", got)
	}
}

// A rate lowered by a 429 is counted by bucket kind, once per lowering.
func TestAIMDMetric(t *testing.T) {
	telemetrytest.Install()
	slowed := func() float64 { return telemetrytest.Value(t, "budget_slowed_total", "bucket", "aimdtest") }
	before := slowed()
	l, _, c := adaptive(t, 10)
	ctx := context.Background()
	first := l.Adapt(ctx, aimd, c)
	l.Throttled(ctx, aimd, first)
	l.Throttled(ctx, aimd, first)
	if got := slowed() - before; got != 1 {
		t.Fatalf("budget_slowed_total went up by %v, want 1", got)
	}
}
