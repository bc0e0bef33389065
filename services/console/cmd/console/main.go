// Command console serves the operators' web console of a gateway
// deployment: instances and their credential health, tenants, jobs (retry
// and cancel) and the audit log, over the services' operators' API.
package main

import (
	"github.com/o365gateway/gateway/services/shared/service"

	"github.com/o365gateway/gateway/services/console/internal/app"
	"github.com/o365gateway/gateway/services/console/internal/config"
)

func main() { service.Main("console", config.Load, app.Run) }
