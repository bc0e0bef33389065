package partnercenter

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/o365gateway/gateway/services/shared/budget"
	"github.com/o365gateway/gateway/services/shared/budget/budgettest"
	"github.com/o365gateway/gateway/services/shared/clouds"
)

func TestCustomerOfPath(t *testing.T) {
	for path, want := range map[string]string{
		"/v1/customers/c1/subscriptions":    "c1",
		"/v1/customers/c1":                  "c1",
		"/v1/customers":                     "",
		"/v1/customers?size=50":             "",
		"/v1/domains/x.onmicrosoft.com":     "",
		"/pc/v1/customers/c2/orders":        "c2",
		"/v1/validations/address":           "",
		"/v1/customers/c3/carts/k/checkout": "c3",
	} {
		if got := CustomerOfPath(path); got != want {
			t.Errorf("CustomerOfPath(%q) = %q, want %q", path, got, want)
		}
	}
}

func TestDefaultBudgets(t *testing.T) {
	p := newPacer(Options{BudgetKey: "p"})
	if p.partner.Rate != budget.PerWindow(600, time.Minute) || p.customers != budget.PerWindow(150, time.Minute) {
		t.Fatalf("defaults %v and %v", p.partner.Rate, p.customers)
	}
	p = newPacer(Options{BudgetKey: "p", RequestsPerSecond: 4})
	if p.partner.Rate != (budget.Rate{PerSecond: 4, Burst: 240}) || p.customers != (budget.Rate{PerSecond: 1, Burst: 60}) {
		t.Fatalf("4/s: %v and %v", p.partner.Rate, p.customers)
	}
}

// A 429 about one customer pauses that customer's budget: calls about
// another customer still go. A second 429 within RepeatWindow, about
// another customer, pauses the partner's budget: then nothing goes
// until its Retry-After has passed, on any replica.
func TestThrottledCustomerThenPartner(t *testing.T) {
	var mu sync.Mutex
	throttled := map[string]bool{}
	hits := map[string]int{}
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := CustomerOfPath(r.URL.Path)
		mu.Lock()
		hits[id]++
		th := throttled[id]
		mu.Unlock()
		if th {
			w.Header().Set("Retry-After", "30")
			w.WriteHeader(http.StatusTooManyRequests)
			fmt.Fprint(w, `{"statusCode":429,"message":"Rate limit is exceeded. Try again in 30 seconds."}`)
			return
		}
		fmt.Fprintf(w, `{"id":%q,"companyProfile":{"domain":"x.onmicrosoft.com"}}`, id)
	}))
	defer srv.Close()
	e, _ := clouds.Lookup("global")
	e = e.Override("", srv.URL, "")
	// Two replicas: two clients on one store.
	store := &budget.Local{}
	newC := func() *Client {
		return New(e, staticCred{}, srv.Client(), Options{RetryDelay: time.Millisecond, MaxRetryDelay: 2 * time.Second, BudgetKey: "partner-1",
			Budget: &budget.Limiter{Store: store}, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	}
	a, b := newC(), newC()
	ctx := context.Background()
	mu.Lock()
	throttled["c1"] = true
	mu.Unlock()
	if _, err := a.GetCustomer(ctx, "c1"); err == nil || !strings.Contains(err.Error(), "429") {
		t.Fatalf("c1: %v, want the 429", err)
	}
	// c1 is paused on both replicas; c2 is not.
	if _, err := b.GetCustomer(ctx, "c1"); err == nil {
		t.Fatal("c1 went during its pause")
	}
	if _, err := b.GetCustomer(ctx, "c2"); err != nil {
		t.Fatalf("c2 during c1's pause: %v", err)
	}
	mu.Lock()
	if hits["c1"] != 1 {
		t.Fatalf("c1 reached Partner Center %d times, want 1", hits["c1"])
	}
	throttled["c2"] = true
	mu.Unlock()
	if _, err := b.GetCustomer(ctx, "c2"); err == nil {
		t.Fatal("c2 was not throttled")
	}
	// Two customers throttled within 10 s: the partner's budget is paused.
	mu.Lock()
	throttled["c2"] = false
	mu.Unlock()
	if _, err := a.GetCustomer(ctx, "c3"); err == nil {
		t.Fatal("c3 went during the partner's pause")
	}
	if _, err := a.DomainExists(ctx, "y.onmicrosoft.com"); err == nil {
		t.Fatal("a partner-wide call went during the partner's pause")
	}
	mu.Lock()
	defer mu.Unlock()
	if hits["c3"] != 0 || hits[""] != 0 {
		t.Fatalf("calls reached Partner Center during the partner's pause: %v", hits)
	}
}

// adaptTest is a pacer of partner p (10/s, its customers 2.5/s) on an
// in-memory store read at a settable clock.
type adaptTest struct {
	t     *testing.T
	l     *budget.Limiter
	clock *budgettest.Clock
	p     pacer
}

func newAdaptTest(t *testing.T) *adaptTest {
	clock := &budgettest.Clock{}
	clock.Advance(time.Duration(time.Unix(1_700_000_000, 0).UnixNano()))
	l := &budget.Limiter{Store: &budget.Local{Now: clock.Now}}
	return &adaptTest{t: t, l: l, clock: clock, p: newPacer(Options{BudgetKey: "p", Budget: l})}
}

// call is a request about customer (none: "").
func call(customer string) *http.Request {
	if customer == "" {
		return httptest.NewRequest(http.MethodGet, "https://api.partnercenter.microsoft.com/v1/domains/x.onmicrosoft.com", nil)
	}
	return httptest.NewRequest(http.MethodGet, "https://api.partnercenter.microsoft.com/v1/customers/"+customer, nil)
}

// answer is Partner Center's answer status with these headers.
func answer(status int, kv ...string) *http.Response {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Set(kv[i], kv[i+1])
	}
	return &http.Response{StatusCode: status, Header: h}
}

