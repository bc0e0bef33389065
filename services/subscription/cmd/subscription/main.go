// Command subscription runs the subscription gRPC service.
package main

import (
	"github.com/o365gateway/gateway/services/shared/service"

	"github.com/o365gateway/gateway/services/subscription/internal/app"
	"github.com/o365gateway/gateway/services/subscription/internal/config"
)

func main() { service.Main("subscription", config.Load, app.Run) }
