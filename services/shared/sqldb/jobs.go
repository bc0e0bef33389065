package sqldb

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"time"

	"github.com/pressly/goose/v3"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"

	"github.com/o365gateway/gateway/services/shared/jobs"
)

// jobMigrations create and evolve the job table every service keeps beside
// its own tables (one folder per dialect). They are versioned in their own
// goose table, jobsVersionTable, so that they never collide with the
// service's migrations.
//
//go:embed jobsmigrations
var jobMigrations embed.FS

const jobsVersionTable = "jobs_goose_version"

// migrateJobs applies the job table's migrations.
func (db *DB) migrateJobs(ctx context.Context) error {
	sub, err := fs.Sub(jobMigrations, "jobsmigrations")
	if err != nil {
		return err
	}
	if err := db.migrate(ctx, sub, goose.WithTableName(jobsVersionTable), goose.WithDisableGlobalRegistry(true)); err != nil {
		return fmt.Errorf("job table: %w", err)
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

// pruneBatch is how many finished jobs one DELETE of Prune removes, so that
// a large backlog does not hold the write lock for long.
const pruneBatch = 1000

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

// CheckFence verifies, inside tx, that the job claim ctx carries
// (jobs.WithFence) is still current: the job is running and nobody claimed it
// since. It returns an error wrapping jobs.ErrLeaseLost otherwise, and nil
// when ctx carries no claim. Stores call it first in every transaction a job
// could write through.
//
// The check is an UPDATE of the job row that changes nothing: it takes the
// row's write lock (on SQLite the transaction holds the database's anyway),
// so a concurrent Claim waits for the transaction to end and cannot slip in
// between the check and the write.
func (db *DB) CheckFence(ctx context.Context, tx *sql.Tx) error {
	id, fence, ok := jobs.FenceFrom(ctx)
	if !ok {
		return nil
	}
	res, err := tx.ExecContext(ctx, db.Rebind(`UPDATE jobs SET fence = fence WHERE id = ? AND state = ? AND fence = ?`), id, jobRunning, fence)
	if err != nil {
		return fmt.Errorf("check the job's claim: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("check the job's claim: %w", err)
	} else if n == 0 {
		return fmt.Errorf("job %d no longer holds claim %d: %w", id, fence, jobs.ErrLeaseLost)
	}
	return nil
}

// JobStore is the jobs.Store of a DB.
type JobStore struct{ DB *DB }

var _ jobs.Store = JobStore{}

// Claim implements jobs.Store. One statement picks and leases the job, so
// that two workers cannot both take it: SQLite runs writing statements one at
// a time (across processes too), and PostgreSQL re-checks the outer
// conditions on the row it locks. The per-key exclusion relies on claims
// running one at a time; the PostgreSQL driver will have to serialise claims
// of one key (e.g. with a transaction-scoped advisory lock) to keep it.
func (s JobStore) Claim(ctx context.Context, owner string, kinds []string, now, leaseUntil time.Time) (*jobs.Job, error) {
	if len(kinds) == 0 {
		return nil, jobs.ErrNoJob
	}
	db := s.DB
	nowMs := now.UnixMilli()
	in := "?" + strings.Repeat(", ?", len(kinds)-1)
	args := []any{jobRunning, owner, leaseUntil.UnixMilli(), nowMs}
	for _, k := range kinds {
		args = append(args, k)
	}
	args = append(args, jobPending, nowMs, jobRunning, nowMs, jobRunning, nowMs, jobPending, nowMs, jobRunning, nowMs)
	q := db.Rebind(`UPDATE jobs SET state = ?, lease_owner = ?, lease_until = ?, attempt = attempt + 1, fence = fence + 1, updated_at = ?
		WHERE id = (
			SELECT j.id FROM jobs j
			WHERE j.kind IN (` + in + `)
			  AND ((j.state = ? AND j.run_at <= ?) OR (j.state = ? AND j.lease_until < ?))
			  AND (j.job_key = '' OR NOT EXISTS (
				SELECT 1 FROM jobs o WHERE o.job_key = j.job_key AND o.id <> j.id AND o.state = ? AND o.lease_until >= ?))
			ORDER BY j.run_at, j.id LIMIT 1)
		  AND ((state = ? AND run_at <= ?) OR (state = ? AND lease_until < ?))
		RETURNING id, kind, job_key, payload, attempt, max_attempts, run_at, last_error, trace_context, fence`)
	j := &jobs.Job{}
	var runAt int64
	var traceCtx string
	err := db.QueryRowContext(ctx, q, args...).
		Scan(&j.ID, &j.Kind, &j.Key, &j.Payload, &j.Attempt, &j.MaxAttempts, &runAt, &j.LastError, &traceCtx, &j.Fence)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, jobs.ErrNoJob
	}
	if err != nil {
		return nil, err
	}
	_ = json.Unmarshal([]byte(traceCtx), &j.TraceContext)
	j.RunAt = time.UnixMilli(runAt)
	return j, nil
}

// update runs a bookkeeping statement on a claim; no row means the claim is gone.
func (s JobStore) update(ctx context.Context, q string, args ...any) error {
	res, err := s.DB.ExecContext(ctx, s.DB.Rebind(q), args...)
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return jobs.ErrLeaseLost
	}
	return nil
}

// ExtendLease implements jobs.Store.
func (s JobStore) ExtendLease(ctx context.Context, id, fence int64, until time.Time) error {
	return s.update(ctx, `UPDATE jobs SET lease_until = ? WHERE id = ? AND state = ? AND fence = ?`,
		until.UnixMilli(), id, jobRunning, fence)
}

// Complete implements jobs.Store.
func (s JobStore) Complete(ctx context.Context, id, fence int64) error {
	now := time.Now().UnixMilli()
	return s.update(ctx, `UPDATE jobs SET state = ?, lease_owner = '', lease_until = 0, updated_at = ?, finished_at = ?
		WHERE id = ? AND state = ? AND fence = ?`,
		jobDone, now, now, id, jobRunning, fence)
}

// Reschedule implements jobs.Store.
func (s JobStore) Reschedule(ctx context.Context, id, fence int64, runAt time.Time, lastErr string, countAttempt bool) error {
	give := 1
	if countAttempt {
		give = 0
	}
	return s.update(ctx, `UPDATE jobs SET state = ?, run_at = ?, last_error = ?, attempt = attempt - ?, lease_owner = '', lease_until = 0, updated_at = ?
		WHERE id = ? AND state = ? AND fence = ?`,
		jobPending, runAt.UnixMilli(), truncate(lastErr), give, time.Now().UnixMilli(), id, jobRunning, fence)
}

// Fail implements jobs.Store.
func (s JobStore) Fail(ctx context.Context, id, fence int64, lastErr string) error {
	now := time.Now().UnixMilli()
	return s.update(ctx, `UPDATE jobs SET state = ?, last_error = ?, lease_owner = '', lease_until = 0, updated_at = ?, finished_at = ?
		WHERE id = ? AND state = ? AND fence = ?`,
		jobFailed, truncate(lastErr), now, now, id, jobRunning, fence)
}

// Release implements jobs.Store: the job is due again at once (its run_at
// has passed) and its attempt is given back.
func (s JobStore) Release(ctx context.Context, id, fence int64) error {
	return s.update(ctx, `UPDATE jobs SET state = ?, attempt = attempt - 1, lease_owner = '', lease_until = 0, updated_at = ?
		WHERE id = ? AND state = ? AND fence = ?`,
		jobPending, time.Now().UnixMilli(), id, jobRunning, fence)
}

// Prune implements jobs.Store, deleting in batches.
func (s JobStore) Prune(ctx context.Context, finishedBefore time.Time) (int, error) {
	q := s.DB.Rebind(`DELETE FROM jobs WHERE id IN (
		SELECT id FROM jobs WHERE state IN (?, ?) AND finished_at < ? ORDER BY id LIMIT ?)`)
	total := 0
	for {
		res, err := s.DB.ExecContext(ctx, q, jobDone, jobFailed, finishedBefore.UnixMilli(), pruneBatch)
		if err != nil {
			return total, err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return total, err
		}
		total += int(n)
		if n < pruneBatch {
			return total, nil
		}
	}
}

func truncate(s string) string {
	if len(s) > 2000 {
		return s[:2000]
	}
	return s
}
