// Package embed wires the subscription service to run inside another binary: the
// single-process mode of services/allinone, in which the facade calls it in
// process. It reads the same SUBSCRIPTION_* settings as the subscription binary.
package embed

import (
	"context"
	"net/http"

	"github.com/o365gateway/gateway/services/shared/service"

	"github.com/o365gateway/gateway/services/subscription/internal/app"
	"github.com/o365gateway/gateway/services/subscription/internal/config"
)

// New wires the subscription service; metrics is the binary's metrics handler.
func New(ctx context.Context, metrics http.Handler) (service.Component, error) {
	return service.Embed(ctx, "subscription", config.Load, app.New, metrics)
}
