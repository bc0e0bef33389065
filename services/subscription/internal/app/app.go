// Package app is the subscription service's composition root.
package app

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"
	"google.golang.org/grpc/peer"

	adminv1 "github.com/o365gateway/gateway/gen/go/o365/admin/v1"
	subscriptionv1 "github.com/o365gateway/gateway/gen/go/o365/subscription/v1"
	"github.com/o365gateway/gateway/services/shared/adminapi"
	"github.com/o365gateway/gateway/services/shared/audit"
	"github.com/o365gateway/gateway/services/shared/budget"
	"github.com/o365gateway/gateway/services/shared/clouds"
	"github.com/o365gateway/gateway/services/shared/grpcclient"
	"github.com/o365gateway/gateway/services/shared/grpcserver"
	"github.com/o365gateway/gateway/services/shared/jobs"
	"github.com/o365gateway/gateway/services/shared/lifecycle"
	"github.com/o365gateway/gateway/services/shared/msauth"
	"github.com/o365gateway/gateway/services/shared/msclients"
	"github.com/o365gateway/gateway/services/shared/service"
	"github.com/o365gateway/gateway/services/shared/telemetry"
	"github.com/o365gateway/gateway/services/shared/tenantclient"

	"github.com/o365gateway/gateway/services/subscription/internal/catalog"
	"github.com/o365gateway/gateway/services/subscription/internal/config"
	"github.com/o365gateway/gateway/services/subscription/internal/server"
	"github.com/o365gateway/gateway/services/subscription/internal/storage/sqlite"
	"github.com/o365gateway/gateway/services/subscription/internal/subscriptions"
)

// App is a wired subscription service.
type App struct {
	cfg     *config.Config
	store   *sqlite.Store
	conn    *grpc.ClientConn
	runner  *jobs.Runner
	server  *grpcserver.Server
	metrics http.Handler
	audit   *audit.Log
}

// Run serves on cfg.ListenAddr until ctx ends.
func Run(ctx context.Context, cfg *config.Config, log *slog.Logger, metrics http.Handler) error {
	a, err := New(ctx, cfg, log, metrics)
	if err != nil {
		return err
	}
	defer a.Close()
	return a.ListenAndServe(ctx)
}

// ListenAndServe serves on cfg.ListenAddr until ctx ends
// (service.Component).
func (a *App) ListenAndServe(ctx context.Context) error {
	return service.ListenAndServe(ctx, a, a.cfg.ListenAddr)
}

// Local connects to the service's gRPC server in process, as the caller p
// returns (service.Component).
func (a *App) Local(p func() *peer.Peer) grpc.ClientConnInterface { return a.server.Local(p) }

// New wires the service.
func New(ctx context.Context, cfg *config.Config, log *slog.Logger, metrics http.Handler) (*App, error) {
	auditKey, err := cfg.Audit.Key()
	if err != nil {
		return nil, err
	}
	base, err := clouds.Lookup(cfg.Cloud)
	if err != nil {
		return nil, err
	}
	endpoints := base.Override(cfg.MSLoginURL, cfg.MSPartnerCenterURL, cfg.MSGraphURL)
	httpClient, err := msauth.HTTPClient(cfg.MSCAFile, cfg.MSTimeout)
	if err != nil {
		return nil, err
	}
	sopts, err := grpcserver.Configure(cfg.Mesh, cfg.Server, rules(), log)
	if err != nil {
		return nil, err
	}
	store, err := sqlite.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return nil, err
	}
	auditLog := &audit.Log{Store: store.Audit(), Key: auditKey, Service: "subscription", Self: sopts.Self(), Log: log}
	sopts.Audit = auditLog
	conn, err := grpcclient.Dial(cfg.TenantAddr, sopts.Mesh, "tenant")
	if err != nil {
		store.Close()
		return nil, err
	}
	factory := &msclients.Factory{Endpoints: endpoints, Simulated: cfg.Simulated(), HTTP: httpClient, Log: log, MaxRetryDelay: cfg.MSMaxRetryDelay,
		Budget:               &budget.Limiter{Store: store.Budget(), Log: log},
		GraphWritesPerSecond: cfg.GraphWritesPerSecond, GraphWriteBurst: cfg.GraphWriteBurst,
		PartnerCenterPerSecond: cfg.PartnerCenterPerSecond, PartnerCenterBurst: cfg.PartnerCenterBurst}
	tenantClient := tenantclient.New(conn, 30*time.Second, endpoints)
	workerID := cfg.WorkerID
	if workerID == "" {
		workerID, _ = os.Hostname()
	}
	runner := &jobs.Runner{Store: store.Jobs(), Owner: "subscription:" + workerID, Workers: cfg.JobWorkers, Poll: cfg.JobPoll,
		Lease: cfg.JobLease, Drain: cfg.JobDrain, Retention: cfg.JobRetention, Log: log,
		AlsoPrune: map[string]jobs.Pruner{"idle rate budgets": store.Budget()}}
	subs := &subscriptions.Service{Store: store, Tenants: tenantClient, Catalog: &catalog.Catalog{TTL: cfg.CatalogTTL}, Notify: runner.Notify,
		Log: log, UsageTTL: cfg.UsageTTL, Finished: lifecycle.AuditTo(auditLog),
		PC: func(inst *tenantclient.Instance) (subscriptions.PartnerCenter, error) {
			return factory.PartnerCenter(inst.Credentials)
		}}
	for kind, h := range subs.Handlers() {
		runner.Register(kind, h)
	}
	srv := grpcserver.New(log, sopts)
	subscriptionv1.RegisterSubscriptionServiceServer(srv, &server.Server{Subs: subs})
	// The subscription service stores no secret: its key rotation re-seals nothing.
	inspector, _ := store.Jobs().(jobs.Inspector)
	adminv1.RegisterAdminServiceServer(srv, &adminapi.Server{Audit: store.Audit(), Log: log,
		Jobs: inspector, Resources: &server.Operator{Store: store, Subs: subs}})
	log.Info("subscription service starting", "cloud", endpoints.Cloud, "partner_center", endpoints.PartnerCenterURL, "tenant", cfg.TenantAddr)
	return &App{cfg: cfg, store: store, conn: conn, runner: runner, server: srv, metrics: metrics, audit: auditLog}, nil
}

// Close releases the database and the tenant connection.
func (a *App) Close() error { a.conn.Close(); return a.store.Close() }

// Serve runs the job runner and the gRPC server on lis until ctx ends.
func (a *App) Serve(ctx context.Context, lis net.Listener) error {
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return a.runner.Run(gctx) })
	g.Go(func() error {
		// Ready while the database answers and the job runner reaches its queue.
		a.server.Watch(gctx, 5*time.Second, a.store.Ping, func(context.Context) error { return a.runner.Healthy() })
		return nil
	})
	g.Go(func() error { return a.server.Serve(gctx, lis) })
	g.Go(func() error { a.audit.RunHeads(gctx, a.cfg.AuditHeadInterval); return nil })
	g.Go(func() error {
		return telemetry.ServeAdmin(gctx, a.cfg.AdminAddr, a.metrics, telemetry.Probes{Live: a.server.Live, Ready: a.server.Ready})
	})
	return g.Wait()
}
