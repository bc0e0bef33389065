package partnercenter

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/o365gateway/gateway/services/shared/clouds"
)

type staticCred struct{}

func (staticCred) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{Token: "tok", ExpiresOn: time.Now().Add(time.Hour)}, nil
}

type seen struct {
	mu           sync.Mutex
	requestIDs   []string
	correlations []string
	auth         []string
}

func newClient(t *testing.T, h func(w http.ResponseWriter, r *http.Request, n int)) (*Client, *seen) {
	t.Helper()
	s := &seen{}
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.requestIDs = append(s.requestIDs, r.Header.Get("MS-RequestId"))
		s.correlations = append(s.correlations, r.Header.Get("MS-CorrelationId"))
		s.auth = append(s.auth, r.Header.Get("Authorization"))
		n := len(s.requestIDs)
		s.mu.Unlock()
		h(w, r, n)
	}))
	t.Cleanup(srv.Close)
	e, _ := clouds.Lookup("global")
	e = e.Override("", srv.URL, "")
	c := New(e, staticCred{}, srv.Client(), Options{RetryDelay: time.Millisecond, MaxRetryDelay: 2 * time.Second,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	return c, s
}

func TestRetriesKeepTheRequestIDAndChangeTheCorrelationID(t *testing.T) {
	c, s := newClient(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if n < 3 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write([]byte(`{"id":"c1","companyProfile":{"domain":"x.onmicrosoft.com"},"userCredentials":{"userName":"admin@x.onmicrosoft.com","password":"p"}}`))
	})
	cust, err := c.CreateCustomer(WithRequestID(context.Background(), "req-fixed"), Customer{})
	if err != nil || cust.ID != "c1" || cust.UserCredentials.Password != "p" {
		t.Fatalf("%+v %v", cust, err)
	}
	if len(s.requestIDs) != 3 {
		t.Fatalf("%d attempts", len(s.requestIDs))
	}
	for i, id := range s.requestIDs {
		if id != "req-fixed" {
			t.Fatalf("attempt %d sent MS-RequestId %q", i, id)
		}
		if s.auth[i] != "Bearer tok" {
			t.Fatalf("attempt %d without bearer token", i)
		}
	}
	if s.correlations[0] == "" || s.correlations[0] == s.correlations[1] || s.correlations[1] == s.correlations[2] {
		t.Fatalf("correlation ids %v", s.correlations)
	}
}

func TestErrorShapes(t *testing.T) {
	cases := []struct {
		name, body string
		status     int
		header     map[string]string
		check      func(*Error) bool
	}{
		{"classic", `{"code":2030,"description":"Partner is not onboarded","data":[],"source":"PartnerFD"}`, 403, nil,
			func(e *Error) bool {
				return e.Code == 2030 && e.Description == "Partner is not onboarded" && !e.Transient()
			}},
		{"string code", `{"code":"600049","description":"registration number missing"}`, 400, nil,
			func(e *Error) bool { return e.Code == 600049 }},
		{"rich", `{"code":600061,"message":"exists","description":"A partner confirmed agreement already exists","errorName":"PartnerConfirmedAgreementAlreadyExists","isRetryable":false}`, 409, nil,
			func(e *Error) bool {
				return e.Code == 600061 && e.ErrorName == "PartnerConfirmedAgreementAlreadyExists"
			}},
		{"throttle", `{"statusCode":429,"message":"Rate limit is exceeded. Try again in 57 seconds."}`, 429, map[string]string{"Retry-After": "57"},
			func(e *Error) bool {
				return e.Throttled() && e.RetryAfter == 57*time.Second && e.Description == "Rate limit is exceeded. Try again in 57 seconds."
			}},
		{"no body", ``, 502, nil, func(e *Error) bool { return e.Transient() && e.Description == "Bad Gateway" }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, s := newClient(t, func(w http.ResponseWriter, r *http.Request, n int) {
				for k, v := range tc.header {
					w.Header().Set(k, v)
				}
				w.WriteHeader(tc.status)
				_, _ = w.Write([]byte(tc.body))
			})
			_, err := c.GetCustomer(context.Background(), "x")
			e, ok := AsError(err)
			if !ok || e.StatusCode != tc.status || !tc.check(e) {
				t.Fatalf("got %+v (%v)", e, err)
			}
			if tc.name == "throttle" && len(s.requestIDs) != 1 {
				t.Fatalf("a Retry-After beyond MaxRetryDelay was waited for in process: %d attempts", len(s.requestIDs))
			}
		})
	}
}

