// Package app is the tenant service's composition root: it wires storage,
// Microsoft clients, the domain services, the job runner and the gRPC server.
package app

import (
	"context"
	"crypto/x509"
	"fmt"
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
	tenantv1 "github.com/o365gateway/gateway/gen/go/o365/tenant/v1"
	userv1 "github.com/o365gateway/gateway/gen/go/o365/user/v1"
	"github.com/o365gateway/gateway/services/shared/adminapi"
	"github.com/o365gateway/gateway/services/shared/apierr"
	"github.com/o365gateway/gateway/services/shared/audit"
	"github.com/o365gateway/gateway/services/shared/budget"
	"github.com/o365gateway/gateway/services/shared/clouds"
	"github.com/o365gateway/gateway/services/shared/drift"
	"github.com/o365gateway/gateway/services/shared/graph"
	"github.com/o365gateway/gateway/services/shared/grpcclient"
	"github.com/o365gateway/gateway/services/shared/grpcserver"
	"github.com/o365gateway/gateway/services/shared/jobs"
	"github.com/o365gateway/gateway/services/shared/lifecycle"
	"github.com/o365gateway/gateway/services/shared/msauth"
	"github.com/o365gateway/gateway/services/shared/msclients"
	"github.com/o365gateway/gateway/services/shared/partnercenter"
	"github.com/o365gateway/gateway/services/shared/secret"
	"github.com/o365gateway/gateway/services/shared/service"
	"github.com/o365gateway/gateway/services/shared/telemetry"

	"github.com/o365gateway/gateway/services/tenant/internal/accounts"
	"github.com/o365gateway/gateway/services/tenant/internal/config"
	"github.com/o365gateway/gateway/services/tenant/internal/domains"
	"github.com/o365gateway/gateway/services/tenant/internal/driftcheck"
	"github.com/o365gateway/gateway/services/tenant/internal/health"
	"github.com/o365gateway/gateway/services/tenant/internal/instances"
	"github.com/o365gateway/gateway/services/tenant/internal/registrar"
	"github.com/o365gateway/gateway/services/tenant/internal/server"
	"github.com/o365gateway/gateway/services/tenant/internal/storage"
	"github.com/o365gateway/gateway/services/tenant/internal/storage/sqlite"
	"github.com/o365gateway/gateway/services/tenant/internal/syncer"
	"github.com/o365gateway/gateway/services/tenant/internal/tenants"
)

// App is a wired tenant service.
type App struct {
	cfg     *config.Config
	log     *slog.Logger
	store   storage.Store
	runner  *jobs.Runner
	server  *grpcserver.Server
	metrics http.Handler
	conn    *grpc.ClientConn
	sealer  *secret.Sealer
	rekey   secret.Rekeyer
	audit   *audit.Log
	health  *health.Service
	drift   *driftcheck.Service
	subConn *grpc.ClientConn
}

// userDrift checks and repairs a tenant's users in the user service.
type userDrift struct{ c userv1.UserServiceClient }

func (u userDrift) Check(ctx context.Context, instanceID, tenantID string) ([]drift.Item, error) {
	r, err := u.c.CheckUserDrift(outgoing(ctx), &userv1.CheckUserDriftRequest{InstanceId: instanceID, TenantId: tenantID})
	if err != nil {
		return nil, apierr.From(err)
	}
	return drift.FromProto(r.GetItems()), nil
}

func (u userDrift) Repair(ctx context.Context, instanceID, tenantID string, items []drift.Item, dryRun bool) ([]drift.Item, error) {
	r, err := u.c.RepairUserDrift(outgoing(ctx), &userv1.RepairUserDriftRequest{InstanceId: instanceID, TenantId: tenantID,
		Items: drift.ToProto(items), DryRun: dryRun})
	if err != nil {
		return nil, apierr.From(err)
	}
	return drift.FromProto(r.GetItems()), nil
}

