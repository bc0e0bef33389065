package grpcserver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/o365gateway/gateway/services/shared/apierr"
	"github.com/o365gateway/gateway/services/shared/apsmd"
	"github.com/o365gateway/gateway/services/shared/authz"
	"github.com/o365gateway/gateway/services/shared/mtls"
)

// echo is a hand-written unary service: Echo answers the request's value
// followed by the caller's "x-note" metadata, sets a header and a trailer,
// and changes the request it received; Fail answers an apierr refusal;
// Panic panics.
type echo struct{}

const echoName = "test.Echo"

func echoDesc() *grpc.ServiceDesc {
	handler := func(run func(ctx context.Context, in *wrapperspb.StringValue) (*wrapperspb.StringValue, error), name string) grpc.MethodDesc {
		return grpc.MethodDesc{MethodName: name, Handler: func(srv any, ctx context.Context, dec func(any) error, ic grpc.UnaryServerInterceptor) (any, error) {
			in := new(wrapperspb.StringValue)
			if err := dec(in); err != nil {
				return nil, err
			}
			h := func(ctx context.Context, req any) (any, error) { return run(ctx, req.(*wrapperspb.StringValue)) }
			if ic == nil {
				return h(ctx, in)
			}
			return ic(ctx, in, &grpc.UnaryServerInfo{Server: srv, FullMethod: "/" + echoName + "/" + name}, h)
		}}
	}
	return &grpc.ServiceDesc{ServiceName: echoName, HandlerType: (*any)(nil), Methods: []grpc.MethodDesc{
		handler(func(ctx context.Context, in *wrapperspb.StringValue) (*wrapperspb.StringValue, error) {
			md, _ := metadata.FromIncomingContext(ctx)
			if out, _ := metadata.FromOutgoingContext(ctx); len(out) > 0 {
				return nil, status.Error(codes.Internal, "the caller's outgoing metadata leaked into the server's own calls")
			}
			_ = grpc.SetHeader(ctx, metadata.Pairs("x-header", "h"))
			_ = grpc.SetTrailer(ctx, metadata.Pairs("x-trailer", "t"))
			out := wrapperspb.String(in.GetValue() + "/" + strings.Join(md.Get("x-note"), ","))
			in.Value = "changed by the server"
			return out, nil
		}, "Echo"),
		handler(func(context.Context, *wrapperspb.StringValue) (*wrapperspb.StringValue, error) {
			return nil, apierr.New(codes.FailedPrecondition, "TenantNotReady", "not yet")
		}, "Fail"),
		handler(func(context.Context, *wrapperspb.StringValue) (*wrapperspb.StringValue, error) {
			panic("boom")
		}, "Panic"),
		// Whoami answers what the handler sees of its call: the caller's
		// identity, the APS instance, the deadline, a value of the caller's
		// context.
		handler(func(ctx context.Context, _ *wrapperspb.StringValue) (*wrapperspb.StringValue, error) {
			id, _ := mtls.Peer(ctx, "o365gw.test")
			_, deadline := ctx.Deadline()
			return wrapperspb.String(fmt.Sprintf("%s|%s|%v|%v", id, apsmd.FromContext(ctx).InstanceID, deadline, ctx.Value(callerValue{}))), nil
		}, "Whoami"),
		// Wait arrives at the barrier its request names and returns once
		// every call of that barrier arrived.
		handler(func(ctx context.Context, in *wrapperspb.StringValue) (*wrapperspb.StringValue, error) {
			b, ok := barriers.Load(in.GetValue())
			if !ok {
				return nil, status.Error(codes.NotFound, "no such barrier")
			}
			b.(*sync.WaitGroup).Done()
			done := make(chan struct{})
			go func() { b.(*sync.WaitGroup).Wait(); close(done) }()
			select {
			case <-done:
				return in, nil
			case <-ctx.Done():
				return nil, status.FromContextError(ctx.Err()).Err()
			}
		}, "Wait"),
	}}
}

// barriers are Wait's barriers, by name.
var barriers sync.Map

// callerValue is a key of a value in a caller's context.
type callerValue struct{}

