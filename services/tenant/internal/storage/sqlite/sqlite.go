// Package sqlite is the tenant service's SQL store, on SQLite (embedded,
// the default) or PostgreSQL, chosen by the database URL (sqldb.Open). The
// name is historical: every query goes through sqldb's dialect layer
// (DB.Rebind) and the migrations have a folder per dialect
// (migrations/sqlite, migrations/postgres) with the same goose versions.
// Every write made with a job's context is fenced (sqldb.DB.CheckFence): it
// fails with jobs.ErrLeaseLost once the job's claim is lost.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/o365gateway/gateway/services/shared/audit"
	"github.com/o365gateway/gateway/services/shared/budget"
	"time"

	"github.com/o365gateway/gateway/services/shared/jobs"
	"github.com/o365gateway/gateway/services/shared/rowcache"
	"github.com/o365gateway/gateway/services/shared/sqldb"

	"github.com/o365gateway/gateway/services/tenant/internal/storage"
)

//go:embed migrations
var migrations embed.FS

// Store implements storage.Store on SQLite or PostgreSQL.
type Store struct {
	db *sqldb.DB
	// tenantJSON keeps the decoded JSON columns of the tenants read last.
	tenantJSON rowcache.Cache[tenantJSON]
}

var _ storage.Store = (*Store)(nil)

// Open opens (creating if needed) and migrates the database at url
// (sqlite://… or postgres://…).
func Open(ctx context.Context, url string) (*Store, error) {
	db, err := sqldb.OpenMigrated(ctx, url, migrations)
	if err != nil {
		return nil, err
	}
	return &Store{db: db}, nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// Ping tells whether the database answers (readiness).
func (s *Store) Ping(ctx context.Context) error { return s.db.PingContext(ctx) }

// Jobs implements storage.Store.
func (s *Store) Jobs() jobs.Store { return sqldb.JobStore{DB: s.db} }

// EnqueueJobs implements storage.Store.
func (s *Store) EnqueueJobs(ctx context.Context, js []jobs.New) error {
	return s.db.InTx(ctx, func(tx *sql.Tx) error {
		for _, j := range js {
			if _, err := s.db.Enqueue(ctx, tx, j); err != nil {
				return err
			}
		}
		return nil
	})
}

// LockInstance implements storage.InstanceStore.
func (s *Store) LockInstance(ctx context.Context, instanceID string) (func(), error) {
	return s.db.Lock(ctx, "instance:"+instanceID)
}

// Budget is the store of Microsoft's rate budgets, shared by the service's
// replicas.
func (s *Store) Budget() budget.PrunableStore { return sqldb.Budget{DB: s.db} }

// Audit is the service's audit log (one chain, shared by its replicas).
func (s *Store) Audit() audit.Store { return sqldb.AuditLog{DB: s.db} }

func ms(t time.Time) int64 { return t.UnixMilli() }

func mapErr(err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return storage.ErrNotFound
	}
	if sqldb.IsDuplicate(err) {
		return storage.ErrAlreadyExists
	}
	return err
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// CreateInstance implements storage.InstanceStore.
func (s *Store) CreateInstance(ctx context.Context, in *storage.Instance) error {
	now := time.Now()
	in.CreatedAt, in.UpdatedAt = now, now
	countries, _ := json.Marshal(nonNil(in.SalesCountries))
	settings, _ := json.Marshal(in.Settings)
	health, _ := json.Marshal(in.Health)
	return s.db.InTx(ctx, func(tx *sql.Tx) error {
		if err := s.db.CheckFence(ctx, tx); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, s.db.Rebind(`INSERT INTO instances (instance_id, app_id, controller_uri, controller_cert_pem, instance_cert_pem,
			instance_key_sealed, cloud, partner_tenant_id, client_id, client_secret_sealed, refresh_token_sealed, reseller_mode,
			indirect_reseller_mpn, sales_countries, test_partner, default_usage_location, package_version, created_at, updated_at, settings, health)
			VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`),
			in.InstanceID, in.AppID, in.ControllerURI, in.ControllerCertPEM, in.InstanceCertPEM, in.InstanceKeySealed, in.Cloud,
			in.PartnerTenantID, in.ClientID, in.ClientSecretSealed, in.RefreshTokenSealed, in.ResellerMode, in.IndirectResellerMPN,
			string(countries), b2i(in.TestPartner), in.DefaultUsageLocation, in.PackageVersion, ms(now), ms(now), string(settings), string(health))
		return mapErr(err)
	})
}

const instanceCols = `instance_id, app_id, controller_uri, controller_cert_pem, instance_cert_pem, instance_key_sealed, cloud,
	partner_tenant_id, client_id, client_secret_sealed, refresh_token_sealed, reseller_mode, indirect_reseller_mpn,
	sales_countries, test_partner, default_usage_location, package_version, created_at, updated_at, settings, health`

