package mscloud

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"testing"
	"time"
)

// faultByID reads GET /_sim/faults and returns the fault with id.
func (s *testSim) faultByID(id string) (remaining *int, hits int) {
	s.t.Helper()
	st, b := s.admin(http.MethodGet, "/_sim/faults", nil)
	if st != http.StatusOK {
		s.t.Fatalf("list faults: %d %s", st, b)
	}
	var fl struct {
		Faults []struct {
			ID        string `json:"id"`
			Remaining *int   `json:"remaining"`
			Hits      *int   `json:"hits"`
		} `json:"faults"`
	}
	if err := json.Unmarshal(b, &fl); err != nil {
		s.t.Fatalf("list faults %s: %v", b, err)
	}
	for _, f := range fl.Faults {
		if f.ID == id {
			if f.Hits == nil {
				s.t.Fatalf("fault %s has no hits field: %s", id, b)
			}
			return f.Remaining, *f.Hits
		}
	}
	s.t.Fatalf("fault %s not listed: %s", id, b)
	return nil, 0
}

// expectFired asserts that the count-limited fault id fired hits times and
// is used up (it stays listed with remaining 0).
func (s *testSim) expectFired(id string, hits int) {
	s.t.Helper()
	rem, h := s.faultByID(id)
	if h != hits || rem == nil || *rem != 0 {
		s.t.Errorf("fault %s: hits %d remaining %v, want hits %d remaining 0", id, h, rem, hits)
	}
}

func (s *testSim) customerCount(partner string) int {
	s.t.Helper()
	return len(s.state(partner)[0].Customers)
}

// What each definite fault mode leaves behind for a retry with the same
// MS-RequestId: error is not stored (the retry does the work),
// error_after_commit stores the success (the retry gets it), refuse stores
// the refusal (the retry gets it, even after the fault is cleared).
func TestFaultModesAndRequestIDReplay(t *testing.T) {
	cases := []struct {
		mode       string
		status     int
		first      int // status of the first answer
		committed  int // customers after the first answer
		retry      int // status of the retry with the same MS-RequestId
		afterRetry int // customers after the retry
	}{
		{"error", 503, 503, 0, http.StatusCreated, 1},
		{"error", 400, 400, 0, http.StatusCreated, 1}, // a 4xx in mode error is still not stored
		{"error_after_commit", 500, 500, 1, http.StatusCreated, 1},
		{"refuse", 0, 400, 0, 400, 0},
		{"refuse", 409, 409, 0, 409, 0},
	}
	for _, c := range cases {
		t.Run(c.mode+"_"+http.StatusText(c.first), func(t *testing.T) {
			s := newSim(t, Options{})
			p := s.partner("global", true, "US")
			tok := s.pcToken(p)
			fid := s.fault(map[string]any{"api": "partnercenter", "method": "POST", "path": "/v1/customers", "mode": c.mode, "status": c.status, "count": 1})
			h := map[string]string{"MS-RequestId": newGUID()}
			code, hdr, b1 := s.do(http.MethodPost, "/v1/customers", tok, customerBody("modes.onmicrosoft.com", "US"), h)
			e := decode[pcErr](t, b1)
			if code != c.first || e.Code != c.first || e.Description == "" || e.Source != "PartnerFD" || hdr.Get("MS-RequestId") != h["MS-RequestId"] {
				t.Fatalf("first answer: %d %s", code, b1)
			}
			if n := s.customerCount(p.TenantID); n != c.committed {
				t.Fatalf("%d customers after the first answer, want %d", n, c.committed)
			}
			s.expectFired(fid, 1)
			// The fault is used up; clearing it too changes nothing.
			if st, _ := s.admin(http.MethodDelete, "/_sim/faults", nil); st != http.StatusNoContent {
				t.Fatalf("clear faults: %d", st)
			}
			code, _, b2 := s.do(http.MethodPost, "/v1/customers", tok, customerBody("modes.onmicrosoft.com", "US"), h)
			if code != c.retry {
				t.Fatalf("retry with the same MS-RequestId: %d %s", code, b2)
			}
			if c.mode == "refuse" && !bytes.Equal(b1, b2) {
				t.Errorf("refusal not replayed verbatim: %s / %s", b1, b2)
			}
			if n := s.customerCount(p.TenantID); n != c.afterRetry {
				t.Errorf("%d customers after the retry, want %d", n, c.afterRetry)
			}
			// A fresh MS-RequestId is a new request: it goes through (or,
			// when the customer exists, meets the taken domain).
			want := http.StatusCreated
			if c.afterRetry == 1 {
				want = http.StatusConflict
			}
			if code, _, b := s.do(http.MethodPost, "/v1/customers", tok, customerBody("modes.onmicrosoft.com", "US"), map[string]string{"MS-RequestId": newGUID()}); code != want {
				t.Errorf("fresh MS-RequestId: %d %s", code, b)
			}
			if n := s.customerCount(p.TenantID); n != 1 {
				t.Errorf("%d customers at the end", n)
			}
		})
	}
}

