package mscloud

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func (s *testSim) fault(body map[string]any) string {
	s.t.Helper()
	st, b := s.admin(http.MethodPost, "/_sim/faults", body)
	if st != http.StatusCreated {
		s.t.Fatalf("add fault: %d %s", st, b)
	}
	return decode[map[string]string](s.t, b)["id"]
}

type faultList struct {
	Faults []struct {
		ID        string `json:"id"`
		Remaining *int   `json:"remaining"`
		Hits      int    `json:"hits"`
		Status    int    `json:"status"`
	} `json:"faults"`
}

func TestFaultErrorPrefixMethodAndCount(t *testing.T) {
	s := newSim(t, Options{})
	p := s.partner("global", true, "US")
	tok := s.pcToken(p)
	c := s.createCustomer(tok, customerBody("fault1.onmicrosoft.com", "US"))
	id := c["id"].(string)

	// Prefix /v1/customers/ matches /v1/customers/{id}/profiles/billing; GET only; two hits.
	s.fault(map[string]any{"api": "partnercenter", "method": "get", "path": "/v1/customers/", "mode": "error", "status": 503, "count": 2})
	// No token at all: faults come before authentication.
	code, hdr, b := s.do(http.MethodGet, "/v1/customers/"+id+"/profiles/billing", "", nil, nil)
	e := decode[pcErr](t, b)
	if code != 503 || e.Code != 503 || e.Source != "PartnerFD" || hdr.Get("MS-CV") == "" {
		t.Fatalf("first hit: %d %s", code, b)
	}
	// Other method and non-matching prefix pass.
	if code, _, b := s.do(http.MethodPost, "/v1/validations/address", tok, validAddresses["US"], nil); code != 200 {
		t.Errorf("unmatched path: %d %s", code, b)
	}
	if code, _, _ := s.do(http.MethodGet, "/v1/customers", tok, nil, nil); code != 200 {
		t.Errorf("/v1/customers is not under /v1/customers/: %d", code)
	}
	if code, _, _ := s.do(http.MethodDelete, "/v1/customers/"+newGUID(), tok, nil, nil); code != 404 {
		t.Errorf("DELETE not matched by a GET fault: %d", code)
	}
	_, b = s.admin(http.MethodGet, "/_sim/faults", nil)
	fl := decode[faultList](t, b)
	if len(fl.Faults) != 1 || fl.Faults[0].Remaining == nil || *fl.Faults[0].Remaining != 1 || fl.Faults[0].Hits != 1 {
		t.Fatalf("fault list: %s", b)
	}
	if code, _, _ := s.do(http.MethodGet, "/v1/customers/"+id, tok, nil, nil); code != 503 {
		t.Errorf("second hit: %d", code)
	}
	if code, _, _ := s.do(http.MethodGet, "/v1/customers/"+id, tok, nil, nil); code != 200 {
		t.Errorf("after count is used up: %d", code)
	}
	// A used-up fault stays listed (remaining 0) with its hits until cleared.
	_, b = s.admin(http.MethodGet, "/_sim/faults", nil)
	if fl := decode[faultList](t, b); len(fl.Faults) != 1 || fl.Faults[0].Remaining == nil || *fl.Faults[0].Remaining != 0 || fl.Faults[0].Hits != 2 {
		t.Errorf("used-up fault: %s", b)
	}
	if st, _ := s.admin(http.MethodDelete, "/_sim/faults", nil); st != http.StatusNoContent {
		t.Errorf("clear: %d", st)
	}

	// count 0 = until cleared; DELETE one and DELETE all.
	f1 := s.fault(map[string]any{"api": "partnercenter", "path": "/v1/domains", "mode": "error", "status": 500})
	s.fault(map[string]any{"api": "partnercenter", "path": "/v1/countryvalidationrules", "mode": "error"})
	for range 3 {
		if code, _, _ := s.do(http.MethodHead, "/v1/domains/x.onmicrosoft.com", tok, nil, nil); code != 500 {
			t.Errorf("unlimited fault: %d", code)
		}
	}
	_, b = s.admin(http.MethodGet, "/_sim/faults", nil)
	if fl := decode[faultList](t, b); len(fl.Faults) != 2 || fl.Faults[0].Remaining != nil || fl.Faults[0].Hits != 3 || fl.Faults[1].Status != 500 {
		t.Errorf("list: %s", b)
	}
	if st, _ := s.admin(http.MethodDelete, "/_sim/faults/"+f1, nil); st != http.StatusNoContent {
		t.Errorf("delete fault: %d", st)
	}
	if st, _ := s.admin(http.MethodDelete, "/_sim/faults/"+f1, nil); st != http.StatusNotFound {
		t.Errorf("delete fault twice: %d", st)
	}
	if code, _, _ := s.do(http.MethodHead, "/v1/domains/x.onmicrosoft.com", tok, nil, nil); code != 404 {
		t.Errorf("after delete: %d", code)
	}
	if st, _ := s.admin(http.MethodDelete, "/_sim/faults", nil); st != http.StatusNoContent {
		t.Errorf("clear: %d", st)
	}
	if code, _, _ := s.do(http.MethodGet, "/v1/countryvalidationrules/US", tok, nil, nil); code != 200 {
		t.Errorf("after clear: %d", code)
	}
}

