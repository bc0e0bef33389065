package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/o365gateway/gateway/services/shared/gdap"
	"github.com/o365gateway/gateway/services/shared/jobs"
	"github.com/o365gateway/gateway/services/shared/lifecycle"
	"github.com/o365gateway/gateway/services/shared/rowcache"
	"github.com/o365gateway/gateway/services/shared/secret"
	"github.com/o365gateway/gateway/services/shared/sqldb"

	"github.com/o365gateway/gateway/services/tenant/internal/storage"
)

const tenantCols = `id, instance_id, initial_subdomain, domain, ms_customer_id, linked, company, address, mca, account_id,
	admin_login, state, op, mca_attested, last_sync, seats, sync_lease_until, version, created_at, updated_at, gdap, drift, sync_run`

func tenantArgs(t *storage.Tenant) []any {
	company, _ := json.Marshal(t.Company)
	address, _ := json.Marshal(t.Address)
	mca := []byte("null")
	if t.MCA != nil {
		mca, _ = json.Marshal(t.MCA)
	}
	op, _ := json.Marshal(t.Op)
	rel, _ := json.Marshal(t.GDAP)
	dr, _ := json.Marshal(t.Drift)
	run, _ := json.Marshal(t.SyncRun)
	var syncLease int64
	if !t.SyncLeaseUntil.IsZero() {
		syncLease = t.SyncLeaseUntil.UnixMilli()
	}
	var lastSync any
	if t.LastSync != nil {
		lastSync = t.LastSync.UnixMilli()
	}
	return []any{t.ID, t.InstanceID, t.InitialSubdomain, t.InitialDomain, t.MSCustomerID, b2i(t.Linked), string(company), string(address),
		string(mca), t.AccountID, t.AdminLogin, t.State, string(op), b2i(t.MCAAttested), lastSync, t.Seats, syncLease,
		t.Version, ms(t.CreatedAt), ms(t.UpdatedAt), string(rel), string(dr), string(run)}
}

// CreateTenant implements storage.TenantStore.
func (s *Store) CreateTenant(ctx context.Context, t *storage.Tenant, job *jobs.New) error {
	now := time.Now()
	t.CreatedAt, t.UpdatedAt, t.Version = now, now, 1
	return s.db.InTx(ctx, func(tx *sql.Tx) error {
		if err := s.db.CheckFence(ctx, tx); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, s.db.Rebind(`INSERT INTO tenants (`+tenantCols+`) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`), tenantArgs(t)...)
		if err != nil {
			return mapErr(err)
		}
		if job != nil {
			_, err = s.db.Enqueue(ctx, tx, *job)
		}
		return err
	})
}

// GetTenant implements storage.TenantStore.
func (s *Store) GetTenant(ctx context.Context, instanceID, id string) (*storage.Tenant, error) {
	return scanTenant(s.db.QueryRowContext(ctx, s.db.Rebind(`SELECT `+tenantCols+` FROM tenants WHERE id = ? AND instance_id = ?`), id, instanceID), &s.tenantJSON)
}

// ListSealedTenants implements storage.TenantStore: the sealed value of a
// tenant is in its operation state (lifecycle.Op.Secret, a JSON string).
func (s *Store) ListSealedTenants(ctx context.Context, after string, limit int) ([]*storage.Tenant, error) {
	q := `SELECT ` + tenantCols + ` FROM tenants WHERE id > ? AND (`
	args := []any{after}
	for i, p := range secret.Prefixes() {
		if i > 0 {
			q += ` OR `
		}
		q += `op LIKE ? ESCAPE '\'`
		args = append(args, sqldb.LikeContains(`"`+p))
	}
	rows, err := s.db.QueryContext(ctx, s.db.Rebind(q+`) ORDER BY id LIMIT ?`), append(args, limit)...)
	return scanTenants(rows, err)
}

// scanTenant reads a tenant; cache, when given, keeps its decoded JSON
// (a tenant read by id), none for listings, which would only churn it.
func scanTenant(row scanner, cache *rowcache.Cache[tenantJSON]) (*storage.Tenant, error) {
	var t storage.Tenant
	var linked, attested int
	var company, address, mca, op, rel, dr, run string
	var lastSync sql.NullInt64
	var created, updated, syncLease int64
	err := row.Scan(&t.ID, &t.InstanceID, &t.InitialSubdomain, &t.InitialDomain, &t.MSCustomerID, &linked, &company, &address, &mca,
		&t.AccountID, &t.AdminLogin, &t.State, &op, &attested, &lastSync, &t.Seats, &syncLease, &t.Version, &created, &updated, &rel, &dr, &run)
	if err != nil {
		return nil, mapErr(err)
	}
	t.Linked, t.MCAAttested = linked == 1, attested == 1
	if syncLease > 0 {
		t.SyncLeaseUntil = time.UnixMilli(syncLease)
	}
	// The JSON columns are decoded once per change of their text
	// (rowcache): a tenant read again and again (APSC's GETs, the
	// synchronization's polls) costs a comparison and a copy.
	raw := []string{company, address, mca, op, rel, dr, run}
	decode := func() (tenantJSON, error) {
		var j tenantJSON
		for i, to := range []any{&j.Company, &j.Address, &j.MCA, &j.Op, &j.GDAP, &j.Drift, &j.SyncRun} {
			if err := json.Unmarshal([]byte(raw[i]), to); err != nil {
				return j, fmt.Errorf("tenant %s: %w", t.ID, err)
			}
		}
		return j, nil
	}
	var j tenantJSON
	if cache != nil {
		j, err = cache.Decode(t.ID, raw, decode)
	} else {
		j, err = decode()
	}
	if err != nil {
		return nil, err
	}
	t.Company, t.Address, t.MCA, t.Op, t.GDAP, t.Drift, t.SyncRun = j.Company, j.Address, j.MCA, j.Op, j.GDAP, j.Drift, j.SyncRun
	if lastSync.Valid {
		ls := time.UnixMilli(lastSync.Int64)
		t.LastSync = &ls
	}
	t.CreatedAt, t.UpdatedAt = time.UnixMilli(created), time.UnixMilli(updated)
	return &t, nil
}

