// Package sqlite is the subscription service's embedded SQLite store. A
// subscription is kept as one JSON document beside the columns queries filter
// on (tenant as parent, state).
package sqlite

import (
	"context"
	"embed"
	"encoding/json"
	"errors"

	"github.com/o365gateway/gateway/services/shared/jobs"
	"github.com/o365gateway/gateway/services/shared/sqldb"

	"github.com/o365gateway/gateway/services/subscription/internal/storage"
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
	return &Store{db: db, docs: sqldb.Docs{DB: db, Table: "subscriptions"}}, nil
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

func record(sub *storage.Subscription) (sqldb.Record, error) {
	data, err := json.Marshal(sub)
	return sqldb.Record{ID: sub.ID, InstanceID: sub.InstanceID, ParentID: sub.TenantID, State: sub.State, Version: sub.Version, Data: data}, err
}

// Create implements storage.Store.
func (s *Store) Create(ctx context.Context, sub *storage.Subscription, job *jobs.New) error {
	sub.Version = 1
	r, err := record(sub)
	if err != nil {
		return err
	}
	return mapErr(s.docs.Create(ctx, r, job))
}

// Get implements storage.Store.
func (s *Store) Get(ctx context.Context, instanceID, id string) (*storage.Subscription, error) {
	r, err := s.docs.Get(ctx, instanceID, id)
	if err != nil {
		return nil, mapErr(err)
	}
	var sub storage.Subscription
	if err := json.Unmarshal(r.Data, &sub); err != nil {
		return nil, err
	}
	sub.Version = r.Version
	return &sub, nil
}

// Update implements storage.Store.
func (s *Store) Update(ctx context.Context, sub *storage.Subscription, job *jobs.New) error {
	r, err := record(sub)
	if err != nil {
		return err
	}
	v, err := s.docs.Update(ctx, r, job)
	if err != nil {
		return mapErr(err)
	}
	sub.Version = v
	return nil
}

// Delete implements storage.Store.
func (s *Store) Delete(ctx context.Context, instanceID, id string) error {
	return mapErr(s.docs.Delete(ctx, instanceID, id))
}

// CountLive implements storage.Store.
func (s *Store) CountLive(ctx context.Context, instanceID, tenantID string) (int, error) {
	return s.docs.Count(ctx, instanceID, tenantID, storage.StateDeleted, storage.StateFailed)
}
