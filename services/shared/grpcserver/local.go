package grpcserver

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/o365gateway/gateway/services/shared/apierr"
)

// An in-process call (Server.Local) reaches a service's handler through the
// same interceptors as a call over the network (request log and error
// mapping, audit, authorization, panic recovery), with the caller's identity
// given by the caller's own mesh certificate, but without the gRPC hop: no
// TLS, no HTTP/2 framing, no protobuf encoding. The request and the answer
// are copied (proto.Merge), so that neither side sees the other change a
// message, as over the network. What a call over the network has and an
// in-process one does not: the otelgrpc server span (the caller's span is
// the parent of the service's own spans instead), message size limits (the
// caller bounds its requests) and streams (Unimplemented).

// registered is one service registered on a Server, for in-process calls.
type registered struct {
	impl    any
	methods map[string]grpc.MethodDesc
}

// local is the in-process state of a Server.
type local struct {
	mu       sync.RWMutex
	services map[string]registered // by service name, "o365.tenant.v1.TenantService"
	unary    grpc.UnaryServerInterceptor
	stopped  atomic.Bool
}

// RegisterService registers a service on the gRPC server and for in-process
// calls (grpc.ServiceRegistrar): services register on the Server, not on
// its embedded *grpc.Server, to be reachable through Local.
func (s *Server) RegisterService(desc *grpc.ServiceDesc, impl any) {
	s.Server.RegisterService(desc, impl)
	methods := make(map[string]grpc.MethodDesc, len(desc.Methods))
	for _, m := range desc.Methods {
		methods[m.MethodName] = m
	}
	s.local.mu.Lock()
	defer s.local.mu.Unlock()
	if s.local.services == nil {
		s.local.services = map[string]registered{}
	}
	s.local.services[desc.ServiceName] = registered{impl: impl, methods: methods}
}

// Local returns a connection to the server inside the same process. Every
// call is made as the caller p: the peer whose identity the authorization
// policy and the audit log see (mtls.Source.LocalPeer gives a process's own).
// Calls made after the server has stopped serving answer Unavailable.
func (s *Server) Local(p func() *peer.Peer) grpc.ClientConnInterface {
	return localConn{s: s, peer: p}
}

type localConn struct {
	s    *Server
	peer func() *peer.Peer
}

// Invoke implements grpc.ClientConnInterface.
func (c localConn) Invoke(ctx context.Context, method string, args, reply any, opts ...grpc.CallOption) error {
	service, name, ok := splitMethod(method)
	if !ok {
		return status.Errorf(codes.Unimplemented, "malformed method name %q", method)
	}
	c.s.local.mu.RLock()
	svc, found := c.s.local.services[service]
	desc, known := svc.methods[name]
	c.s.local.mu.RUnlock()
	switch {
	case c.s.local.stopped.Load() || c.s.local.unary == nil:
		// As the facade answers a service it cannot reach.
		return apierr.ToStatus(apierr.New(codes.Unavailable, apierr.UpstreamUnavailable,
			"The gateway's service is unavailable right now; try again later."))
	case !found:
		return status.Errorf(codes.Unimplemented, "unknown service %s", service)
	case !known:
		return status.Errorf(codes.Unimplemented, "unknown method %s for service %s", name, service)
	}
	in, ok := args.(proto.Message)
	if !ok {
		return status.Errorf(codes.Internal, "request of %s is %T, not a protobuf message", method, args)
	}
	r, ok := reply.(proto.Message)
	if !ok {
		return status.Errorf(codes.Internal, "answer of %s is %T, not a protobuf message", method, reply)
	}
	stream := &localStream{method: method}
	sctx, err := c.serverContext(ctx, stream)
	if err != nil {
		return err
	}
	dec := func(v any) error {
		m, ok := v.(proto.Message)
		if !ok || m.ProtoReflect().Descriptor() != in.ProtoReflect().Descriptor() {
			return status.Errorf(codes.Internal, "request of %s is %T, not %T", method, args, v)
		}
		proto.Merge(m, in)
		return nil
	}
	out, err := desc.Handler(svc.impl, sctx, dec, c.s.local.unary)
	stream.deliver(opts)
	if err != nil {
		return toStatus(ctx, err)
	}
	// A caller that gave up gets its context's error, as over the network.
	if err := ctx.Err(); err != nil {
		return status.FromContextError(err).Err()
	}
	m, ok := out.(proto.Message)
	if !ok || m.ProtoReflect().Descriptor() != r.ProtoReflect().Descriptor() {
		return status.Errorf(codes.Internal, "answer of %s is %T, not %T", method, out, reply)
	}
	proto.Reset(r)
	proto.Merge(r, m)
	return nil
}

