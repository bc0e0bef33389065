// Package msapi is what the Partner Center and Microsoft Graph clients
// share: one azcore pipeline set-up (retries honouring Retry-After, the
// bearer-token policy, a fresh id and a log line for every attempt, the
// headers azcore's logging may show) and Error, the shape of a failed call
// that package mserr classifies. Each client adds only what its API needs.
package msapi

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/google/uuid"

	"github.com/o365gateway/gateway/services/shared/logging"
)

// API names a Microsoft API.
type API string

// The APIs the gateway calls.
const (
	PartnerCenter API = "Partner Center"
	Graph         API = "Microsoft Graph"
)

// Error is a failed Microsoft call as both clients report it
// (*partnercenter.Error, *graph.Error).
type Error interface {
	error
	// API tells which API failed.
	API() API
	// Status is the HTTP status; 0 when no answer came.
	Status() int
	// Throttled tells whether Microsoft answered 429.
	Throttled() bool
	// Transient tells whether the failure may pass by itself.
	Transient() bool
	// Wait is how long Microsoft asked to wait (Retry-After); 0 when unsaid.
	Wait() time.Duration
	// Detail is Microsoft's own explanation.
	Detail() string
}

// AsError finds the Microsoft error in err's chain.
func AsError(err error) (Error, bool) {
	var e Error
	ok := errors.As(err, &e)
	return e, ok
}

// Retry tunes azcore's retry policy.
type Retry struct {
	// MaxRetries per call; each client has its own default. Negative: none.
	MaxRetries int32
	// RetryDelay is the base of the exponential backoff (0: azcore's 800ms).
	RetryDelay time.Duration
	// MaxRetryDelay is the longest Retry-After waited in process (default
	// 30s). azcore gives up on a longer one and the call returns the 429, so
	// that a job reschedules itself instead of holding its worker.
	MaxRetryDelay time.Duration
	// TryTimeout bounds one HTTP attempt (default 60s).
	TryTimeout time.Duration
}

// Header is a header named in the log line of each attempt, as Attr.
type Header struct{ Name, Attr string }

// Config describes the pipeline of one API.
type Config struct {
	// Name begins the log message of each attempt ("partner center" logs
	// "partner center call" and "partner center call failed").
	Name string
	// Credential and Scope obtain the bearer token ("<audience>/.default").
	Credential azcore.TokenCredential
	Scope      string
	// HTTP sends the requests (msauth.HTTPClient).
	HTTP *http.Client
	// PerCall policies run once per logical call, before the retries: what
	// they set is resent unchanged by every attempt.
	PerCall []policy.Policy
	// PerRetry policies run before every attempt, retries included (the
	// rate budget: each attempt counts at Microsoft).
	PerRetry []policy.Policy
	// AttemptID is set to a new UUID on every attempt.
	AttemptID Header
	// RequestHeaders and ResponseHeaders are logged with each attempt when set.
	RequestHeaders, ResponseHeaders []Header
	// AllowedHeaders may appear in azcore's logs besides Retry-After and the
	// headers above (the others are redacted).
	AllowedHeaders []string
	Retry          Retry
	// Metrics names the API and its path words in the metrics microsoft_*.
	Metrics Metrics
	Log     *slog.Logger
}

// NewPipeline builds the pipeline of an API client: per call, c.PerCall;
// then azcore's retries; then, per attempt, c.PerRetry, the bearer token (so a retry uses
// a refreshed one), the attempt id with its log line, and the attempt's
// metrics (c.Metrics).
func NewPipeline(c Config) runtime.Pipeline {
	r := c.Retry
	if r.MaxRetryDelay == 0 {
		r.MaxRetryDelay = 30 * time.Second
	}
	if r.TryTimeout == 0 {
		r.TryTimeout = 60 * time.Second
	}
	log := c.Log
	if log == nil {
		log = slog.Default()
	}
	allowed := append([]string{"Retry-After", c.AttemptID.Name}, c.AllowedHeaders...)
	for _, h := range append(append([]Header(nil), c.RequestHeaders...), c.ResponseHeaders...) {
		allowed = append(allowed, h.Name)
	}
	perRetry := append(append([]policy.Policy(nil), c.PerRetry...),
		runtime.NewBearerTokenPolicy(c.Credential, []string{c.Scope}, nil),
		&attemptPolicy{name: c.Name, id: c.AttemptID, request: c.RequestHeaders, response: c.ResponseHeaders, log: log},
	)
	if o := newObserver(c.Metrics); o != nil {
		perRetry = append(perRetry, metricsPolicy{o: o})
	}
	return runtime.NewPipeline("o365gateway", "v1",
		runtime.PipelineOptions{
			PerCall:        c.PerCall,
			PerRetry:       perRetry,
			AllowedHeaders: allowed,
		},
		&policy.ClientOptions{
			Transport: stayOnHost(c.HTTP),
			Retry: policy.RetryOptions{
				MaxRetries:    r.MaxRetries,
				RetryDelay:    r.RetryDelay,
				MaxRetryDelay: r.MaxRetryDelay,
				TryTimeout:    r.TryTimeout,
			},
			Telemetry: policy.TelemetryOptions{ApplicationID: "o365gateway"},
		})
}

