// Package grpcclient dials the gateway's own gRPC services the one way every
// process does it: traced (otelgrpc), and balanced on the client over every
// replica of the target service, so that several replicas share the load
// and the loss of one is ridden out by the others.
//
// A target is one address ("127.0.0.1:9001"), a comma-separated list of
// replicas ("127.0.0.1:9001,127.0.0.1:9011"), or a gRPC resolver URI such as
// "dns:///tenant.o365gw.svc.cluster.local:9001" (a Kubernetes headless
// Service: one address per ready pod). Calls are spread round-robin.
package grpcclient

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/resolver/manual"

	"github.com/o365gateway/gateway/services/shared/mtls"
	"github.com/o365gateway/gateway/services/shared/tracing"
)

// roundRobin spreads calls over every ready address of the target.
const roundRobin = `{"loadBalancingConfig": [{"round_robin": {}}]}`

// CallTimeout bounds a call whose context has no deadline, so that waiting
// for a ready replica never hangs.
const CallTimeout = 60 * time.Second

func defaultDeadline(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, CallTimeout)
		defer cancel()
	}
	return invoker(ctx, method, req, reply, cc, opts...)
}

// Dial returns a client connection to target (see the package doc), the
// service named service ("tenant", "subscription", "user"): with mesh, the
// connection is mutual TLS and the server must prove that service's
// identity; nil mesh dials plaintext (tests only). It connects lazily,
// like grpc.NewClient.
func Dial(target string, mesh *mtls.Source, service string, opts ...grpc.DialOption) (*grpc.ClientConn, error) {
	target = strings.TrimSpace(target)
	if target == "" {
		return nil, errors.New("grpcclient: empty target")
	}
	base := []grpc.DialOption{
		mtls.DialOption(mesh, service),
		// Pings no more often than the servers allow (grpcserver).
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: time.Minute, Timeout: 20 * time.Second}),
		grpc.WithStatsHandler(tracing.GRPCClientHandler()),
		grpc.WithDefaultServiceConfig(roundRobin),
		// A replica that restarts is reconnected quickly, and a call waits
		// for a ready replica (within its deadline) instead of failing at
		// once while every connection is being re-established.
		grpc.WithConnectParams(grpc.ConnectParams{MinConnectTimeout: 5 * time.Second,
			Backoff: backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 3 * time.Second}}),
		grpc.WithDefaultCallOptions(grpc.WaitForReady(true)),
		grpc.WithChainUnaryInterceptor(defaultDeadline),
	}
	if strings.Contains(target, "://") || !strings.Contains(target, ",") {
		if !strings.Contains(target, "://") {
			target = "passthrough:///" + target
		}
		return grpc.NewClient(target, append(base, opts...)...)
	}
	var addrs []resolver.Address
	for _, a := range strings.Split(target, ",") {
		if a = strings.TrimSpace(a); a != "" {
			addrs = append(addrs, resolver.Address{Addr: a})
		}
	}
	if len(addrs) == 0 {
		return nil, fmt.Errorf("grpcclient: no address in %q", target)
	}
	r := manual.NewBuilderWithScheme("replicas")
	r.InitialState(resolver.State{Addresses: addrs})
	return grpc.NewClient(r.Scheme()+":///gateway", append(append(base, grpc.WithResolvers(r)), opts...)...)
}
