// Package app is the user service's composition root.
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
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"

	adminv1 "github.com/o365gateway/gateway/gen/go/o365/admin/v1"
	subscriptionv1 "github.com/o365gateway/gateway/gen/go/o365/subscription/v1"
	userv1 "github.com/o365gateway/gateway/gen/go/o365/user/v1"
	"github.com/o365gateway/gateway/services/shared/adminapi"
	"github.com/o365gateway/gateway/services/shared/apierr"
	"github.com/o365gateway/gateway/services/shared/audit"
	"github.com/o365gateway/gateway/services/shared/budget"
	"github.com/o365gateway/gateway/services/shared/clouds"
	"github.com/o365gateway/gateway/services/shared/grpcclient"
	"github.com/o365gateway/gateway/services/shared/grpcserver"
	"github.com/o365gateway/gateway/services/shared/jobs"
	"github.com/o365gateway/gateway/services/shared/lifecycle"
	"github.com/o365gateway/gateway/services/shared/msauth"
	"github.com/o365gateway/gateway/services/shared/msclients"
	"github.com/o365gateway/gateway/services/shared/secret"
	"github.com/o365gateway/gateway/services/shared/service"
	"github.com/o365gateway/gateway/services/shared/telemetry"
	"github.com/o365gateway/gateway/services/shared/tenantclient"

	"github.com/o365gateway/gateway/services/user/internal/config"
	"github.com/o365gateway/gateway/services/user/internal/server"
	"github.com/o365gateway/gateway/services/user/internal/storage/sqlite"
	"github.com/o365gateway/gateway/services/user/internal/users"
)

// App is a wired user service.
type App struct {
	cfg     *config.Config
	store   *sqlite.Store
	conns   []*grpc.ClientConn
	runner  *jobs.Runner
	server  *grpcserver.Server
	metrics http.Handler
	log     *slog.Logger
	sealer  *secret.Sealer
	rekey   secret.Rekeyer
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

// subscriptionSKUs resolves subscriptions through the subscription service.
type subscriptionSKUs struct {
	c subscriptionv1.SubscriptionServiceClient
}

func (s subscriptionSKUs) SKU(ctx context.Context, instanceID, id string) (string, string, error) {
	if md, ok := metadata.FromIncomingContext(ctx); ok {
		ctx = metadata.NewOutgoingContext(ctx, md.Copy())
	}
	r, err := s.c.ResolveSubscription(ctx, &subscriptionv1.ResolveSubscriptionRequest{InstanceId: instanceID, Id: id})
	if err != nil {
		return "", "", apierr.From(err)
	}
	return r.GetSkuId(), r.GetTenantId(), nil
}

// New wires the service.
func New(ctx context.Context, cfg *config.Config, log *slog.Logger, metrics http.Handler) (*App, error) {
	sealer, err := cfg.Encryption.Sealer()
	if err != nil {
		return nil, err
	}
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
	auditLog := &audit.Log{Store: store.Audit(), Key: auditKey, Service: "user", Self: sopts.Self(), Log: log}
	sopts.Audit = auditLog
	tenantConn, err := grpcclient.Dial(cfg.TenantAddr, sopts.Mesh, "tenant")
	if err != nil {
		store.Close()
		return nil, err
	}
	subConn, err := grpcclient.Dial(cfg.SubscriptionAddr, sopts.Mesh, "subscription")
	if err != nil {
		store.Close()
		tenantConn.Close()
		return nil, err
	}
	factory := &msclients.Factory{Endpoints: endpoints, Simulated: cfg.Simulated(), HTTP: httpClient, Log: log,
		MaxRetryDelay: cfg.MSMaxRetryDelay, Budget: &budget.Limiter{Store: store.Budget(), Log: log},
		GraphWritesPerSecond: cfg.GraphWritesPerSecond, GraphWriteBurst: cfg.GraphWriteBurst,
		PartnerCenterPerSecond: cfg.PartnerCenterPerSecond, PartnerCenterBurst: cfg.PartnerCenterBurst}
	workerID := cfg.WorkerID
	if workerID == "" {
		workerID, _ = os.Hostname()
	}
	runner := &jobs.Runner{Store: store.Jobs(), Owner: "user:" + workerID, Workers: cfg.JobWorkers, Poll: cfg.JobPoll, Lease: cfg.JobLease,
		Drain: cfg.JobDrain, Retention: cfg.JobRetention, Log: log,
		AlsoPrune: map[string]jobs.Pruner{"idle rate budgets": store.Budget()}}
	svc := &users.Service{Store: store, Tenants: tenantclient.New(tenantConn, 30*time.Second, endpoints),
		Subscriptions: subscriptionSKUs{c: subscriptionv1.NewSubscriptionServiceClient(subConn)}, Sealer: sealer, Endpoints: endpoints,
		Notify: runner.Notify, Log: log, Finished: lifecycle.AuditTo(auditLog),
		Graph: func(inst *tenantclient.Instance, tenantID string) (users.Graph, error) {
			return factory.Graph(inst.Credentials, tenantID)
		}}
	for kind, h := range svc.Handlers() {
		runner.Register(kind, h)
	}
	srv := grpcserver.New(log, sopts)
	userv1.RegisterUserServiceServer(srv, &server.Server{Users: svc})
	inspector, _ := store.Jobs().(jobs.Inspector)
	adminv1.RegisterAdminServiceServer(srv, &adminapi.Server{Audit: store.Audit(), Rekey: svc, Sealer: sealer, Log: log,
		Jobs: inspector, Resources: &server.Operator{Store: store, Users: svc}})
	log.Info("user service starting", "cloud", endpoints.Cloud, "graph", endpoints.GraphURL, "tenant", cfg.TenantAddr)
	return &App{cfg: cfg, store: store, conns: []*grpc.ClientConn{tenantConn, subConn}, runner: runner, server: srv, metrics: metrics,
		log: log, sealer: sealer, rekey: svc, audit: auditLog}, nil
}

// Close releases the database and the connections.
func (a *App) Close() error {
	for _, c := range a.conns {
		c.Close()
	}
	return a.store.Close()
}

// Rekey seals the stored secrets that are not under the active key again
// under it (secret.Rekeyer): the pass Serve runs at start and every
// USER_ENCRYPTION_REKEY_INTERVAL, for operator tooling to run at will.
func (a *App) Rekey(ctx context.Context) (int, error) { return a.rekey.Rekey(ctx) }

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
		secret.RunRekey(gctx, a.rekey, a.sealer, a.cfg.EncryptionRekeyInterval, a.log)
		return nil
	})
	g.Go(func() error {
		return telemetry.ServeAdmin(gctx, a.cfg.AdminAddr, a.metrics, telemetry.Probes{Live: a.server.Live, Ready: a.server.Ready})
	})
	return g.Wait()
}