func TestDomainExistsAndPaging(t *testing.T) {
	c, _ := newClient(t, func(w http.ResponseWriter, r *http.Request, n int) {
		switch {
		case r.Method == http.MethodHead && r.URL.Path == "/v1/domains/taken.onmicrosoft.com":
			w.WriteHeader(200)
		case r.Method == http.MethodHead:
			w.WriteHeader(404)
		case r.URL.Query().Get("seekOperation") == "Next" && r.Header.Get("MS-ContinuationToken") == "page2":
			_, _ = w.Write([]byte(`{"totalCount":1,"items":[{"id":"c2","companyProfile":{"domain":"b.onmicrosoft.com"}}],"links":{}}`))
		case r.URL.Path == "/v1/customers" && r.URL.Query().Get("filter") != "":
			_, _ = w.Write([]byte(`{"totalCount":1,"items":[{"id":"c1","companyProfile":{"domain":"bb.onmicrosoft.com"}}],
				"links":{"next":{"uri":"/customers?size=100&seekOperation=Next","method":"GET","headers":[{"key":"MS-ContinuationToken","value":"page2"}]}}}`))
		default:
			w.WriteHeader(400)
		}
	})
	ctx := context.Background()
	if taken, err := c.DomainExists(ctx, "taken.onmicrosoft.com"); err != nil || !taken {
		t.Fatalf("%v %v", taken, err)
	}
	if taken, err := c.DomainExists(ctx, "free.onmicrosoft.com"); err != nil || taken {
		t.Fatalf("%v %v", taken, err)
	}
	found, err := c.FindCustomerByDomain(ctx, "b.onmicrosoft.com")
	if err != nil || found == nil || found.ID != "c2" {
		t.Fatalf("%+v %v", found, err)
	}
}

func TestCountryRulesBothShapes(t *testing.T) {
	for _, body := range []string{
		`{"iso2Code":"US","isStateRequired":true,"supportedStatesList":["WA","NY"],"postalCodeRegex":"^\\d{5}$"}`,
		`{"iso2Code":"US","isStateRequired":true,"states":{"value":["WA","NY"]},"postalCodeRegex":"^\\d{5}$"}`,
	} {
		c, _ := newClient(t, func(w http.ResponseWriter, r *http.Request, n int) { _, _ = w.Write([]byte(body)) })
		r, err := c.CountryRules(context.Background(), "us")
		if err != nil || !r.IsStateRequired || len(r.SupportedStates) != 2 || r.PostalCodeRegex != `^\d{5}$` {
			t.Fatalf("%+v %v", r, err)
		}
	}
}

func TestAttestationAlreadyExistsIsSuccess(t *testing.T) {
	c, _ := newClient(t, func(w http.ResponseWriter, r *http.Request, n int) {
		w.WriteHeader(409)
		_, _ = w.Write([]byte(`{"code":600061,"errorName":"PartnerConfirmedAgreementAlreadyExists"}`))
	})
	if err := c.AttestAgreement(context.Background(), "c", Agreement{}); err != nil {
		t.Fatal(err)
	}
}

func TestPatchEchoesUnknownFields(t *testing.T) {
	var got map[string]any
	c, _ := newClient(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if r.Method == http.MethodGet {
			_, _ = w.Write([]byte(`{"id":"s1","offerId":"o","quantity":5,"status":"active","autoRenewEnabled":true,
				"scheduledNextTermInstructions":{"product":{"productId":"P"}},"attributes":{"etag":"e1","objectType":"Subscription"}}`))
			return
		}
		_ = json.NewDecoder(r.Body).Decode(&got)
		_, _ = w.Write([]byte(`{"id":"s1","quantity":7,"status":"active"}`))
	})
	sub, err := c.GetSubscription(context.Background(), "c", "s1")
	if err != nil {
		t.Fatal(err)
	}
	sub.Quantity = 7
	out, err := c.PatchSubscription(context.Background(), "c", *sub, nil)
	if err != nil || out.Quantity != 7 {
		t.Fatalf("%+v %v", out, err)
	}
	if got["quantity"] != float64(7) || got["scheduledNextTermInstructions"] == nil || got["autoRenewEnabled"] != true {
		t.Fatalf("PATCH body %v", got)
	}
}

func TestUnauthorizedIsRetriedOnceWithTheSameRequestID(t *testing.T) {
	c, s := newClient(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if n == 1 {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"code":900300,"description":"The access token has expired."}`))
			return
		}
		_, _ = w.Write([]byte(`{"id":"c1"}`))
	})
	if _, err := c.CreateCustomer(WithRequestID(context.Background(), "r1"), Customer{}); err != nil {
		t.Fatal(err)
	}
	if len(s.requestIDs) != 2 || s.requestIDs[1] != "r1" {
		t.Fatalf("%v", s.requestIDs)
	}
}

func TestCartErrorCodeShapes(t *testing.T) {
	for raw, want := range map[string]CartErrorCode{`10009`: 10009, `"sandbox_limit_exceeded"`: 10009, `"AttestationNotAccepted"`: 10012, `"unknown_thing"`: 0} {
		var c CartErrorCode
		if err := json.Unmarshal([]byte(raw), &c); err != nil || c != want {
			t.Errorf("%s: got %d %v", raw, c, err)
		}
	}
}

// A 202 whose change never finishes is followed only for PollFor; then the
// call hands back ErrStillRunning instead of holding its worker.
func TestAcceptedPatchPollingIsBounded(t *testing.T) {
	c, _ := newClient(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if r.Method == http.MethodPatch {
			w.Header().Set("Location", "/v1/customers/c1/subscriptions/s1")
			w.WriteHeader(http.StatusAccepted)
			return
		}
		fmt.Fprint(w, `{"id":"s1","offerId":"o","quantity":10,"status":"active"}`)
	})
	c.pollFor = 1500 * time.Millisecond
	start := time.Now()
	_, err := c.PatchSubscription(context.Background(), "c1", Subscription{ID: "s1", Quantity: 15},
		func(s *Subscription) bool { return s.Quantity == 15 })
	if !errors.Is(err, ErrStillRunning) {
		t.Fatalf("want ErrStillRunning, got %v", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("polled for %s", d)
	}
}
