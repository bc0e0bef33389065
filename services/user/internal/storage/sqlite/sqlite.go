// Package sqlite is the user service's embedded SQLite store. A
// user is kept as one JSON document beside the columns queries filter
// on (tenant as parent, state).
package sqlite

import (
	"context"
	"embed"
	"encoding/json"
	"errors"

	"github.com/o365gateway/gateway/services/shared/jobs"
	"github.com/o365gateway/gateway/services/shared/sqldb"

	"github.com/o365gateway/gateway/services/user/internal/storage"
)

//go:embed migrations
var migrations embed.FS

// Store implements storage.Store on SQLite.
type Store struct {
	db   *sqldb.DB
	docs sqldb.Docs
}

var _ storage.Store = (*Store)(nil)

// Open opens (creating if needed) and migrates the database at url.
func Open(ctx context.Context, url string) (*Store, error) {
	db, err := sqldb.OpenMigrated(ctx, url, migrations)
	if err != nil {
		return nil, err
	}
	return &Store{db: db, docs: sqldb.Docs{DB: db, Table: "users"}}, nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// Jobs implements storage.Store.
func (s *Store) Jobs() jobs.Store { return sqldb.JobStore{DB: s.db} }

func mapErr(err error) error {
	switch {
	case errors.Is(err, sqldb.ErrMissing):
		return storage.ErrNotFound
	case errors.Is(err, sqldb.ErrDuplicate):
		return storage.ErrAlreadyExists
	case errors.Is(err, sqldb.ErrStale):
		return storage.ErrConflict
	}
	return err
}

func record(u *storage.User) (sqldb.Record, error) {
	data, err := json.Marshal(u)
	return sqldb.Record{ID: u.ID, InstanceID: u.InstanceID, ParentID: u.TenantID, State: u.State, Version: u.Version, Data: data}, err
}

// Create implements storage.Store.
func (s *Store) Create(ctx context.Context, u *storage.User, job *jobs.New) error {
	u.Version = 1
	r, err := record(u)
	if err != nil {
		return err
	}
	return mapErr(s.docs.Create(ctx, r, job))
}

// Get implements storage.Store.
func (s *Store) Get(ctx context.Context, instanceID, id string) (*storage.User, error) {
	r, err := s.docs.Get(ctx, instanceID, id)
	if err != nil {
		return nil, mapErr(err)
	}
	var u storage.User
	if err := json.Unmarshal(r.Data, &u); err != nil {
		return nil, err
	}
	u.Version = r.Version
	return &u, nil
}

// Update implements storage.Store.
func (s *Store) Update(ctx context.Context, u *storage.User, job *jobs.New) error {
	r, err := record(u)
	if err != nil {
		return err
	}
	v, err := s.docs.Update(ctx, r, job)
	if err != nil {
		return mapErr(err)
	}
	u.Version = v
	return nil
}

// Delete implements storage.Store.
func (s *Store) Delete(ctx context.Context, instanceID, id string) error {
	return mapErr(s.docs.Delete(ctx, instanceID, id))
}

// ListByTenant implements storage.Store.
func (s *Store) ListByTenant(ctx context.Context, instanceID, tenantID string) ([]*storage.User, error) {
	recs, err := s.docs.List(ctx, instanceID, tenantID)
	if err != nil {
		return nil, err
	}
	out := make([]*storage.User, 0, len(recs))
	for _, r := range recs {
		var u storage.User
		if err := json.Unmarshal(r.Data, &u); err != nil {
			return nil, err
		}
		u.Version = r.Version
		out = append(out, &u)
	}
	return out, nil
}
