package msapi

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// The api attribute of the Microsoft metrics.
const (
	MetricPartnerCenter = "partnercenter"
	MetricGraph         = "graph"
	MetricLogin         = "login"
)

// Metrics describes an API's calls in the metrics microsoft_requests_total,
// microsoft_request_duration_seconds, microsoft_throttled_total and
// microsoft_retry_after_seconds. Every attempt (retries included) counts.
type Metrics struct {
	// API is the api attribute: MetricPartnerCenter, MetricGraph or
	// MetricLogin. Empty: the calls are not counted.
	API string
	// PathWords are the literal segments of the API's paths (API versions,
	// collections, actions). The operation attribute is the method and the
	// path with every other segment written {id}, so that no customer,
	// tenant, user, domain or subscription ever becomes a label; a path word
	// missing here only makes an operation less precise.
	PathWords []string
}

// Bucket bounds, in seconds, of the duration and Retry-After histograms.
var (
	RequestBuckets    = []float64{0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60}
	RetryAfterBuckets = []float64{1, 2, 5, 10, 30, 60, 120, 300, 900, 3600}
)

// instruments are the Microsoft call metrics, made on first use (after the
// process set its meter provider up).
var instruments = sync.OnceValue(func() (m struct {
	requests, throttled metric.Int64Counter
	duration, retry     metric.Float64Histogram
}) {
	meter := otel.Meter("o365gateway/msapi")
	m.requests, _ = meter.Int64Counter("microsoft_requests_total",
		metric.WithDescription("HTTP attempts at Microsoft (retries included) by api, operation (method and path template) and status (the HTTP status, or error when no answer came)"))
	m.duration, _ = meter.Float64Histogram("microsoft_request_duration_seconds",
		metric.WithDescription("time of one HTTP attempt at Microsoft, until the answer's headers, by api and operation"),
		metric.WithExplicitBucketBoundaries(RequestBuckets...))
	m.throttled, _ = meter.Int64Counter("microsoft_throttled_total",
		metric.WithDescription("answers 429 (throttled) from Microsoft by api and operation"))
	m.retry, _ = meter.Float64Histogram("microsoft_retry_after_seconds",
		metric.WithDescription("the wait Microsoft asked for in a Retry-After header, by api"),
		metric.WithExplicitBucketBoundaries(RetryAfterBuckets...))
	return m
})

// Operation is the operation attribute of a call: the method, a space and
// the path, each segment not in words replaced by {id}
// ("GET /v1/customers/{id}/subscriptions"). The query is left out.
func Operation(method, path string, words map[string]bool) string {
	var b strings.Builder
	b.WriteString(strings.ToUpper(method))
	b.WriteByte(' ')
	segs := strings.Split(strings.Trim(path, "/"), "/")
	if len(segs) == 1 && segs[0] == "" {
		b.WriteByte('/')
	}
	for _, s := range segs {
		if s == "" {
			continue
		}
		b.WriteByte('/')
		if words[s] {
			b.WriteString(s)
		} else {
			b.WriteString("{id}")
		}
	}
	return b.String()
}

// observer records the attempts of one API.
type observer struct {
	api   string
	words map[string]bool
}

func newObserver(m Metrics) *observer {
	if m.API == "" {
		return nil
	}
	words := make(map[string]bool, len(m.PathWords))
	for _, w := range m.PathWords {
		words[w] = true
	}
	return &observer{api: m.API, words: words}
}

// observe records one attempt: its answer (nil when none came) and how long
// it took.
func (o *observer) observe(ctx context.Context, method, path string, resp *http.Response, took time.Duration) {
	m := instruments()
	op := attribute.String("operation", Operation(method, path, o.words))
	api := attribute.String("api", o.api)
	status := "error"
	if resp != nil {
		status = strconv.Itoa(resp.StatusCode)
	}
	ctx = context.WithoutCancel(ctx)
	m.requests.Add(ctx, 1, metric.WithAttributes(api, op, attribute.String("status", status)))
	m.duration.Record(ctx, took.Seconds(), metric.WithAttributes(api, op))
	if resp == nil {
		return
	}
	if resp.StatusCode == http.StatusTooManyRequests {
		m.throttled.Add(ctx, 1, metric.WithAttributes(api, op))
	}
	if d := RetryAfter(resp.Header); d > 0 {
		m.retry.Record(ctx, d.Seconds(), metric.WithAttributes(api))
	}
}

// metricsPolicy is the last per-attempt policy: it times the HTTP exchange
// alone (not the rate budget's wait nor the token).
type metricsPolicy struct{ o *observer }

func (p metricsPolicy) Do(req *policy.Request) (*http.Response, error) {
	raw := req.Raw()
	start := time.Now()
	resp, err := req.Next()
	answer := resp
	if err != nil {
		answer = nil
	}
	p.o.observe(raw.Context(), raw.Method, raw.URL.Path, answer, time.Since(start))
	return resp, err
}

// ObservedTransport returns next recording every request it sends in the
// Microsoft metrics as m describes, for calls that do not go through a
// pipeline of NewPipeline (the token requests of package msauth). next nil
// is http.DefaultClient.
func ObservedTransport(m Metrics, next policy.Transporter) policy.Transporter {
	if next == nil {
		next = http.DefaultClient
	}
	o := newObserver(m)
	if o == nil {
		return next
	}
	return observedTransport{o: o, next: next}
}

type observedTransport struct {
	o    *observer
	next policy.Transporter
}

func (t observedTransport) Do(req *http.Request) (*http.Response, error) {
	start := time.Now()
	resp, err := t.next.Do(req)
	answer := resp
	if err != nil {
		answer = nil
	}
	t.o.observe(req.Context(), req.Method, req.URL.Path, answer, time.Since(start))
	return resp, err
}
