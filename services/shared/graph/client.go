// Package graph is a small typed Microsoft Graph client for a customer's
// tenant, over azcore's pipeline (retries honouring Retry-After, bearer
// tokens issued by the customer tenant for the partner's application), with
// a per-tenant rate limiter so that many requests for one tenant share its
// Graph budget instead of tripping the throttling.
package graph

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/google/uuid"
	"golang.org/x/time/rate"

	"github.com/o365gateway/gateway/services/shared/clouds"
	"github.com/o365gateway/gateway/services/shared/logging"
)

// Client calls Graph in one customer tenant.
type Client struct {
	base     string
	pipeline runtime.Pipeline
	writes   *rate.Limiter
	reads    *rate.Limiter
}

// Options tune a client.
type Options struct {
	MaxRetries    int32
	MaxRetryDelay time.Duration
	RetryDelay    time.Duration
	TryTimeout    time.Duration
	// WritesPerSecond and ReadsPerSecond pace requests to the tenant
	// (Graph's directory write limit is 3,000 per 150 s per app and tenant:
	// 20/s; a little under it by default). Zero means the default.
	WritesPerSecond float64
	ReadsPerSecond  float64
	Log             *slog.Logger
}

// tenantCredential asks its credential for tokens issued by one tenant.
type tenantCredential struct {
	cred     azcore.TokenCredential
	tenantID string
}

func (t tenantCredential) GetToken(ctx context.Context, o policy.TokenRequestOptions) (azcore.AccessToken, error) {
	o.TenantID = t.tenantID
	return t.cred.GetToken(ctx, o)
}

