package msapi

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
)

type staticCred struct{}

func (staticCred) GetToken(_ context.Context, o policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{Token: "tok-" + o.Scopes[0], ExpiresOn: time.Now().Add(time.Hour)}, nil
}

type fixedHeader struct{}

func (fixedHeader) Do(req *policy.Request) (*http.Response, error) {
	req.Raw().Header.Set("X-Call", "same")
	return req.Next()
}

// Per-call headers are resent unchanged, every attempt gets its own id and
// the bearer token, and a Retry-After beyond MaxRetryDelay ends the call.
func TestPipeline(t *testing.T) {
	var mu sync.Mutex
	var calls, ids, auth []string
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		calls = append(calls, r.Header.Get("X-Call"))
		ids = append(ids, r.Header.Get("X-Attempt"))
		auth = append(auth, r.Header.Get("Authorization"))
		n := len(calls)
		mu.Unlock()
		switch {
		case r.URL.Path == "/long":
			w.Header().Set("Retry-After", "120")
			w.WriteHeader(http.StatusTooManyRequests)
		case n < 3:
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	pl := NewPipeline(Config{Name: "test", Credential: staticCred{}, Scope: "api/.default", HTTP: srv.Client(),
		PerCall: []policy.Policy{fixedHeader{}}, AttemptID: Header{Name: "X-Attempt", Attr: "attempt"},
		Retry: Retry{MaxRetries: 3, RetryDelay: time.Millisecond, MaxRetryDelay: time.Second},
		Log:   slog.New(slog.NewTextHandler(io.Discard, nil))})
	do := func(path string) int {
		req, err := runtime.NewRequest(context.Background(), http.MethodGet, srv.URL+path)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := pl.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = ReadBody(resp)
		return resp.StatusCode
	}
	if st := do("/"); st != http.StatusOK || len(calls) != 3 {
		t.Fatalf("status %d after %d attempts", st, len(calls))
	}
	for i := range calls {
		if calls[i] != "same" || auth[i] != "Bearer tok-api/.default" || ids[i] == "" || (i > 0 && ids[i] == ids[i-1]) {
			t.Fatalf("attempt %d: call header %q, auth %q, ids %v", i, calls[i], auth[i], ids)
		}
	}
	if st := do("/long"); st != http.StatusTooManyRequests || len(calls) != 4 {
		t.Fatalf("a long Retry-After was waited for: status %d, %d attempts", st, len(calls))
	}
}

func TestRetryAfter(t *testing.T) {
	// Negative, past and huge values (found by the clients' fuzz targets:
	// a negative wait, and an overflow for 10^13 seconds) are clamped.
	past := time.Now().Add(-time.Hour).UTC().Format(http.TimeFormat)
	for v, want := range map[string]time.Duration{"": 0, "57": 57 * time.Second, " 3 ": 3 * time.Second, "soon": 0,
		"-5": 0, past: 0, "10000000000000": MaxRetryAfter, "99999999999999999999": 0} {
		if got := RetryAfter(http.Header{"Retry-After": {v}}); got != want {
			t.Errorf("%q: %s", v, got)
		}
	}
	at := time.Now().Add(time.Minute).UTC().Format(http.TimeFormat)
	if got := RetryAfter(http.Header{"Retry-After": {at}}); got < 55*time.Second || got > time.Minute {
		t.Errorf("HTTP date: %s", got)
	}
}

// A redirect to another host is not followed: the request body (a password,
// customer data) stays with the API. Found by partnercenter's FuzzAnswer:
// a 308 with Location //0 sent the call to host "0".
func TestNoRedirectToAnotherHost(t *testing.T) {
	var elsewhere atomic.Int32
	other := httptest.NewTLSServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { elsewhere.Add(1) }))
	defer other.Close()
	api := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/away":
			http.Redirect(w, r, other.URL+"/x", http.StatusPermanentRedirect)
		case "/same":
			http.Redirect(w, r, "/done", http.StatusPermanentRedirect)
		}
	}))
	defer api.Close()
	// httptest's servers share one certificate: api's client trusts both.
	pl := NewPipeline(Config{Name: "test", Credential: staticCred{}, Scope: "api/.default", HTTP: api.Client(),
		AttemptID: Header{Name: "X-Attempt", Attr: "attempt"}, Retry: Retry{MaxRetries: -1}, Log: slog.New(slog.DiscardHandler)})
	for path, want := range map[string]int{"/away": http.StatusPermanentRedirect, "/same": http.StatusOK} {
		req, err := runtime.NewRequest(context.Background(), http.MethodPost, api.URL+path)
		if err != nil {
			t.Fatal(err)
		}
		if err := SetJSON(req, []byte(`{"password":"secret"}`)); err != nil {
			t.Fatal(err)
		}
		resp, err := pl.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = ReadBody(resp)
		if resp.StatusCode != want {
			t.Fatalf("%s: status %d, want %d", path, resp.StatusCode, want)
		}
	}
	if n := elsewhere.Load(); n != 0 {
		t.Fatalf("%d requests went to the other host", n)
	}
}
