// Package grpcserver builds the gRPC server every service runs: mutual TLS
// and per-caller authorization (packages mtls, authz), the audit log of
// every change (package audit), OpenTelemetry stats handler, panic
// recovery, request logging, error mapping through apierr, limits on
// messages and connections, health, and reflection when asked.
package grpcserver

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"runtime"
	"runtime/debug"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"

	"github.com/o365gateway/gateway/services/shared/apierr"
	"github.com/o365gateway/gateway/services/shared/apsmd"
	"github.com/o365gateway/gateway/services/shared/audit"
	"github.com/o365gateway/gateway/services/shared/authz"
	"github.com/o365gateway/gateway/services/shared/config"
	"github.com/o365gateway/gateway/services/shared/mtls"
	"github.com/o365gateway/gateway/services/shared/telemetry"
	"github.com/o365gateway/gateway/services/shared/tracing"
)

// Server is a gRPC server with health reporting.
type Server struct {
	*grpc.Server
	Health      *health.Server
	log         *slog.Logger
	trustDomain string
	// beat is Watch's heartbeat (Live); checkTimeout bounds each check.
	beat         telemetry.Heartbeat
	checkTimeout time.Duration
	// local serves in-process calls (Local); mesh checks their callers.
	local local
	mesh  *mtls.Source
}

// Options secure a server.
type Options struct {
	// Mesh proves the server's identity and checks its callers'; nil
	// serves plaintext with no authorization (tests only).
	Mesh *mtls.Source
	// TrustDomain of the callers' identities.
	TrustDomain string
	// Rules say who may call what (the service's built-in rules and the
	// operator's); they apply with Mesh.
	Rules []authz.Rule
	// Reflection serves gRPC reflection (to authorized callers).
	Reflection bool
	// Audit, when set, records every state-changing call (audit.IsChange)
	// with its caller and outcome, refused ones included.
	Audit *audit.Log
}

// Self is the server's own identity (its certificate's SPIFFE ID), "" on
// a plaintext server.
func (o Options) Self() string {
	if o.Mesh == nil {
		return ""
	}
	return o.Mesh.Self()
}

// Limits of every server: a request larger than MaxRecvMsgSize is refused
// (ResourceExhausted); clients may not ping more often than every 10 s;
// connections are recycled every few minutes, so that clients resolving a
// headless Service's DNS name see new replicas.
const (
	MaxRecvMsgSize = 4 << 20
	MaxSendMsgSize = 16 << 20
)

// New builds a server. Order (outermost first): the otelgrpc stats handler
// opens the span; then logUnary adds the APS metadata and the caller to the
// log context, logs the call with its internal cause, and maps the error to
// a status (the one place where that happens); then the audit log, which
// records each change with its outcome (outside the policy, so that refused
// changes are recorded too); then the authorization policy; then panic
// recovery.
func New(log *slog.Logger, o Options) *Server {
	s := &Server{log: log, Health: health.NewServer(), trustDomain: o.TrustDomain, checkTimeout: 2 * time.Second, mesh: o.Mesh}
	chain := []grpc.UnaryServerInterceptor{s.logUnary}
	if o.Audit != nil {
		chain = append(chain, auditUnary(o.Audit, func(ctx context.Context) string {
			id, _ := mtls.Peer(ctx, o.TrustDomain)
			return id
		}))
	}
	var streams []grpc.StreamServerInterceptor
	if o.Mesh != nil {
		policy := authz.New(o.TrustDomain, log, o.Rules...)
		chain = append(chain, policy.UnaryInterceptor())
		streams = append(streams, policy.StreamInterceptor())
	}
	chain = append(chain, recoverUnary(log))
	s.local.unary = chainUnary(chain)
	s.Server = grpc.NewServer(
		mtls.ServerOption(o.Mesh),
		grpc.StatsHandler(tracing.GRPCServerHandler()),
		grpc.ChainUnaryInterceptor(chain...),
		grpc.ChainStreamInterceptor(streams...),
		grpc.MaxRecvMsgSize(MaxRecvMsgSize),
		grpc.MaxSendMsgSize(MaxSendMsgSize),
		grpc.MaxConcurrentStreams(1000),
		// Calls run on long-lived workers whose stacks have already grown
		// to what a handler needs, instead of a new goroutine per call that
		// grows its stack again (copying it) every time: 9% of the tenant
		// service's CPU under paced reads. Past the workers' number, a call
		// gets its own goroutine as before. (grpc-go marks the option
		// experimental; without it, every call gets a goroutine.)
		grpc.NumStreamWorkers(StreamWorkers()),
		grpc.ConnectionTimeout(10*time.Second),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}),
		grpc.KeepaliveParams(keepalive.ServerParameters{MaxConnectionIdle: 5 * time.Minute, MaxConnectionAge: 5 * time.Minute,
			MaxConnectionAgeGrace: time.Minute, Time: time.Minute, Timeout: 20 * time.Second}),
	)
	healthpb.RegisterHealthServer(s, s.Health)
	if o.Reflection {
		reflection.Register(s.Server)
	}
	return s
}

