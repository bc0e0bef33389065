// Command allinone runs the whole gateway in one process, for single-host
// installs: the tenant, subscription and user services and the facade,
// which calls them in process (through each service's interceptors, its
// authorization policy and audit log included, without the gRPC hop).
// Each part reads its own settings (TENANT_*, SUBSCRIPTION_*, USER_*,
// FACADE_*) as its own binary does and still serves its own listeners: the
// services' gRPC, for the operator's tools and for each other, and every
// admin listener. The process's logging level of its own lines, its traces,
// pprof and garbage-collector pacing (one heap) follow the facade's
// settings; the services' own GC_* settings do not apply. Separate
// deployments, one binary each, stay the production shape (deploy/).
package main

import (
	"context"
	"log/slog"
	"net/http"
	"os"

	"golang.org/x/sync/errgroup"

	facade "github.com/o365gateway/gateway/services/facade/embed"
	"github.com/o365gateway/gateway/services/shared/logging"
	"github.com/o365gateway/gateway/services/shared/service"
	subscription "github.com/o365gateway/gateway/services/subscription/embed"
	tenant "github.com/o365gateway/gateway/services/tenant/embed"
	user "github.com/o365gateway/gateway/services/user/embed"
)

func main() { service.Main("allinone", facade.Load, run) }

// run wires the services, then serves them and the facade until ctx ends
// or one of them stops.
func run(ctx context.Context, cfg facade.Config, log *slog.Logger, metrics http.Handler) error {
	var parts []service.Component
	defer func() {
		for _, p := range parts {
			_ = p.Close()
		}
	}()
	for _, wire := range []func(context.Context, http.Handler) (service.Component, error){tenant.New, subscription.New, user.New} {
		p, err := wire(ctx, metrics)
		if err != nil {
			return err
		}
		parts = append(parts, p)
	}
	// The facade stops first and drains the requests it is serving, which
	// still reach the services; the services stop once it has returned. A
	// part that fails stops the facade, and so the rest.
	fctx, stopFacade := context.WithCancel(ctx)
	defer stopFacade()
	sctx, stopServices := context.WithCancel(context.WithoutCancel(ctx))
	defer stopServices()
	var g errgroup.Group
	for _, p := range parts {
		g.Go(func() error {
			defer stopFacade()
			return p.ListenAndServe(sctx)
		})
	}
	g.Go(func() error {
		defer stopServices()
		return facade.Run(fctx, cfg, logging.New(os.Stdout, cfg.Obs().LogLevel, "facade"), metrics, parts[0], parts[1], parts[2])
	})
	log.Info("all in one process: the facade calls the tenant, subscription and user services in process")
	return g.Wait()
}
