// Package partnercenter is a small typed client of the Partner Center REST API
// over azcore's pipeline: retries honouring Retry-After, the bearer-token
// policy, and Partner Center's headers.
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
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/google/uuid"

	"github.com/o365gateway/gateway/services/shared/clouds"
	"github.com/o365gateway/gateway/services/shared/logging"
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
	// MaxRetryDelay: a Retry-After longer than this is not waited for in
	// process; the call returns a throttling *Error for the job to reschedule.
	MaxRetryDelay time.Duration
	// RetryDelay is the base of the exponential backoff (default 800ms).
	RetryDelay time.Duration
	// TryTimeout bounds one HTTP attempt (default 60s).
	TryTimeout time.Duration
	// PollFor bounds how long a call follows a 202 + Location answer before
	// it returns ErrStillRunning (default 2m), so that no worker is held.
	PollFor time.Duration
	Log     *slog.Logger
}

// New builds a client for the endpoints of one cloud.
func New(e clouds.Endpoints, cred azcore.TokenCredential, httpClient *http.Client, o Options) *Client {
	if o.MaxRetries == 0 {
		o.MaxRetries = 4
	}
	if o.MaxRetryDelay == 0 {
		o.MaxRetryDelay = 30 * time.Second
	}
	if o.TryTimeout == 0 {
		o.TryTimeout = 60 * time.Second
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	pl := runtime.NewPipeline("o365gateway", "v1",
		runtime.PipelineOptions{
			PerCall: []policy.Policy{requestIDPolicy{}},
			PerRetry: []policy.Policy{
				runtime.NewBearerTokenPolicy(cred, []string{e.PartnerCenterAudience + "/.default"}, nil),
				&correlationPolicy{log: o.Log},
			},
			AllowedHeaders: []string{"MS-RequestId", "MS-CorrelationId", "MS-CV", "Retry-After"},
		},
		&policy.ClientOptions{
			Transport: httpClient,
			Retry: policy.RetryOptions{
				MaxRetries:    o.MaxRetries,
				RetryDelay:    o.RetryDelay,
				MaxRetryDelay: o.MaxRetryDelay,
				TryTimeout:    o.TryTimeout,
			},
			Telemetry: policy.TelemetryOptions{ApplicationID: "o365gateway"},
		})
	if o.PollFor == 0 {
		o.PollFor = 2 * time.Minute
	}
	return &Client{base: strings.TrimRight(e.PartnerCenterURL, "/"), pipeline: pl, pollFor: o.PollFor}
}

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
	h.Set("Accept", "application/json")
	h.Set("X-Locale", "en-US")
	return req.Next()
}

// correlationPolicy gives every attempt its own MS-CorrelationId and logs it.
type correlationPolicy struct{ log *slog.Logger }

func (p *correlationPolicy) Do(req *policy.Request) (*http.Response, error) {
	cid := uuid.NewString()
	raw := req.Raw()
	raw.Header.Set("MS-CorrelationId", cid)
	ctx := logging.With(raw.Context(), slog.String("ms_correlation_id", cid), slog.String("ms_request_id", raw.Header.Get("MS-RequestId")))
	start := time.Now()
	resp, err := req.Next()
	attrs := []any{"method", raw.Method, "path", raw.URL.Path, "duration_ms", time.Since(start).Milliseconds()}
	if err != nil {
		p.log.WarnContext(ctx, "partner center call failed", append(attrs, "error", err.Error())...)
		return resp, err
	}
	attrs = append(attrs, "status", resp.StatusCode)
	if ra := resp.Header.Get("Retry-After"); ra != "" {
		attrs = append(attrs, "retry_after", ra)
	}
	p.log.InfoContext(ctx, "partner center call", attrs...)
	return resp, nil
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
				return resp, fmt.Errorf("decode Partner Center answer to %s %s: %w", method, path, err)
			}
		}
		return resp, nil
	}
}

func (c *Client) send(ctx context.Context, method, path string, query, headers map[string]string, payload []byte) (*http.Response, []byte, error) {
	req, err := runtime.NewRequest(ctx, method, c.base+path)
	if err != nil {
		return nil, nil, err
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
		if err := req.SetBody(streamingNopCloser(payload), "application/json"); err != nil {
			return nil, nil, err
		}
	}
	resp, err := c.pipeline.Do(req)
	if err != nil {
		return nil, nil, &Error{StatusCode: 0, Description: "Partner Center could not be reached", transport: err}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return resp, nil, &Error{StatusCode: resp.StatusCode, Description: "reading the Partner Center answer failed", transport: err}
	}
	return resp, data, nil
}

type nopCloser struct{ *bytes.Reader }

func (nopCloser) Close() error { return nil }

func streamingNopCloser(b []byte) nopCloser { return nopCloser{bytes.NewReader(b)} }