// stayOnHost is c (a copy) following no redirect to another host or
// scheme: the 3xx itself is the answer (an error to the clients), so that
// no request body (passwords, customer data) goes to a host other than the
// API's. Go already drops the bearer token on such redirects.
func stayOnHost(c *http.Client) *http.Client {
	if c == nil {
		return nil
	}
	cc := *c
	cc.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if !strings.EqualFold(req.URL.Host, via[0].URL.Host) || req.URL.Scheme != via[0].URL.Scheme {
			return http.ErrUseLastResponse
		}
		if c.CheckRedirect != nil {
			return c.CheckRedirect(req, via)
		}
		if len(via) >= 10 {
			return errors.New("stopped after 10 redirects")
		}
		return nil
	}
	return &cc
}

// attemptPolicy gives every attempt its own id and logs it.
type attemptPolicy struct {
	name              string
	id                Header
	request, response []Header
	log               *slog.Logger
}

func (p *attemptPolicy) Do(req *policy.Request) (*http.Response, error) {
	raw := req.Raw()
	id := uuid.NewString()
	raw.Header.Set(p.id.Name, id)
	raw.Header.Set("Accept", "application/json")
	tags := []slog.Attr{slog.String(p.id.Attr, id)}
	for _, h := range p.request {
		if v := raw.Header.Get(h.Name); v != "" {
			tags = append(tags, slog.String(h.Attr, v))
		}
	}
	ctx := logging.With(raw.Context(), tags...)
	start := time.Now()
	resp, err := req.Next()
	attrs := []any{"method", raw.Method, "path", raw.URL.Path, "duration_ms", time.Since(start).Milliseconds()}
	if err != nil {
		p.log.WarnContext(ctx, p.name+" call failed", append(attrs, "error", err.Error())...)
		return resp, err
	}
	attrs = append(attrs, "status", resp.StatusCode)
	if ra := resp.Header.Get("Retry-After"); ra != "" {
		attrs = append(attrs, "retry_after", ra)
	}
	for _, h := range p.response {
		if v := resp.Header.Get(h.Name); v != "" {
			attrs = append(attrs, h.Attr, v)
		}
	}
	p.log.InfoContext(ctx, p.name+" call", attrs...)
	return resp, nil
}

// MaxRetryAfter bounds what RetryAfter returns: a larger value is a
// mistake, and would leave a job waiting for years.
const MaxRetryAfter = time.Hour

// RetryAfter reads a Retry-After header (seconds or an HTTP date); 0 when
// absent, unreadable or past, at most MaxRetryAfter.
func RetryAfter(h http.Header) time.Duration {
	ra := strings.TrimSpace(h.Get("Retry-After"))
	if ra == "" {
		return 0
	}
	var d time.Duration
	if s, err := strconv.ParseInt(ra, 10, 64); err == nil {
		d = time.Duration(min(max(s, 0), int64(MaxRetryAfter/time.Second))) * time.Second
	} else if t, err := http.ParseTime(ra); err == nil {
		d = time.Until(t)
	}
	return min(max(d, 0), MaxRetryAfter)
}

// SetJSON sets an encoded JSON body that azcore can rewind between attempts.
func SetJSON(req *policy.Request, body []byte) error {
	return req.SetBody(nopCloser{bytes.NewReader(body)}, "application/json")
}

type nopCloser struct{ *bytes.Reader }

func (nopCloser) Close() error { return nil }

// ReadBody reads an answer's body (at most 16 MiB) and closes it.
func ReadBody(resp *http.Response) ([]byte, error) {
	defer resp.Body.Close()
	return io.ReadAll(io.LimitReader(resp.Body, 16<<20))
}
