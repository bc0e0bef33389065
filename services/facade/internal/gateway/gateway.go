// Package gateway builds the grpc-gateway handler of the APS REST surface from
// one upstream connection per gRPC service, and follows those services'
// availability: a service that is down takes only its own routes down
// (Upstream), and the facade's readiness depends on the services it cannot
// work without (Health).
package gateway

import (
	"context"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"

	subscriptionv1 "github.com/o365gateway/gateway/gen/go/o365/subscription/v1"
	tenantv1 "github.com/o365gateway/gateway/gen/go/o365/tenant/v1"
	userv1 "github.com/o365gateway/gateway/gen/go/o365/user/v1"
)

// Upstreams are the connections to the services (in the facade, each an
// *Upstream); a nil one registers no routes.
type Upstreams struct {
	Tenant       grpc.ClientConnInterface
	Subscription grpc.ClientConnInterface
	User         grpc.ClientConnInterface
}

type registration func(ctx context.Context, mux *runtime.ServeMux, conn grpc.ClientConnInterface) error

// handler registers the REST routes of one service over a client of it.
func handler[C any](newClient func(grpc.ClientConnInterface) C, register func(context.Context, *runtime.ServeMux, C) error) registration {
	return func(ctx context.Context, mux *runtime.ServeMux, conn grpc.ClientConnInterface) error {
		return register(ctx, mux, newClient(conn))
	}
}

// New returns the REST handler; opts carry the APS protocol behaviour.
// Every call goes through textConn: a request the services cannot receive
// is refused as the caller's mistake.
func New(ctx context.Context, up Upstreams, opts ...runtime.ServeMuxOption) (*runtime.ServeMux, error) {
	mux := runtime.NewServeMux(opts...)
	regs := []struct {
		conn grpc.ClientConnInterface
		reg  registration
	}{
		{up.Tenant, handler(tenantv1.NewInstanceServiceClient, tenantv1.RegisterInstanceServiceHandlerClient)},
		{up.Tenant, handler(tenantv1.NewTenantServiceClient, tenantv1.RegisterTenantServiceHandlerClient)},
		{up.Tenant, handler(tenantv1.NewDomainServiceClient, tenantv1.RegisterDomainServiceHandlerClient)},
		{up.Subscription, handler(subscriptionv1.NewSubscriptionServiceClient, subscriptionv1.RegisterSubscriptionServiceHandlerClient)},
		{up.User, handler(userv1.NewUserServiceClient, userv1.RegisterUserServiceHandlerClient)},
	}
	for _, r := range regs {
		if r.conn == nil {
			continue
		}
		if err := r.reg(ctx, mux, textConn{r.conn}); err != nil {
			return nil, err
		}
	}
	return mux, nil
}