// subscriptionDrift checks and repairs a tenant's subscriptions in the
// subscription service.
type subscriptionDrift struct {
	c subscriptionv1.SubscriptionServiceClient
}

func (s subscriptionDrift) Check(ctx context.Context, instanceID, tenantID string) ([]drift.Item, error) {
	r, err := s.c.CheckSubscriptionDrift(outgoing(ctx), &subscriptionv1.CheckSubscriptionDriftRequest{InstanceId: instanceID, TenantId: tenantID})
	if err != nil {
		return nil, apierr.From(err)
	}
	return drift.FromProto(r.GetItems()), nil
}

func (s subscriptionDrift) Repair(ctx context.Context, instanceID, tenantID string, items []drift.Item, dryRun bool) ([]drift.Item, error) {
	r, err := s.c.RepairSubscriptionDrift(outgoing(ctx), &subscriptionv1.RepairSubscriptionDriftRequest{InstanceId: instanceID,
		TenantId: tenantID, Items: drift.ToProto(items), DryRun: dryRun})
	if err != nil {
		return nil, apierr.From(err)
	}
	return drift.FromProto(r.GetItems()), nil
}

// outgoing passes the caller's APS metadata on (logs and audit).
func outgoing(ctx context.Context) context.Context {
	if md, ok := metadata.FromIncomingContext(ctx); ok {
		return metadata.NewOutgoingContext(ctx, md.Copy())
	}
	return ctx
}

// userSync asks the user service to synchronize a tenant's users.
type userSync struct{ c userv1.UserServiceClient }

