package sqldb

// JobMigrations exposes the embedded job-table migrations to the external tests.
var JobMigrations = jobMigrations