// New builds the client of one customer tenant. cred must allow that tenant
// (azidentity: AdditionallyAllowedTenants).
func New(e clouds.Endpoints, cred azcore.TokenCredential, customerTenantID string, httpClient *http.Client, o Options) *Client {
	if o.MaxRetries == 0 {
		o.MaxRetries = 5
	}
	if o.MaxRetryDelay == 0 {
		o.MaxRetryDelay = 30 * time.Second
	}
	if o.TryTimeout == 0 {
		o.TryTimeout = 60 * time.Second
	}
	if o.WritesPerSecond == 0 {
		o.WritesPerSecond = 18
	}
	if o.ReadsPerSecond == 0 {
		o.ReadsPerSecond = 100
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	pl := runtime.NewPipeline("o365gateway", "v1",
		runtime.PipelineOptions{
			PerRetry: []policy.Policy{
				runtime.NewBearerTokenPolicy(tenantCredential{cred: cred, tenantID: customerTenantID}, []string{e.GraphAudience + "/.default"}, nil),
				&requestIDPolicy{log: o.Log},
			},
			AllowedHeaders: []string{"request-id", "client-request-id", "Retry-After", "x-ms-throttle-scope", "x-ms-throttle-information", "x-ms-resource-unit"},
		},
		&policy.ClientOptions{Transport: httpClient, Retry: policy.RetryOptions{MaxRetries: o.MaxRetries, RetryDelay: o.RetryDelay,
			MaxRetryDelay: o.MaxRetryDelay, TryTimeout: o.TryTimeout}})
	burst := func(r float64) int { return max(1, int(r)) }
	return &Client{base: strings.TrimRight(e.GraphURL, "/"), pipeline: pl,
		writes: rate.NewLimiter(rate.Limit(o.WritesPerSecond), burst(o.WritesPerSecond)),
		reads:  rate.NewLimiter(rate.Limit(o.ReadsPerSecond), burst(o.ReadsPerSecond))}
}

// requestIDPolicy sets client-request-id per attempt and logs the call.
type requestIDPolicy struct{ log *slog.Logger }

func (p *requestIDPolicy) Do(req *policy.Request) (*http.Response, error) {
	raw := req.Raw()
	id := uuid.NewString()
	raw.Header.Set("client-request-id", id)
	raw.Header.Set("Accept", "application/json")
	ctx := logging.With(raw.Context(), slog.String("graph_client_request_id", id))
	start := time.Now()
	resp, err := req.Next()
	attrs := []any{"method", raw.Method, "path", raw.URL.Path, "duration_ms", time.Since(start).Milliseconds()}
	if err != nil {
		p.log.WarnContext(ctx, "graph call failed", append(attrs, "error", err.Error())...)
		return resp, err
	}
	attrs = append(attrs, "status", resp.StatusCode, "request_id", resp.Header.Get("request-id"))
	if ra := resp.Header.Get("Retry-After"); ra != "" {
		attrs = append(attrs, "retry_after", ra, "throttle_scope", resp.Header.Get("x-ms-throttle-scope"))
	}
	p.log.InfoContext(ctx, "graph call", attrs...)
	return resp, nil
}

// Error is a Graph refusal: {"error":{"code","message","innerError"}}.
type Error struct {
	StatusCode int
	Code       string
	Message    string
	RequestID  string
	RetryAfter time.Duration
	transport  error
}

func (e *Error) Error() string {
	if e.transport != nil {
		return "graph: " + e.Message + ": " + e.transport.Error()
	}
	return fmt.Sprintf("graph: HTTP %d %s: %s", e.StatusCode, e.Code, e.Message)
}

// Unwrap returns the transport error.
func (e *Error) Unwrap() error { return e.transport }

// Throttled tells whether Graph answered 429.
func (e *Error) Throttled() bool { return e.StatusCode == http.StatusTooManyRequests }

// Transient tells whether the failure may pass by itself.
func (e *Error) Transient() bool {
	return e.transport != nil || e.StatusCode == 408 || e.StatusCode == 429 || e.StatusCode >= 500
}

// AsError extracts a *Error.
func AsError(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

// resolve turns a path, or an absolute link Graph returned (@odata.nextLink),
// into a URL. An absolute link must stay on the Graph endpoint of this
// client: the bearer token is never sent to another host.
func (c *Client) resolve(path string) (string, error) {
	if !strings.HasPrefix(path, "https://") && !strings.HasPrefix(path, "http://") {
		return c.base + path, nil
	}
	link, err := url.Parse(path)
	base, berr := url.Parse(c.base)
	if err != nil || berr != nil || !strings.EqualFold(link.Scheme, base.Scheme) || !strings.EqualFold(link.Host, base.Host) ||
		!strings.HasPrefix(link.Path, strings.TrimSuffix(base.Path, "/")+"/") {
		return "", &Error{Message: "Microsoft Graph returned a link outside its endpoint; it was not followed"}
	}
	return path, nil
}

func (c *Client) do(ctx context.Context, method, path string, body, out any) error {
	lim := c.reads
	if method != http.MethodGet {
		lim = c.writes
	}
	if err := lim.Wait(ctx); err != nil {
		return err
	}
	target, err := c.resolve(path)
	if err != nil {
		return err
	}
	req, err := runtime.NewRequest(ctx, method, target)
	if err != nil {
		return err
	}
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		if err := req.SetBody(nopCloser{bytes.NewReader(b)}, "application/json"); err != nil {
			return err
		}
	}
	resp, err := c.pipeline.Do(req)
	if err != nil {
		return &Error{Message: "Microsoft Graph could not be reached", transport: err}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return &Error{StatusCode: resp.StatusCode, Message: "reading the Graph answer failed", transport: err}
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		e := &Error{StatusCode: resp.StatusCode, RequestID: resp.Header.Get("request-id")}
		var raw struct {
			Error struct {
				Code    string `json:"code"`
				Message string `json:"message"`
			} `json:"error"`
		}
		if json.Unmarshal(data, &raw) == nil {
			e.Code, e.Message = raw.Error.Code, raw.Error.Message
		}
		if e.Message == "" {
			e.Message = http.StatusText(resp.StatusCode)
		}
		if s, err := strconv.Atoi(strings.TrimSpace(resp.Header.Get("Retry-After"))); err == nil {
			e.RetryAfter = time.Duration(s) * time.Second
		}
		return e
	}
	if out != nil && len(bytes.TrimSpace(data)) > 0 {
		return json.Unmarshal(data, out)
	}
	return nil
}

type nopCloser struct{ *bytes.Reader }

func (nopCloser) Close() error { return nil }

func escape(idOrUPN string) string { return url.PathEscape(idOrUPN) }
