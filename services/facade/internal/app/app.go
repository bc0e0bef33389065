// Package app is the facade's composition root: TLS listener, the APS layer
// around the generated REST handlers, /healthz, /metrics and /openapi.json.
package app

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/peer"

	tenantv1 "github.com/o365gateway/gateway/gen/go/o365/tenant/v1"
	"github.com/o365gateway/gateway/services/shared/grpcclient"
	"github.com/o365gateway/gateway/services/shared/mtls"
	"github.com/o365gateway/gateway/services/shared/service"
	"github.com/o365gateway/gateway/services/shared/telemetry"
	"github.com/o365gateway/gateway/services/shared/tracing"

	"github.com/o365gateway/gateway/services/facade/internal/aps"
	"github.com/o365gateway/gateway/services/facade/internal/config"
	"github.com/o365gateway/gateway/services/facade/internal/gateway"
	"github.com/o365gateway/gateway/services/facade/internal/tlsconf"
)

// Run serves until ctx ends, calling the services over mutual TLS, each
// proving its identity.
func Run(ctx context.Context, cfg *config.Config, log *slog.Logger, metrics http.Handler) error {
	mesh, err := mtls.Open(cfg.Mesh, log)
	if err != nil {
		return err
	}
	dial := func(addr, service string) (*grpc.ClientConn, error) { return grpcclient.Dial(addr, mesh, service) }
	tenantConn, err := dial(cfg.TenantAddr, "tenant")
	if err != nil {
		return fmt.Errorf("tenant service: %w", err)
	}
	defer tenantConn.Close()
	subscriptionConn, err := dial(cfg.SubscriptionAddr, "subscription")
	if err != nil {
		return fmt.Errorf("subscription service: %w", err)
	}
	defer subscriptionConn.Close()
	userConn, err := dial(cfg.UserAddr, "user")
	if err != nil {
		return fmt.Errorf("user service: %w", err)
	}
	defer userConn.Close()
	// Every call goes through an Upstream: a service that is down answers
	// its own routes 503 UpstreamUnavailable at once, and the others work.
	return serve(ctx, cfg, log, metrics, gateway.Upstreams{
		Tenant:       gateway.NewUpstream(ctx, "tenant", tenantConn, gateway.DefaultWait),
		Subscription: gateway.NewUpstream(ctx, "subscription", subscriptionConn, gateway.DefaultWait),
		User:         gateway.NewUpstream(ctx, "user", userConn, gateway.DefaultWait),
	}, cfg.TenantAddr)
}

// RunInProcess serves until ctx ends, calling services of the same process
// (the single-process mode, services/allinone): each call goes through the
// service's interceptors, authorization and audit included, as the facade's
// own mesh identity, without the gRPC hop.
func RunInProcess(ctx context.Context, cfg *config.Config, log *slog.Logger, metrics http.Handler,
	tenant, subscription, user service.Component) error {
	mesh, err := mtls.Open(cfg.Mesh, log)
	if err != nil {
		return err
	}
	var self func() *peer.Peer
	if mesh != nil {
		self = mesh.LocalPeer
	}
	return serve(ctx, cfg, log, metrics, gateway.Upstreams{
		Tenant: tenant.Local(self), Subscription: subscription.Local(self), User: user.Local(self),
	}, "in process")
}

// serve runs the APS listener in front of the services' connections;
// tenantAt says where the tenant service is, for the log.
func serve(ctx context.Context, cfg *config.Config, log *slog.Logger, metrics http.Handler, up gateway.Upstreams, tenantAt string) error {
	cert, err := tlsconf.ServerCertificate(cfg.TLSCertFile, cfg.TLSKeyFile, cfg.TLSDir)
	if err != nil {
		return fmt.Errorf("server certificate: %w", err)
	}
	var controllerCA *x509.CertPool
	if cfg.Registration == "open" {
		log.Warn("FACADE_REGISTRATION_POLICY=open: any APS controller that reaches the facade can register an instance; use controller-ca in production")
	}
	if cfg.ControllerCAFile != "" {
		pem, err := os.ReadFile(cfg.ControllerCAFile)
		if err != nil {
			return fmt.Errorf("controller CA: %w", err)
		}
		controllerCA = x509.NewCertPool()
		if !controllerCA.AppendCertsFromPEM(pem) {
			return fmt.Errorf("no certificate in %s", cfg.ControllerCAFile)
		}
	}
	description, err := openAPIDescription(cfg.BasePath)
	if err != nil {
		return err
	}
	rest, err := gateway.New(ctx, up, aps.MuxOptions(cfg.RetryTimeout)...)
	if err != nil {
		return err
	}
	apsHandler := aps.Handler(rest, aps.Options{
		BasePath:     cfg.BasePath,
		Certs:        &aps.TenantServiceCerts{Client: tenantv1.NewInstanceServiceClient(up.Tenant), TTL: cfg.AuthCacheTTL},
		ControllerCA: controllerCA,
		Log:          log,
		MaxBody:      aps.DefaultMaxBody,
	})
	// Ready while the tenant service serves (it authenticates every
	// request); the subscription and user services take only their own
	// routes down. Live while the checks keep running.
	health := gateway.NewHealth(log, gateway.Service{Name: "tenant", Conn: up.Tenant, Required: true},
		gateway.Service{Name: "subscription", Conn: up.Subscription}, gateway.Service{Name: "user", Conn: up.User})
	go health.Run(ctx, 2*time.Second)
	mux := http.NewServeMux()
	// The APS listener's /healthz is the readiness, for load balancers.
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if err := health.Ready(r.Context()); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(`{"status":"unavailable"}`))
			return
		}
		_, _ = w.Write([]byte(`{"status":"ok"}`))
	})
	// Metrics are served on the admin listener only, never to the
	// anonymous callers of the APS listener.
	go func() {
		if err := telemetry.ServeAdmin(ctx, cfg.AdminAddr, metrics, telemetry.Probes{Live: health.Live, Ready: health.Ready}); err != nil {
			log.Error("admin listener failed", "error", err)
		}
	}()
	mux.HandleFunc("GET /openapi.json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(description)
	})
	mux.Handle("/", apsHandler)
	handler := tracing.HTTPHandler(mux, "facade", otelhttp.WithFilter(func(r *http.Request) bool {
		return r.URL.Path != "/healthz"
	}), otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string { return r.Method + " " + r.URL.Path }))

	// Slow or oversized requests cannot hold the listener: APS requests are
	// small JSON (bodies are bounded by aps.Options.MaxBody, a 413), and a
	// service call ends well within WriteTimeout.
	srv := &http.Server{
		Addr:              cfg.ListenAddr,
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      120 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		TLSConfig: &tls.Config{
			Certificates: []tls.Certificate{cert},
			// Any client certificate is requested and verified per instance by the APS layer.
			ClientAuth: tls.RequestClientCert,
			MinVersion: tls.VersionTLS12,
		},
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	lis, err := net.Listen("tcp", cfg.ListenAddr)
	if err != nil {
		return err
	}
	log.Info("serving", "addr", lis.Addr().String(), "aps_endpoint", "https://"+lis.Addr().String()+cfg.BasePath+"/", "tenant", tenantAt)
	return service.ServeHTTP(ctx, srv, func() error { return srv.ServeTLS(lis, "", "") })
}
