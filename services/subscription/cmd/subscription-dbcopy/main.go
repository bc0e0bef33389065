// Command subscription-dbcopy copies the subscription service's database
// from SQLite into PostgreSQL and verifies the copy (sqldb/dbcopy;
// docs/operations.md).
package main

import (
	"github.com/o365gateway/gateway/services/shared/sqldb/dbcopy"

	"github.com/o365gateway/gateway/services/subscription/internal/storage/sqlite"
)

// The subscription service stores no secret: no encryption key.
var service = dbcopy.Service{Name: "subscription", Migrations: sqlite.Migrations()}

func main() { dbcopy.Main(service) }
