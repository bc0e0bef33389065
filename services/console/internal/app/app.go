// Package app is the console's composition root: the operators' client of
// the deployment, access control, the HTTPS (or plain HTTP) listener and
// the admin listener.
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
	"sync"
	"time"

	"github.com/o365gateway/gateway/services/shared/opsclient"
	"github.com/o365gateway/gateway/services/shared/service"
	"github.com/o365gateway/gateway/services/shared/telemetry"

	"github.com/o365gateway/gateway/services/console/internal/config"
	"github.com/o365gateway/gateway/services/console/internal/web"
)

// Run serves until ctx ends.
func Run(ctx context.Context, cfg *config.Config, log *slog.Logger, metrics http.Handler) error {
	access := web.Access{ClientCerts: cfg.ClientCAFile != "", SessionTTL: cfg.SessionTTL, None: cfg.InsecureNoAuth}
	if cfg.AdminTokenFile != "" {
		tok, err := web.OpenTokenFile(cfg.AdminTokenFile)
		if err != nil {
			return err
		}
		access.Token = tok
	}
	if cfg.InsecureNoAuth {
		log.Error("CONSOLE_INSECURE_NO_AUTH=true: anyone who reaches the console can retry and cancel jobs; for a test only")
	}
	tlsConf, err := serverTLS(cfg)
	if err != nil {
		return err
	}
	if tlsConf == nil && !loopback(cfg.ListenAddr) {
		log.Warn("the console serves plain HTTP on a non-loopback address: put it behind a TLS-terminating proxy (its cookies are Secure, so browsers send them over HTTPS only)",
			"addr", cfg.ListenAddr)
	}
	client, err := opsclient.Dial(cfg.Tools)
	if err != nil {
		return err
	}
	defer client.Close()
	h, err := web.New(web.Options{Ops: web.Client(client), Access: access, Log: log, Timeout: cfg.CallTimeout, PageSize: cfg.PageSize})
	if err != nil {
		return err
	}
	go func() {
		if err := telemetry.ServeAdmin(ctx, cfg.AdminAddr, metrics, telemetry.Probes{}); err != nil {
			log.Error("admin listener failed", "error", err)
		}
	}()
	srv := &http.Server{
		Handler:           h,
		TLSConfig:         tlsConf,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      cfg.CallTimeout + 30*time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	lis, err := net.Listen("tcp", cfg.ListenAddr)
	if err != nil {
		return err
	}
	scheme := "http"
	if tlsConf != nil {
		scheme = "https"
		lis = tls.NewListener(lis, tlsConf)
	}
	log.Info("serving the console", "url", scheme+"://"+lis.Addr().String()+"/", "client_certificates", access.ClientCerts,
		"admin_token", access.Token != nil, "tenant", cfg.Tools.Addresses["tenant"])
	return service.ServeHTTP(ctx, srv, func() error { return srv.Serve(lis) })
}

// serverTLS is the listener's TLS configuration (nil: plain HTTP): the
// server certificate, re-read when its files change, and the operators'
// CA when client certificates are required.
func serverTLS(cfg *config.Config) (*tls.Config, error) {
	if cfg.TLSCertFile == "" {
		return nil, nil
	}
	certs := &certFiles{cert: cfg.TLSCertFile, key: cfg.TLSKeyFile}
	if _, err := certs.get(nil); err != nil {
		return nil, err
	}
	c := &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: certs.get, NextProtos: []string{"h2", "http/1.1"}}
	if cfg.ClientCAFile != "" {
		pem, err := os.ReadFile(cfg.ClientCAFile)
		if err != nil {
			return nil, fmt.Errorf("CONSOLE_CLIENT_CA_FILE: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("CONSOLE_CLIENT_CA_FILE: no certificate in %s", cfg.ClientCAFile)
		}
		c.ClientCAs = pool
		c.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return c, nil
}

// certFiles is a key pair re-read when its files change (a renewed
// certificate is served without a restart).
type certFiles struct {
	cert, key string
	mu        sync.Mutex
	mod       time.Time
	pair      *tls.Certificate
}

func (f *certFiles) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	fi, err := os.Stat(f.cert)
	f.mu.Lock()
	defer f.mu.Unlock()
	if err == nil && f.pair != nil && fi.ModTime().Equal(f.mod) {
		return f.pair, nil
	}
	pair, lerr := tls.LoadX509KeyPair(f.cert, f.key)
	if lerr != nil {
		if f.pair != nil {
			return f.pair, nil // keep serving the last good one (a renewal half written)
		}
		return nil, fmt.Errorf("the console's server certificate: %w", lerr)
	}
	f.pair = &pair
	if err == nil {
		f.mod = fi.ModTime()
	}
	return f.pair, nil
}

// loopback tells whether a listen address is on loopback only.
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
