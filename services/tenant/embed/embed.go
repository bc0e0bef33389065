// Package embed wires the tenant service to run inside another binary: the
// single-process mode of services/allinone, in which the facade calls it in
// process. It reads the same TENANT_* settings as the tenant binary.
package embed

import (
	"context"
	"net/http"

	"github.com/o365gateway/gateway/services/shared/service"

	"github.com/o365gateway/gateway/services/tenant/internal/app"
	"github.com/o365gateway/gateway/services/tenant/internal/config"
)

// New wires the tenant service; metrics is the binary's metrics handler.
func New(ctx context.Context, metrics http.Handler) (service.Component, error) {
	return service.Embed(ctx, "tenant", config.Load, app.New, metrics)
}
