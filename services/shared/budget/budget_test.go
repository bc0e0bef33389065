package budget_test

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"

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
	budgettest.Run(t, func(t *testing.T, now func() time.Time) budget.PrunableStore {
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

func TestPerWindow(t *testing.T) {
	r := budget.PerWindow(3000, 150*time.Second)
	if r.PerSecond != 20 || r.Burst != 3000 {
		t.Fatalf("3,000 per 150 s = %v, want 20/s holding 3,000", r)
	}
	if budget.PerWindow(0, time.Second).Valid() || budget.PerWindow(1, 0).Valid() {
		t.Fatal("an empty window paces")
	}
	if got := budget.LeftOf(0.8, r); got < 599.99 || got > 600.01 {
		t.Fatalf("80%% used of 3,000 leaves %v, want 600", got)
	}
	if got := budget.LeftOf(1.2, r); got != 0 {
		t.Fatalf("over 100%% used leaves %v, want 0", got)
	}
	if got := budget.PauseTokens(3*time.Second, r); got != -60 {
		t.Fatalf("a 3 s pause at 20/s is a debt of %v, want 60", got)
	}
}

// A burst that fits the window's budget goes without waiting; only what
// exceeds it is paced, at the window's rate.
func TestBurstInsideTheWindowGoesAtOnce(t *testing.T) {
	// The clock stands still: the bucket's figures do not depend on how
	// fast the machine runs the loop.
	clock := &budgettest.Clock{}
	l := &budget.Limiter{Store: &budget.Local{Now: clock.Now}}
	r := budget.PerWindow(300, 15*time.Second)
	ctx := context.Background()
	for i := range 300 {
		d, err := l.Take(ctx, time.Second, budget.Charge{Key: "graph/writes/app/burst", Rate: r, Cost: 1})
		if err != nil || d != 0 {
			t.Fatalf("write %d of the window's 300: deferred %v, %v", i, d, err)
		}
	}
	// The 301st is one refill (50 ms) away; with less patience it is deferred.
	if d, _ := l.Take(ctx, time.Millisecond, budget.Charge{Key: "graph/writes/app/burst", Rate: r, Cost: 1}); d != 50*time.Millisecond {
		t.Fatalf("the write past the window is deferred by %v, want 50ms", d)
	}
}

// A deferred take keeps nothing: the next caller does not queue behind it.
func TestTakeDefersALongWaitAndGivesBack(t *testing.T) {
	clock := &budgettest.Clock{} // stands still: exact figures on any machine
	s := &budget.Local{Now: clock.Now}
	l := &budget.Limiter{Store: s}
	r := budget.Rate{PerSecond: 10, Burst: 10}
	b := budget.Charge{Key: "graph/writes/app/defer", Rate: r, Cost: 1}
	ctx := context.Background()
	l.Apply(ctx, budget.Signal{Kind: budget.Pause, Bucket: b, For: 5 * time.Second})
	for range 3 {
		// The pause and the call's own token: 5.1 s, each time (given back).
		d, err := l.Take(ctx, time.Second, b)
		if err != nil || d != 5100*time.Millisecond {
			t.Fatalf("take during a 5 s pause: deferred %v, %v; want 5.1s", d, err)
		}
	}
	// Cancelled while waiting: given back too.
	cctx, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
	defer cancel()
	if _, err := l.Take(cctx, 0, b); err == nil {
		t.Fatal("waited past the context")
	}
	if d, _ := s.Charge(ctx, b.Key, r, 0); d != 5*time.Second {
		t.Fatalf("after deferred and cancelled takes the bucket waits %v, want the pause alone", d)
	}
}

func TestRetryAfter(t *testing.T) {
	resp := func(status int, kv ...string) *http.Response {
		h := http.Header{}
		for i := 0; i+1 < len(kv); i += 2 {
			h.Set(kv[i], kv[i+1])
		}
		return &http.Response{StatusCode: status, Header: h}
	}
	for _, c := range []struct {
		r    *http.Response
		want time.Duration
	}{
		{resp(429, "Retry-After", "7"), 7 * time.Second},
		{resp(503, "Retry-After", "2"), 2 * time.Second},
		{resp(429, "retry-after-ms", "1500", "Retry-After", "2"), 1500 * time.Millisecond},
		{resp(429, "Retry-After", "99999999"), budget.MaxPause},
		{resp(429, "Retry-After", "-3"), 0},
		{resp(429), 0},
		{resp(500, "Retry-After", "7"), 0},
		{resp(200, "Retry-After", "7"), 0},
		{nil, 0},
	} {
		if got := budget.RetryAfter(c.r); got != c.want {
			t.Errorf("RetryAfter(%v) = %v, want %v", c.r, got, c.want)
		}
	}
}

// countingTransport answers what next says and counts the requests that
// reached it.
type countingTransport struct {
	n    atomic.Int32
	next func(n int32) *http.Response
}

func (c *countingTransport) Do(req *http.Request) (*http.Response, error) {
	resp := c.next(c.n.Add(1))
	resp.Request = req
	if resp.Body == nil {
		resp.Body = http.NoBody
	}
	return resp, nil
}

// A 429's Retry-After pauses the bucket: azcore's retry policy gives up on a
// wait longer than its MaxRetryDelay, and the next call, in the pause,
// does not reach Microsoft: the budget answers 429 with what is left of
// the pause, so that a job reschedules itself.
func TestRetryAfterPausesTheBucketInAPipeline(t *testing.T) {
	tr := &countingTransport{next: func(n int32) *http.Response {
		if n == 1 {
			return &http.Response{StatusCode: 429, Header: http.Header{"Retry-After": {"5"}}}
		}
		return &http.Response{StatusCode: 200, Header: http.Header{}}
	}}
	b := budget.Charge{Key: "graph/writes/app/pipeline", Rate: budget.PerWindow(3000, 150*time.Second), Cost: 1}
	pace := budget.Policy{
		Limiter: &budget.Limiter{Store: &budget.Local{}},
		Charges: func(*http.Request) []budget.Charge { return []budget.Charge{b} },
		Observe: func(ctx context.Context, l *budget.Limiter, _ *http.Request, resp *http.Response, charged []budget.Charge) {
			l.Apply(ctx, budget.Pauses(resp, charged...)...)
		},
		MaxWait: time.Second,
	}
	pl := runtime.NewPipeline("test", "v1", runtime.PipelineOptions{PerRetry: []policy.Policy{pace}},
		&policy.ClientOptions{Transport: tr, Retry: policy.RetryOptions{MaxRetries: 3, MaxRetryDelay: time.Second}})
	send := func() *http.Response {
		req, err := runtime.NewRequest(context.Background(), http.MethodPost, "https://graph.example/v1.0/users")
		if err != nil {
			t.Fatal(err)
		}
		resp, err := pl.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	if resp := send(); resp.StatusCode != 429 || tr.n.Load() != 1 {
		t.Fatalf("first call: %d after %d requests, want Microsoft's 429 after 1", resp.StatusCode, tr.n.Load())
	}
	resp := send()
	if resp.StatusCode != 429 || resp.Header.Get(budget.DeferredHeader) == "" || tr.n.Load() != 1 {
		t.Fatalf("call in the pause: %d (deferred %q) after %d requests, want the budget's 429 and no request", resp.StatusCode,
			resp.Header.Get(budget.DeferredHeader), tr.n.Load())
	}
	if ra := budget.RetryAfter(resp); ra < 4*time.Second || ra > 5100*time.Millisecond {
		t.Fatalf("the budget's 429 asks for %v, want what is left of the 5 s", ra)
	}
}

// TestRepeatedForgetsABurstOfMarks: a mark is "repeated" within the
// window of the one before it, and a burst of marks leaves no debt that
// would call a mark long after it repeated.
func TestRepeatedForgetsABurstOfMarks(t *testing.T) {
	now := time.Unix(1000, 0)
	l := &budget.Limiter{Store: &budget.Local{Now: func() time.Time { return now }}}
	ctx := context.Background()
	every := 10 * time.Second
	for i, c := range []struct {
		at   time.Duration
		want bool
	}{{0, false}, {5 * time.Second, true}, {6 * time.Second, true}, {7 * time.Second, true}, {20 * time.Second, false}, {25 * time.Second, true}, {40 * time.Second, false}} {
		now = time.Unix(1000, 0).Add(c.at)
		if got := l.Repeated(ctx, "p", every); got != c.want {
			t.Fatalf("mark %d at %s: repeated = %v, want %v", i, c.at, got, c.want)
		}
	}
}
