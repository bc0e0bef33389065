// Package grpcserver builds the gRPC server every service runs: OpenTelemetry
// stats handler, panic recovery, request logging, error mapping through
// apierr, health and reflection.
package grpcserver

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"runtime/debug"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"

	"github.com/o365gateway/gateway/services/shared/apierr"
	"github.com/o365gateway/gateway/services/shared/apsmd"
)

// Server is a gRPC server with health reporting.
type Server struct {
	*grpc.Server
	Health *health.Server
	log    *slog.Logger
}

// New builds a server. Order (outermost first): the otelgrpc stats handler
// opens the span; then logUnary adds the APS metadata to the log context, logs
// the call with its internal cause, and maps the error to a status (the one
// place where that happens); then panic recovery.
func New(log *slog.Logger) *Server {
	s := &Server{log: log, Health: health.NewServer()}
	s.Server = grpc.NewServer(
		grpc.StatsHandler(otelgrpc.NewServerHandler()),
		grpc.ChainUnaryInterceptor(s.logUnary, recoverUnary(log)),
	)
	healthpb.RegisterHealthServer(s.Server, s.Health)
	reflection.Register(s.Server)
	return s
}

func (s *Server) logUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, next grpc.UnaryHandler) (any, error) {
	r := apsmd.FromContext(ctx)
	ctx = r.LogContext(ctx)
	start := time.Now()
	resp, err := next(ctx, req)
	var cause error
	if err != nil {
		cause = apierr.From(err).Unwrap()
		err = apierr.ToStatus(err)
	}
	st, _ := status.FromError(err)
	attrs := []any{"method", info.FullMethod, "code", st.Code().String(), "duration_ms", time.Since(start).Milliseconds()}
	if r.Phase != "" {
		attrs = append(attrs, "aps_phase", r.Phase)
	}
	if err != nil {
		attrs = append(attrs, "reason", apierr.FromStatus(st).Reason)
		if cause != nil {
			attrs = append(attrs, "cause", cause.Error())
		}
	}
	level := slog.LevelInfo
	if st.Code() == codes.Internal || st.Code() == codes.Unknown {
		level = slog.LevelError
	}
	s.log.Log(ctx, level, "rpc", attrs...)
	if err != nil {
		return nil, err
	}
	return resp, nil
}

func recoverUnary(log *slog.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, next grpc.UnaryHandler) (resp any, err error) {
		defer func() {
			if p := recover(); p != nil {
				log.ErrorContext(ctx, "panic in handler", "method", info.FullMethod, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
				err = apierr.New(codes.Internal, apierr.Internal, "Internal error in the gateway.")
			}
		}()
		return next(ctx, req)
	}
}

// Liveness is the health service name that reports only whether the process
// serves at all (a liveness probe), while the overall health ("") also
// follows the checks given to Watch (a readiness probe): an outage of the
// database makes a replica unready, not restarted.
const Liveness = "liveness"

// Check is one readiness condition (the database answers a ping, the job
// runner reaches its queue); nil means ready.
type Check func(ctx context.Context) error

// Watch sets the overall health from checks every interval (every half
// second while not ready) until ctx ends: SERVING while all pass,
// NOT_SERVING (with the reason logged once) while one fails.
func (s *Server) Watch(ctx context.Context, interval time.Duration, checks ...Check) {
	s.Health.SetServingStatus(Liveness, healthpb.HealthCheckResponse_SERVING)
	serving := true
	for {
		var failed error
		for _, c := range checks {
			cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			err := c(cctx)
			cancel()
			if err != nil {
				failed = err
				break
			}
		}
		switch {
		case ctx.Err() != nil:
			return
		case failed != nil && serving:
			s.log.Warn("not ready", "reason", failed.Error())
			s.Health.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
			serving = false
		case failed == nil && !serving:
			s.log.Info("ready again")
			s.Health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
			serving = true
		}
		// While not ready, look again soon: a replica that is starting (its
		// runner has not polled yet) or whose database is back is ready
		// within half a second, not a whole interval later.
		wait := interval
		if !serving {
			wait = min(interval, 500*time.Millisecond)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// Serve serves on lis until ctx ends, then stops gracefully (bounded).
func (s *Server) Serve(ctx context.Context, lis net.Listener) error {
	errc := make(chan error, 1)
	go func() { errc <- s.Server.Serve(lis) }()
	s.log.Info("serving", "addr", lis.Addr().String())
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	s.Health.Shutdown()
	done := make(chan struct{})
	go func() { s.GracefulStop(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		s.Stop()
	}
	return nil
}
