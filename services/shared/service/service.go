// Package service is the common main of the gateway's binaries: load the
// typed configuration, set logging and OpenTelemetry up once, pace the
// garbage collector, run until SIGINT/SIGTERM, flush telemetry.
package service

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/o365gateway/gateway/services/shared/config"
	"github.com/o365gateway/gateway/services/shared/gcpace"
	"github.com/o365gateway/gateway/services/shared/logging"
	"github.com/o365gateway/gateway/services/shared/telemetry"
)

// Version is set at build time (-ldflags "-X ...service.Version=v1.2.3").
var Version = "dev"

// Main runs a binary and exits with its status.
func Main[C config.Observable](name string, load func() (C, error), run func(ctx context.Context, cfg C, log *slog.Logger, metrics http.Handler) error) {
	cfg, err := load()
	if err != nil {
		fmt.Fprintln(os.Stderr, name+":", err)
		os.Exit(2)
	}
	obs := cfg.Obs()
	log := logging.New(os.Stdout, obs.LogLevel, name)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if obs.Pprof {
		telemetry.EnablePprof()
	}
	tel, err := telemetry.Setup(ctx, name, Version, obs.Traces, obs.TraceSampleRatio, obs.TraceMaxPerSecond)
	if err != nil {
		log.Error("telemetry", "error", err.Error())
		os.Exit(1)
	}
	interval, maxHeap := obs.GCPace()
	gogc, gogcSet := os.LookupEnv("GOGC")
	gogcSet = gogcSet && gogc != ""
	pctx, unpace := context.WithCancel(ctx)
	paced := make(chan struct{})
	go func() {
		defer close(paced)
		gcpace.Run(pctx, gcpace.Settings{Interval: interval, MaxHeap: maxHeap}, gogcSet, log)
	}()
	err = run(ctx, cfg, log, tel.Metrics)
	unpace()
	<-paced
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = tel.Shutdown(sctx)
	if err != nil {
		log.Error(name+" stopped", "error", err.Error())
		os.Exit(1)
	}
}
