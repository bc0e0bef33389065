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
	// The services are reached over the deployment's private network.
	dial := func(addr string) (*grpc.ClientConn, error) { return grpcclient.Dial(addr) }
	tenantConn, err := dial(cfg.TenantAddr)
	if err != nil {
		return fmt.Errorf("tenant service: %w", err)
	}
	defer tenantConn.Close()
	subscriptionConn, err := dial(cfg.SubscriptionAddr)
	if err != nil {
		return fmt.Errorf("subscription service: %w", err)
	}
	defer subscriptionConn.Close()
	userConn, err := dial(cfg.UserAddr)
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
	})
	upstreams := map[string]healthpb.HealthClient{"tenant": healthpb.NewHealthClient(tenantConn),
		"subscription": healthpb.NewHealthClient(subscriptionConn), "user": healthpb.NewHealthClient(userConn)}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		cctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		w.Header().Set("Content-Type", "application/json")
		for name, h := range upstreams {
			resp, err := h.Check(cctx, &healthpb.HealthCheckRequest{})
			if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
				w.WriteHeader(http.StatusServiceUnavailable)
				_, _ = w.Write([]byte(`{"status":"unavailable","service":"` + name + `"}`))
				return
			}
		}
		_, _ = w.Write([]byte(`{"status":"ok"}`))
	})
	mux.Handle("GET /metrics", metrics)
	mux.HandleFunc("GET /openapi.json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(openapi.Gateway)
	})
	mux.Handle("/", apsHandler)
	handler := otelhttp.NewHandler(mux, "facade", otelhttp.WithFilter(func(r *http.Request) bool {
		return r.URL.Path != "/healthz" && r.URL.Path != "/metrics"
	}), otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string { return r.Method + " " + r.URL.Path }))

	srv := &http.Server{
		Addr:              cfg.ListenAddr,
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      120 * time.Second,
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