// localServer is a server with the mesh of "tenant", the echo service
// allowed to "facade", and the peers of "facade" and "tool/mallory".
func localServer(t *testing.T, log *slog.Logger) (s *Server, facade, mallory func() *peer.Peer) {
	t.Helper()
	pki, load := testMesh(t)
	s = New(log, Options{Mesh: load("tenant"), TrustDomain: pki.TrustDomain,
		Rules: []authz.Rule{{Identity: "facade", Methods: []string{"/" + echoName + "/*"}, Instances: []string{authz.Any}}}})
	s.RegisterService(echoDesc(), echo{})
	return s, load("facade").LocalPeer, load("tool/mallory").LocalPeer
}

func TestLocalCallsGoThroughTheInterceptors(t *testing.T) {
	var logs bytes.Buffer
	s, facade, mallory := localServer(t, slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	conn := s.Local(facade)
	ctx := metadata.AppendToOutgoingContext(context.Background(), "x-note", "from the facade")

	in := wrapperspb.String("hello")
	out := new(wrapperspb.StringValue)
	var header, trailer metadata.MD
	if err := conn.Invoke(ctx, "/"+echoName+"/Echo", in, out, grpc.Header(&header), grpc.Trailer(&trailer)); err != nil {
		t.Fatalf("Echo: %v", err)
	}
	if out.GetValue() != "hello/from the facade" {
		t.Errorf("answer %q: the caller's metadata did not arrive as incoming metadata", out.GetValue())
	}
	if in.GetValue() != "hello" {
		t.Errorf("the server changed the caller's request: %q", in.GetValue())
	}
	if header.Get("x-header")[0] != "h" || trailer.Get("x-trailer")[0] != "t" {
		t.Errorf("header %v, trailer %v: the handler's metadata did not reach the caller", header, trailer)
	}
	// The request log (the outermost interceptor) names the caller from
	// its certificate.
	if !strings.Contains(logs.String(), "caller=spiffe://o365gw.test/facade") {
		t.Errorf("the call was not logged with its caller:\n%s", logs.String())
	}

	// The authorization policy applies: mallory is named by no rule.
	err := s.Local(mallory).Invoke(ctx, "/"+echoName+"/Echo", in, out)
	if status.Code(err) != codes.PermissionDenied {
		t.Errorf("a caller the policy does not name: %v, want PermissionDenied", err)
	}
	// Without a peer there is no identity: refused too.
	if err := s.Local(nil).Invoke(ctx, "/"+echoName+"/Echo", in, out); status.Code(err) != codes.Unauthenticated {
		t.Errorf("a call without identity: %v, want Unauthenticated", err)
	}

	// A refusal keeps its code and the gateway's reason; a panic is Internal.
	err = conn.Invoke(ctx, "/"+echoName+"/Fail", in, out)
	if status.Code(err) != codes.FailedPrecondition || apierr.From(err).Reason != "TenantNotReady" {
		t.Errorf("Fail: %v (reason %q)", err, apierr.From(err).Reason)
	}
	if err := conn.Invoke(ctx, "/"+echoName+"/Panic", in, out); status.Code(err) != codes.Internal {
		t.Errorf("Panic: %v, want Internal", err)
	}
	// Unknown methods and services, as over the network.
	for _, m := range []string{"/" + echoName + "/Nope", "/test.Nope/Echo", "nonsense"} {
		if err := conn.Invoke(ctx, m, in, out); status.Code(err) != codes.Unimplemented {
			t.Errorf("%s: %v, want Unimplemented", m, err)
		}
	}
	if _, err := conn.NewStream(ctx, &grpc.StreamDesc{}, "/"+echoName+"/Echo"); status.Code(err) != codes.Unimplemented {
		t.Errorf("a stream: %v, want Unimplemented", err)
	}
	// The health service is registered through the Server too.
	h, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil || h.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("health in process: %v %v", h, err)
	}
}

