package mscloud

import (
	"net/http"
	"strconv"
	"testing"
	"time"
)

func TestThrottlingPerPartnerAndCustomer(t *testing.T) {
	s := newSim(t, Options{})
	a := s.partner("global", true, "US")
	b := s.partner("global", true, "US")
	ta, tb := s.pcToken(a), s.pcToken(b)
	c1 := s.createCustomer(ta, customerBody("thr1.onmicrosoft.com", "US"))["id"].(string)
	c2 := s.createCustomer(ta, customerBody("thr2.onmicrosoft.com", "US"))["id"].(string)

	// Defaults are generous: a burst of normal calls passes.
	for range 20 {
		if code, _, _ := s.do(http.MethodGet, "/v1/customers", ta, nil, nil); code != 200 {
			t.Fatalf("default rates throttled a burst: %d", code)
		}
	}

	// Per partner+customer: one call per 10 s.
	if st, b := s.admin(http.MethodPost, "/_sim/settings", map[string]any{"throttle_customer_rps": 0.1}); st != 200 {
		t.Fatalf("settings: %d %s", st, b)
	}
	if code, _, _ := s.do(http.MethodGet, "/v1/customers/"+c1, ta, nil, nil); code != 200 {
		t.Fatalf("first call for c1: %d", code)
	}
	code, hdr, body := s.do(http.MethodGet, "/v1/customers/"+c1+"/profiles/billing", ta, nil, nil)
	ra, _ := strconv.Atoi(hdr.Get("Retry-After"))
	m := decode[map[string]any](t, body)
	if code != 429 || ra < 1 || ra > 10 || m["statusCode"] != float64(429) || m["message"] != "Rate limit is exceeded. Try again in "+strconv.Itoa(ra)+" seconds." {
		t.Fatalf("second call for c1: %d Retry-After %q %s", code, hdr.Get("Retry-After"), body)
	}
	if code, _, _ := s.do(http.MethodGet, "/v1/customers/"+c2, ta, nil, nil); code != 200 {
		t.Errorf("another customer is a separate bucket: %d", code)
	}
	if code, _, _ := s.do(http.MethodGet, "/v1/customers", ta, nil, nil); code != 200 {
		t.Errorf("partner-level call: %d", code)
	}
	// Moving the simulated clock refills the bucket.
	if err := s.srv.Clock().Advance(time.Duration(ra) * time.Second); err != nil {
		t.Fatal(err)
	}
	if code, _, b := s.do(http.MethodGet, "/v1/customers/"+c1, ta, nil, nil); code != 200 {
		t.Errorf("after Retry-After: %d %s", code, b)
	}

	// Per partner: one call per 5 s, burst 1 (slow enough that the second
	// call meets the empty bucket on any machine).
	if st, b := s.admin(http.MethodPost, "/_sim/settings", map[string]any{"throttle_partner_rps": 0.2, "throttle_customer_rps": 0}); st != 200 {
		t.Fatalf("settings: %d %s", st, b)
	}
	if code, _, _ := s.do(http.MethodGet, "/v1/customers", ta, nil, nil); code != 200 {
		t.Errorf("first partner call: %d", code)
	}
	code, hdr, _ = s.do(http.MethodGet, "/v1/countryvalidationrules/US", ta, nil, nil)
	if ra, _ := strconv.Atoi(hdr.Get("Retry-After")); code != 429 || ra < 1 || ra > 5 {
		t.Errorf("second partner call: %d %v", code, hdr)
	}
	if code, _, _ := s.do(http.MethodGet, "/v1/customers", tb, nil, nil); code != 200 {
		t.Errorf("other partner is not throttled: %d", code)
	}
	// 0 = unlimited.
	if st, _ := s.admin(http.MethodPost, "/_sim/settings", map[string]any{"throttle_partner_rps": 0}); st != 200 {
		t.Fatal("settings")
	}
	for range 5 {
		if code, _, _ := s.do(http.MethodGet, "/v1/customers", ta, nil, nil); code != 200 {
			t.Fatalf("unlimited: %d", code)
		}
	}
	// GET /_sim/state counts the partner's calls and its throttling 429s.
	st, body := s.admin(http.MethodGet, "/_sim/state?partner="+a.TenantID, nil)
	counts := decode[struct {
		Partners []struct {
			Calls     int `json:"pc_calls"`
			Throttled int `json:"pc_throttled"`
		} `json:"partners"`
	}](t, body)
	if st != 200 || counts.Partners[0].Throttled != 2 || counts.Partners[0].Calls != 32 {
		t.Errorf("state counts %+v, want 32 calls and 2 throttled: %d %s", counts.Partners, st, body)
	}
}

func TestThrottleOptions(t *testing.T) {
	s := newSim(t, Options{PartnerRPS: 0.5})
	tok := s.pcToken(s.partner("global", true, "US"))
	if code, _, _ := s.do(http.MethodGet, "/v1/customers", tok, nil, nil); code != 200 {
		t.Fatalf("first: %d", code)
	}
	if code, hdr, _ := s.do(http.MethodGet, "/v1/customers", tok, nil, nil); code != 429 || hdr.Get("Retry-After") != "2" {
		t.Errorf("second: %d Retry-After %q", code, hdr.Get("Retry-After"))
	}
}
