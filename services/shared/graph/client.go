// Package graph is a small typed Microsoft Graph client for a customer's
// tenant, over the pipeline every Microsoft client shares (package msapi:
// retries honouring Retry-After, the bearer-token policy, logging), with
// tokens issued by the customer tenant for the partner's application and
// a rate budget per application and tenant (package budget, shared by the
// service's replicas when the store is the database) so that many requests
// for one tenant share its Graph budget instead of tripping the throttling.
package graph

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"

	"github.com/o365gateway/gateway/services/shared/budget"
	"github.com/o365gateway/gateway/services/shared/clouds"
	"github.com/o365gateway/gateway/services/shared/msapi"
)

// Client calls Graph in one customer tenant.
type Client struct {
	base     string
	pipeline runtime.Pipeline
}

// Options tune a client (the retry fields as in msapi.Retry; MaxRetries
// defaults to 5).
type Options struct {
	MaxRetries    int32
	MaxRetryDelay time.Duration
	RetryDelay    time.Duration
	TryTimeout    time.Duration
	// WritesPerSecond and WriteBurst are the write budget per application
	// and tenant: a bucket of WriteBurst refilled at WritesPerSecond
	// (default Graph's published limit, 3,000 writes per 150 s: 3,000 at
	// 20/s), so that a burst inside the window goes at once.
	WritesPerSecond float64
	WriteBurst      float64
	// ResourceUnitsPerSecond and ResourceUnitBurst are the resource-unit
	// budget per application and tenant, which every request draws on
	// (default 3,500 per 10 s, Graph's limit for the smallest tenants:
	// the size of a customer's tenant is not known in advance).
	ResourceUnitsPerSecond float64
	ResourceUnitBurst      float64
	// Budget charges the tenant's budgets (default: one in this process).
	Budget *budget.Limiter
	// BudgetKey names the budgets of this client's application and tenant
	// (default: the tenant id): Graph counts per application and tenant.
	BudgetKey string
	Log       *slog.Logger
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
	if o.WritesPerSecond == 0 {
		o.WritesPerSecond = DefaultWriteLimit / DefaultWriteWindow.Seconds()
	}
	if o.WriteBurst == 0 {
		o.WriteBurst = DefaultWriteLimit
	}
	if o.ResourceUnitsPerSecond == 0 {
		o.ResourceUnitsPerSecond = DefaultResourceUnits / ResourceUnitWindow.Seconds()
	}
	if o.ResourceUnitBurst == 0 {
		o.ResourceUnitBurst = DefaultResourceUnits
	}
	if o.Budget == nil {
		o.Budget = &budget.Limiter{Store: &budget.Local{}, Log: o.Log}
	}
	if o.BudgetKey == "" {
		o.BudgetKey = customerTenantID
	}
	maxWait := o.MaxRetryDelay
	if maxWait == 0 {
		maxWait = 30 * time.Second
	}
	pc := pacer{
		writes: budget.Charge{Key: "graph/writes/" + o.BudgetKey, Rate: budget.Rate{PerSecond: o.WritesPerSecond, Burst: max(1, o.WriteBurst)}},
		ru:     budget.Charge{Key: "graph/ru/" + o.BudgetKey, Rate: budget.Rate{PerSecond: o.ResourceUnitsPerSecond, Burst: max(1, o.ResourceUnitBurst)}},
	}
	// Every attempt is charged: retries count at Graph too.
	pace := budget.Policy{Limiter: o.Budget, Charges: pc.charges, MaxWait: maxWait, Deferred: deferred,
		Observe: func(ctx context.Context, l *budget.Limiter, req *http.Request, resp *http.Response, charged []budget.Charge) {
			l.Apply(ctx, pc.signals(req, resp, charged)...)
		}}
	pl := msapi.NewPipeline(msapi.Config{
		Name:       "graph",
		Credential: tenantCredential{cred: cred, tenantID: customerTenantID},
		Scope:      e.GraphAudience + "/.default",
		HTTP:       httpClient,
		PerRetry:   []policy.Policy{pace},
		// Every attempt has its own client-request-id; Graph answers with
		// its request-id and, when it throttles, why.
		AttemptID:       msapi.Header{Name: "client-request-id", Attr: "graph_client_request_id"},
		ResponseHeaders: []msapi.Header{{Name: "request-id", Attr: "request_id"}, {Name: "x-ms-throttle-scope", Attr: "throttle_scope"}},
		AllowedHeaders:  []string{"x-ms-throttle-information", "x-ms-resource-unit", "x-ms-throttle-limit-percentage"},
		Retry:           msapi.Retry{MaxRetries: o.MaxRetries, RetryDelay: o.RetryDelay, MaxRetryDelay: o.MaxRetryDelay, TryTimeout: o.TryTimeout},
		Metrics:         msapi.Metrics{API: msapi.MetricGraph, PathWords: pathWords},
		Log:             o.Log,
	})
	return &Client{base: strings.TrimRight(e.GraphURL, "/"), pipeline: pl}
}

