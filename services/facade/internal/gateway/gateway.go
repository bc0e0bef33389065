// Package gateway builds the grpc-gateway handler of the APS REST surface from
// one upstream connection per gRPC service.
package gateway

import (
	"context"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"

	subscriptionv1 "github.com/o365gateway/gateway/gen/go/o365/subscription/v1"
	tenantv1 "github.com/o365gateway/gateway/gen/go/o365/tenant/v1"
	userv1 "github.com/o365gateway/gateway/gen/go/o365/user/v1"
)

// Upstreams are the connections to the services.
type Upstreams struct {
	Tenant       *grpc.ClientConn
	Subscription *grpc.ClientConn
	User         *grpc.ClientConn
}

type registration func(ctx context.Context, mux *runtime.ServeMux, conn *grpc.ClientConn) error

// New returns the REST handler; opts carry the APS protocol behaviour.
func New(ctx context.Context, up Upstreams, opts ...runtime.ServeMuxOption) (*runtime.ServeMux, error) {
	mux := runtime.NewServeMux(opts...)
	regs := []struct {
		conn *grpc.ClientConn
		reg  registration
	}{
		{up.Tenant, tenantv1.RegisterInstanceServiceHandler},
		{up.Tenant, tenantv1.RegisterTenantServiceHandler},
		{up.Tenant, tenantv1.RegisterDomainServiceHandler},
		{up.Subscription, subscriptionv1.RegisterSubscriptionServiceHandler},
		{up.User, userv1.RegisterUserServiceHandler},
	}
	for _, r := range regs {
		if r.conn == nil {
			continue
		}
		if err := r.reg(ctx, mux, r.conn); err != nil {
			return nil, err
		}
	}
	return mux, nil
}
