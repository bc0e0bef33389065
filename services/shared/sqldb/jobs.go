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
	if err := db.migrate(ctx, sub, jobsVersionTable); err != nil {
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

// pruneBatch is how many rows (finished jobs, idle rate budgets) one DELETE
// of a Prune removes, so that a large backlog does not hold the write lock
// for long.
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
	// The job carries the trace and the APS transaction of the request that
	// enqueued it (jobs.Propagator).
	carrier := propagation.MapCarrier{}
	jobs.Propagator().Inject(ctx, carrier)
	traceCtx, _ := json.Marshal(carrier)
	q := db.Rebind(`INSERT INTO jobs (kind, job_key, job_group, payload, state, max_attempts, run_at, trace_context, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`)
	var id int64
	if err := tx.QueryRowContext(ctx, q, j.Kind, j.Key, j.Group, payload, jobPending, j.MaxAttempts, runAt, string(traceCtx), now, now).Scan(&id); err != nil {
		return 0, err
	}
	if db.Dialect == Postgres {
		// Delivered at commit, to the runners of every replica (Listen).
		if _, err := tx.ExecContext(ctx, `SELECT pg_notify($1, COALESCE(current_schema(), ''))`, notifyChannel); err != nil {
			return 0, err
		}
	}
	return id, nil
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
// so a concurrent Claim cannot slip in between the check and the write: on
// SQLite it waits for the transaction to end, on PostgreSQL it skips the
// locked row (FOR UPDATE SKIP LOCKED) and takes it, if still due, later.
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

// Claim implements jobs.Store.
func (s JobStore) Claim(ctx context.Context, owner string, kinds []string, now, leaseUntil time.Time) (*jobs.Job, error) {
	if len(kinds) == 0 {
		return nil, jobs.ErrNoJob
	}
	if s.DB.Dialect == Postgres {
		return s.claimPostgres(ctx, owner, kinds, now, leaseUntil)
	}
	return s.claimSQLite(ctx, owner, kinds, now, leaseUntil)
}

// dueJob is the condition of a job Claim may take, on table alias t, with
// its parameters (now twice).
func dueJob(t string) string {
	return `((` + t + `.state = ? AND ` + t + `.run_at <= ?) OR (` + t + `.state = ? AND ` + t + `.lease_until < ?))`
}

func dueArgs(now int64) []any { return []any{jobPending, now, jobRunning, now} }

// keyFree is the condition that no other job with t's key holds an
// unexpired lease, with its parameters (now).
func keyFree(t string) string {
	return `(` + t + `.job_key = '' OR NOT EXISTS (
		SELECT 1 FROM jobs o WHERE o.job_key = ` + t + `.job_key AND o.id <> ` + t + `.id AND o.state = ? AND o.lease_until >= ?))`
}

func keyFreeArgs(now int64) []any { return []any{jobRunning, now} }

// fairOrder orders the candidates of a claim: the group with the fewest
// running jobs first (fairness across instances), then the oldest due job;
// with its parameters (now).
func fairOrder(t string) string {
	return `(SELECT COUNT(*) FROM jobs g WHERE g.job_group = ` + t + `.job_group AND g.state = ? AND g.lease_until >= ?), ` +
		t + `.run_at, ` + t + `.id`
}

func fairOrderArgs(now int64) []any { return []any{jobRunning, now} }

func kindIn(t string, kinds []string) (string, []any) {
	args := make([]any, len(kinds))
	for i, k := range kinds {
		args[i] = k
	}
	return t + `.kind IN (?` + strings.Repeat(", ?", len(kinds)-1) + `)`, args
}

const (
	leaseSet     = `state = ?, lease_owner = ?, lease_until = ?, attempt = attempt + 1, fence = fence + 1, updated_at = ?`
	claimColumns = `id, kind, job_key, payload, attempt, max_attempts, run_at, last_error, trace_context, fence`
)

func leaseArgs(owner string, leaseUntil, now int64) []any {
	return []any{jobRunning, owner, leaseUntil, now}
}

func scanClaim(row *sql.Row) (*jobs.Job, error) {
	j := &jobs.Job{}
	var runAt int64
	var traceCtx string
	err := row.Scan(&j.ID, &j.Kind, &j.Key, &j.Payload, &j.Attempt, &j.MaxAttempts, &runAt, &j.LastError, &traceCtx, &j.Fence)
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

// claimSQLite picks and leases the job in one statement, so that two
// workers cannot both take it: SQLite runs writing statements one at a time
// (across processes too), which also keeps the per-key exclusion: no claim
// runs between the check of a key and the lease.
func (s JobStore) claimSQLite(ctx context.Context, owner string, kinds []string, now, leaseUntil time.Time) (*jobs.Job, error) {
	nowMs := now.UnixMilli()
	kindCond, args := kindIn("j", kinds)
	args = append(leaseArgs(owner, leaseUntil.UnixMilli(), nowMs), args...)
	args = append(args, dueArgs(nowMs)...)
	args = append(args, keyFreeArgs(nowMs)...)
	args = append(args, fairOrderArgs(nowMs)...)
	args = append(args, dueArgs(nowMs)...)
	q := `UPDATE jobs SET ` + leaseSet + `
		WHERE id = (
			SELECT j.id FROM jobs j
			WHERE ` + kindCond + ` AND ` + dueJob("j") + ` AND ` + keyFree("j") + `
			ORDER BY ` + fairOrder("j") + ` LIMIT 1)
		  AND ` + dueJob("jobs") + `
		RETURNING ` + claimColumns
	return scanClaim(s.DB.QueryRowContext(ctx, s.DB.Rebind(q), args...))
}

// claimTries bounds how many candidates one PostgreSQL claim looks at
// before it reports that nothing is due (the runner polls again).
const claimTries = 8

// keyLockClass is the first half of the two-int advisory lock keys that
// serialise the claims of a job key ("jobs" in ASCII); two-int keys never
// collide with goose's one-bigint migration lock.
const keyLockClass = 0x6a6f6273

// claimPostgres claims in one transaction of two statements.
//
//  1. Pick the first due job whose key looks free, FOR UPDATE SKIP LOCKED
//     (concurrent claimers skip each other's candidates instead of queueing
//     on one row), and try a transaction-scoped advisory lock on its key.
//  2. Lease it with an UPDATE that checks again that no other job of the
//     key holds an unexpired lease.
//
// Why the key lock: under READ COMMITTED each statement sees the commits
// made before it started. Two claimers on two connections can both see key
// K free and pick two different jobs of K (the row locks differ), and a
// claimer whose statement started just before another's claim of K
// committed still sees K free. The advisory lock makes claims of one key
// take turns: it is held until the claim commits, a claimer that cannot get
// it skips the job, and a claimer that gets it runs step 2 with a snapshot
// taken after the previous holder committed, so it sees that holder's
// running job. Locks of other keys are never taken, so claims of different
// keys run in parallel.
func (s JobStore) claimPostgres(ctx context.Context, owner string, kinds []string, now, leaseUntil time.Time) (*jobs.Job, error) {
	nowMs := now.UnixMilli()
	kindCond, kindArgs := kindIn("j", kinds)
	pick := s.DB.Rebind(`SELECT c.id, (c.job_key = '' OR pg_try_advisory_xact_lock(?, hashtext(COALESCE(current_schema(), '') || '/' || c.job_key)))
		FROM (
			SELECT j.id, j.job_key FROM jobs j
			WHERE ` + kindCond + ` AND ` + dueJob("j") + ` AND ` + keyFree("j") + ` AND j.id <> ALL(?)
			ORDER BY ` + fairOrder("j") + ` LIMIT 1
			FOR UPDATE OF j SKIP LOCKED) c`)
	lease := s.DB.Rebind(`UPDATE jobs SET ` + leaseSet + `
		WHERE id = ? AND ` + dueJob("jobs") + ` AND ` + keyFree("jobs") + `
		RETURNING ` + claimColumns)
	var claimed *jobs.Job
	err := s.DB.InTx(ctx, func(tx *sql.Tx) error {
		skip := []int64{}
		for range claimTries {
			args := append([]any{keyLockClass}, kindArgs...)
			args = append(args, dueArgs(nowMs)...)
			args = append(args, keyFreeArgs(nowMs)...)
			args = append(args, skip)
			args = append(args, fairOrderArgs(nowMs)...)
			var id int64
			var locked bool
			err := tx.QueryRowContext(ctx, pick, args...).Scan(&id, &locked)
			if errors.Is(err, sql.ErrNoRows) {
				return jobs.ErrNoJob
			}
			if err != nil {
				return err
			}
			if !locked { // another claimer is taking a job of this key
				skip = append(skip, id)
				continue
			}
			args = append(leaseArgs(owner, leaseUntil.UnixMilli(), nowMs), id)
			args = append(args, dueArgs(nowMs)...)
			args = append(args, keyFreeArgs(nowMs)...)
			j, err := scanClaim(tx.QueryRowContext(ctx, lease, args...))
			if errors.Is(err, jobs.ErrNoJob) { // a job of its key was claimed meanwhile
				skip = append(skip, id)
				continue
			}
			claimed = j
			return err
		}
		return jobs.ErrNoJob
	})
	if err != nil {
		return nil, err
	}
	return claimed, nil
}

var _ jobs.QueueReporter = JobStore{}

// queueStats counts, per kind, the jobs that are due (pending and past their
// run time, or running with an ended lease: both are what a claim takes),
// scheduled (pending, run time ahead) and running (lease not ended), and
// finds since when the oldest due job waits. Only the pending and running
// rows are read, through the jobs_due (state, run_at) index; finished jobs,
// however many are kept, cost nothing. Parameters: the states and now, in
// the order of the placeholders.
const queueStats = `SELECT kind,
		COUNT(CASE WHEN (state = ? AND run_at <= ?) OR (state = ? AND lease_until < ?) THEN 1 END),
		COUNT(CASE WHEN state = ? AND run_at > ? THEN 1 END),
		COUNT(CASE WHEN state = ? AND lease_until >= ? THEN 1 END),
		MIN(CASE WHEN state = ? AND run_at <= ? THEN run_at WHEN state = ? AND lease_until < ? THEN lease_until END)
	FROM jobs WHERE state IN (?, ?) GROUP BY kind ORDER BY kind`

// QueueStats implements jobs.QueueReporter (the runner's queue gauges).
func (s JobStore) QueueStats(ctx context.Context, now time.Time) ([]jobs.KindStats, error) {
	n := now.UnixMilli()
	rows, err := s.DB.QueryContext(ctx, s.DB.Rebind(queueStats),
		jobPending, n, jobRunning, n,
		jobPending, n,
		jobRunning, n,
		jobPending, n, jobRunning, n,
		jobPending, jobRunning)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []jobs.KindStats
	for rows.Next() {
		var st jobs.KindStats
		var oldest sql.NullInt64
		if err := rows.Scan(&st.Kind, &st.Due, &st.Scheduled, &st.Running, &oldest); err != nil {
			return nil, err
		}
		if oldest.Valid {
			st.OldestDue = time.UnixMilli(oldest.Int64)
		}
		out = append(out, st)
	}
	return out, rows.Err()
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
	return s.DB.deleteInBatches(ctx, `DELETE FROM jobs WHERE id IN (
		SELECT id FROM jobs WHERE state IN (?, ?) AND finished_at < ? ORDER BY id LIMIT ?)`,
		jobDone, jobFailed, finishedBefore.UnixMilli())
}

// deleteInBatches runs q, a DELETE whose last parameter is its batch size,
// with args and pruneBatch until a run deletes less than a batch, and
// returns how many rows went.
func (db *DB) deleteInBatches(ctx context.Context, q string, args ...any) (int, error) {
	q = db.Rebind(q)
	args = append(args[:len(args):len(args)], pruneBatch)
	total := 0
	for {
		res, err := db.ExecContext(ctx, q, args...)
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