// pathWords are the literal segments of the client's paths, which the
// metrics keep in an operation's path (msapi.Metrics); a new call's words
// belong here.
var pathWords = []string{"v1.0", "beta", "applications", "assignLicense", "delegatedAdminRelationships", "domains",
	"requests", "subscribedSkus", "tenantRelationships", "users", "verificationDnsRecords", "verify"}

// Error is a Graph refusal: {"error":{"code","message","innerError"}}.
type Error struct {
	StatusCode int
	Code       string
	Message    string
	RequestID  string
	RetryAfter time.Duration
	// transport is why no readable answer came: the transport's failure, or
	// an answer that cannot be decoded or followed.
	transport error
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

// API tells that the error is Graph's (see msapi.Error).
func (e *Error) API() msapi.API { return msapi.Graph }

// Status is the HTTP status; 0 when Graph could not be reached.
func (e *Error) Status() int { return e.StatusCode }

// Wait is the Retry-After Graph asked for.
func (e *Error) Wait() time.Duration { return e.RetryAfter }

// Detail is Graph's message.
func (e *Error) Detail() string { return e.Message }

var _ msapi.Error = (*Error)(nil)

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
	return c.doWith(ctx, method, path, nil, body, out)
}

// doWith is do with extra request headers (e.g. If-Match).
func (c *Client) doWith(ctx context.Context, method, path string, header http.Header, body, out any) error {
	target, err := c.resolve(path)
	if err != nil {
		return err
	}
	req, err := runtime.NewRequest(ctx, method, target)
	if err != nil {
		return &Error{Message: "a link Microsoft Graph returned could not be followed", transport: err}
	}
	for k, v := range header {
		req.Raw().Header[k] = v
	}
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		if err := msapi.SetJSON(req, b); err != nil {
			return err
		}
	}
	resp, err := c.pipeline.Do(req)
	if err != nil {
		return &Error{Message: "Microsoft Graph could not be reached", transport: err}
	}
	data, err := msapi.ReadBody(resp)
	if err != nil {
		return &Error{StatusCode: resp.StatusCode, Message: "reading the Graph answer failed", transport: err}
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return parseError(resp, data)
	}
	if out != nil && len(bytes.TrimSpace(data)) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			return &Error{StatusCode: resp.StatusCode, RequestID: resp.Header.Get("request-id"),
				Message: "the answer to " + method + " " + req.Raw().URL.Path + " could not be read", transport: err}
		}
	}
	return nil
}

// parseError reads Graph's error answer {"error":{"code","message"}}.
func parseError(resp *http.Response, data []byte) *Error {
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
	if e.Message == "" {
		e.Message = fmt.Sprintf("HTTP status %d", resp.StatusCode)
	}
	e.RetryAfter = msapi.RetryAfter(resp.Header)
	return e
}

func escape(idOrUPN string) string { return url.PathEscape(idOrUPN) }

// listAll reads every page of a collection from first, following
// @odata.nextLink. A link that comes back, or more than maxPages pages, is
// an error: Graph's answers must not keep a job paging forever.
func listAll[T any](ctx context.Context, c *Client, first, what string, maxPages int) ([]T, error) {
	var all []T
	seen := map[string]bool{}
	for next := first; next != ""; {
		if seen[next] || len(seen) == maxPages {
			return nil, &Error{Message: "Microsoft Graph kept returning pages of " + what + " (a repeated or endless @odata.nextLink)"}
		}
		seen[next] = true
		var page struct {
			Value    []T    `json:"value"`
			NextLink string `json:"@odata.nextLink"`
		}
		if err := c.do(ctx, http.MethodGet, next, nil, &page); err != nil {
			return nil, err
		}
		all = append(all, page.Value...)
		next = page.NextLink
	}
	return all, nil
}
