package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/o365gateway/gateway/services/shared/jobs"
)

var _ jobs.Inspector = JobStore{}

const recordCols = `id, kind, job_key, job_group, payload, state, attempt, max_attempts, run_at, last_error, created_at, updated_at, finished_at`

func scanRecord(row interface{ Scan(...any) error }) (*jobs.Record, error) {
	var r jobs.Record
	var runAt, created, updated int64
	var finished int64
	if err := row.Scan(&r.ID, &r.Kind, &r.Key, &r.Group, &r.Payload, &r.State, &r.Attempt, &r.MaxAttempts, &runAt, &r.LastError,
		&created, &updated, &finished); err != nil {
		return nil, err
	}
	r.RunAt, r.CreatedAt, r.UpdatedAt = time.UnixMilli(runAt), time.UnixMilli(created), time.UnixMilli(updated)
	if finished > 0 {
		r.FinishedAt = time.UnixMilli(finished)
	}
	return &r, nil
}

// ListJobs implements jobs.Inspector.
func (s JobStore) ListJobs(ctx context.Context, f jobs.Filter) ([]jobs.Record, error) {
	var where []string
	var args []any
	in := func(col string, vals []string) {
		if len(vals) == 0 {
			return
		}
		where = append(where, col+" IN ("+strings.TrimSuffix(strings.Repeat("?,", len(vals)), ",")+")")
		for _, v := range vals {
			args = append(args, v)
		}
	}
	in("state", f.States)
	in("kind", f.Kinds)
	in("job_key", f.Keys)
	if f.Group != "" {
		where = append(where, "job_group = ?")
		args = append(args, f.Group)
	}
	if !f.OlderThan.IsZero() {
		where = append(where, "created_at < ?")
		args = append(args, f.OlderThan.UnixMilli())
	}
	if f.Before > 0 {
		where = append(where, "id < ?")
		args = append(args, f.Before)
	}
	limit := f.Limit
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	q := `SELECT ` + recordCols + ` FROM jobs`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	rows, err := s.DB.QueryContext(ctx, s.DB.Rebind(q+` ORDER BY id DESC LIMIT ?`), append(args, limit)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []jobs.Record
	for rows.Next() {
		r, err := scanRecord(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *r)
	}
	return out, rows.Err()
}

// GetJob implements jobs.Inspector.
func (s JobStore) GetJob(ctx context.Context, id int64) (*jobs.Record, error) {
	r, err := scanRecord(s.DB.QueryRowContext(ctx, s.DB.Rebind(`SELECT `+recordCols+` FROM jobs WHERE id = ?`), id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, jobs.ErrNoJob
	}
	return r, err
}

// RequeueJob implements jobs.Inspector.
func (s JobStore) RequeueJob(ctx context.Context, id int64) (bool, error) {
	now := time.Now().UnixMilli()
	res, err := s.DB.ExecContext(ctx, s.DB.Rebind(`UPDATE jobs SET state = ?, attempt = 0, run_at = ?, lease_owner = '', lease_until = 0,
		finished_at = 0, updated_at = ? WHERE id = ? AND state = ?`), jobPending, now, now, id, jobFailed)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	if n > 0 && err == nil && s.DB.Dialect == Postgres {
		// The runners of every replica hear of it (Listen), as of an enqueue.
		_, err = s.DB.ExecContext(ctx, `SELECT pg_notify($1, COALESCE(current_schema(), ''))`, notifyChannel)
	}
	return n > 0, err
}

// CancelPending implements jobs.Inspector.
func (s JobStore) CancelPending(ctx context.Context, key, why string) (int, error) {
	now := time.Now().UnixMilli()
	res, err := s.DB.ExecContext(ctx, s.DB.Rebind(`UPDATE jobs SET state = ?, last_error = ?, finished_at = ?, updated_at = ?
		WHERE job_key = ? AND state = ? AND lease_until < ?`), jobFailed, truncate(why), now, now, key, jobPending, now)
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	return int(n), err
}
