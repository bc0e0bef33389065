package graph

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

	"github.com/o365gateway/gateway/services/shared/clouds"
	"github.com/o365gateway/gateway/services/shared/msapi"
)

// FuzzAnswer answers one call of the client (op picks which) with an
// arbitrary status, headers and body, every request alike. Whatever the
// answer: no panic; the call ends after a bounded number of requests, all
// to the Graph host; an error is a *Error that says something and asks
// for a wait between 0 and msapi.MaxRetryAfter.
func FuzzAnswer(f *testing.F) {
	user := `{"id":"u1","userPrincipalName":"ann@contoso.example","accountEnabled":true,"assignedLicenses":[{"skuId":"s1","disabledPlans":[]}],"createdDateTime":"2026-01-01T00:00:00Z"}`
	for _, s := range []struct {
		op      byte
		status  int
		headers string
		body    string
	}{
		{0, 200, "", user},
		{0, 404, "request-id: r1", `{"error":{"code":"Request_ResourceNotFound","message":"Resource 'u1' does not exist","innerError":{}}}`},
		{0, 200, "", `{"createdDateTime":"yesterday"}`},
		{1, 200, "", `{"value":[` + user + `],"@odata.nextLink":"https://graph.test/v1.0/users?$skiptoken=x"}`},
		{1, 200, "", `{"value":[],"@odata.nextLink":"https://evil.example/v1.0/users"}`},
		{1, 200, "", `{"value":[],"@odata.nextLink":"relative?x"}`},
		{2, 200, "", `{"value":[` + user + `]}`},
		{3, 200, "", `{"value":[{"skuId":"s1","prepaidUnits":{"enabled":5},"consumedUnits":7}]}`},
		{4, 200, "", `{"value":[{"id":"contoso.example","isVerified":false}]}`},
		{5, 200, "", `{"value":[{"@odata.type":"#microsoft.graph.domainDnsTxtRecord","text":"MS=ms1","ttl":3600}]}`},
		{6, 201, "Location: https://graph.test/v1.0/users/u1", user},
		{7, 204, "", ``},
		{8, 429, "Retry-After: -30\nx-ms-throttle-scope: Tenant_Application/All/x", `{"error":{"code":"TooManyRequests"}}`},
		{9, 200, "", `{"id":"contoso.example","isVerified":true}`},
		{0, 599, "", ``},
		{0, 307, "Location: https://other.example/v1.0/users/u1", ``},
	} {
		f.Add(s.op, s.status, s.headers, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, op byte, status int, headers string, body []byte) {
		if status < 200 || status > 599 {
			return // 1xx are handled inside net/http
		}
		tr := &fixedAnswer{status: status, header: headerLines(headers), body: body}
		c := New(clouds.Endpoints{GraphURL: "https://graph.test/v1.0", GraphAudience: "https://graph.microsoft.com"}, staticToken{}, "t1",
			&http.Client{Transport: tr}, Options{MaxRetries: -1, Log: slog.New(slog.DiscardHandler)})
		err := graphCalls[int(op)%len(graphCalls)](context.Background(), c)
		if tr.foreign != "" {
			t.Fatalf("a request went to %s", tr.foreign)
		}
		if tr.n > answerLimit {
			t.Fatalf("more than %d requests for one call", answerLimit)
		}
		if err == nil {
			return
		}
		e, ok := AsError(err)
		if !ok {
			t.Fatalf("untyped error %T: %v", err, err)
		}
		if e.Detail() == "" || e.Wait() < 0 || e.Wait() > msapi.MaxRetryAfter {
			t.Fatalf("%+v", e)
		}
	})
}

// graphCalls are the client's calls that read an answer.
var graphCalls = []func(context.Context, *Client) error{
	func(ctx context.Context, c *Client) error {
		_, err := c.GetUser(ctx, "ann@contoso.example")
		return err
	},
	func(ctx context.Context, c *Client) error { _, err := c.ListUsers(ctx); return err },
	func(ctx context.Context, c *Client) error {
		_, err := c.FindUser(ctx, "o'neil@contoso.example")
		return err
	},
	func(ctx context.Context, c *Client) error { _, err := c.SubscribedSKUs(ctx); return err },
	func(ctx context.Context, c *Client) error { _, err := c.Domains(ctx); return err },
	func(ctx context.Context, c *Client) error {
		_, err := c.VerificationRecords(ctx, "contoso.example")
		return err
	},
	func(ctx context.Context, c *Client) error {
		_, err := c.CreateUser(ctx, User{UserPrincipalName: "a@b"})
		return err
	},
	func(ctx context.Context, c *Client) error { return c.DeleteUser(ctx, "u1") },
	func(ctx context.Context, c *Client) error {
		_, err := c.AssignLicense(ctx, "u1", []string{"s1"}, nil)
		return err
	},
	func(ctx context.Context, c *Client) error {
		_, err := c.VerifyDomain(ctx, "contoso.example")
		return err
	},
}

// answerLimit is where fixedAnswer stops answering: a call that gets
// there would page forever.
const answerLimit = 2000

// fixedAnswer gives every request the same answer and notes requests to
// another host than graph.test.
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
	n := a.n
	if !strings.EqualFold(r.URL.Host, "graph.test") { // host names are case-insensitive
		a.foreign = r.URL.Host
	}
	a.mu.Unlock()
	if r.Body != nil {
		_, _ = io.Copy(io.Discard, r.Body)
		_ = r.Body.Close()
	}
	if n > answerLimit {
		return nil, errors.New("too many requests")
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
