package aps

import (
	"context"
	"net/http"
	"regexp"
	"sync"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// Unrouted is the operation of a request answered before a route matched
// it: refused by the APS layer (headers, certificate, unknown instance) or
// matching no route.
const Unrouted = "unrouted"

// DurationBuckets are the bucket bounds, in seconds, of
// aps_request_duration_seconds.
var DurationBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}

// instruments are the APS request metrics, made on first use (after the
// process set its meter provider up).
var instruments = sync.OnceValue(func() (m struct {
	requests metric.Int64Counter
	duration metric.Float64Histogram
}) {
	meter := otel.Meter("o365gateway/aps")
	m.requests, _ = meter.Int64Counter("aps_requests_total",
		metric.WithDescription("APS requests by operation (method and route template), status_class (2xx, 4xx, 5xx) and outcome (the APS error type, or the status class of a success)"))
	m.duration, _ = meter.Float64Histogram("aps_request_duration_seconds",
		metric.WithDescription("time to answer an APS request, by operation"),
		metric.WithExplicitBucketBoundaries(DurationBuckets...))
	return m
})

// noteRoute is a grpc-gateway middleware: it tells the APS layer which
// route the request matched (the operation of its metrics).
func noteRoute(next runtime.HandlerFunc) runtime.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request, params map[string]string) {
		if rw, ok := w.(*responseWriter); ok {
			if p, ok := runtime.HTTPPattern(r.Context()); ok {
				rw.route = r.Method + " " + routeTemplate(p.String())
			}
		}
		next(w, r, params)
	}
}

var (
	// A captured variable {id=*} is written {id}; a variable bound to a
	// literal, {relation=tenants}, is the literal.
	anyVariable     = regexp.MustCompile(`\{([A-Za-z0-9_.]+)=\*\*?\}`)
	literalVariable = regexp.MustCompile(`\{[A-Za-z0-9_.]+=([^*}]+)\}`)
)

// routeTemplate turns grpc-gateway's pattern text into the route template
// of the HTTP rule: "/app/{id=*}/{relation=tenants}" is "/app/{id}/tenants".
func routeTemplate(pattern string) string {
	return literalVariable.ReplaceAllString(anyVariable.ReplaceAllString(pattern, "{$1}"), "$1")
}

// reasonShape is what an APS error type looks like (apierr's reasons); any
// other text is not used as a label.
var reasonShape = regexp.MustCompile(`^[A-Z][A-Za-z]{1,47}$`)

// record counts an answered request.
func record(ctx context.Context, rw *responseWriter, took time.Duration) {
	op := rw.route
	if op == "" {
		op = Unrouted
	}
	class := statusClass(rw.status)
	outcome := class
	if rw.status >= 400 {
		if reasonShape.MatchString(rw.reason) {
			outcome = rw.reason
		}
	}
	m := instruments()
	ctx = context.WithoutCancel(ctx)
	operation := attribute.String("operation", op)
	m.requests.Add(ctx, 1, metric.WithAttributes(operation, attribute.String("status_class", class), attribute.String("outcome", outcome)))
	m.duration.Record(ctx, took.Seconds(), metric.WithAttributes(operation))
}

func statusClass(status int) string {
	switch {
	case status >= 500:
		return "5xx"
	case status >= 400:
		return "4xx"
	case status >= 300:
		return "3xx"
	case status >= 200:
		return "2xx"
	default:
		return "1xx"
	}
}
