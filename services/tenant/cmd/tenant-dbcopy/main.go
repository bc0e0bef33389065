// Command tenant-dbcopy copies the tenant service's database from SQLite
// into PostgreSQL and verifies the copy (sqldb/dbcopy; docs/operations.md).
package main

import (
	"github.com/o365gateway/gateway/services/shared/sqldb/dbcopy"

	"github.com/o365gateway/gateway/services/tenant/internal/storage/sqlite"
)

var service = dbcopy.Service{Name: "tenant", Migrations: sqlite.Migrations(), KeyEnv: "TENANT_ENCRYPTION_KEY"}

func main() { dbcopy.Main(service) }
