package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/o365gateway/gateway/services/shared/jobs"
	"github.com/o365gateway/gateway/services/shared/storeerr"
)

// Errors of Docs: the storage sentinels.
var (
	ErrDuplicate = storeerr.ErrAlreadyExists
	ErrMissing   = storeerr.ErrNotFound
	ErrStale     = storeerr.ErrConflict
)

// Record is one JSON document row of a Docs table: the document plus the
// columns queries filter on.
type Record struct {
	ID         string
	InstanceID string
	ParentID   string
	State      string
	Version    int64
	Data       []byte
}

// Docs keeps JSON documents in a table with the columns (id, instance_id,
// parent_id, data, state, version, created_at, updated_at), writing jobs in
// the same transaction. Services use it for resources whose fields they do
// not query. Writes made with a job's context (jobs.WithFence) are refused
// with jobs.ErrLeaseLost once the job's claim is lost (DB.CheckFence).
type Docs struct {
	DB    *DB
	Table string
}

// Create inserts r (version 1) and job atomically; ErrDuplicate if the id is taken.
func (d Docs) Create(ctx context.Context, r Record, job *jobs.New) error {
	now := time.Now().UnixMilli()
	return d.DB.InTx(ctx, func(tx *sql.Tx) error {
		if err := d.DB.CheckFence(ctx, tx); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, d.DB.Rebind(`INSERT INTO `+d.Table+` (id, instance_id, parent_id, data, state, version, created_at, updated_at)
			VALUES (?,?,?,?,?,1,?,?)`), r.ID, r.InstanceID, r.ParentID, string(r.Data), r.State, now, now)
		if IsDuplicate(err) {
			return ErrDuplicate
		}
		if err != nil {
			return err
		}
		if job != nil {
			_, err = d.DB.Enqueue(ctx, tx, *job)
		}
		return err
	})
}

// Get reads one document of an instance; ErrMissing if absent.
func (d Docs) Get(ctx context.Context, instanceID, id string) (Record, error) {
	r := Record{ID: id, InstanceID: instanceID}
	var data string
	err := d.DB.QueryRowContext(ctx, d.DB.Rebind(`SELECT parent_id, data, state, version FROM `+d.Table+` WHERE id = ? AND instance_id = ?`),
		id, instanceID).Scan(&r.ParentID, &data, &r.State, &r.Version)
	if errors.Is(err, sql.ErrNoRows) {
		return r, ErrMissing
	}
	r.Data = []byte(data)
	return r, err
}

// Update writes r if r.Version is current and returns the new version;
// ErrStale if it changed meanwhile, ErrMissing if it is gone. job commits with it.
func (d Docs) Update(ctx context.Context, r Record, job *jobs.New) (int64, error) {
	next := r.Version + 1
	err := d.DB.InTx(ctx, func(tx *sql.Tx) error {
		if err := d.DB.CheckFence(ctx, tx); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, d.DB.Rebind(`UPDATE `+d.Table+` SET parent_id = ?, data = ?, state = ?, version = ?, updated_at = ?
			WHERE id = ? AND instance_id = ? AND version = ?`), r.ParentID, string(r.Data), r.State, next, time.Now().UnixMilli(),
			r.ID, r.InstanceID, r.Version)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			var exists int
			if err := tx.QueryRowContext(ctx, d.DB.Rebind(`SELECT COUNT(*) FROM `+d.Table+` WHERE id = ? AND instance_id = ?`), r.ID, r.InstanceID).Scan(&exists); err != nil {
				return err
			}
			if exists == 0 {
				return ErrMissing
			}
			return ErrStale
		}
		if job != nil {
			_, err = d.DB.Enqueue(ctx, tx, *job)
		}
		return err
	})
	if err != nil {
		return r.Version, err
	}
	return next, nil
}

// Delete removes a document; ErrMissing if absent.
func (d Docs) Delete(ctx context.Context, instanceID, id string) error {
	return d.DB.InTx(ctx, func(tx *sql.Tx) error {
		if err := d.DB.CheckFence(ctx, tx); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, d.DB.Rebind(`DELETE FROM `+d.Table+` WHERE id = ? AND instance_id = ?`), id, instanceID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrMissing
		}
		return nil
	})
}

// Count counts an instance's documents under a parent whose state is not
// one of excluded.
func (d Docs) Count(ctx context.Context, instanceID, parentID string, excluded ...string) (int, error) {
	q := `SELECT COUNT(*) FROM ` + d.Table + ` WHERE instance_id = ? AND parent_id = ?`
	args := []any{instanceID, parentID}
	for _, s := range excluded {
		q += ` AND state <> ?`
		args = append(args, s)
	}
	var n int
	err := d.DB.QueryRowContext(ctx, d.DB.Rebind(q), args...).Scan(&n)
	return n, err
}

// List returns an instance's documents under a parent.
func (d Docs) List(ctx context.Context, instanceID, parentID string) ([]Record, error) {
	rows, err := d.DB.QueryContext(ctx, d.DB.Rebind(`SELECT id, parent_id, data, state, version FROM `+d.Table+
		` WHERE instance_id = ? AND parent_id = ? ORDER BY created_at, id`), instanceID, parentID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Record
	for rows.Next() {
		r := Record{InstanceID: instanceID}
		var data string
		if err := rows.Scan(&r.ID, &r.ParentID, &data, &r.State, &r.Version); err != nil {
			return nil, err
		}
		r.Data = []byte(data)
		out = append(out, r)
	}
	return out, rows.Err()
}

// Scan returns up to limit documents of every instance whose id sorts after
// after, in id order, among those whose document contains one of the given
// strings (every document when none is given): a pass over the whole table,
// one batch at a time.
func (d Docs) Scan(ctx context.Context, after string, limit int, contains ...string) ([]Record, error) {
	q := `SELECT id, instance_id, parent_id, data, state, version FROM ` + d.Table + ` WHERE id > ?`
	args := []any{after}
	if len(contains) > 0 {
		like := make([]string, len(contains))
		for i, c := range contains {
			like[i] = `data LIKE ? ESCAPE '\'`
			args = append(args, LikeContains(c))
		}
		q += ` AND (` + strings.Join(like, ` OR `) + `)`
	}
	rows, err := d.DB.QueryContext(ctx, d.DB.Rebind(q+` ORDER BY id LIMIT ?`), append(args, limit)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Record
	for rows.Next() {
		var r Record
		var data string
		if err := rows.Scan(&r.ID, &r.InstanceID, &r.ParentID, &data, &r.State, &r.Version); err != nil {
			return nil, err
		}
		r.Data = []byte(data)
		out = append(out, r)
	}
	return out, rows.Err()
}

// LikeContains is the pattern of `LIKE ? ESCAPE '\'` that matches the
// strings containing s (its wildcards match only themselves).
func LikeContains(s string) string { return "%" + likeEscaper.Replace(s) + "%" }

var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
