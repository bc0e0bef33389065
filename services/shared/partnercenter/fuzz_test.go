package partnercenter

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/textproto"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/o365gateway/gateway/services/shared/clouds"
	"github.com/o365gateway/gateway/services/shared/msapi"
)

// FuzzParseError reads arbitrary error answers (status, Retry-After, body).
// Whatever the input: no panic, and an *Error that keeps the status, says
// something (Detail), and asks for a wait between 0 and msapi.MaxRetryAfter.
func FuzzParseError(f *testing.F) {
	for _, s := range []struct {
		status     int
		retryAfter string
		body       string
	}{
		{400, "", `{"code":2030,"description":"Customer country is not supported","data":[],"source":"PartnerCenter"}`},
		{400, "", `{"code":"600051","message":"Address is invalid","description":"","errorName":"InvalidAddress","isRetryable":false}`},
		{429, "7", `{"statusCode":429,"message":"Rate limit is exceeded. Try again in 7 seconds."}`},
		{503, "Wed, 21 Oct 2015 07:28:00 GMT", `<html><body>Service Unavailable</body></html>`},
		{409, "", "\xef\xbb\xbf{\"code\":600061,\"errorName\":\"PartnerConfirmedAgreementAlreadyExists\",\"isRetryable\":true}"},
		{404, "", ""},
		{400, "-1", `{"code":1e400,"statusCode":"x"}`},
	} {
		f.Add(s.status, s.retryAfter, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, status int, retryAfter string, body []byte) {
		resp := &http.Response{StatusCode: status, Header: http.Header{"Retry-After": {retryAfter}, "Ms-Requestid": {"r1"}}}
		e := parseError(resp, body)
		if e.Status() != status || e.RequestID != "r1" || e.Detail() == "" {
			t.Fatalf("%+v", e)
		}
		if w := e.Wait(); w < 0 || w > msapi.MaxRetryAfter {
			t.Fatalf("Retry-After %q read as %s", retryAfter, w)
		}
		if status >= 500 && !e.Transient() {
			t.Fatalf("HTTP %d is not transient", status)
		}
		_ = e.Error()
	})
}

// FuzzAnswer answers one call of the client (op picks which) with an
// arbitrary status, headers and body, every attempt alike. Whatever the
// answer: no panic; the call ends after a bounded number of requests, all
// to the Partner Center host; an error is a typed Partner Center error
// (msapi.Error) or ErrStillRunning, never a bare decoding error.
func FuzzAnswer(f *testing.F) {
	customer := `{"id":"c1","companyProfile":{"domain":"contoso.onmicrosoft.com"},"billingProfile":{"defaultAddress":{"country":"US"}}}`
	for _, s := range []struct {
		op      byte
		status  int
		headers string
		body    string
	}{
		{0, 200, "", customer},
		{0, 201, "", "\xef\xbb\xbf" + customer},
		{0, 200, "", `{"id":`},
		{1, 200, "", `{"totalCount":1,"items":[` + customer + `],"links":{}}`},
		{1, 200, "", `{"items":[],"links":{"next":{"uri":"/customers?size=100&seekOperation=Next","method":"GET","headers":[{"key":"MS-ContinuationToken","value":"abc"}]}}}`},
		{1, 200, "", `{"items":[],"links":{"next":{"uri":"%zz"}}}`},
		{2, 200, "", `{"iso2Code":"US","supportedStatesList":["WA"],"supportedLanguages":{"value":["en"]}}`},
		{3, 200, "", `{"items":[{"id":"o1","prerequisiteOffers":["a",{"id":"b"},3],"upgradeTargetOffers":null}]}`},
		{4, 200, "", `{"id":"s1","quantity":5,"status":"active","unknownField":{"kept":true}}`},
		{5, 202, "Location: /v1/customers/c1/subscriptions/s1", `{}`},
		{5, 202, "Location: https://other.example/%2525zz/subscriptions/x", ``},
		{6, 201, "", `{"id":"cart1","lineItems":[{"id":0,"error":{"errorCode":"SandboxLimitExceeded","errorDescription":"x"}}]}`},
		{7, 200, "", `{"orders":[],"orderErrors":[{"code":800018,"description":"sandbox"}]}`},
		{8, 200, "", `{"items":[{"templateId":"t1","agreementType":"MicrosoftCustomerAgreement"}]}`},
		{9, 409, "", `{"code":600061,"description":"exists"}`},
		{10, 404, "", ``},
		{11, 200, "", `{"status":"VerifiedShippable","suggestedAddresses":null}`},
		{12, 409, "", `{}`},
		{13, 429, "Retry-After: 99999999999999", `{"statusCode":429}`},
		{14, 200, "", `{"sourceSubscriptionId":"s1","upgradeErrors":[{"code":"x"}]}`},
		{0, 401, "WWW-Authenticate: Bearer error=\"insufficient_claims\", claims=\"e30=\"", `{}`},
	} {
		f.Add(s.op, s.status, s.headers, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, op byte, status int, headers string, body []byte) {
		if status < 200 || status > 599 {
			return // 1xx are handled inside net/http
		}
		tr := &fixedAnswer{status: status, header: headerLines(headers), body: body}
		e, _ := clouds.Lookup("global")
		c := New(e.Override("", "https://pc.test", ""), staticCred{}, &http.Client{Transport: tr},
			Options{MaxRetries: -1, PollFor: time.Nanosecond, Log: slog.New(slog.DiscardHandler)})
		err := calls[int(op)%len(calls)](context.Background(), c)
		if tr.foreign != "" {
			t.Fatalf("a request went to %s", tr.foreign)
		}
		if tr.n > 200 {
			t.Fatalf("%d requests for one call", tr.n)
		}
		var me msapi.Error
		if err != nil && !errors.As(err, &me) && !errors.Is(err, ErrStillRunning) {
			t.Fatalf("untyped error %T: %v", err, err)
		}
	})
}

