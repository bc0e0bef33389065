package graph

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/o365gateway/gateway/services/shared/budget"
	"github.com/o365gateway/gateway/services/shared/clouds"
)

func TestResourceUnits(t *testing.T) {
	for _, c := range []struct {
		method, url string
		want        int
	}{
		{"POST", "https://g/v1.0/users", 1},
		{"GET", "https://g/v1.0/users", 2},
		{"GET", "https://g/v1.0/users?$select=id", 1},
		{"GET", "https://g/v1.0/users?$filter=x&$select=id,upn", 1},
		{"GET", "https://g/v1.0/users/1", 1},
		{"GET", "https://g/v1.0/subscribedSkus", 3},
		{"GET", "https://g/v1.0/subscribedSkus?$expand=x", 4},
		{"GET", "https://g/v1.0/users?$top=5&$select=id", 1},
		{"POST", "https://g/v1.0/users/1/assignLicense", 1},
	} {
		req, _ := http.NewRequest(c.method, c.url, nil)
		if got := ResourceUnits(req); got != c.want {
			t.Errorf("%s %s costs %d RU, want %d", c.method, c.url, got, c.want)
		}
	}
}

func testPacer() pacer {
	return pacer{
		writes: budget.Charge{Key: "graph/writes/a/t", Rate: budget.PerWindow(DefaultWriteLimit, DefaultWriteWindow)},
		ru:     budget.Charge{Key: "graph/ru/a/t", Rate: budget.PerWindow(DefaultResourceUnits, ResourceUnitWindow)},
	}
}

// Graph's headers become signals for the budget they name.
func TestSignals(t *testing.T) {
	p := testPacer()
	write, _ := http.NewRequest(http.MethodPost, "https://g/v1.0/users", nil)
	read, _ := http.NewRequest(http.MethodGet, "https://g/v1.0/users", nil)
	answer := func(status int, kv ...string) *http.Response {
		h := http.Header{}
		for i := 0; i+1 < len(kv); i += 2 {
			h.Set(kv[i], kv[i+1])
		}
		return &http.Response{StatusCode: status, Header: h}
	}
	show := func(sigs []budget.Signal) string {
		var parts []string
		for _, s := range sigs {
			parts = append(parts, s.String())
		}
		return strings.Join(parts, "; ")
	}
	for _, c := range []struct {
		name string
		req  *http.Request
		resp *http.Response
		want string
	}{
		{"cost as charged", write, answer(201, "x-ms-resource-unit", "1"), ""},
		{"cost settled", read, answer(200, "x-ms-resource-unit", "5"), "settle graph/ru/a/t by 3"},
		{"write limit", write, answer(429, "Retry-After", "12", "x-ms-throttle-information", "WriteLimitExceeded",
			"x-ms-throttle-scope", "Tenant_Application/WriteLimit/a/t", "x-ms-resource-unit", "1"), "pause graph/writes/a/t for 12s"},
		{"write limit met by a read", read, answer(429, "Retry-After", "3", "x-ms-throttle-information", "WriteLimitExceeded"),
			"pause graph/writes/a/t for 3s"},
		{"resource units", write, answer(429, "Retry-After", "4", "x-ms-throttle-information", "ResourceUnitLimitExceeded"),
			"pause graph/ru/a/t for 4s"},
		{"unknown budget", write, answer(429, "Retry-After", "2"), "pause graph/writes/a/t for 2s; pause graph/ru/a/t for 2s"},
		{"503 with Retry-After", read, answer(503, "Retry-After", "6"), "pause graph/ru/a/t for 6s"},
		{"429 without Retry-After", read, answer(429), ""},
		{"80% used", write, answer(201, "x-ms-throttle-limit-percentage", "0.80"), "lower graph/writes/a/t to 600; lower graph/ru/a/t to 700"},
		{"used up", read, answer(200, "x-ms-throttle-limit-percentage", "1.00"), "lower graph/ru/a/t to 0"},
		{"garbage", read, answer(200, "x-ms-throttle-limit-percentage", "lots", "x-ms-resource-unit", "-1"), ""},
		{"our own answer", write, budget.DeferredAnswer(write, 5*time.Second, ""), ""},
	} {
		got := show(p.signals(c.req, c.resp, p.charges(c.req)))
		// Floating point: 0.2 × 3,000 is 599.999…
		got = strings.ReplaceAll(strings.ReplaceAll(got, "599.9999999999999", "600"), "699.9999999999999", "700")
		if got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
}

// Against a Graph that throttles writes: a burst inside the window goes
// without waiting; a 429 pauses the write budget, so that the next write
// of any caller is held back (here answered 429 by the budget at once,
// its wait being longer than the client may wait) without reaching Graph,
// while reads, on the resource-unit budget, still go.
func TestThrottledWritesPauseTheTenantsBudget(t *testing.T) {
	var writes, reads atomic.Int32
	var throttle atomic.Bool
	g := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("x-ms-resource-unit", "1")
		if r.Method == http.MethodGet {
			reads.Add(1)
			fmt.Fprint(w, `{"id":"1","userPrincipalName":"a@x"}`)
			return
		}
		writes.Add(1)
		if throttle.Load() {
			w.Header().Set("Retry-After", "20")
			w.Header().Set("x-ms-throttle-information", "WriteLimitExceeded")
			w.WriteHeader(http.StatusTooManyRequests)
			fmt.Fprint(w, `{"error":{"code":"TooManyRequests","message":"Too many requests."}}`)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer g.Close()
	e := clouds.Endpoints{GraphURL: g.URL + "/v1.0", GraphAudience: "https://graph.microsoft.com"}
	lim := &budget.Limiter{Store: &budget.Local{}}
	c := New(e, staticToken{}, "tenant-1", g.Client(), Options{MaxRetries: 2, RetryDelay: time.Millisecond, MaxRetryDelay: 2 * time.Second,
		Budget: lim, BudgetKey: "app-1/tenant-1", WritesPerSecond: 10, WriteBurst: 100, Log: slog.New(slog.DiscardHandler)})
	ctx := context.Background()
	start := time.Now()
	for i := range 100 {
		if err := c.UpdateUser(ctx, "1", map[string]any{"displayName": "x"}); err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Fatalf("100 writes inside a budget of 100 took %v", el)
	}
	throttle.Store(true)
	err := c.UpdateUser(ctx, "1", map[string]any{"displayName": "x"})
	if ge, ok := AsError(err); !ok || !ge.Throttled() || ge.Wait() != 20*time.Second {
		t.Fatalf("throttled write: %v, want Graph's 429 with its Retry-After", err)
	}
	if n := writes.Load(); n != 101 {
		t.Fatalf("%d writes reached Graph, want 101 (no retry of a 20 s Retry-After)", n)
	}
	err = c.UpdateUser(ctx, "1", map[string]any{"displayName": "x"})
	if ge, ok := AsError(err); !ok || !ge.Throttled() || ge.Wait() < 19*time.Second {
		t.Fatalf("write in the pause: %v, want a 429 asking for the rest of the pause", err)
	}
	if n := writes.Load(); n != 101 {
		t.Fatalf("a write in the pause reached Graph (%d writes)", n)
	}
	if _, err := c.GetUser(ctx, "1"); err != nil || reads.Load() != 1 {
		t.Fatalf("a read during a write pause: %v (%d reads)", err, reads.Load())
	}
}
