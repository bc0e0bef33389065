package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"time"

	"github.com/o365gateway/gateway/services/shared/jobs"

	"github.com/o365gateway/gateway/services/tenant/internal/storage"
)

const tenantCols = `id, instance_id, initial_subdomain, domain, ms_customer_id, linked, company, address, mca, account_id,
	admin_login, admin_password_sealed, state, operation, operation_state, failure_reason, failure_message, create_request_id,
	create_sent, mca_request_id, mca_attested, profile_revision, profile_synced, last_sync, seats, version, created_at, updated_at`

func tenantArgs(t *storage.Tenant) []any {
	company, _ := json.Marshal(t.Company)
	address, _ := json.Marshal(t.Address)
	mca := []byte("null")
	if t.MCA != nil {
		mca, _ = json.Marshal(t.MCA)
	}
	var lastSync any
	if t.LastSync != nil {
		lastSync = t.LastSync.UnixMilli()
	}
	return []any{t.ID, t.InstanceID, t.InitialSubdomain, t.Domain, t.MSCustomerID, b2i(t.Linked), string(company), string(address),
		string(mca), t.AccountID, t.AdminLogin, t.AdminPasswordSealed, t.State, t.Operation, t.OperationState, t.FailureReason,
		t.FailureMessage, t.CreateRequestID, b2i(t.CreateSent), t.MCARequestID, b2i(t.MCAAttested), t.ProfileRevision,
		t.ProfileSynced, lastSync, t.Seats, t.Version, ms(t.CreatedAt), ms(t.UpdatedAt)}
}

// CreateTenant implements storage.TenantStore.
func (s *Store) CreateTenant(ctx context.Context, t *storage.Tenant, job *jobs.New) error {
	now := time.Now()
	t.CreatedAt, t.UpdatedAt, t.Version = now, now, 1
	return s.db.InTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO tenants (`+tenantCols+`) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`, tenantArgs(t)...)
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
	row := s.db.QueryRowContext(ctx, `SELECT `+tenantCols+` FROM tenants WHERE id = ? AND instance_id = ?`, id, instanceID)
	var t storage.Tenant
	var linked, sent, attested int
	var company, address, mca string
	var lastSync sql.NullInt64
	var created, updated int64
	err := row.Scan(&t.ID, &t.InstanceID, &t.InitialSubdomain, &t.Domain, &t.MSCustomerID, &linked, &company, &address, &mca,
		&t.AccountID, &t.AdminLogin, &t.AdminPasswordSealed, &t.State, &t.Operation, &t.OperationState, &t.FailureReason,
		&t.FailureMessage, &t.CreateRequestID, &sent, &t.MCARequestID, &attested, &t.ProfileRevision, &t.ProfileSynced,
		&lastSync, &t.Seats, &t.Version, &created, &updated)
	if err != nil {
		return nil, mapErr(err)
	}
	t.Linked, t.CreateSent, t.MCAAttested = linked == 1, sent == 1, attested == 1
	_ = json.Unmarshal([]byte(company), &t.Company)
	_ = json.Unmarshal([]byte(address), &t.Address)
	_ = json.Unmarshal([]byte(mca), &t.MCA)
	if lastSync.Valid {
		ls := time.UnixMilli(lastSync.Int64)
		t.LastSync = &ls
	}
	t.CreatedAt, t.UpdatedAt = time.UnixMilli(created), time.UnixMilli(updated)
	return &t, nil
}

// UpdateTenant implements storage.TenantStore.
func (s *Store) UpdateTenant(ctx context.Context, t *storage.Tenant, job *jobs.New) error {
	return s.db.InTx(ctx, func(tx *sql.Tx) error {
		prev := t.Version
		t.Version = prev + 1
		t.UpdatedAt = time.Now()
		args := tenantArgs(t)
		// SET every column but id and created_at; WHERE id, instance and version.
		res, err := tx.ExecContext(ctx, `UPDATE tenants SET instance_id=?, initial_subdomain=?, domain=?, ms_customer_id=?, linked=?,
			company=?, address=?, mca=?, account_id=?, admin_login=?, admin_password_sealed=?, state=?, operation=?, operation_state=?,
			failure_reason=?, failure_message=?, create_request_id=?, create_sent=?, mca_request_id=?, mca_attested=?,
			profile_revision=?, profile_synced=?, last_sync=?, seats=?, version=?, updated_at=?
			WHERE id=? AND instance_id=? AND version=?`,
			append(append(args[1:26:26], args[27]), t.ID, t.InstanceID, prev)...)
		if err != nil {
			t.Version = prev
			return mapErr(err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			t.Version = prev
			var exists int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM tenants WHERE id=? AND instance_id=?`, t.ID, t.InstanceID).Scan(&exists); err != nil {
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
	res, err := s.db.ExecContext(ctx, `DELETE FROM tenants WHERE id = ? AND instance_id = ?`, id, instanceID)
	return affected(res, err)
}

// CountTenants implements storage.TenantStore.
func (s *Store) CountTenants(ctx context.Context, instanceID string) (int, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM tenants WHERE instance_id = ?`, instanceID).Scan(&n)
	return n, err
}
