package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/o365gateway/gateway/services/shared/audit"
)

// AuditLog is an audit.Store in the service's database (table audit_log,
// one chain per database and schema). Appends are serialised across every
// process that works on the database: on PostgreSQL by a transaction-scoped
// advisory lock taken before the head is read, on SQLite by the write lock
// that every transaction takes when it begins (BEGIN IMMEDIATE). Nothing
// here updates or deletes an entry.
type AuditLog struct {
	DB *DB
}

var _ audit.Store = AuditLog{}

const auditColumns = `seq, at, service, kind, instance_id, caller, aps_identity_id, aps_actor_id, aps_account_hierarchy,
	aps_transaction_id, resource_type, resource_id, method, phase, attempt, code, reason, ms_request_ids, key_id, prev_mac, mac`

// Append implements audit.Store.
func (a AuditLog) Append(ctx context.Context, seal func(audit.Head) (audit.Entry, error)) (audit.Entry, error) {
	var e audit.Entry
	err := a.DB.InTx(ctx, func(tx *sql.Tx) error {
		if a.DB.Dialect == Postgres {
			if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, lockID("audit", a.DB.schema)); err != nil {
				return fmt.Errorf("take the audit lock: %w", err)
			}
		}
		h, err := auditHead(ctx, tx)
		if err != nil {
			return err
		}
		if e, err = seal(h); err != nil {
			return err
		}
		if e.Seq != h.Seq+1 || e.PrevMAC != h.MAC {
			return errors.New("audit: an entry must follow the chain's head")
		}
		_, err = tx.ExecContext(ctx, a.DB.Rebind(`INSERT INTO audit_log (`+auditColumns+`)
			VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`),
			e.Seq, e.Time.UnixMicro(), e.Service, e.Kind, e.InstanceID, e.Caller.Identity, e.Caller.APSIdentityID,
			e.Caller.APSActorID, e.Caller.APSAccountHierarchy, e.Caller.APSTransactionID, e.Resource.Type, e.Resource.ID,
			e.Operation.Method, e.Operation.Phase, e.Operation.Attempt, e.Outcome.Code, e.Outcome.Reason,
			strings.Join(e.MSRequestIDs, " "), e.KeyID, e.PrevMAC, e.MAC)
		if err != nil {
			return fmt.Errorf("append to the audit log: %w", err)
		}
		return nil
	})
	if err != nil {
		return audit.Entry{}, err
	}
	return e, nil
}

func auditHead(ctx context.Context, q querier) (audit.Head, error) {
	var h audit.Head
	err := q.QueryRowContext(ctx, `SELECT seq, mac FROM audit_log ORDER BY seq DESC LIMIT 1`).Scan(&h.Seq, &h.MAC)
	if errors.Is(err, sql.ErrNoRows) {
		return audit.Head{}, nil
	}
	if err != nil {
		return audit.Head{}, fmt.Errorf("read the audit log's head: %w", err)
	}
	return h, nil
}

// Head implements audit.Store.
func (a AuditLog) Head(ctx context.Context) (audit.Head, error) { return auditHead(ctx, a.DB) }

// List implements audit.Store.
func (a AuditLog) List(ctx context.Context, f audit.Filter, after int64, limit int) ([]audit.Entry, error) {
	where, args := []string{"seq > ?"}, []any{after}
	eq := func(col, v string) {
		if v != "" {
			where = append(where, col+" = ?")
			args = append(args, v)
		}
	}
	eq("instance_id", f.InstanceID)
	eq("method", f.Method)
	eq("code", f.Code)
	if f.Caller != "" {
		where = append(where, "(caller = ? OR aps_identity_id = ? OR aps_actor_id = ?)")
		args = append(args, f.Caller, f.Caller, f.Caller)
	}
	if !f.Since.IsZero() {
		where = append(where, "at >= ?")
		args = append(args, f.Since.UnixMicro())
	}
	if !f.Until.IsZero() {
		where = append(where, "at < ?")
		args = append(args, f.Until.UnixMicro())
	}
	args = append(args, limit)
	rows, err := a.DB.QueryContext(ctx, a.DB.Rebind(`SELECT `+auditColumns+` FROM audit_log WHERE `+
		strings.Join(where, " AND ")+` ORDER BY seq LIMIT ?`), args...)
	if err != nil {
		return nil, fmt.Errorf("read the audit log: %w", err)
	}
	defer rows.Close()
	var out []audit.Entry
	for rows.Next() {
		var e audit.Entry
		var at int64
		var ids string
		if err := rows.Scan(&e.Seq, &at, &e.Service, &e.Kind, &e.InstanceID, &e.Caller.Identity, &e.Caller.APSIdentityID,
			&e.Caller.APSActorID, &e.Caller.APSAccountHierarchy, &e.Caller.APSTransactionID, &e.Resource.Type, &e.Resource.ID,
			&e.Operation.Method, &e.Operation.Phase, &e.Operation.Attempt, &e.Outcome.Code, &e.Outcome.Reason,
			&ids, &e.KeyID, &e.PrevMAC, &e.MAC); err != nil {
			return nil, fmt.Errorf("read the audit log: %w", err)
		}
		e.Time = time.UnixMicro(at).UTC()
		if ids != "" {
			e.MSRequestIDs = strings.Split(ids, " ")
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read the audit log: %w", err)
	}
	return out, nil
}
