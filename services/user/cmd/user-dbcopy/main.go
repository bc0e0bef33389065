// Command user-dbcopy copies the user/license service's database from
// SQLite into PostgreSQL and verifies the copy (sqldb/dbcopy;
// docs/operations.md).
package main

import (
	"github.com/o365gateway/gateway/services/shared/sqldb/dbcopy"

	"github.com/o365gateway/gateway/services/user/internal/storage/sqlite"
)

var service = dbcopy.Service{Name: "user", Migrations: sqlite.Migrations(), KeyEnv: "USER_ENCRYPTION_KEY"}

func main() { dbcopy.Main(service) }
