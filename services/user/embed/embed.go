// Package embed wires the user service to run inside another binary: the
// single-process mode of services/allinone, in which the facade calls it in
// process. It reads the same USER_* settings as the user binary.
package embed

import (
	"context"
	"net/http"

	"github.com/o365gateway/gateway/services/shared/service"

	"github.com/o365gateway/gateway/services/user/internal/app"
	"github.com/o365gateway/gateway/services/user/internal/config"
)

// New wires the user service; metrics is the binary's metrics handler.
func New(ctx context.Context, metrics http.Handler) (service.Component, error) {
	return service.Embed(ctx, "user", config.Load, app.New, metrics)
}
