// Command facade runs the APS REST facade in front of the gRPC services.
package main

import (
	"github.com/o365gateway/gateway/services/shared/service"

	"github.com/o365gateway/gateway/services/facade/internal/app"
	"github.com/o365gateway/gateway/services/facade/internal/config"
)

func main() { service.Main("facade", config.Load, app.Run) }
