// Package sqlite is the subscription service's embedded SQLite store. A
// subscription's fields are kept as one JSON document beside the columns the
// queries filter on.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/o365gateway/gateway/services/shared/jobs"
	"github.com/o365gateway/gateway/services/shared/sqldb"

	"github.com/o365gateway/gateway/services/subscription/internal/storage"
)

//go:embed migrations
var migrations embed.FS

// Store implements storage.Store on SQLite.
type Store struct{ db *sqldb.DB }

var _ storage.Store = (*Store)(nil)

// Open opens (creating if needed) and migrates the database at url.
func Open(ctx context.Context, url string) (*Store, error) {
	db, err := sqldb.OpenMigrated(ctx, url, migrations)
	if err != nil {
		return nil, err
	}
	return &Store{db: db}, nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// Jobs implements storage.Store.
func (s *Store) Jobs() jobs.Store { return sqldb.JobStore{DB: s.db} }

func mapErr(err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return storage.ErrNotFound
	}
	if err != nil && (strings.Contains(err.Error(), "UNIQUE constraint") || strings.Contains(err.Error(), "PRIMARY KEY")) {
		return storage.ErrAlreadyExists
	}
	return err
}

// Create implements storage.Store.
func (s *Store) Create(ctx context.Context, sub *storage.Subscription, job *jobs.New) error {
	now := time.Now()
	sub.CreatedAt, sub.UpdatedAt, sub.Version = now, now, 1
	data, err := json.Marshal(sub)
	if err != nil {
		return err
	}
	return s.db.InTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO subscriptions (id, instance_id, tenant_id, data, state, version, created_at, updated_at)
			VALUES (?,?,?,?,?,?,?,?)`, sub.ID, sub.InstanceID, sub.TenantID, string(data), sub.State, sub.Version, now.UnixMilli(), now.UnixMilli())
		if err != nil {
			return mapErr(err)
		}
		if job != nil {
			_, err = s.db.Enqueue(ctx, tx, *job)
		}
		return err
	})
}

// Get implements storage.Store.
func (s *Store) Get(ctx context.Context, instanceID, id string) (*storage.Subscription, error) {
	var data string
	var version int64
	err := s.db.QueryRowContext(ctx, `SELECT data, version FROM subscriptions WHERE id = ? AND instance_id = ?`, id, instanceID).Scan(&data, &version)
	if err != nil {
		return nil, mapErr(err)
	}
	var sub storage.Subscription
	if err := json.Unmarshal([]byte(data), &sub); err != nil {
		return nil, err
	}
	sub.Version = version
	return &sub, nil
}

// Update implements storage.Store.
func (s *Store) Update(ctx context.Context, sub *storage.Subscription, job *jobs.New) error {
	prev := sub.Version
	return s.db.InTx(ctx, func(tx *sql.Tx) error {
		sub.Version, sub.UpdatedAt = prev+1, time.Now()
		data, err := json.Marshal(sub)
		if err != nil {
			sub.Version = prev
			return err
		}
		res, err := tx.ExecContext(ctx, `UPDATE subscriptions SET data = ?, state = ?, version = ?, updated_at = ?
			WHERE id = ? AND instance_id = ? AND version = ?`, string(data), sub.State, sub.Version, sub.UpdatedAt.UnixMilli(),
			sub.ID, sub.InstanceID, prev)
		if err != nil {
			sub.Version = prev
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			sub.Version = prev
			var exists int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM subscriptions WHERE id = ? AND instance_id = ?`, sub.ID, sub.InstanceID).Scan(&exists); err != nil {
				return err
			}
			if exists == 0 {
				return storage.ErrNotFound
			}
			return storage.ErrConflict
		}
		if job != nil {
			if _, err := s.db.Enqueue(ctx, tx, *job); err != nil {
				sub.Version = prev
				return err
			}
		}
		return nil
	})
}

// Delete implements storage.Store.
func (s *Store) Delete(ctx context.Context, instanceID, id string) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM subscriptions WHERE id = ? AND instance_id = ?`, id, instanceID)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return storage.ErrNotFound
	}
	return nil
}

// CountLive implements storage.Store.
func (s *Store) CountLive(ctx context.Context, instanceID, tenantID string) (int, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM subscriptions WHERE instance_id = ? AND tenant_id = ? AND state NOT IN (?, ?)`,
		instanceID, tenantID, storage.StateDeleted, storage.StateFailed).Scan(&n)
	return n, err
}
