// Package sqlite is the user service's SQL store, on SQLite (embedded,
// the default) or PostgreSQL, chosen by the database URL (sqldb.Open); the
// name is historical. Its migrations have a folder per dialect
// (migrations/sqlite, migrations/postgres) with the same goose versions. A
// user is kept as one JSON document beside the columns queries filter on
// (tenant as parent, state).
package sqlite

import (
	"context"
	"embed"
	"github.com/o365gateway/gateway/services/shared/audit"
	"github.com/o365gateway/gateway/services/shared/budget"

	"github.com/o365gateway/gateway/services/shared/jobs"
	"github.com/o365gateway/gateway/services/shared/rowcache"
	"github.com/o365gateway/gateway/services/shared/secret"
	"github.com/o365gateway/gateway/services/shared/sqldb"

	"github.com/o365gateway/gateway/services/user/internal/storage"
)

//go:embed migrations
var migrations embed.FS

// Store implements storage.Store on SQLite or PostgreSQL.
type Store struct {
	db    *sqldb.DB
	users sqldb.Typed[storage.User]
}

var _ storage.Store = (*Store)(nil)

// Open opens (creating if needed) and migrates the database at url
// (sqlite://… or postgres://…).
func Open(ctx context.Context, url string) (*Store, error) {
	db, err := sqldb.OpenMigrated(ctx, url, migrations)
	if err != nil {
		return nil, err
	}
	return &Store{db: db, users: sqldb.Typed[storage.User]{Docs: sqldb.Docs{DB: db, Table: "users"},
		Keys: func(u *storage.User) (string, string, string, string, *int64) {
			return u.ID, u.InstanceID, u.TenantID, u.State, &u.Version
		}, Cache: &rowcache.Cache[storage.User]{}}}, nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// Ping tells whether the database answers (readiness).
func (s *Store) Ping(ctx context.Context) error { return s.db.PingContext(ctx) }

// Jobs implements storage.Store.
func (s *Store) Jobs() jobs.Store { return sqldb.JobStore{DB: s.db} }

// Budget is the store of Microsoft's rate budgets, shared by the service's
// replicas.
func (s *Store) Budget() budget.PrunableStore { return sqldb.Budget{DB: s.db} }

// Audit is the service's audit log (one chain, shared by its replicas).
func (s *Store) Audit() audit.Store { return sqldb.AuditLog{DB: s.db} }

// Create implements storage.Store.
func (s *Store) Create(ctx context.Context, u *storage.User, job *jobs.New) error {
	return s.users.Create(ctx, u, job)
}

// Get implements storage.Store.
func (s *Store) Get(ctx context.Context, instanceID, id string) (*storage.User, error) {
	return s.users.Get(ctx, instanceID, id)
}

// Update implements storage.Store.
func (s *Store) Update(ctx context.Context, u *storage.User, job *jobs.New) error {
	return s.users.Update(ctx, u, job)
}

// Delete implements storage.Store.
func (s *Store) Delete(ctx context.Context, instanceID, id string) error {
	return s.users.Delete(ctx, instanceID, id)
}

// ListByTenant implements storage.Store.
func (s *Store) ListByTenant(ctx context.Context, instanceID, tenantID string) ([]*storage.User, error) {
	return s.users.List(ctx, instanceID, tenantID)
}

// ListSealed implements storage.Store: a sealed value is a JSON string of
// the user's document.
func (s *Store) ListSealed(ctx context.Context, after string, limit int) ([]*storage.User, error) {
	var marks []string
	for _, p := range secret.Prefixes() {
		marks = append(marks, `"`+p)
	}
	return s.users.Scan(ctx, after, limit, marks...)
}