// tenantJSON are the parts of a tenant stored as JSON.
type tenantJSON struct {
	Company storage.Company
	Address storage.Address
	MCA     *storage.MCA
	Op      lifecycle.Op
	GDAP    gdap.Relationship
	Drift   storage.DriftState
	SyncRun storage.SyncRun
}

// UpdateTenant implements storage.TenantStore.
func (s *Store) UpdateTenant(ctx context.Context, t *storage.Tenant, job *jobs.New) error {
	return s.db.InTx(ctx, func(tx *sql.Tx) error {
		if err := s.db.CheckFence(ctx, tx); err != nil {
			return err
		}
		prev := t.Version
		t.Version = prev + 1
		t.UpdatedAt = time.Now()
		args := tenantArgs(t)
		// SET every column but id and created_at; WHERE id, instance and version.
		res, err := tx.ExecContext(ctx, s.db.Rebind(`UPDATE tenants SET instance_id=?, initial_subdomain=?, domain=?, ms_customer_id=?, linked=?,
			company=?, address=?, mca=?, account_id=?, admin_login=?, state=?, op=?, mca_attested=?, last_sync=?, seats=?,
			sync_lease_until=?, version=?, updated_at=?, gdap=?, drift=?, sync_run=? WHERE id=? AND instance_id=? AND version=?`),
			append(append(args[1:18:18], args[19], args[20], args[21], args[22]), t.ID, t.InstanceID, prev)...)
		if err != nil {
			t.Version = prev
			return mapErr(err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			t.Version = prev
			var exists int
			if err := tx.QueryRowContext(ctx, s.db.Rebind(`SELECT COUNT(*) FROM tenants WHERE id=? AND instance_id=?`), t.ID, t.InstanceID).Scan(&exists); err != nil {
				return err
			}
			if exists == 0 {
				return storage.ErrNotFound
			}
			return storage.ErrConflict
		}
		if job != nil {
			if _, err := s.db.Enqueue(ctx, tx, *job); err != nil {
				t.Version = prev
				return err
			}
		}
		return nil
	})
}

// DeleteTenant implements storage.TenantStore.
func (s *Store) DeleteTenant(ctx context.Context, instanceID, id string) error {
	return s.db.InTx(ctx, func(tx *sql.Tx) error {
		if err := s.db.CheckFence(ctx, tx); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, s.db.Rebind(`DELETE FROM tenants WHERE id = ? AND instance_id = ?`), id, instanceID)
		return affected(res, err)
	})
}

// CountTenants implements storage.TenantStore.
func (s *Store) CountTenants(ctx context.Context, instanceID string) (int, error) {
	var n int
	err := s.db.QueryRowContext(ctx, s.db.Rebind(`SELECT COUNT(*) FROM tenants WHERE instance_id = ?`), instanceID).Scan(&n)
	return n, err
}

// ListTenants implements storage.TenantStore.
func (s *Store) ListTenants(ctx context.Context, instanceID, after string, limit int) ([]*storage.Tenant, error) {
	rows, err := s.db.QueryContext(ctx, s.db.Rebind(`SELECT `+tenantCols+` FROM tenants WHERE instance_id = ? AND id > ? ORDER BY id LIMIT ?`),
		instanceID, after, limit)
	return scanTenants(rows, err)
}

// TenantByCustomer implements storage.TenantStore.
func (s *Store) TenantByCustomer(ctx context.Context, instanceID, msCustomerID string) (*storage.Tenant, error) {
	return scanTenant(s.db.QueryRowContext(ctx, s.db.Rebind(`SELECT `+tenantCols+` FROM tenants WHERE instance_id = ? AND ms_customer_id = ? ORDER BY id LIMIT 1`),
		instanceID, msCustomerID), &s.tenantJSON)
}

// scanTenants reads the rows of a tenant query.
func scanTenants(rows *sql.Rows, err error) ([]*storage.Tenant, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*storage.Tenant
	for rows.Next() {
		t, err := scanTenant(rows, nil)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}
