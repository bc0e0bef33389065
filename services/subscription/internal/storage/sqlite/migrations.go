package sqlite

import "io/fs"

// Migrations returns the store's embedded migrations (the "migrations"
// folder, a sub-folder per dialect) as sqldb.OpenMigrated takes them, for
// the tools that migrate a database without opening the store
// (cmd/subscription-dbcopy).
func Migrations() fs.FS { return migrations }
