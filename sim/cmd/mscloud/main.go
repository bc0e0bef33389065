// Command mscloud runs the Microsoft cloud simulator (Entra token endpoint,
// Partner Center, Microsoft Graph and the /_sim/ admin API) on one HTTPS
// listener.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/o365gateway/gateway/sim/mscloud"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "mscloud:", err)
		os.Exit(1)
	}
}

func run() error {
	addr := flag.String("addr", "127.0.0.1:9443", "listen address (host:port)")
	caOut := flag.String("ca-out", "", "write the CA certificate (PEM) to this file so clients can trust the simulator")
	tlsDir := flag.String("tls-dir", "", "keep the CA certificate and key in this directory across restarts")
	noReplay := flag.Bool("no-replay", false, "disable MS-RequestId replay of stored Partner Center answers")
	partnerRPS := flag.Float64("throttle-partner-rps", mscloud.DefaultPartnerRPS, "Partner Center requests per second per partner (0 = unlimited)")
	customerRPS := flag.Float64("throttle-customer-rps", mscloud.DefaultCustomerRPS, "Partner Center requests per second per partner+customer (0 = unlimited)")
	tokenLifetime := flag.Duration("token-lifetime", mscloud.DefaultTokenLifetime, "access token lifetime")
	logLevel := flag.String("log-level", "info", "log level: debug, info, warn or error")
	flag.Parse()

	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("-log-level: %w", err)
	}
	logger := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	host, _, err := net.SplitHostPort(*addr)
	if err != nil {
		return fmt.Errorf("-addr: %w", err)
	}
	var extra []string
	if ip := net.ParseIP(host); host != "" && (ip == nil || !ip.IsUnspecified()) {
		extra = append(extra, host)
	}
	var bundle *mscloud.TLSBundle
	if *tlsDir != "" {
		bundle, err = mscloud.LoadOrCreateTLS(*tlsDir, extra...)
	} else {
		bundle, err = mscloud.NewTLS(extra...)
	}
	if err != nil {
		return fmt.Errorf("tls: %w", err)
	}
	if *caOut != "" {
		if err := os.WriteFile(*caOut, bundle.CAPEM, 0o644); err != nil {
			return fmt.Errorf("-ca-out: %w", err)
		}
	}

	rate := func(v float64) float64 { // flags: 0 = unlimited; Options: negative = unlimited
		if v <= 0 {
			return -1
		}
		return v
	}
	sim := mscloud.New(mscloud.Options{
		DisableRequestIdReplay: *noReplay,
		PartnerRPS:             rate(*partnerRPS),
		CustomerRPS:            rate(*customerRPS),
		TokenLifetime:          *tokenLifetime,
		Logger:                 logger,
	})

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	// Slow or oversized requests cannot hold the listener (bodies are bounded
	// by the simulator itself). No WriteTimeout: delay faults hold an answer
	// as long as a test asks.
	srv := &http.Server{
		Handler:           sim.Handler(),
		TLSConfig:         bundle.ServerConfig(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	base := "https://" + ln.Addr().String()
	fmt.Printf("mscloud simulator: base URL %s  admin %s/_sim/\n", base, base)
	logger.Info("listening", "base_url", base, "admin_url", base+"/_sim/", "ca_out", *caOut, "tls_dir", *tlsDir,
		"request_id_replay", !*noReplay, "throttle_partner_rps", *partnerRPS, "throttle_customer_rps", *customerRPS)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.ServeTLS(ln, "", "") }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	logger.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return err
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