func (u userSync) SyncUsers(ctx context.Context, instanceID, tenantID string) ([]syncer.Change, int, error) {
	r, err := u.c.SyncUsers(outgoing(ctx), &userv1.SyncUsersRequest{InstanceId: instanceID, TenantId: tenantID})
	if err != nil {
		return nil, 0, apierr.From(err)
	}
	var out []syncer.Change
	for _, d := range r.GetDifferences() {
		out = append(out, syncer.Change{Kind: "users", Change: d.GetChange(), ID: d.GetId(), Name: d.GetName(), Detail: d.GetDetail()})
	}
	return out, int(r.GetUsersTotal()), nil
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

// Close releases the database and the user-service connection.
func (a *App) Close() error { a.conn.Close(); a.subConn.Close(); return a.store.Close() }

// Rekey seals the stored secrets that are not under the active key again
// under it (secret.Rekeyer): the pass Serve runs at start and every
// TENANT_ENCRYPTION_REKEY_INTERVAL, for operator tooling to run at will.
func (a *App) Rekey(ctx context.Context) (int, error) { return a.rekey.Rekey(ctx) }

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
	simulated := cfg.Simulated()
	httpClient, err := msauth.HTTPClient(cfg.MSCAFile, cfg.MSTimeout)
	if err != nil {
		return nil, err
	}
	var apscRoots *x509.CertPool
	if cfg.APSCCAFile != "" {
		pem, err := os.ReadFile(cfg.APSCCAFile)
		if err != nil {
			return nil, fmt.Errorf("APSC CA file: %w", err)
		}
		apscRoots = x509.NewCertPool()
		if !apscRoots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("no certificate in %s", cfg.APSCCAFile)
		}
	} else if cfg.APSCInsecureSkipVerify {
		log.Warn("TENANT_APSC_INSECURE_SKIP_VERIFY: the APS controllers' server certificates are not verified; development only")
	}

	sopts, err := grpcserver.Configure(cfg.Mesh, cfg.Server, rules(), log)
	if err != nil {
		return nil, err
	}
	store, err := sqlite.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return nil, err
	}
	auditLog := &audit.Log{Store: store.Audit(), Key: auditKey, Service: "tenant", Self: sopts.Self(), Log: log}
	sopts.Audit = auditLog

	factory := &msclients.Factory{Endpoints: endpoints, Simulated: simulated, HTTP: httpClient, Log: log, MaxRetryDelay: cfg.MSMaxRetryDelay,
		Budget:                 &budget.Limiter{Store: store.Budget(), Log: log},
		PartnerCenterPerSecond: cfg.PartnerCenterPerSecond, PartnerCenterBurst: cfg.PartnerCenterBurst,
		GraphWritesPerSecond: cfg.GraphWritesPerSecond, GraphWriteBurst: cfg.GraphWriteBurst}
	inst := &instances.Service{Store: store, Tenants: store, Checker: factory, Sealer: sealer, Endpoints: endpoints, Log: log}
	factory.Tokens = inst.Tokens
	// The clients of a stored instance, built with its unsealed credentials.
	partnerCenter := func(in *storage.Instance) (*partnercenter.Client, error) {
		c, err := inst.Credentials(in)
		if err != nil {
			return nil, err
		}
		return factory.PartnerCenter(c)
	}
	tenantGraph := func(in *storage.Instance, customerTenantID string) (*graph.Client, error) {
		c, err := inst.Credentials(in)
		if err != nil {
			return nil, err
		}
		return factory.Graph(c, customerTenantID)
	}
	workerID := cfg.WorkerID
	if workerID == "" {
		workerID, _ = os.Hostname()
	}
	runner := &jobs.Runner{Store: store.Jobs(), Owner: "tenant:" + workerID, Workers: cfg.JobWorkers, Poll: cfg.JobPoll,
		Lease: cfg.JobLease, Drain: cfg.JobDrain, Retention: cfg.JobRetention, Log: log,
		AlsoPrune: map[string]jobs.Pruner{"idle rate budgets": store.Budget()}}
	reader := &accounts.Reader{Sealer: sealer, Roots: apscRoots}
	ten := &tenants.Service{Store: store, Instances: inst, Sealer: sealer, Endpoints: endpoints, Log: log,
		Accounts: reader, Notify: runner.Notify, Finished: lifecycle.AuditTo(auditLog),
		PC: func(in *storage.Instance) (tenants.PartnerCenter, error) { return partnerCenter(in) },
		// GDAP relationships live in the partner's own tenant.
		Relationships: func(in *storage.Instance) (tenants.Relationships, error) { return tenantGraph(in, in.PartnerTenantID) },
		Customers:     func(in *storage.Instance) (tenants.CustomerLister, error) { return partnerCenter(in) }}
	checks := &health.Service{Store: store, Instances: inst, Tenants: ten, Warning: cfg.HealthWarning, Log: log,
		Budget: &budget.Limiter{Store: store.Budget(), Log: log}, Rate: budget.Rate{PerSecond: cfg.DriftCallsPerSecond, Burst: max(3, cfg.DriftCallsPerSecond)},
		// A nil client is a nil interface, never a typed nil.
		Secrets: func(in *storage.Instance) (health.Secrets, error) {
			g, err := tenantGraph(in, in.PartnerTenantID)
			if err != nil {
				return nil, err
			}
			return g, nil
		},
		PC: func(in *storage.Instance) (health.Customers, error) {
			c, err := partnerCenter(in)
			if err != nil {
				return nil, err
			}
			return c, nil
		}}
	for kind, h := range ten.Handlers() {
		runner.Register(kind, h)
	}

	srv := grpcserver.New(log, sopts)
	tenantv1.RegisterInstanceServiceServer(srv, &server.InstanceServer{Instances: inst, Tenants: ten, Health: checks})
	userConn, err := grpcclient.Dial(cfg.UserAddr, sopts.Mesh, "user")
	if err != nil {
		store.Close()
		return nil, err
	}
	reg := &registrar.Service{Store: store, Register: reader.Register, Notify: runner.Notify, Log: log}
	runner.Register(registrar.Kind, reg.Handler())
	sync := &syncer.Service{Store: store, Instances: inst, Users: userSync{c: userv1.NewUserServiceClient(userConn)}, Registrar: reg, Notify: runner.Notify,
		Graph: func(in *storage.Instance, customerID string) (syncer.Domains, error) {
			return tenantGraph(in, customerID)
		},
		PC: func(in *storage.Instance) (syncer.Subscriptions, error) { return partnerCenter(in) }}
	runner.Register(syncer.AdoptKind, sync.AdoptHandler())
	runner.Register(syncer.RunKind, sync.RunHandler())
	subConn, err := grpcclient.Dial(cfg.SubscriptionAddr, sopts.Mesh, "subscription")
	if err != nil {
		userConn.Close()
		store.Close()
		return nil, err
	}
	driftRate := budget.Rate{PerSecond: cfg.DriftCallsPerSecond, Burst: max(4, cfg.DriftCallsPerSecond)}
	drifts := &driftcheck.Service{Store: store, Instances: inst, Tenants: ten, Registrar: reg, Notify: runner.Notify, Log: log,
		Users: userDrift{c: userv1.NewUserServiceClient(userConn)}, Subscriptions: subscriptionDrift{c: subscriptionv1.NewSubscriptionServiceClient(subConn)},
		Graph: func(in *storage.Instance, customerID string) (driftcheck.Domains, error) {
			return tenantGraph(in, customerID)
		},
		Budget: &budget.Limiter{Store: store.Budget(), Log: log}, Rate: driftRate}
	for kind, h := range drifts.Handlers() {
		runner.Register(kind, h)
	}
	tenantv1.RegisterTenantServiceServer(srv, &server.TenantServer{Tenants: ten, Sync: sync, Drift: drifts})
	tenantv1.RegisterDomainServiceServer(srv, &server.DomainServer{Domains: &domains.Service{Store: store, Instances: inst,
		Graph: func(in *storage.Instance, customerID string) (domains.Graph, error) {
			return tenantGraph(in, customerID)
		}}})

	rekey := secret.Rekeyers{inst, ten}
	inspector, _ := store.Jobs().(jobs.Inspector)
	adminv1.RegisterAdminServiceServer(srv, &adminapi.Server{Audit: store.Audit(), Rekey: rekey, Sealer: sealer, Log: log,
		Jobs: inspector, Resources: &server.Operator{Store: store, Tenants: ten}})

	log.Info("tenant service starting", "cloud", endpoints.Cloud, "partner_center", endpoints.PartnerCenterURL,
		"login", endpoints.LoginAuthority, "database", redactDB(cfg.DatabaseURL))
	return &App{cfg: cfg, log: log, store: store, runner: runner, server: srv, metrics: metrics, conn: userConn,
		sealer: sealer, rekey: rekey, audit: auditLog, health: checks, drift: drifts, subConn: subConn}, nil
}

