package service

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"

	"google.golang.org/grpc"
	"google.golang.org/grpc/peer"

	"github.com/o365gateway/gateway/services/shared/config"
	"github.com/o365gateway/gateway/services/shared/logging"
)

// App is a gRPC service's wired application: its store, job runner, admin
// listener and gRPC server, served on a listener.
type App interface {
	// Serve runs the service on lis until ctx ends.
	Serve(ctx context.Context, lis net.Listener) error
	// Close releases the store and the connections to other services.
	Close() error
}

// ListenAndServe serves a on addr (TCP) until ctx ends.
func ListenAndServe(ctx context.Context, a App, addr string) error {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return a.Serve(ctx, lis)
}

// Component is a gRPC service running inside another binary: the
// single-process mode (services/allinone), where the facade calls the
// services in process while each still serves its own gRPC listener for
// the deployment's other callers (tools, the other services).
type Component interface {
	// ListenAndServe serves the service on its configured address until
	// ctx ends.
	ListenAndServe(ctx context.Context) error
	// Close releases the store and the connections to other services.
	Close() error
	// Local connects to the service's gRPC server in process, every call
	// made as the caller p returns (grpcserver.Server.Local).
	Local(p func() *peer.Peer) grpc.ClientConnInterface
}

// Embed loads a service's configuration and wires it as a Component that
// logs as name at the level of its own settings: the services of one
// binary keep their own configuration (TENANT_*, USER_*, ...), and share
// the process's telemetry (metrics, the metrics registry of the binary).
func Embed[C config.Observable, A Component](ctx context.Context, name string, load func() (C, error),
	wire func(context.Context, C, *slog.Logger, http.Handler) (A, error), metrics http.Handler) (Component, error) {
	cfg, err := load()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	a, err := wire(ctx, cfg, logging.New(os.Stdout, cfg.Obs().LogLevel, name), metrics)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return a, nil
}