// refuse until cleared: every request is refused and each refusal is
// stored for its MS-RequestId; a request Partner Center answers before the
// work (401, a stored answer) does not use the fault up.
func TestFaultRefuseUntilCleared(t *testing.T) {
	s := newSim(t, Options{})
	p := s.partner("global", true, "US")
	tok := s.pcToken(p)
	fid := s.fault(map[string]any{"api": "partnercenter", "method": "POST", "path": "/v1/customers", "mode": "refuse"})
	rid := map[string]string{"MS-RequestId": newGUID()}
	code, _, b1 := s.do(http.MethodPost, "/v1/customers", tok, customerBody("refuse1.onmicrosoft.com", "US"), rid)
	if e := decode[pcErr](t, b1); code != 400 || e.Code != 400 || e.Description == "" {
		t.Fatalf("refusal: %d %s", code, b1)
	}
	// Unauthenticated: the 401 comes first and the fault is not used.
	if code, _, _ := s.do(http.MethodPost, "/v1/customers", "", customerBody("refuse1.onmicrosoft.com", "US"), rid); code != http.StatusUnauthorized {
		t.Errorf("no token: %d", code)
	}
	// The same MS-RequestId replays the stored refusal (not a new hit).
	if code, _, b := s.do(http.MethodPost, "/v1/customers", tok, customerBody("refuse1.onmicrosoft.com", "US"), rid); code != 400 || !bytes.Equal(b, b1) {
		t.Errorf("replay while active: %d %s", code, b)
	}
	if rem, hits := s.faultByID(fid); rem != nil || hits != 1 {
		t.Errorf("hits %d remaining %v, want 1 and null", hits, rem)
	}
	// Without MS-RequestId nothing is stored.
	if code, _, _ := s.do(http.MethodPost, "/v1/customers", tok, customerBody("refuse1.onmicrosoft.com", "US"), nil); code != 400 {
		t.Errorf("refusal without MS-RequestId: %d", code)
	}
	if st, _ := s.admin(http.MethodDelete, "/_sim/faults/"+fid, nil); st != http.StatusNoContent {
		t.Fatalf("delete fault: %d", st)
	}
	if code, _, b := s.do(http.MethodPost, "/v1/customers", tok, customerBody("refuse1.onmicrosoft.com", "US"), rid); code != 400 || !bytes.Equal(b, b1) {
		t.Errorf("replay after the fault is deleted: %d %s", code, b)
	}
	if n := s.customerCount(p.TenantID); n != 0 {
		t.Errorf("refused requests did work: %d customers", n)
	}
	if code, _, b := s.do(http.MethodPost, "/v1/customers", tok, customerBody("refuse1.onmicrosoft.com", "US"), map[string]string{"MS-RequestId": newGUID()}); code != http.StatusCreated {
		t.Errorf("fresh MS-RequestId: %d %s", code, b)
	}
}

// Graph has no MS-RequestId: refuse is a definite 4xx in Graph's shape that
// does no work; the retry does it.
func TestFaultRefuseGraph(t *testing.T) {
	s := newSim(t, Options{})
	tn := newTenant(t, s, "global", "US")
	fid := s.fault(map[string]any{"api": "graph", "method": "POST", "path": "/v1.0/users", "mode": "refuse", "status": 403, "count": 1})
	code, hdr, b := tn.g(http.MethodPost, "/v1.0/users", newUserBody(tn.upn("r1")))
	expectGraphErr(t, "refuse", code, hdr, b, 403, "Authorization_RequestDenied", "Simulated refusal")
	for _, u := range s.graphState(tn.p.TenantID).Users {
		if u.UserPrincipalName == tn.upn("r1") {
			t.Fatal("refused request created the user")
		}
	}
	s.expectFired(fid, 1)
	tn.createUser(tn.upn("r1"))
}

// doTimeout sends a Partner Center request that gives up after timeout.
func (s *testSim) doTimeout(timeout time.Duration, method, path, token string, body any, hdr map[string]string) error {
	s.t.Helper()
	j, err := json.Marshal(body)
	if err != nil {
		s.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, method, s.url+path, bytes.NewReader(j))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := s.client.Do(req)
	if err == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return errors.New("answered: " + resp.Status)
	}
	return err
}

