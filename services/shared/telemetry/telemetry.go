// Package telemetry sets OpenTelemetry up once per process: a tracer provider
// (OTLP, a JSON-lines file, or nothing), W3C trace-context propagation, and a
// meter provider exported in Prometheus format for /metrics.
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"io"
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

// ServeAdmin serves the admin listener of a process on addr until ctx ends:
// /healthz answers 200 while the process runs (liveness), /readyz 200 while
// ready says so (readiness; 503 with the reason otherwise), and /metrics.
// It is plaintext HTTP for kubelet and Prometheus, and must not be exposed
// outside the cluster (it reveals no secret). An empty addr serves nothing.
func ServeAdmin(ctx context.Context, addr string, metrics http.Handler, ready func(context.Context) error) error {
	if addr == "" {
		return nil
	}
	mux := http.NewServeMux()
	if metrics != nil {
		mux.Handle("GET /metrics", metrics)
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if ready != nil {
			if err := ready(r.Context()); err != nil {
				http.Error(w, err.Error(), http.StatusServiceUnavailable)
				return
			}
		}
		_, _ = io.WriteString(w, "ready\n")
	})
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: time.Minute, MaxHeaderBytes: 16 << 10}
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
