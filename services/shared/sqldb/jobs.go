package sqldb

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"

	"github.com/o365gateway/gateway/services/shared/jobs"
)

// jobsDDL creates the job table every service keeps beside its own tables
// (IF NOT EXISTS: applied at every start, before the service's migrations).
var jobsDDL = map[Dialect][]string{
	SQLite: {`CREATE TABLE IF NOT EXISTS jobs (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  kind TEXT NOT NULL,
  job_key TEXT NOT NULL,
  payload BLOB NOT NULL,
  state TEXT NOT NULL,
  attempt INTEGER NOT NULL DEFAULT 0,
  max_attempts INTEGER NOT NULL,
  run_at INTEGER NOT NULL,
  lease_owner TEXT NOT NULL DEFAULT '',
  lease_until INTEGER NOT NULL DEFAULT 0,
  last_error TEXT NOT NULL DEFAULT '',
  trace_context TEXT NOT NULL DEFAULT '',
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
)`,
		`CREATE INDEX IF NOT EXISTS jobs_due ON jobs (state, run_at)`,
		`CREATE INDEX IF NOT EXISTS jobs_key ON jobs (kind, job_key)`},
}

// ensureJobs creates the job table if needed.
func (db *DB) ensureJobs(ctx context.Context) error {
	for _, q := range jobsDDL[db.Dialect] {
		if _, err := db.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("create the job table: %w", err)
		}
	}
	return nil
}

// Job states.
const (
	jobPending = "pending"
	jobRunning = "running"
	jobDone    = "done"
	jobFailed  = "failed"
)

// DefaultMaxAttempts applies when a job names none.
const DefaultMaxAttempts = 25

// Enqueue inserts a job inside tx, so that it commits with the state change.
func (db *DB) Enqueue(ctx context.Context, tx *sql.Tx, j jobs.New) (int64, error) {
	if j.MaxAttempts <= 0 {
		j.MaxAttempts = DefaultMaxAttempts
	}
	now := time.Now().UnixMilli()
	runAt := now
	if !j.RunAt.IsZero() {
		runAt = j.RunAt.UnixMilli()
	}
	payload := j.Payload
	if payload == nil {
		payload = []byte("{}")
	}
	// The job carries the trace of the request that enqueued it, so that its
	// Microsoft calls appear in the same trace.
	carrier := propagation.MapCarrier{}
	otel.GetTextMapPropagator().Inject(ctx, carrier)
	traceCtx, _ := json.Marshal(carrier)
	q := db.Rebind(`INSERT INTO jobs (kind, job_key, payload, state, max_attempts, run_at, trace_context, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`)
	var id int64
	err := tx.QueryRowContext(ctx, q, j.Kind, j.Key, payload, jobPending, j.MaxAttempts, runAt, string(traceCtx), now, now).Scan(&id)
	return id, err
}

// ActiveJob tells whether an unfinished job of kind exists for key.
func (db *DB) ActiveJob(ctx context.Context, kind, key string) (bool, error) {
	var n int
	err := db.QueryRowContext(ctx, db.Rebind(`SELECT COUNT(*) FROM jobs WHERE kind = ? AND job_key = ? AND state IN (?, ?)`),
		kind, key, jobPending, jobRunning).Scan(&n)
	return n > 0, err
}

// JobStore is the jobs.Store of a DB.
type JobStore struct{ DB *DB }

var _ jobs.Store = JobStore{}