// The caller's deadline reaches the handler; once the server stops
// serving, in-process calls are refused Unavailable.
func TestLocalCallsFollowTheServer(t *testing.T) {
	s, facade, _ := localServer(t, slog.New(slog.DiscardHandler))
	conn := s.Local(facade)
	expired, cancel := context.WithTimeout(context.Background(), -time.Second)
	defer cancel()
	if got := toStatus(expired, context.DeadlineExceeded); status.Code(got) != codes.DeadlineExceeded {
		t.Errorf("a deadline error became %v", got)
	}
	if got := toStatus(expired, errors.New("plain")); status.Code(got) != codes.DeadlineExceeded {
		t.Errorf("an error after the caller's deadline became %v", got)
	}
	if got := toStatus(context.Background(), errors.New("plain")); status.Code(got) != codes.Unknown {
		t.Errorf("a plain error became %v", got)
	}

	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, lis) }()
	out := new(wrapperspb.StringValue)
	if err := conn.Invoke(context.Background(), "/"+echoName+"/Echo", wrapperspb.String("a"), out); err != nil {
		t.Fatalf("while serving: %v", err)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	err = conn.Invoke(context.Background(), "/"+echoName+"/Echo", wrapperspb.String("a"), out)
	if status.Code(err) != codes.Unavailable || apierr.From(err).Reason != apierr.UpstreamUnavailable {
		t.Errorf("after the server stopped: %v (reason %q), want Unavailable, UpstreamUnavailable", err, apierr.From(err).Reason)
	}
}

// A handler sees what a server sees of a call over the network: the
// deadline, the metadata, the identity of the caller's certificate, and
// nothing else of the caller's context (not a peer of its own, not APS
// metadata it kept, not its values).
func TestLocalCallsSeeOnlyTheCall(t *testing.T) {
	s, facade, mallory := localServer(t, slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ctx = context.WithValue(ctx, callerValue{}, "leaked")
	ctx = peer.NewContext(ctx, mallory())                               // the caller's own caller
	ctx = apsmd.WithRequest(ctx, apsmd.Request{InstanceID: "caller's"}) // the caller's own call
	ctx = metadata.AppendToOutgoingContext(ctx, apsmd.InstanceID, "i1")
	out := new(wrapperspb.StringValue)
	if err := s.Local(facade).Invoke(ctx, "/"+echoName+"/Whoami", wrapperspb.String(""), out); err != nil {
		t.Fatal(err)
	}
	if want := "spiffe://o365gw.test/facade|i1|true|<nil>"; out.GetValue() != want {
		t.Errorf("the handler saw %q, want %q", out.GetValue(), want)
	}
	// Without a peer of its own the call has no identity, whatever the
	// caller's context holds.
	if err := s.Local(nil).Invoke(ctx, "/"+echoName+"/Whoami", wrapperspb.String(""), out); status.Code(err) != codes.Unauthenticated {
		t.Errorf("a call without identity: %v (%q), want Unauthenticated", err, out.GetValue())
	}
	// A certificate of another CA is refused as the TLS server would.
	_, foreign := testMesh(t)
	if err := s.Local(foreign("facade").LocalPeer).Invoke(ctx, "/"+echoName+"/Whoami", wrapperspb.String(""), out); status.Code(err) != codes.Unauthenticated {
		t.Errorf("a certificate of another CA: %v, want Unauthenticated", err)
	}
	// A caller that gave up gets its context's error.
	gone, stop := context.WithCancel(ctx)
	stop()
	if err := s.Local(facade).Invoke(gone, "/"+echoName+"/Whoami", wrapperspb.String(""), out); status.Code(err) != codes.Canceled {
		t.Errorf("a cancelled caller: %v, want Canceled", err)
	}
}

// A server whose listener fails stops taking in-process calls too.
func TestLocalCallsStopWhenServingFails(t *testing.T) {
	s, facade, _ := localServer(t, slog.New(slog.DiscardHandler))
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	lis.Close()
	if err := s.Serve(context.Background(), lis); err == nil {
		t.Fatal("serving a closed listener succeeded")
	}
	err = s.Local(facade).Invoke(context.Background(), "/"+echoName+"/Echo", wrapperspb.String("a"), new(wrapperspb.StringValue))
	if apierr.From(err).Reason != apierr.UpstreamUnavailable {
		t.Errorf("after serving failed: %v, want UpstreamUnavailable", err)
	}
}

func TestSplitMethod(t *testing.T) {
	for in, want := range map[string][2]string{
		"/o365.tenant.v1.TenantService/GetTenant": {"o365.tenant.v1.TenantService", "GetTenant"},
		"/a/b": {"a", "b"},
	} {
		s, m, ok := splitMethod(in)
		if !ok || s != want[0] || m != want[1] {
			t.Errorf("%s: %q %q %v", in, s, m, ok)
		}
	}
	for _, in := range []string{"", "/", "//", "/a/", "a/b", "/ab"} {
		if _, _, ok := splitMethod(in); ok {
			t.Errorf("%q was accepted", in)
		}
	}
}