// Serve runs the job runner and the gRPC server on lis until ctx ends.
func (a *App) Serve(ctx context.Context, lis net.Listener) error {
	cfg, runner, srv, metrics := a.cfg, a.runner, a.server, a.metrics
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return runner.Run(gctx) })
	g.Go(func() error {
		// Ready while the database answers and the job runner reaches its queue.
		srv.Watch(gctx, 5*time.Second, a.store.Ping, func(context.Context) error { return runner.Healthy() })
		return nil
	})
	g.Go(func() error { return srv.Serve(gctx, lis) })
	g.Go(func() error { secret.RunRekey(gctx, a.rekey, a.sealer, cfg.EncryptionRekeyInterval, a.log); return nil })
	g.Go(func() error { a.audit.RunHeads(gctx, cfg.AuditHeadInterval); return nil })
	g.Go(func() error { a.health.Run(gctx, cfg.HealthInterval); return nil })
	g.Go(func() error { a.drift.Run(gctx, cfg.DriftInterval); return nil })
	g.Go(func() error {
		return telemetry.ServeAdmin(gctx, cfg.AdminAddr, metrics, telemetry.Probes{Live: srv.Live, Ready: srv.Ready})
	})
	return g.Wait()
}

func redactDB(url string) string {
	if len(url) > 9 && url[:9] == "sqlite://" {
		return url
	}
	return "(redacted)"
}
