// Command tenant runs the tenant/customer gRPC service.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/o365gateway/gateway/services/shared/logging"
	"github.com/o365gateway/gateway/services/shared/telemetry"

	"github.com/o365gateway/gateway/services/tenant/internal/app"
	"github.com/o365gateway/gateway/services/tenant/internal/config"
)

var version = "dev"

func main() {
	cfg, err := config.Load()
	if err != nil {
		fmt.Fprintln(os.Stderr, "tenant:", err)
		os.Exit(2)
	}
	log := logging.New(os.Stdout, cfg.LogLevel, "tenant")
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	tel, err := telemetry.Setup(ctx, "tenant", version, cfg.Traces)
	if err != nil {
		log.Error("telemetry", "error", err.Error())
		os.Exit(1)
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = tel.Shutdown(sctx)
	}()
	if err := app.Run(ctx, cfg, log, tel.Metrics); err != nil {
		log.Error("tenant service stopped", "error", err.Error())
		os.Exit(1)
	}
}
