package mscloud

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"sync"
	"testing"
)

func TestRequestIDReplay(t *testing.T) {
	s := newSim(t, Options{})
	p := s.partner("global", true, "US")
	tok := s.pcToken(p)
	rid := newGUID()
	h := map[string]string{"MS-RequestId": rid}

	c1, h1, b1 := s.do(http.MethodPost, "/v1/customers", tok, customerBody("replay1.onmicrosoft.com", "US"), h)
	c2, h2, b2 := s.do(http.MethodPost, "/v1/customers", tok, customerBody("replay1.onmicrosoft.com", "US"), h)
	if c1 != http.StatusCreated || c2 != http.StatusCreated || !bytes.Equal(b1, b2) || h1.Get("Content-Type") != h2.Get("Content-Type") {
		t.Fatalf("replay differs: %d %s / %d %s", c1, b1, c2, b2)
	}
	if n := len(s.state(p.TenantID)[0].Customers); n != 1 {
		t.Errorf("replay created %d customers", n)
	}
	// A new MS-RequestId does the work again (and now the domain is taken).
	if c, _, b := s.do(http.MethodPost, "/v1/customers", tok, customerBody("replay1.onmicrosoft.com", "US"), map[string]string{"MS-RequestId": newGUID()}); c != http.StatusConflict {
		t.Errorf("new request id: %d %s", c, b)
	}
	// Business errors are replayed too: the stored 409 stays even after the domain is freed.
	rid2 := newGUID()
	c, _, _ := s.do(http.MethodPost, "/v1/customers", tok, customerBody("replay1.onmicrosoft.com", "US"), map[string]string{"MS-RequestId": rid2})
	id := decode[map[string]any](t, b1)["id"].(string)
	if d, _, _ := s.do(http.MethodDelete, "/v1/customers/"+id, tok, nil, nil); d != http.StatusNoContent || c != http.StatusConflict {
		t.Fatalf("setup: %d %d", c, d)
	}
	if c, _, _ := s.do(http.MethodPost, "/v1/customers", tok, customerBody("replay1.onmicrosoft.com", "US"), map[string]string{"MS-RequestId": rid2}); c != http.StatusConflict {
		t.Errorf("replayed business error: %d", c)
	}
	// The key includes the partner: another partner with the same id does its own work.
	q := s.partner("global", true, "US")
	if c, _, _ := s.do(http.MethodPost, "/v1/customers", s.pcToken(q), customerBody("replay2.onmicrosoft.com", "US"), h); c != http.StatusCreated {
		t.Errorf("other partner with same MS-RequestId: %d", c)
	}
}

func TestRequestIDReplayOff(t *testing.T) {
	for _, viaSettings := range []bool{false, true} {
		s := newSim(t, Options{DisableRequestIdReplay: !viaSettings})
		if viaSettings {
			if st, b := s.admin(http.MethodPost, "/_sim/settings", map[string]any{"request_id_replay": false}); st != 200 {
				t.Fatalf("settings: %d %s", st, b)
			}
		}
		tok := s.pcToken(s.partner("global", true, "US"))
		h := map[string]string{"MS-RequestId": newGUID()}
		if c, _, b := s.do(http.MethodPost, "/v1/customers", tok, customerBody("noreplay.onmicrosoft.com", "US"), h); c != http.StatusCreated {
			t.Fatalf("first: %d %s", c, b)
		}
		// Without replay the retry is a new create and hits the taken domain:
		// the gateway must read back instead.
		c, _, b := s.do(http.MethodPost, "/v1/customers", tok, customerBody("noreplay.onmicrosoft.com", "US"), h)
		if c != http.StatusConflict || decode[pcErr](t, b).Code != codeDomainExists {
			t.Errorf("viaSettings=%v: retry %d %s", viaSettings, c, b)
		}
	}
}

// Concurrent retries with one MS-RequestId do the work once.
func TestRequestIDReplayConcurrent(t *testing.T) {
	s := newSim(t, Options{})
	p := s.partner("global", true, "US")
	tok := s.pcToken(p)
	h := map[string]string{"MS-RequestId": newGUID()}
	const n = 8
	bodies := make(chan []byte, n)
	codes := make(chan int, n)
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// s.do may call t.Fatal, which must not run off the test goroutine.
			j, _ := json.Marshal(customerBody("concurrent1.onmicrosoft.com", "US"))
			req, _ := http.NewRequest(http.MethodPost, s.url+"/v1/customers", bytes.NewReader(j))
			req.Header.Set("Authorization", "Bearer "+tok)
			req.Header.Set("MS-RequestId", h["MS-RequestId"])
			resp, err := s.client.Do(req)
			if err != nil {
				codes <- 0
				bodies <- nil
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			codes <- resp.StatusCode
			bodies <- b
		}()
	}
	wg.Wait()
	close(codes)
	close(bodies)
	var first []byte
	for b := range bodies {
		if first == nil {
			first = b
		} else if !bytes.Equal(first, b) {
			t.Errorf("answers differ")
		}
	}
	for c := range codes {
		if c != http.StatusCreated {
			t.Errorf("status %d", c)
		}
	}
	if got := len(s.state(p.TenantID)[0].Customers); got != 1 {
		t.Errorf("%d customers created", got)
	}
}