// Claim implements jobs.Store.
func (s JobStore) Claim(ctx context.Context, owner string, now, leaseUntil time.Time) (*jobs.Job, error) {
	db := s.DB
	for range 5 {
		var id int64
		err := db.QueryRowContext(ctx, db.Rebind(`SELECT id FROM jobs
			WHERE (state = ? AND run_at <= ?) OR (state = ? AND lease_until < ?)
			ORDER BY run_at, id LIMIT 1`), jobPending, now.UnixMilli(), jobRunning, now.UnixMilli()).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, jobs.ErrNoJob
		}
		if err != nil {
			return nil, err
		}
		res, err := db.ExecContext(ctx, db.Rebind(`UPDATE jobs SET state = ?, lease_owner = ?, lease_until = ?, attempt = attempt + 1, updated_at = ?
			WHERE id = ? AND ((state = ? AND run_at <= ?) OR (state = ? AND lease_until < ?))`),
			jobRunning, owner, leaseUntil.UnixMilli(), now.UnixMilli(), id,
			jobPending, now.UnixMilli(), jobRunning, now.UnixMilli())
		if err != nil {
			return nil, err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			continue // another worker took it
		}
		j := &jobs.Job{ID: id}
		var runAt int64
		var traceCtx string
		err = db.QueryRowContext(ctx, db.Rebind(`SELECT kind, job_key, payload, attempt, max_attempts, run_at, last_error, trace_context FROM jobs WHERE id = ?`), id).
			Scan(&j.Kind, &j.Key, &j.Payload, &j.Attempt, &j.MaxAttempts, &runAt, &j.LastError, &traceCtx)
		if err != nil {
			return nil, err
		}
		_ = json.Unmarshal([]byte(traceCtx), &j.TraceContext)
		j.RunAt = time.UnixMilli(runAt)
		return j, nil
	}
	return nil, jobs.ErrNoJob
}

func (s JobStore) update(ctx context.Context, q string, args ...any) error {
	res, err := s.DB.ExecContext(ctx, s.DB.Rebind(q), args...)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return jobs.ErrLeaseLost
	}
	return nil
}

// ExtendLease implements jobs.Store.
func (s JobStore) ExtendLease(ctx context.Context, id int64, owner string, until time.Time) error {
	return s.update(ctx, `UPDATE jobs SET lease_until = ? WHERE id = ? AND state = ? AND lease_owner = ?`,
		until.UnixMilli(), id, jobRunning, owner)
}

// Complete implements jobs.Store.
func (s JobStore) Complete(ctx context.Context, id int64, owner string) error {
	return s.update(ctx, `UPDATE jobs SET state = ?, lease_owner = '', lease_until = 0, updated_at = ? WHERE id = ? AND state = ? AND lease_owner = ?`,
		jobDone, time.Now().UnixMilli(), id, jobRunning, owner)
}

// Reschedule implements jobs.Store.
func (s JobStore) Reschedule(ctx context.Context, id int64, owner string, runAt time.Time, lastErr string, countAttempt bool) error {
	give := 1
	if countAttempt {
		give = 0
	}
	return s.update(ctx, `UPDATE jobs SET state = ?, run_at = ?, last_error = ?, attempt = attempt - ?, lease_owner = '', lease_until = 0, updated_at = ?
		WHERE id = ? AND state = ? AND lease_owner = ?`,
		jobPending, runAt.UnixMilli(), truncate(lastErr), give, time.Now().UnixMilli(), id, jobRunning, owner)
}

// Fail implements jobs.Store.
func (s JobStore) Fail(ctx context.Context, id int64, owner, lastErr string) error {
	return s.update(ctx, `UPDATE jobs SET state = ?, last_error = ?, lease_owner = '', lease_until = 0, updated_at = ? WHERE id = ? AND state = ? AND lease_owner = ?`,
		jobFailed, truncate(lastErr), time.Now().UnixMilli(), id, jobRunning, owner)
}

// ReleaseOwnedBy implements jobs.Store.
func (s JobStore) ReleaseOwnedBy(ctx context.Context, prefix string) (int, error) {
	res, err := s.DB.ExecContext(ctx, s.DB.Rebind(`UPDATE jobs SET state = ?, lease_owner = '', lease_until = 0, updated_at = ?
		WHERE state = ? AND substr(lease_owner, 1, ?) = ?`),
		jobPending, time.Now().UnixMilli(), jobRunning, len(prefix), prefix)
	if err != nil {
		return 0, err
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

func truncate(s string) string {
	if len(s) > 2000 {
		return s[:2000]
	}
	return s
}
