// Command tenant runs the tenant/customer gRPC service.
package main

import (
	"github.com/o365gateway/gateway/services/shared/service"

	"github.com/o365gateway/gateway/services/tenant/internal/app"
	"github.com/o365gateway/gateway/services/tenant/internal/config"
)

func main() { service.Main("tenant", config.Load, app.Run) }