func TestFaultErrorAfterCommitThenReplay(t *testing.T) {
	s := newSim(t, Options{})
	p := s.partner("global", true, "US")
	tok := s.pcToken(p)
	s.fault(map[string]any{"api": "partnercenter", "method": "POST", "path": "/v1/customers", "mode": "error_after_commit", "status": 504, "count": 1})
	h := map[string]string{"MS-RequestId": newGUID()}
	code, _, b := s.do(http.MethodPost, "/v1/customers", tok, customerBody("commit1.onmicrosoft.com", "US"), h)
	if code != 504 || decode[pcErr](t, b).Code != 504 {
		t.Fatalf("first attempt: %d %s", code, b)
	}
	// The work was done.
	if st := s.state(p.TenantID); len(st[0].Customers) != 1 || st[0].Customers[0].Domain != "commit1.onmicrosoft.com" {
		t.Fatalf("customer not committed: %+v", st)
	}
	// The retry with the same MS-RequestId gets the real success answer.
	code, _, b = s.do(http.MethodPost, "/v1/customers", tok, customerBody("commit1.onmicrosoft.com", "US"), h)
	if code != http.StatusCreated || decode[map[string]any](t, b)["id"] != s.state(p.TenantID)[0].Customers[0].ID {
		t.Fatalf("retry: %d %s", code, b)
	}
	if n := len(s.state(p.TenantID)[0].Customers); n != 1 {
		t.Errorf("%d customers after retry", n)
	}
	// A plain error fault does not do the work: the retry creates it.
	s.fault(map[string]any{"api": "partnercenter", "method": "POST", "path": "/v1/customers", "mode": "error", "count": 1})
	h2 := map[string]string{"MS-RequestId": newGUID()}
	if code, _, _ := s.do(http.MethodPost, "/v1/customers", tok, customerBody("commit2.onmicrosoft.com", "US"), h2); code != 500 {
		t.Fatalf("error fault: %d", code)
	}
	if n := len(s.state(p.TenantID)[0].Customers); n != 1 {
		t.Errorf("error fault did the work")
	}
	if code, _, _ := s.do(http.MethodPost, "/v1/customers", tok, customerBody("commit2.onmicrosoft.com", "US"), h2); code != http.StatusCreated {
		t.Errorf("retry after error fault: %d", code)
	}
}

func TestFaultThrottleShapes(t *testing.T) {
	s := newSim(t, Options{})
	p := s.partner("global", true, "US")
	tok := s.pcToken(p)
	graphTok := s.token(p, "https://graph.microsoft.com/.default")

	s.fault(map[string]any{"api": "partnercenter", "path": "/v1/", "mode": "throttle", "retry_after_seconds": 7, "count": 1})
	code, hdr, b := s.do(http.MethodGet, "/v1/customers", tok, nil, nil)
	body := decode[map[string]any](t, b)
	if code != 429 || hdr.Get("Retry-After") != "7" || body["statusCode"] != float64(429) || body["message"] != "Rate limit is exceeded. Try again in 7 seconds." || len(body) != 2 {
		t.Errorf("PC throttle: %d %v %s", code, hdr, b)
	}

	s.fault(map[string]any{"api": "graph", "path": "/v1.0/users", "mode": "throttle", "retry_after_seconds": 3, "count": 1})
	code, hdr, b = s.do(http.MethodGet, "/v1.0/users?$top=5", graphTok, nil, map[string]string{"client-request-id": "abc"})
	ge := decode[struct {
		Error struct {
			Code       string            `json:"code"`
			Message    string            `json:"message"`
			InnerError map[string]string `json:"innerError"`
		} `json:"error"`
	}](t, b)
	if code != 429 || hdr.Get("Retry-After") != "3" || ge.Error.Code != "TooManyRequests" || ge.Error.InnerError["client-request-id"] != "abc" ||
		!strings.Contains(hdr.Get("x-ms-throttle-scope"), p.ClientID) || hdr.Get("x-ms-throttle-information") == "" {
		t.Errorf("Graph throttle: %d %v %s", code, hdr, b)
	}

	s.fault(map[string]any{"api": "login", "path": "/" + p.TenantID + "/oauth2", "mode": "throttle", "retry_after_seconds": 5, "count": 1})
	resp, err := s.client.PostForm(s.url+"/"+p.TenantID+"/oauth2/v2.0/token", url.Values{"grant_type": {"client_credentials"}})
	if err != nil {
		t.Fatal(err)
	}
	var lb bytes.Buffer
	_, _ = lb.ReadFrom(resp.Body)
	resp.Body.Close()
	le := decode[entraErrorBody](t, lb.Bytes())
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "5" || le.Error != "temporarily_unavailable" || !strings.HasPrefix(le.ErrorDescription, "AADSTS") || len(le.ErrorCodes) != 1 {
		t.Errorf("login throttle: %d %s", resp.StatusCode, lb.Bytes())
	}
	// Login error fault and error_after_commit (the token is issued but the answer is an error).
	s.fault(map[string]any{"api": "login", "mode": "error", "status": 503, "count": 1})
	if st, body := s.tokenForm(p.TenantID, url.Values{}); st != 503 || body["error"] != "temporarily_unavailable" {
		t.Errorf("login error: %d %v", st, body)
	}
	s.srv.entra.mu.Lock()
	before := len(s.srv.entra.tokens)
	s.srv.entra.mu.Unlock()
	s.fault(map[string]any{"api": "login", "mode": "error_after_commit", "status": 500, "count": 1})
	st, lbody := s.tokenForm(p.TenantID, url.Values{"grant_type": {"client_credentials"}, "client_id": {p.ClientID}, "client_secret": {p.ClientSecret}, "scope": {pcScope}})
	s.srv.entra.mu.Lock()
	after := len(s.srv.entra.tokens)
	s.srv.entra.mu.Unlock()
	if st != 500 || lbody["error"] != "server_error" || after != before+1 {
		t.Errorf("login error_after_commit: %d %v tokens %d->%d", st, lbody, before, after)
	}
	// Graph error fault shape.
	s.fault(map[string]any{"api": "graph", "mode": "error", "status": 500, "count": 1})
	code, hdr, b = s.do(http.MethodGet, "/v1.0/organization", graphTok, nil, nil)
	if ge := decode[map[string]map[string]any](t, b); code != 500 || ge["error"]["code"] != "generalException" || hdr.Get("request-id") == "" {
		t.Errorf("graph error: %d %s", code, b)
	}
}