// waitFor polls cond until it holds or 10 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// delay_commit: the client gives up before delay_ms, the simulator still
// creates the customer (once) and stores the answer; a retry with the same
// MS-RequestId gets it, whether it arrives after the work (replay) or
// while the first request is still being processed (it waits for it).
func TestFaultDelayCommit(t *testing.T) {
	const delay = 1200 * time.Millisecond
	t.Run("retry after the work", func(t *testing.T) {
		s := newSim(t, Options{})
		p := s.partner("global", true, "US")
		tok := s.pcToken(p)
		fid := s.fault(map[string]any{"api": "partnercenter", "method": "POST", "path": "/v1/customers", "mode": "delay_commit", "delay_ms": delay.Milliseconds(), "count": 1})
		h := map[string]string{"MS-RequestId": newGUID()}
		if err := s.doTimeout(300*time.Millisecond, http.MethodPost, "/v1/customers", tok, customerBody("dc1.onmicrosoft.com", "US"), h); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("client should have timed out: %v", err)
		}
		s.expectFired(fid, 1)
		if n := s.customerCount(p.TenantID); n != 0 {
			t.Fatalf("work done before delay_ms: %d customers", n)
		}
		waitFor(t, "the abandoned request's customer", func() bool { return s.customerCount(p.TenantID) == 1 })
		code, _, b1 := s.do(http.MethodPost, "/v1/customers", tok, customerBody("dc1.onmicrosoft.com", "US"), h)
		if code != http.StatusCreated || decode[map[string]any](t, b1)["id"] != s.state(p.TenantID)[0].Customers[0].ID {
			t.Fatalf("retry: %d %s", code, b1)
		}
		if code, _, b2 := s.do(http.MethodPost, "/v1/customers", tok, customerBody("dc1.onmicrosoft.com", "US"), h); code != http.StatusCreated || !bytes.Equal(b1, b2) {
			t.Errorf("second retry: %d %s", code, b2)
		}
		if n := s.customerCount(p.TenantID); n != 1 {
			t.Errorf("%d customers", n)
		}
	})
	t.Run("retry while in flight", func(t *testing.T) {
		s := newSim(t, Options{})
		p := s.partner("global", true, "US")
		tok := s.pcToken(p)
		fid := s.fault(map[string]any{"api": "partnercenter", "method": "POST", "path": "/v1/customers", "mode": "delay_commit", "delay_ms": delay.Milliseconds(), "count": 1})
		h := map[string]string{"MS-RequestId": newGUID()}
		start := time.Now()
		if err := s.doTimeout(300*time.Millisecond, http.MethodPost, "/v1/customers", tok, customerBody("dc2.onmicrosoft.com", "US"), h); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("client should have timed out: %v", err)
		}
		s.expectFired(fid, 1)
		// The retry arrives while the first is still being processed: it
		// waits for the first one's outcome instead of doing the work again.
		code, _, b := s.do(http.MethodPost, "/v1/customers", tok, customerBody("dc2.onmicrosoft.com", "US"), h)
		if code != http.StatusCreated {
			t.Fatalf("in-flight retry: %d %s", code, b)
		}
		if el := time.Since(start); el < delay {
			t.Errorf("in-flight retry answered after %v, before the first request's work (%v)", el, delay)
		}
		st := s.state(p.TenantID)[0]
		if len(st.Customers) != 1 || decode[map[string]any](t, b)["id"] != st.Customers[0].ID {
			t.Errorf("customers %+v, answer %s", st.Customers, b)
		}
		// A fresh MS-RequestId meets the customer that exists.
		if code, _, b := s.do(http.MethodPost, "/v1/customers", tok, customerBody("dc2.onmicrosoft.com", "US"), map[string]string{"MS-RequestId": newGUID()}); code != http.StatusConflict {
			t.Errorf("fresh MS-RequestId: %d %s", code, b)
		}
	})
	t.Run("delay gives up with the client", func(t *testing.T) {
		// Contrast: plain delay does nothing for a client that gave up.
		s := newSim(t, Options{})
		p := s.partner("global", true, "US")
		tok := s.pcToken(p)
		fid := s.fault(map[string]any{"api": "partnercenter", "method": "POST", "path": "/v1/customers", "mode": "delay", "delay_ms": 600, "count": 1})
		h := map[string]string{"MS-RequestId": newGUID()}
		if err := s.doTimeout(200*time.Millisecond, http.MethodPost, "/v1/customers", tok, customerBody("dc3.onmicrosoft.com", "US"), h); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("client should have timed out: %v", err)
		}
		time.Sleep(800 * time.Millisecond)
		if n := s.customerCount(p.TenantID); n != 0 {
			t.Errorf("delay did the work for a client that gave up: %d customers", n)
		}
		s.expectFired(fid, 1)
		if code, _, b := s.do(http.MethodPost, "/v1/customers", tok, customerBody("dc3.onmicrosoft.com", "US"), h); code != http.StatusCreated {
			t.Errorf("retry: %d %s", code, b)
		}
	})
}

// Graph delay_commit: the user is created although the client gave up.
func TestFaultDelayCommitGraph(t *testing.T) {
	s := newSim(t, Options{})
	tn := newTenant(t, s, "global", "US")
	s.fault(map[string]any{"api": "graph", "method": "POST", "path": "/v1.0/users", "mode": "delay_commit", "delay_ms": 800, "count": 1})
	if err := s.doTimeout(200*time.Millisecond, http.MethodPost, "/v1.0/users", tn.gtok, newUserBody(tn.upn("dc")), nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("client should have timed out: %v", err)
	}
	waitFor(t, "the abandoned request's user", func() bool {
		for _, u := range s.graphState(tn.p.TenantID).Users {
			if u.UserPrincipalName == tn.upn("dc") {
				return true
			}
		}
		return false
	})
	code, hdr, b := tn.g(http.MethodPost, "/v1.0/users", newUserBody(tn.upn("dc")))
	expectGraphErr(t, "retry", code, hdr, b, 400, "Request_BadRequest", msgDuplicateUPN)
}
