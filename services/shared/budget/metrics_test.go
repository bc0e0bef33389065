package budget_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/o365gateway/gateway/services/shared/budget"
	"github.com/o365gateway/gateway/services/shared/telemetry/telemetrytest"
)

func TestBucketKind(t *testing.T) {
	for key, want := range map[string]string{
		"graph/writes/8b1c7e8e-0a34-4c59-9d1e-3f1f7e0b6a11":                                     "graph/writes",
		"graph/reads/0c2d11aa-1111-4c59-9d1e-3f1f7e0b6a11/8b1c7e8e-0a34-4c59-9d1e-3f1f7e0b6a11": "graph/reads",
		"graph/reads/contoso.onmicrosoft.com":                                                   "graph/reads",
		"partnercenter/8b1c7e8e-0a34-4c59-9d1e-3f1f7e0b6a11":                                    "partnercenter",
		"drift/p":                              "drift",
		"graph/writes/app/tenant":              "graph/writes/app",
		"graph":                                "other",
		"8b1c7e8e-0a34-4c59-9d1e-3f1f7e0b6a11": "other",
		"/x":                                   "other",
		"Graph/Writes/x":                       "other",
		"tenant-8b1c7e8e/writes/x":             "other",
		"a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q/r/s/t/u/x": "a/b/c",
	} {
		if got := budget.BucketKind(key); got != want {
			t.Errorf("BucketKind(%q) = %q, want %q", key, got, want)
		}
	}
}

type failingStore struct{}

func (failingStore) Charge(context.Context, string, budget.Rate, float64) (time.Duration, error) {
	return 0, errors.New("database down")
}

func (failingStore) Lower(context.Context, string, budget.Rate, float64) error {
	return errors.New("database down")
}

// Charges are counted by bucket kind and outcome, and their waits timed,
// without the tenant the key names.
func TestLimiterMetrics(t *testing.T) {
	telemetrytest.Install()
	charges := func(outcome string) float64 {
		return telemetrytest.Value(t, "budget_charges_total", "bucket", "metricstest/writes", "outcome", outcome)
	}
	waits := func() float64 { return telemetrytest.Value(t, "budget_wait_seconds", "bucket", "metricstest/writes") }
	l := &budget.Limiter{Store: &budget.Local{}}
	r := budget.Rate{PerSecond: 100, Burst: 1}
	ctx := context.Background()
	for range 2 {
		if err := l.Wait(ctx, "metricstest/writes/tenant-1", r, 1); err != nil {
			t.Fatal(err)
		}
	}
	if charges("immediate") != 1 || charges("waited") != 1 || waits() != 2 {
		t.Errorf("charges immediate %v, waited %v, waits timed %v; want 1, 1, 2", charges("immediate"), charges("waited"), waits())
	}
	down := &budget.Limiter{Store: failingStore{}}
	if err := down.Wait(ctx, "metricstest/writes/tenant-1", r, 1); err != nil {
		t.Fatal(err)
	}
	if charges("unpaced") != 1 {
		t.Errorf("unpaced charges %v, want 1", charges("unpaced"))
	}
	// A wait longer than the caller may wait is deferred, not waited.
	l.Apply(ctx, budget.Signal{Kind: budget.Pause, Bucket: budget.Charge{Key: "metricstest/writes/tenant-1", Rate: r}, For: 10 * time.Second})
	if d, err := l.Take(ctx, time.Second, budget.Charge{Key: "metricstest/writes/tenant-1", Rate: r, Cost: 1}); err != nil || d == 0 {
		t.Fatalf("take during a pause: %v %v", d, err)
	}
	if charges("deferred") != 1 {
		t.Errorf("deferred charges %v, want 1", charges("deferred"))
	}
	pauses := telemetrytest.Value(t, "budget_pauses_total", "bucket", "metricstest/writes")
	paused := telemetrytest.Value(t, "budget_paused_seconds_total", "bucket", "metricstest/writes")
	if pauses != 1 || paused != 10 {
		t.Errorf("pauses %v for %v s, want 1 for 10 s", pauses, paused)
	}
	l.Apply(ctx, budget.Signal{Kind: budget.Lower, Bucket: budget.Charge{Key: "metricstest/writes/tenant-1", Rate: r}, Left: 3})
	if v := telemetrytest.Value(t, "budget_lowered_total", "bucket", "metricstest/writes"); v != 1 {
		t.Errorf("lowered %v, want 1", v)
	}
	for _, name := range []string{"budget_charges_total", "budget_wait_seconds", "budget_pauses_total", "budget_paused_seconds_total", "budget_lowered_total"} {
		for _, p := range telemetrytest.Points(t, name) {
			for k, v := range p.Attrs {
				if v == "metricstest/writes/tenant-1" || (k != "bucket" && k != "outcome") {
					t.Errorf("%s has the attribute %s=%q", name, k, v)
				}
			}
		}
	}
}
