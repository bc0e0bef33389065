// Package tracing instruments the gateway's gRPC and HTTP servers and
// clients with OpenTelemetry: every call is traced (under the providers
// that package telemetry installs), and the instrumentation records no
// metrics of its own.
package tracing

import (
	"net/http"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/metric/noop"
	"google.golang.org/grpc/stats"
)

// The instrumentation of gRPC and HTTP traces every call, but records no
// metrics of its own: the gateway's metrics (aps_request_*, the job queue,
// Microsoft calls; docs/metrics.md) say what an operator needs, and the
// libraries' histograms would cost every request a few attribute sets and
// recordings that nothing reads.
var noMetrics = noop.NewMeterProvider()

// GRPCServerHandler traces the calls a gRPC server receives.
func GRPCServerHandler() stats.Handler {
	return otelgrpc.NewServerHandler(otelgrpc.WithMeterProvider(noMetrics))
}

// GRPCClientHandler traces the calls a gRPC client makes.
func GRPCClientHandler() stats.Handler {
	return otelgrpc.NewClientHandler(otelgrpc.WithMeterProvider(noMetrics))
}

// HTTPHandler traces the requests an HTTP server receives (see otelhttp
// for opts).
func HTTPHandler(h http.Handler, operation string, opts ...otelhttp.Option) http.Handler {
	return otelhttp.NewHandler(h, operation, append([]otelhttp.Option{otelhttp.WithMeterProvider(noMetrics)}, opts...)...)
}

// HTTPTransport traces the requests an HTTP client sends.
func HTTPTransport(rt http.RoundTripper) http.RoundTripper {
	return otelhttp.NewTransport(rt, otelhttp.WithMeterProvider(noMetrics))
}