// calls are the client's calls that read an answer.
var calls = []func(context.Context, *Client) error{
	func(ctx context.Context, c *Client) error { _, err := c.GetCustomer(ctx, "c1"); return err },
	func(ctx context.Context, c *Client) error {
		_, err := c.FindCustomerByDomain(ctx, "contoso.onmicrosoft.com")
		return err
	},
	func(ctx context.Context, c *Client) error { _, err := c.CountryRules(ctx, "us"); return err },
	func(ctx context.Context, c *Client) error { _, err := c.Offers(ctx, "US"); return err },
	func(ctx context.Context, c *Client) error { _, err := c.GetSubscription(ctx, "c1", "s1"); return err },
	func(ctx context.Context, c *Client) error {
		_, err := c.PatchSubscription(ctx, "c1", Subscription{ID: "s1", Quantity: 5}, func(s *Subscription) bool { return s.Quantity == 5 })
		return err
	},
	func(ctx context.Context, c *Client) error { _, err := c.CreateCart(ctx, "c1", Cart{}); return err },
	func(ctx context.Context, c *Client) error { _, err := c.Checkout(ctx, "c1", "cart1"); return err },
	func(ctx context.Context, c *Client) error { _, err := c.MCATemplateID(ctx); return err },
	func(ctx context.Context, c *Client) error { return c.AttestAgreement(ctx, "c1", Agreement{}) },
	func(ctx context.Context, c *Client) error {
		_, err := c.DomainExists(ctx, "contoso.onmicrosoft.com")
		return err
	},
	func(ctx context.Context, c *Client) error { _, err := c.ValidateAddress(ctx, Address{}); return err },
	func(ctx context.Context, c *Client) error {
		return c.GrantApplicationConsent(ctx, "c1", "app", []string{"User.ReadWrite.All"})
	},
	func(ctx context.Context, c *Client) error { _, err := c.SubscribedSKUs(ctx, "c1"); return err },
	func(ctx context.Context, c *Client) error {
		_, err := c.Upgrade(ctx, "c1", "s1", UpgradeTarget{})
		return err
	},
}

// fixedAnswer gives every request the same answer and notes requests to
// another host than pc.test.
type fixedAnswer struct {
	status  int
	header  http.Header
	body    []byte
	mu      sync.Mutex
	n       int
	foreign string
}

func (a *fixedAnswer) RoundTrip(r *http.Request) (*http.Response, error) {
	a.mu.Lock()
	a.n++
	if !strings.EqualFold(r.URL.Host, "pc.test") { // host names are case-insensitive
		a.foreign = r.URL.Host
	}
	a.mu.Unlock()
	if r.Body != nil {
		_, _ = io.Copy(io.Discard, r.Body)
		_ = r.Body.Close()
	}
	return &http.Response{StatusCode: a.status, Header: a.header.Clone(), Body: io.NopCloser(bytes.NewReader(a.body)),
		ContentLength: int64(len(a.body)), Request: r, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1}, nil
}

// headerLines reads "Name: value" lines; others are ignored.
func headerLines(s string) http.Header {
	h := http.Header{}
	for _, line := range strings.Split(s, "\n") {
		if name, value, ok := strings.Cut(line, ":"); ok && name != "" {
			h.Add(textproto.CanonicalMIMEHeaderKey(strings.TrimSpace(name)), strings.TrimSpace(value))
		}
	}
	return h
}
