// Package otlprecv is a small OTLP/gRPC trace receiver for the benchmarks:
// no collector is reachable on the build machines, and the services must be
// measured exporting their traces over OTLP as in production. It accepts
// every export and counts the spans.
package otlprecv

import (
	"context"
	"net"
	"sync/atomic"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/grpc"
)

// Receiver counts what it receives.
type Receiver struct {
	coltracepb.UnimplementedTraceServiceServer
	// Addr is where it listens (host:port, plaintext gRPC).
	Addr    string
	spans   atomic.Int64
	exports atomic.Int64
	srv     *grpc.Server
}

// Start listens on a free loopback port until Stop.
func Start() (*Receiver, error) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r := &Receiver{Addr: lis.Addr().String(), srv: grpc.NewServer()}
	coltracepb.RegisterTraceServiceServer(r.srv, r)
	go func() { _ = r.srv.Serve(lis) }()
	return r, nil
}

// Export implements the OTLP trace service.
func (r *Receiver) Export(_ context.Context, req *coltracepb.ExportTraceServiceRequest) (*coltracepb.ExportTraceServiceResponse, error) {
	n := 0
	for _, rs := range req.GetResourceSpans() {
		for _, ss := range rs.GetScopeSpans() {
			n += len(ss.GetSpans())
		}
	}
	r.spans.Add(int64(n))
	r.exports.Add(1)
	return &coltracepb.ExportTraceServiceResponse{}, nil
}

// Spans is the number of spans received so far.
func (r *Receiver) Spans() int64 { return r.spans.Load() }

// Exports is the number of export calls received so far.
func (r *Receiver) Exports() int64 { return r.exports.Load() }

// Env is the environment that points a service's OTLP exporter here.
func (r *Receiver) Env(prefix string) []string {
	return []string{prefix + "TRACES=otlp", "OTEL_EXPORTER_OTLP_ENDPOINT=http://" + r.Addr, "OTEL_EXPORTER_OTLP_INSECURE=true"}
}

// Stop stops the receiver.
func (r *Receiver) Stop() { r.srv.Stop() }