// NewStream implements grpc.ClientConnInterface: streams are not served in
// process (no route of the facade streams).
func (c localConn) NewStream(context.Context, *grpc.StreamDesc, string, ...grpc.CallOption) (grpc.ClientStream, error) {
	return nil, status.Error(codes.Unimplemented, "streams are not served in process")
}

// serverContext is the context a handler sees, as a server builds it for
// a call over the network: the caller's deadline, cancellation and trace,
// and nothing else of the caller's context (none of its values: neither a
// peer nor APS metadata nor a job's fence of the caller reaches the
// service); the caller's outgoing metadata as incoming metadata; the
// caller's identity, its certificate checked as the server's TLS would
// check it; and a stream for the handler's headers.
func (c localConn) serverContext(ctx context.Context, stream *localStream) (context.Context, error) {
	sctx := trace.ContextWithSpan(callContext{ctx}, trace.SpanFromContext(ctx))
	md, _ := metadata.FromOutgoingContext(ctx)
	sctx = metadata.NewIncomingContext(sctx, md.Copy())
	if c.peer != nil {
		if p := c.peer(); p != nil {
			if c.s.mesh != nil {
				if _, err := c.s.mesh.CheckLocal(p); err != nil {
					return nil, status.Errorf(codes.Unauthenticated, "the caller's certificate is not accepted: %v", err)
				}
			}
			sctx = peer.NewContext(sctx, p)
		}
	}
	return grpc.NewContextWithServerTransportStream(sctx, stream), nil
}

// callContext carries a caller's deadline and cancellation, not its values.
type callContext struct{ caller context.Context }

func (c callContext) Deadline() (time.Time, bool) { return c.caller.Deadline() }
func (c callContext) Done() <-chan struct{}       { return c.caller.Done() }
func (c callContext) Err() error                  { return c.caller.Err() }
func (c callContext) Value(any) any               { return nil }

// toStatus is the error a client would receive for err.
func toStatus(ctx context.Context, err error) error {
	if _, ok := status.FromError(err); ok {
		return err
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return status.FromContextError(err).Err()
	}
	if ctx.Err() != nil {
		return status.FromContextError(ctx.Err()).Err()
	}
	return status.Convert(err).Err()
}

// splitMethod splits "/pkg.Service/Method".
func splitMethod(full string) (service, method string, ok bool) {
	if len(full) < 4 || full[0] != '/' {
		return "", "", false
	}
	for i := len(full) - 1; i > 0; i-- {
		if full[i] == '/' {
			return full[1:i], full[i+1:], i > 1 && i < len(full)-1
		}
	}
	return "", "", false
}

// localStream receives a handler's headers and trailers
// (grpc.SetHeader, grpc.SendHeader, grpc.SetTrailer) and hands them to the
// caller's grpc.Header and grpc.Trailer options.
type localStream struct {
	method          string
	mu              sync.Mutex
	header, trailer metadata.MD
}

func (s *localStream) Method() string { return s.method }

func (s *localStream) SetHeader(md metadata.MD) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.header = metadata.Join(s.header, md)
	return nil
}

func (s *localStream) SendHeader(md metadata.MD) error { return s.SetHeader(md) }

func (s *localStream) SetTrailer(md metadata.MD) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.trailer = metadata.Join(s.trailer, md)
	return nil
}

// deliver fills the call's header and trailer options.
func (s *localStream) deliver(opts []grpc.CallOption) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, o := range opts {
		switch o := o.(type) {
		case grpc.HeaderCallOption:
			*o.HeaderAddr = s.header
			if *o.HeaderAddr == nil {
				*o.HeaderAddr = metadata.MD{}
			}
		case grpc.TrailerCallOption:
			*o.TrailerAddr = s.trailer
			if *o.TrailerAddr == nil {
				*o.TrailerAddr = metadata.MD{}
			}
		}
	}
}

// chainUnary composes interceptors, the first outermost, as
// grpc.ChainUnaryInterceptor does for the server.
func chainUnary(chain []grpc.UnaryServerInterceptor) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		next := handler
		for i := len(chain) - 1; i >= 0; i-- {
			interceptor, inner := chain[i], next
			next = func(ctx context.Context, req any) (any, error) { return interceptor(ctx, req, info, inner) }
		}
		return next(ctx, req)
	}
}