// StreamWorkers is how many calls a server runs on its long-lived workers
// at once: four per CPU the process may use.
func StreamWorkers() uint32 { return uint32(4 * runtime.GOMAXPROCS(0)) }

// Ready tells whether the overall health is SERVING (the readiness probe
// of the admin listener).
func (s *Server) Ready(ctx context.Context) error {
	resp, err := s.Health.Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		return err
	}
	if resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		return fmt.Errorf("not ready: %s", resp.GetStatus())
	}
	return nil
}

func (s *Server) logUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, next grpc.UnaryHandler) (any, error) {
	r := apsmd.FromContext(ctx)
	ctx = apsmd.WithRequest(r.LogContext(ctx), r)
	start := time.Now()
	resp, err := next(ctx, req)
	var cause error
	if err != nil {
		cause = apierr.From(err).Unwrap()
		err = apierr.ToStatus(err)
	}
	st, _ := status.FromError(err)
	// A read that succeeded is logged at debug: the facade's "aps
	// request" line already names it, and at info it would cost every
	// GET a second log line. Changes and failures stay at info (errors of
	// the gateway's own at error).
	level := slog.LevelInfo
	switch {
	case st.Code() == codes.Internal || st.Code() == codes.Unknown:
		level = slog.LevelError
	case err == nil && !audit.IsChange(info.FullMethod):
		level = slog.LevelDebug
	}
	if s.log.Enabled(ctx, level) {
		attrs := []any{"method", info.FullMethod, "code", st.Code().String(), "duration_ms", time.Since(start).Milliseconds()}
		if caller, ok := mtls.Peer(ctx, s.trustDomain); ok {
			attrs = append(attrs, "caller", caller)
		}
		if r.Phase != "" {
			attrs = append(attrs, "aps_phase", r.Phase)
		}
		if err != nil {
			attrs = append(attrs, "reason", apierr.FromStatus(st).Reason)
			if cause != nil {
				attrs = append(attrs, "cause", cause.Error())
			}
		}
		s.log.Log(ctx, level, "rpc", attrs...)
	}
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

// Live is the liveness probe of the admin listener (/healthz): it fails once
// Watch has stopped turning, i.e. a round of checks is long overdue (a check
// that ignores its deadline, a wedged process), so that kubelet restarts the
// process. A check that fails only makes the server unready (Ready).
func (s *Server) Live(ctx context.Context) error { return s.beat.Check(ctx) }

// Check is one readiness condition (the database answers a ping, the job
// runner reaches its queue); nil means ready.
type Check func(ctx context.Context) error

// Watch sets the overall health from checks every interval (from 25 ms up
// to every half second while not ready) until ctx ends: SERVING while all pass,
// NOT_SERVING (with the reason logged once) while one fails. Each round
// beats the heartbeat that Live reads: Live fails once no round has ended
// for three times a round's longest normal length (the interval plus every
// check's deadline).
func (s *Server) Watch(ctx context.Context, interval time.Duration, checks ...Check) {
	s.Health.SetServingStatus(Liveness, healthpb.HealthCheckResponse_SERVING)
	overdue := 3 * (interval + time.Duration(len(checks))*s.checkTimeout)
	s.beat.Beat(overdue)
	serving := true
	retry := 25 * time.Millisecond
	for {
		var failed error
		for _, c := range checks {
			cctx, cancel := context.WithTimeout(ctx, s.checkTimeout)
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
		s.beat.Beat(overdue)
		// While not ready, look again soon: a replica that is starting (its
		// runner has not polled yet) is ready within tens of milliseconds,
		// one whose database is back within half a second, not a whole
		// interval later (the wait doubles from 25 ms up to 500 ms).
		wait := interval
		if !serving {
			wait = min(interval, retry)
			retry = min(2*retry, 500*time.Millisecond)
		} else {
			retry = 25 * time.Millisecond
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
	// In-process calls stop with the server, whichever way it stops.
	defer s.local.stopped.Store(true)
	select {
	case err := <-errc:
		// Stop releases what the server holds (its stream workers).
		s.Stop()
		return err
	case <-ctx.Done():
	}
	s.Health.Shutdown()
	s.local.stopped.Store(true)
	done := make(chan struct{})
	go func() { s.GracefulStop(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		s.Stop()
	}
	return nil
}

// Configure returns the Options of a service from its settings: its mesh
// identity (nil with INSECURE_PLAINTEXT), the built-in rules followed by the
// operator's policy file, and reflection. Options.Mesh also dials the
// service's own calls to other services.
func Configure(m config.Mesh, srv config.Server, builtin []authz.Rule, log *slog.Logger) (Options, error) {
	mesh, err := mtls.Open(m, log)
	if err != nil {
		return Options{}, err
	}
	rules, err := authz.WithFile(builtin, srv.AuthzPolicyFile)
	if err != nil {
		return Options{}, err
	}
	return Options{Mesh: mesh, TrustDomain: m.TrustDomain, Rules: rules, Reflection: srv.GRPCReflection}, nil
}