// scanner is a *sql.Row or *sql.Rows.
type scanner interface{ Scan(dest ...any) error }

func scanInstance(row scanner) (*storage.Instance, error) {
	var in storage.Instance
	var countries, settings, health string
	var test int
	var created, updated int64
	err := row.Scan(
		&in.InstanceID, &in.AppID, &in.ControllerURI, &in.ControllerCertPEM, &in.InstanceCertPEM, &in.InstanceKeySealed, &in.Cloud,
		&in.PartnerTenantID, &in.ClientID, &in.ClientSecretSealed, &in.RefreshTokenSealed, &in.ResellerMode, &in.IndirectResellerMPN,
		&countries, &test, &in.DefaultUsageLocation, &in.PackageVersion, &created, &updated, &settings, &health)
	if err != nil {
		return nil, mapErr(err)
	}
	_ = json.Unmarshal([]byte(countries), &in.SalesCountries)
	if err := json.Unmarshal([]byte(settings), &in.Settings); err != nil {
		return nil, fmt.Errorf("instance %s settings: %w", in.InstanceID, err)
	}
	if err := json.Unmarshal([]byte(health), &in.Health); err != nil {
		return nil, fmt.Errorf("instance %s health: %w", in.InstanceID, err)
	}
	in.TestPartner = test == 1
	in.CreatedAt, in.UpdatedAt = time.UnixMilli(created), time.UnixMilli(updated)
	return &in, nil
}

// GetInstance implements storage.InstanceStore.
func (s *Store) GetInstance(ctx context.Context, instanceID string) (*storage.Instance, error) {
	return scanInstance(s.db.QueryRowContext(ctx, s.db.Rebind(`SELECT `+instanceCols+` FROM instances WHERE instance_id = ?`), instanceID))
}

// ListInstances implements storage.InstanceStore.
func (s *Store) ListInstances(ctx context.Context, after string, limit int) ([]*storage.Instance, error) {
	rows, err := s.db.QueryContext(ctx, s.db.Rebind(`SELECT `+instanceCols+` FROM instances WHERE instance_id > ? ORDER BY instance_id LIMIT ?`),
		after, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*storage.Instance
	for rows.Next() {
		in, err := scanInstance(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, in)
	}
	return out, rows.Err()
}

// UpdateInstance implements storage.InstanceStore.
func (s *Store) UpdateInstance(ctx context.Context, in *storage.Instance) error {
	in.UpdatedAt = time.Now()
	countries, _ := json.Marshal(nonNil(in.SalesCountries))
	settings, _ := json.Marshal(in.Settings)
	return s.db.InTx(ctx, func(tx *sql.Tx) error {
		if err := s.db.CheckFence(ctx, tx); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, s.db.Rebind(`UPDATE instances SET app_id=?, controller_uri=?, controller_cert_pem=?, instance_cert_pem=?,
			instance_key_sealed=?, cloud=?, partner_tenant_id=?, client_id=?, client_secret_sealed=?, refresh_token_sealed=?, reseller_mode=?,
			indirect_reseller_mpn=?, sales_countries=?, test_partner=?, default_usage_location=?, package_version=?, updated_at=?, settings=?
			WHERE instance_id=?`),
			in.AppID, in.ControllerURI, in.ControllerCertPEM, in.InstanceCertPEM, in.InstanceKeySealed, in.Cloud, in.PartnerTenantID,
			in.ClientID, in.ClientSecretSealed, in.RefreshTokenSealed, in.ResellerMode, in.IndirectResellerMPN, string(countries),
			b2i(in.TestPartner), in.DefaultUsageLocation, in.PackageVersion, ms(in.UpdatedAt), string(settings), in.InstanceID)
		return affected(res, err)
	})
}

// SetInstanceHealth implements storage.InstanceStore.
func (s *Store) SetInstanceHealth(ctx context.Context, instanceID string, h storage.Health) error {
	health, _ := json.Marshal(h)
	res, err := s.db.ExecContext(ctx, s.db.Rebind(`UPDATE instances SET health=? WHERE instance_id=?`), string(health), instanceID)
	return affected(res, err)
}

// DeleteInstance implements storage.InstanceStore.
func (s *Store) DeleteInstance(ctx context.Context, instanceID string) error {
	return s.db.InTx(ctx, func(tx *sql.Tx) error {
		if err := s.db.CheckFence(ctx, tx); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, s.db.Rebind(`DELETE FROM tenants WHERE instance_id = ?`), instanceID); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, s.db.Rebind(`DELETE FROM instances WHERE instance_id = ?`), instanceID)
		return affected(res, err)
	})
}

func affected(res sql.Result, err error) error {
	if err != nil {
		return mapErr(err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return storage.ErrNotFound
	}
	return nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
