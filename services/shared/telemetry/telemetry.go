// Package telemetry sets OpenTelemetry up once per process: a tracer provider
// (OTLP, a JSON-lines file, or nothing), W3C trace-context propagation, and a
// meter provider exported in Prometheus format for /metrics.
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"
)

// Providers holds what Setup created.
type Providers struct {
	// Metrics serves the Prometheus exposition of this process's metrics.
	Metrics  http.Handler
	shutdown []func(context.Context) error
}

// Shutdown flushes and stops the providers.
func (p *Providers) Shutdown(ctx context.Context) error {
	var errs []error
	for _, f := range p.shutdown {
		errs = append(errs, f(ctx))
	}
	return errors.Join(errs...)
}

// Setup installs the global tracer and meter providers. traces is one of
// "none" (or empty), "otlp" (OTLP/gRPC; OTEL_EXPORTER_OTLP_* variables apply),
// or "file:/path" (one JSON span per line, written synchronously).
func Setup(ctx context.Context, service, version, traces string) (*Providers, error) {
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(
		semconv.ServiceName(service), semconv.ServiceVersion(version)))
	if err != nil {
		return nil, err
	}
	p := &Providers{}
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))

	var spanProc sdktrace.SpanProcessor
	switch {
	case traces == "" || traces == "none":
	case traces == "otlp":
		exp, err := otlptracegrpc.New(ctx)
		if err != nil {
			return nil, fmt.Errorf("otlp exporter: %w", err)
		}
		spanProc = sdktrace.NewBatchSpanProcessor(exp)
	case strings.HasPrefix(traces, "file:"):
		f, err := os.OpenFile(strings.TrimPrefix(traces, "file:"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			return nil, fmt.Errorf("trace file: %w", err)
		}
		exp, err := stdouttrace.New(stdouttrace.WithWriter(f))
		if err != nil {
			return nil, err
		}
		spanProc = sdktrace.NewSimpleSpanProcessor(exp)
		p.shutdown = append(p.shutdown, func(context.Context) error { return f.Close() })
	default:
		return nil, fmt.Errorf("traces exporter %q: want none, otlp or file:/path", traces)
	}
	opts := []sdktrace.TracerProviderOption{sdktrace.WithResource(res)}
	if spanProc != nil {
		opts = append(opts, sdktrace.WithSpanProcessor(spanProc))
	}
	tp := sdktrace.NewTracerProvider(opts...)
	otel.SetTracerProvider(tp)
	p.shutdown = append([]func(context.Context) error{tp.Shutdown}, p.shutdown...)

	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	exp, err := otelprom.New(otelprom.WithRegisterer(reg))
	if err != nil {
		return nil, fmt.Errorf("prometheus exporter: %w", err)
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exp), sdkmetric.WithResource(res))
	otel.SetMeterProvider(mp)
	p.shutdown = append(p.shutdown, mp.Shutdown)
	p.Metrics = promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	return p, nil
}

// ServeMetrics serves h as /metrics on addr until ctx ends; an empty addr
// or nil h serves nothing.
func ServeMetrics(ctx context.Context, addr string, h http.Handler) error {
	if addr == "" || h == nil {
		return nil
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", h)
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	select {
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return err
	case <-ctx.Done():
		return srv.Close()
	}
}
