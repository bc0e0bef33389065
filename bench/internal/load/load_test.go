package load

import (
	"context"
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func target(t *testing.T, h http.HandlerFunc) *Target {
	srv := httptest.NewTLSServer(h)
	t.Cleanup(srv.Close)
	addr := strings.TrimPrefix(srv.URL, "https://")
	return &Target{Addr: addr, TLS: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // test server
		Method: http.MethodGet, Path: "/x", Header: http.Header{"Aps-Instance-Id": {"i"}}}
}

// TestClosedCountsAnswers: every answered request is counted, over keep-
// alive connections, with the request's headers.
func TestClosedCountsAnswers(t *testing.T) {
	var served, conns atomic.Int64
	tg := target(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("APS-Instance-ID") != "i" || r.URL.Path != "/x" {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		served.Add(1)
		_, _ = w.Write([]byte(`{"ok":true}`))
	})
	tg.TLS.VerifyConnection = func(tls.ConnectionState) error { conns.Add(1); return nil }
	if err := Check(context.Background(), tg.Dialer()); err != nil {
		t.Fatal(err)
	}
	r, err := Closed(context.Background(), tg.Dialer(), 4, 50*time.Millisecond, 300*time.Millisecond)
	if err != nil || r.Errors != 0 {
		t.Fatalf("%+v %v", r, err)
	}
	if r.Requests == 0 || int64(r.Requests) > served.Load() || r.RPS() <= 0 {
		t.Fatalf("counted %d of %d served", r.Requests, served.Load())
	}
	if c := conns.Load(); c != 5 { // Check's one and the run's four, kept alive
		t.Fatalf("%d connections, want 5", c)
	}
}

// TestClosedReportsWrongStatus: an answer with another status is an error.
func TestClosedReportsWrongStatus(t *testing.T) {
	tg := target(t, func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNotFound) })
	r, err := Closed(context.Background(), tg.Dialer(), 2, 0, 100*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if r.Errors == 0 || r.FirstError == nil || !strings.Contains(r.FirstError.Error(), "404") {
		t.Fatalf("%+v", r)
	}
}

// TestOpenMeasuresFromTheDueTime: a server that stalls shows in the
// latencies of the requests that were due meanwhile.
func TestOpenMeasuresFromTheDueTime(t *testing.T) {
	var n atomic.Int64
	tg := target(t, func(w http.ResponseWriter, _ *http.Request) {
		if n.Add(1) == 10 {
			time.Sleep(200 * time.Millisecond)
		}
	})
	// 50/s leaves 20 ms a request to catch up after the stall, even on a
	// busy machine under the race detector, so the median stays clear of it.
	r, err := Open(context.Background(), tg.Dialer(), 1, 50, 0, 2*time.Second)
	if err != nil || r.Errors != 0 {
		t.Fatalf("%+v %v", r, err)
	}
	if r.Requests < 90 || r.Requests > 100 {
		t.Fatalf("%d requests at 50/s for 2s", r.Requests)
	}
	if r.Max < 200*time.Millisecond || r.P99 < 100*time.Millisecond {
		t.Fatalf("the stall does not show: p99 %s, max %s", r.P99, r.Max)
	}
	if r.P50 > 100*time.Millisecond {
		t.Fatalf("p50 %s", r.P50)
	}
}
