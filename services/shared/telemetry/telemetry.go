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
	"net/http/pprof"
	"strings"
	"sync/atomic"
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

	"github.com/o365gateway/gateway/services/shared/rotate"
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

// TraceFileMaxBytes caps a trace file (file:/path): past it the file is
// rotated, keeping one older copy.
const TraceFileMaxBytes = 64 << 20

// Setup installs the global tracer and meter providers. traces is one of
// "none" (or empty), "otlp" (OTLP/gRPC; OTEL_EXPORTER_OTLP_* variables apply),
// or "file:/path" (one JSON span per line, batched, at most
// TraceFileMaxBytes and one rotated copy).
//
// New traces are sampled at sampleRatio, at most maxPerSecond a second when
// it is positive (NewSampler).
func Setup(ctx context.Context, service, version, traces string, sampleRatio, maxPerSecond float64) (*Providers, error) {
	if sampleRatio < 0 || sampleRatio > 1 {
		return nil, fmt.Errorf("trace sample ratio %v: want 0 to 1", sampleRatio)
	}
	if maxPerSecond < 0 {
		return nil, fmt.Errorf("traces per second %v: want 0 (no cap) or more", maxPerSecond)
	}
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
		// Under a size cap (the file and one rotated copy), batched: the
		// development stack's tracing costs neither unbounded disk nor a
		// write per span on the request's path.
		f, err := rotate.Open(strings.TrimPrefix(traces, "file:"), TraceFileMaxBytes)
		if err != nil {
			return nil, fmt.Errorf("trace file: %w", err)
		}
		exp, err := stdouttrace.New(stdouttrace.WithWriter(f))
		if err != nil {
			return nil, err
		}
		spanProc = sdktrace.NewBatchSpanProcessor(exp, sdktrace.WithBatchTimeout(200*time.Millisecond))
		p.shutdown = append(p.shutdown, func(context.Context) error { return f.Close() })
	default:
		return nil, fmt.Errorf("traces exporter %q: want none, otlp or file:/path", traces)
	}
	// Parent-based: a trace is recorded whole or not at all, decided where
	// it starts (the facade, or a job's own trace).
	opts := []sdktrace.TracerProviderOption{sdktrace.WithResource(res),
		sdktrace.WithSampler(NewSampler(sampleRatio, maxPerSecond))}
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

// Probes are the admin listener's two health answers. They are separate on
// purpose: a process that is not ready (its database is down, a service it
// needs is unreachable) gets no traffic but is not restarted; only a process
// that no longer works at all fails Live.
type Probes struct {
	// Live fails when the process is wedged and must be restarted (the
	// liveness probe, /healthz); nil: alive while the listener answers.
	Live func(context.Context) error
	// Ready fails while the process must get no traffic (the readiness
	// probe, /readyz); nil: always ready.
	Ready func(context.Context) error
}

// pprofOn: EnablePprof was called.
var pprofOn atomic.Bool

// EnablePprof makes every admin listener started afterwards also serve Go's
// profiles under /debug/pprof/ (the PPROF setting). The admin listener is
// not exposed outside the cluster; a CPU profile costs the process while
// it runs.
func EnablePprof() { pprofOn.Store(true) }

// AdminHandler serves /healthz (200 "ok" while p.Live passes), /readyz (200
// "ready" while p.Ready passes) and /metrics; a failing probe is a 503 with
// its reason as text.
func AdminHandler(metrics http.Handler, p Probes) http.Handler {
	mux := http.NewServeMux()
	if metrics != nil {
		mux.Handle("GET /metrics", metrics)
	}
	probe := func(check func(context.Context) error, ok string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if check != nil {
				if err := check(r.Context()); err != nil {
					http.Error(w, err.Error(), http.StatusServiceUnavailable)
					return
				}
			}
			_, _ = io.WriteString(w, ok+"\n")
		}
	}
	if pprofOn.Load() {
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	}
	mux.HandleFunc("GET /healthz", probe(p.Live, "ok"))
	mux.HandleFunc("GET /readyz", probe(p.Ready, "ready"))
	return mux
}

// ServeAdmin serves the admin listener of a process on addr until ctx ends
// (AdminHandler: /healthz for liveness, /readyz for readiness, /metrics).
// It is plaintext HTTP for kubelet and Prometheus, and must not be exposed
// outside the cluster (it reveals no secret). An empty addr serves nothing.
func ServeAdmin(ctx context.Context, addr string, metrics http.Handler, p Probes) error {
	if addr == "" {
		return nil
	}
	mux := AdminHandler(metrics, p)
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

// Heartbeat tells whether a process's periodic loop (its health watch) still
// turns, for a liveness probe: the loop beats every round, saying how long
// the next round may take at most, and Check fails once that has passed
// without a beat. A loop that never started is not judged.
type Heartbeat struct {
	last  atomic.Int64 // unix nanoseconds of the last beat; 0 before the first
	bound atomic.Int64 // how long the round after it may take
}

// Beat records that the loop turned; the next beat is due within bound.
func (h *Heartbeat) Beat(bound time.Duration) {
	h.bound.Store(int64(bound))
	h.last.Store(time.Now().UnixNano())
}

// Check fails when the loop is overdue (Probes.Live).
func (h *Heartbeat) Check(context.Context) error {
	last := h.last.Load()
	if last == 0 {
		return nil
	}
	if age := time.Since(time.Unix(0, last)); age > time.Duration(h.bound.Load()) {
		return fmt.Errorf("wedged: the health loop last turned %s ago", age.Round(time.Millisecond))
	}
	return nil
}