func TestFaultDelay(t *testing.T) {
	s := newSim(t, Options{})
	tok := s.pcToken(s.partner("global", true, "US"))
	fid := s.fault(map[string]any{"api": "partnercenter", "path": "/v1/customers", "mode": "delay", "delay_ms": 300, "count": 2})
	start := time.Now()
	if code, _, _ := s.do(http.MethodGet, "/v1/customers", tok, nil, nil); code != 200 {
		t.Errorf("delayed call: %d", code)
	}
	if el := time.Since(start); el < 300*time.Millisecond {
		t.Errorf("delay not applied: %v", el)
	}
	// The delay respects cancellation.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.url+"/v1/customers", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	if _, err := s.client.Do(req); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("cancelled delayed call: %v", err)
	}
	// The cancelled call used the second hit, whenever the simulator got it.
	waitFor(t, "the cancelled call to use up the fault", func() bool {
		remaining, _ := s.faultByID(fid)
		return remaining != nil && *remaining == 0
	})
	_, hits := s.faultByID(fid)
	if code, _, _ := s.do(http.MethodGet, "/v1/customers", tok, nil, nil); code != 200 {
		t.Errorf("call after the fault: %d", code)
	}
	if _, after := s.faultByID(fid); after != hits {
		t.Errorf("a used-up fault still hit a call: %d hits, then %d", hits, after)
	}
}

func TestFaultValidation(t *testing.T) {
	s := newSim(t, Options{})
	for name, body := range map[string]string{
		"unknown api":        `{"api":"arm","mode":"error"}`,
		"unknown mode":       `{"api":"graph","mode":"explode"}`,
		"bad status":         `{"api":"graph","mode":"error","status":200}`,
		"delay without ms":   `{"api":"graph","mode":"delay"}`,
		"negative count":     `{"api":"graph","mode":"error","count":-1}`,
		"relative path":      `{"api":"graph","mode":"error","path":"v1.0/users"}`,
		"unknown field":      `{"api":"graph","mode":"error","colour":"red"}`,
		"not JSON":           `{`,
		"negative throttle":  `{"api":"graph","mode":"throttle","retry_after_seconds":-2}`,
		"refuse with 5xx":    `{"api":"partnercenter","mode":"refuse","status":500}`,
		"refuse with 429":    `{"api":"partnercenter","mode":"refuse","status":429}`,
		"refuse with 401":    `{"api":"partnercenter","mode":"refuse","status":401}`,
		"delay_commit no ms": `{"api":"partnercenter","mode":"delay_commit"}`,
	} {
		if st, b := s.admin(http.MethodPost, "/_sim/faults", body); st != http.StatusBadRequest || decode[map[string]string](t, b)["error"] == "" {
			t.Errorf("%s: %d %s", name, st, b)
		}
	}
}
