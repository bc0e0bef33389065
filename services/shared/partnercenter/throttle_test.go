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
	"testing"
	"time"

	"github.com/o365gateway/gateway/services/shared/budget"
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
