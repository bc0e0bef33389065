// Package app is the facade's composition root: TLS listener, the APS layer
// around the generated REST handlers, /healthz, /metrics and /openapi.json.
package app

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	tenantv1 "github.com/o365gateway/gateway/gen/go/o365/tenant/v1"
	"github.com/o365gateway/gateway/gen/openapi"
	"github.com/o365gateway/gateway/services/shared/grpcclient"
	"github.com/o365gateway/gateway/services/shared/mtls"
	"github.com/o365gateway/gateway/services/shared/telemetry"

	"github.com/o365gateway/gateway/services/facade/internal/aps"
	"github.com/o365gateway/gateway/services/facade/internal/config"
	"github.com/o365gateway/gateway/services/facade/internal/gateway"
	"github.com/o365gateway/gateway/services/facade/internal/tlsconf"
)

// Run serves until ctx ends.
func Run(ctx context.Context, cfg *config.Config, log *slog.Logger, metrics http.Handler) error {
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
	// The services are reached over mutual TLS, each proving its identity.
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

	rest, err := gateway.New(ctx, gateway.Upstreams{Tenant: tenantConn, Subscription: subscriptionConn, User: userConn}, aps.MuxOptions(cfg.RetryTimeout)...)
	if err != nil {
		return err
	}
	apsHandler := aps.Handler(rest, aps.Options{
		BasePath:     cfg.BasePath,
		Certs:        &aps.TenantServiceCerts{Client: tenantv1.NewInstanceServiceClient(tenantConn), TTL: cfg.AuthCacheTTL},
		ControllerCA: controllerCA,
		Log:          log,
		MaxBody:      aps.DefaultMaxBody,
	})
	upstreams := map[string]healthpb.HealthClient{"tenant": healthpb.NewHealthClient(tenantConn),
		"subscription": healthpb.NewHealthClient(subscriptionConn), "user": healthpb.NewHealthClient(userConn)}
	mux := http.NewServeMux()
	// ready checks that every upstream service is ready.
	ready := func(ctx context.Context) error {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		for name, h := range upstreams {
			resp, err := h.Check(cctx, &healthpb.HealthCheckRequest{})
			if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
				return fmt.Errorf("the %s service is unavailable", name)
			}
		}
		return nil
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if err := ready(r.Context()); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(`{"status":"unavailable"}`))
			return
		}
		_, _ = w.Write([]byte(`{"status":"ok"}`))
	})
	// Metrics are served on the admin listener only, never to the
	// anonymous callers of the APS listener.
	go func() {
		if err := telemetry.ServeAdmin(ctx, cfg.AdminAddr, metrics, ready); err != nil {
			log.Error("admin listener failed", "error", err)
		}
	}()
	mux.HandleFunc("GET /openapi.json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(openapi.Gateway)
	})
	mux.Handle("/", apsHandler)
	handler := otelhttp.NewHandler(mux, "facade", otelhttp.WithFilter(func(r *http.Request) bool {
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
	errc := make(chan error, 1)
	go func() { errc <- srv.ServeTLS(lis, "", "") }()
	log.Info("serving", "addr", lis.Addr().String(), "aps_endpoint", "https://"+lis.Addr().String()+cfg.BasePath+"/", "tenant", cfg.TenantAddr)
	select {
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}
