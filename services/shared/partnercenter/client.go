// Package partnercenter is a small typed client of the Partner Center REST API
// over the pipeline every Microsoft client shares (package msapi: retries
// honouring Retry-After, the bearer-token policy, logging), plus Partner
// Center's own headers.
//
// MS-RequestId is the idempotency key of a logical step: the caller creates it
// once, persists it, and passes it with WithRequestID on every try, including
// after a restart. The per-call policy sets it before the retry policy, so
// azcore's own retries resend the same value. MS-CorrelationId is new for
// every HTTP attempt.
package partnercenter

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/google/uuid"

	"github.com/o365gateway/gateway/services/shared/budget"
	"github.com/o365gateway/gateway/services/shared/clouds"
	"github.com/o365gateway/gateway/services/shared/msapi"
)

// Client calls Partner Center for one partner (one credential).
type Client struct {
	base     string
	pipeline runtime.Pipeline
	pollFor  time.Duration
}

// Options tune the client.
type Options struct {
	// MaxRetries per call (default 4).
	MaxRetries int32
	// MaxRetryDelay: a Retry-After longer than this (default 30s) is not
	// waited for in process; the call returns a throttling *Error for the
	// job to reschedule.
	MaxRetryDelay time.Duration
	// RetryDelay is the base of the exponential backoff (default 800ms).
	RetryDelay time.Duration
	// TryTimeout bounds one HTTP attempt (default 60s).
	TryTimeout time.Duration
	// PollFor bounds how long a call follows a 202 + Location answer before
	// it returns ErrStillRunning (default 2m), so that no worker is held.
	PollFor time.Duration
	// RequestsPerSecond and Burst are the partner's budget, which every
	// call draws on, and CustomerPerSecond and CustomerBurst the budget of
	// the partner and one customer, which every call about that customer
	// (/v1/customers/{id}/…) also draws on. Microsoft publishes no general
	// number, only that every API is throttled per partner, some per
	// partner and customer; the defaults (DefaultPartnerLimit and
	// DefaultCustomerLimit per DefaultWindow) are a starting point that
	// Microsoft's 429s correct: a Retry-After pauses the budget it hit.
	RequestsPerSecond float64
	Burst             float64
	CustomerPerSecond float64
	CustomerBurst     float64
	// Budget charges the partner's budget (default: one in this process);
	// BudgetKey names it (the partner tenant).
	Budget    *budget.Limiter
	BudgetKey string
	Log       *slog.Logger
}

// New builds a client for the endpoints of one cloud.
func New(e clouds.Endpoints, cred azcore.TokenCredential, httpClient *http.Client, o Options) *Client {
	if o.MaxRetries == 0 {
		o.MaxRetries = 4
	}
	if o.PollFor == 0 {
		o.PollFor = 2 * time.Minute
	}
	if o.Budget == nil {
		o.Budget = &budget.Limiter{Store: &budget.Local{}, Log: o.Log}
	}
	maxWait := o.MaxRetryDelay
	if maxWait == 0 {
		maxWait = 30 * time.Second
	}
	pc := newPacer(o)
	pace := budget.Policy{Limiter: o.Budget, Charges: pc.charges, Observe: pc.observe, MaxWait: maxWait, Deferred: deferred}
	pl := msapi.NewPipeline(msapi.Config{
		Name:       "partner center",
		Credential: cred,
		Scope:      e.PartnerCenterAudience + "/.default",
		HTTP:       httpClient,
		PerCall:    []policy.Policy{requestIDPolicy{}},
		PerRetry:   []policy.Policy{pace},
		// Every attempt has its own MS-CorrelationId; the MS-RequestId of
		// the logical call is logged with it.
		AttemptID:      msapi.Header{Name: "MS-CorrelationId", Attr: "ms_correlation_id"},
		RequestHeaders: []msapi.Header{{Name: "MS-RequestId", Attr: "ms_request_id"}},
		AllowedHeaders: []string{"MS-CV"},
		Retry:          msapi.Retry{MaxRetries: o.MaxRetries, RetryDelay: o.RetryDelay, MaxRetryDelay: o.MaxRetryDelay, TryTimeout: o.TryTimeout},
		Metrics:        msapi.Metrics{API: msapi.MetricPartnerCenter, PathWords: pathWords},
		Log:            o.Log,
	})
	return &Client{base: strings.TrimRight(e.PartnerCenterURL, "/"), pipeline: pl, pollFor: o.PollFor}
}

