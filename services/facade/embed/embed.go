// Package embed runs the facade inside another binary: the single-process
// mode of services/allinone, in which it calls the services of the same
// process instead of dialing them. It reads the same FACADE_* settings as
// the facade binary.
package embed

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/o365gateway/gateway/services/shared/service"

	"github.com/o365gateway/gateway/services/facade/internal/app"
	"github.com/o365gateway/gateway/services/facade/internal/config"
)

// Config is the facade's configuration; in the single-process mode its
// observability settings (FACADE_LOG_LEVEL, FACADE_TRACES, ...) are the
// binary's.
type Config = *config.Config

// Load reads the facade's configuration from the environment.
func Load() (Config, error) { return config.Load() }

// Run serves the facade until ctx ends, calling the given services in
// process as the facade's own mesh identity.
func Run(ctx context.Context, cfg Config, log *slog.Logger, metrics http.Handler, tenant, subscription, user service.Component) error {
	return app.RunInProcess(ctx, cfg, log, metrics, tenant, subscription, user)
}
