// Command user runs the user/license gRPC service.
package main

import (
	"github.com/o365gateway/gateway/services/shared/service"

	"github.com/o365gateway/gateway/services/user/internal/app"
	"github.com/o365gateway/gateway/services/user/internal/config"
)

func main() { service.Main("user", config.Load, app.Run) }