// pathWords are the literal segments of the client's paths, which the
// metrics keep in an operation's path (msapi.Metrics); a new call's words
// belong here.
var pathWords = []string{"v1", "agreements", "applicationconsents", "address", "availabilities", "billing", "carts",
	"checkout", "countryvalidationrules", "customers", "domains", "offers", "orders", "products", "profiles", "skus",
	"subscribedskus", "subscriptions", "transitions", "upgrades", "validations"}

type requestIDKey struct{}

// WithRequestID sets the MS-RequestId of the calls made with ctx.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

// requestIDPolicy runs once per logical call, before retries.
type requestIDPolicy struct{}

func (requestIDPolicy) Do(req *policy.Request) (*http.Response, error) {
	id, _ := req.Raw().Context().Value(requestIDKey{}).(string)
	if id == "" {
		id = uuid.NewString()
	}
	h := req.Raw().Header
	h.Set("MS-RequestId", id)
	h.Set("MS-Contract-Version", "v1")
	h.Set("X-Locale", "en-US")
	return req.Next()
}

// do sends one logical call. body may be nil. out may be nil. Non-2xx
// answers become *Error. A 401 makes azcore's bearer policy drop its cached
// token; the call is then sent once more with a fresh one (tokens can be
// revoked or expire early), keeping its MS-RequestId.
func (c *Client) do(ctx context.Context, method, path string, query map[string]string, headers map[string]string, body, out any) (*http.Response, error) {
	var payload []byte
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		payload = b
	}
	for attempt := 0; ; attempt++ {
		resp, data, err := c.send(ctx, method, path, query, headers, payload)
		if err != nil {
			return resp, err
		}
		if resp.StatusCode == http.StatusUnauthorized && attempt == 0 {
			continue
		}
		if resp.StatusCode < 200 || resp.StatusCode > 299 {
			return resp, parseError(resp, data)
		}
		if out != nil && len(bytes.TrimSpace(data)) > 0 {
			if err := json.Unmarshal(bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")), out); err != nil {
				return resp, readError(resp, fmt.Sprintf("the answer to %s %s could not be read", method, path), err)
			}
		}
		return resp, nil
	}
}

func (c *Client) send(ctx context.Context, method, path string, query, headers map[string]string, payload []byte) (*http.Response, []byte, error) {
	req, err := runtime.NewRequest(ctx, method, c.base+path)
	if err != nil {
		return nil, nil, readError(nil, "a link Partner Center returned could not be followed", err)
	}
	if len(query) > 0 {
		q := req.Raw().URL.Query()
		for k, v := range query {
			q.Set(k, v)
		}
		req.Raw().URL.RawQuery = q.Encode()
	}
	for k, v := range headers {
		req.Raw().Header.Set(k, v)
	}
	if payload != nil {
		if err := msapi.SetJSON(req, payload); err != nil {
			return nil, nil, err
		}
	}
	resp, err := c.pipeline.Do(req)
	if err != nil {
		return nil, nil, &Error{StatusCode: 0, Description: "Partner Center could not be reached", transport: err}
	}
	data, err := msapi.ReadBody(resp)
	if err != nil {
		return resp, nil, &Error{StatusCode: resp.StatusCode, Description: "reading the Partner Center answer failed", transport: err}
	}
	return resp, data, nil
}