// rates are the rates req's budgets are paced at now: the partner's, then
// the customer's if req is about one.
func (a *adaptTest) rates(req *http.Request) []float64 {
	var out []float64
	for _, c := range a.p.charges(req) {
		r := c.Rate.PerSecond
		if c.Paced > 0 {
			r = c.Paced
		}
		if c.Cost*r < c.Rate.PerSecond-1e-6 || c.Cost*r > c.Rate.PerSecond+1e-6 {
			a.t.Fatalf("%s charged %v at %v/s of %v/s", c.Key, c.Cost, r, c.Rate.PerSecond)
		}
		out = append(out, r)
	}
	return out
}

// send charges req, then tells the pacer Microsoft's answer.
func (a *adaptTest) send(req *http.Request, resp *http.Response) {
	a.p.observe(context.Background(), a.l, req, resp, a.p.charges(req))
}

func (a *adaptTest) want(req *http.Request, want ...float64) {
	a.t.Helper()
	got := a.rates(req)
	if len(got) != len(want) {
		a.t.Fatalf("rates %v, want %v", got, want)
	}
	for i := range got {
		if got[i] < want[i]-1e-6 || got[i] > want[i]+1e-6 {
			a.t.Fatalf("rates %v, want %v", got, want)
		}
	}
}

// The constants the tests below assume.
func TestAdaptive(t *testing.T) {
	if adaptive != (budget.AIMD{Keep: 0.7, Floor: 0.1, Climb: 2 * time.Minute}) {
		t.Fatalf("adaptive is %+v: the tests' rates assume 0.7, 0.1, 2m", adaptive)
	}
}

// A 429 lowers the rate of the partner's budget to 70% for a call about
// no customer; a burst of 429s to calls charged at once lowers it once;
// the next 429 lowers it again; without 429s it climbs back to 10/s, by
// 10/s per 2 minutes. A 503, even with Retry-After, pauses but lowers
// nothing.
func TestPartnerThrottledLowersItsRate(t *testing.T) {
	a := newAdaptTest(t)
	req := call("")
	a.want(req, 10)
	charged := make([][]budget.Charge, 4)
	for i := range charged {
		charged[i] = a.p.charges(req)
	}
	for _, c := range charged {
		a.p.observe(context.Background(), a.l, req, answer(429, "Retry-After", "1"), c)
	}
	a.want(req, 7)
	a.send(req, answer(429))
	a.want(req, 4.9)
	a.send(req, answer(503, "Retry-After", "1"))
	a.send(req, answer(500))
	a.send(req, answer(200))
	a.want(req, 4.9)
	a.clock.Advance(30 * time.Second)
	a.want(req, 7.4)
	a.clock.Advance(time.Hour)
	a.want(req, 10)
}

// A 429 about a customer lowers that customer's rate; a second one within
// RepeatWindow, about another customer, lowers the partner's too (as it
// pauses it). Answers the budget made itself lower nothing.
func TestCustomerThrottledLowersItsRateThenThePartners(t *testing.T) {
	a := newAdaptTest(t)
	a.want(call("c1"), 10, 2.5)
	a.send(call("c1"), answer(http.StatusTooManyRequests, "Retry-After", "1"))
	a.want(call("c1"), 10, 1.75)
	a.want(call("c2"), 10, 2.5)
	a.send(call("c2"), deferred(call("c2"), time.Second))
	a.want(call("c2"), 10, 2.5)
	a.clock.Advance(time.Second)
	a.send(call("c2"), answer(http.StatusTooManyRequests, "Retry-After", "1"))
	a.want(call("c2"), 7, 1.75)
	a.want(call(""), 7)
	a.want(call("c1"), 7, 1.75+2.5/120)
}

// Through the client: the rate a retry was paced at reaches the 429 it
// meets, so that each 429 of one call's attempts lowers the partner's
// rate, from 1000/s to 700/s to 490/s.
func TestClientRetriesAtTheLoweredRate(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hits.Add(1) <= 2 {
			w.Header().Set("retry-after-ms", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			fmt.Fprint(w, `{"statusCode":429,"message":"Rate limit is exceeded."}`)
			return
		}
		fmt.Fprint(w, `{"totalCount":0,"items":[]}`)
	}))
	defer srv.Close()
	e, _ := clouds.Lookup("global")
	e = e.Override("", srv.URL, "")
	clock := &budgettest.Clock{}
	clock.Advance(time.Duration(time.Unix(1_700_000_000, 0).UnixNano()))
	l := &budget.Limiter{Store: &budget.Local{Now: clock.Now}}
	c := New(e, staticCred{}, srv.Client(), Options{RetryDelay: time.Millisecond, MaxRetryDelay: 2 * time.Second, BudgetKey: "partner-1",
		RequestsPerSecond: 1000, Budget: l, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if _, err := c.DomainExists(context.Background(), "x.onmicrosoft.com"); err != nil {
		t.Fatal(err)
	}
	if hits.Load() != 3 {
		t.Fatalf("%d attempts, want 3", hits.Load())
	}
	p := newPacer(Options{BudgetKey: "partner-1", RequestsPerSecond: 1000, Budget: l})
	if got := p.charges(call(""))[0]; got.Paced < 489.99 || got.Paced > 490.01 {
		t.Fatalf("after two 429s the partner is paced at %v/s, want 490/s", got.Paced)
	}
}
