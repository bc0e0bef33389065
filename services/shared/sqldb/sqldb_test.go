package sqldb_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"testing"
	"testing/fstest"
	"time"

	"github.com/o365gateway/gateway/services/shared/budget"
	"github.com/o365gateway/gateway/services/shared/budget/budgettest"
	"github.com/o365gateway/gateway/services/shared/jobs"
	"github.com/o365gateway/gateway/services/shared/jobs/jobstest"
	"github.com/o365gateway/gateway/services/shared/sqldb"
	"github.com/o365gateway/gateway/services/shared/sqldb/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// things is the Docs table of the service below.
const things = `CREATE TABLE things (
  id TEXT PRIMARY KEY,
  instance_id TEXT NOT NULL,
  parent_id TEXT NOT NULL,
  data TEXT NOT NULL,
  state TEXT NOT NULL,
  version %[1]s NOT NULL,
  created_at %[1]s NOT NULL,
  updated_at %[1]s NOT NULL
);`

// service is a service's migrations: one Docs table, in both dialects.
var service = fstest.MapFS{
	"migrations/sqlite/00001_things.sql":   {Data: []byte("-- +goose Up\n" + fmt.Sprintf(things, "INTEGER") + "\n-- +goose Down\nDROP TABLE things;\n")},
	"migrations/postgres/00001_things.sql": {Data: []byte("-- +goose Up\n" + fmt.Sprintf(things, "BIGINT") + "\n-- +goose Down\nDROP TABLE things;\n")},
}

// drivers are the engines every test of the shared SQL runs on; url gives
// a fresh, empty database.
var drivers = []struct {
	name string
	url  func(t *testing.T) string
}{
	{"SQLite", func(t *testing.T) string { return "sqlite://" + filepath.Join(t.TempDir(), "q.db") }},
	{"PostgreSQL", func(t *testing.T) string { return pgtest.URL(t) + "&search_path=svc" }},
}

func eachDriver(t *testing.T, test func(t *testing.T, url func(t *testing.T) string)) {
	for _, d := range drivers {
		t.Run(d.name, func(t *testing.T) { test(t, d.url) })
	}
}

func open(t *testing.T, url string) *sqldb.DB {
	t.Helper()
	db, err := sqldb.OpenMigrated(context.Background(), url, service)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func thingDocs(db *sqldb.DB) sqldb.Docs { return sqldb.Docs{DB: db, Table: "things"} }

func TestJobQueueConformance(t *testing.T) {
	eachDriver(t, func(t *testing.T, url func(t *testing.T) string) {
		jobstest.Run(t, func(t *testing.T) jobstest.Queue {
			db := open(t, url(t))
			docs := thingDocs(db)
			return jobstest.Queue{
				Store: sqldb.JobStore{DB: db},
				Enqueue: func(j jobs.New) {
					t.Helper()
					ctx := context.Background()
					err := docs.Create(ctx, sqldb.Record{ID: j.Key, InstanceID: "i", Data: []byte("{}")}, &j)
					if errors.Is(err, sqldb.ErrDuplicate) {
						var r sqldb.Record
						if r, err = docs.Get(ctx, "i", j.Key); err == nil {
							_, err = docs.Update(ctx, r, &j)
						}
					}
					if err != nil {
						t.Fatal(err)
					}
				},
				Write: func(ctx context.Context, key string) error {
					r, err := docs.Get(ctx, "i", key)
					if err != nil {
						return err
					}
					r.State = "written"
					_, err = docs.Update(ctx, r, nil)
					return err
				},
			}
		})
	})
}

// TestDocsWritesAreFenced: Create, Update and Delete made with the context of
// a claim that was lost are refused and change nothing.
func TestDocsWritesAreFenced(t *testing.T) {
	eachDriver(t, func(t *testing.T, url func(t *testing.T) string) { testDocsWritesAreFenced(t, open(t, url(t))) })
}

func testDocsWritesAreFenced(t *testing.T, db *sqldb.DB) {
	ctx := context.Background()
	docs, q := thingDocs(db), sqldb.JobStore{DB: db}
	if err := docs.Create(ctx, sqldb.Record{ID: "a", InstanceID: "i", State: "new", Data: []byte("{}")},
		&jobs.New{Kind: "k.v1", Key: "a"}); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	first, err := q.Claim(ctx, "w/1", []string{"k.v1"}, t0, t0.Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	firstCtx := jobs.WithFence(ctx, first)
	if err := docs.Create(firstCtx, sqldb.Record{ID: "b", InstanceID: "i", Data: []byte("{}")}, nil); err != nil {
		t.Fatalf("create under a current claim: %v", err)
	}
	second, err := q.Claim(ctx, "w/2", []string{"k.v1"}, t0.Add(2*time.Second), t0.Add(time.Hour))
	if err != nil || second.ID != first.ID {
		t.Fatalf("reclaim: %+v %v", second, err)
	}
	r, _ := docs.Get(ctx, "i", "a")
	r.State = "stale"
	if _, err := docs.Update(firstCtx, r, &jobs.New{Kind: "k.v1", Key: "x"}); !errors.Is(err, jobs.ErrLeaseLost) {
		t.Fatalf("update: %v", err)
	}
	if err := docs.Create(firstCtx, sqldb.Record{ID: "c", InstanceID: "i", Data: []byte("{}")}, nil); !errors.Is(err, jobs.ErrLeaseLost) {
		t.Fatalf("create: %v", err)
	}
	if err := docs.Delete(firstCtx, "i", "a"); !errors.Is(err, jobs.ErrLeaseLost) {
		t.Fatalf("delete: %v", err)
	}
	typed := sqldb.Typed[sqldb.Record]{Docs: docs, Keys: func(v *sqldb.Record) (string, string, string, string, *int64) {
		return v.ID, v.InstanceID, v.ParentID, v.State, &v.Version
	}}
	if err := typed.Delete(firstCtx, "i", "b"); !errors.Is(err, jobs.ErrLeaseLost) {
		t.Fatalf("typed delete: %v", err)
	}
	if got, err := docs.Get(ctx, "i", "a"); err != nil || got.State != "new" || got.Version != 1 {
		t.Fatalf("refused writes changed the row: %+v %v", got, err)
	}
	if _, err := docs.Get(ctx, "i", "c"); !errors.Is(err, sqldb.ErrMissing) {
		t.Fatalf("refused create stored: %v", err)
	}
	if active, _ := db.ActiveJob(ctx, "k.v1", "x"); active {
		t.Fatal("the job of a refused write was enqueued")
	}
	secondCtx := jobs.WithFence(ctx, second)
	if err := docs.Delete(secondCtx, "i", "a"); err != nil {
		t.Fatalf("delete under the current claim: %v", err)
	}
	if err := db.InTx(ctx, func(tx *sql.Tx) error { return db.CheckFence(ctx, tx) }); err != nil {
		t.Fatalf("CheckFence without a claim: %v", err)
	}
}

// legacyJobs is the job table as services created it before it had
// migrations.
const legacyJobs = `CREATE TABLE IF NOT EXISTS jobs (
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
);
CREATE INDEX IF NOT EXISTS jobs_due ON jobs (state, run_at);
CREATE INDEX IF NOT EXISTS jobs_key ON jobs (kind, job_key);`

// TestLegacyJobTableIsMigrated: a database whose job table predates the
// job migrations keeps its jobs, and the job migrations are versioned apart
// from the service's.
func TestLegacyJobTableIsMigrated(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "legacy.db")
	old, err := sqldb.Open(ctx, "sqlite://"+path)
	if err != nil {
		t.Fatal(err)
	}
	finished := time.Now().Add(-48 * time.Hour).UnixMilli()
	if _, err := old.ExecContext(ctx, legacyJobs); err != nil {
		t.Fatal(err)
	}
	if _, err := old.ExecContext(ctx, `INSERT INTO jobs (kind, job_key, payload, state, max_attempts, run_at, created_at, updated_at)
		VALUES ('k.v1', 'a', '{}', 'pending', 3, 0, 0, 0), ('k.v1', 'b', '{}', 'done', 3, 0, 0, ?)`, finished); err != nil {
		t.Fatal(err)
	}
	if err := old.Migrate(ctx, mustSub(t)); err != nil {
		t.Fatal(err)
	}
	old.Close()

	for range 2 { // the second open applies nothing
		db := open(t, "sqlite://"+path)
		var service, jobsVersion int64
		if err := db.QueryRowContext(ctx, `SELECT MAX(version_id) FROM goose_db_version`).Scan(&service); err != nil || service != 1 {
			t.Fatalf("service migrations at %d (%v)", service, err)
		}
		if err := db.QueryRowContext(ctx, `SELECT MAX(version_id) FROM jobs_goose_version`).Scan(&jobsVersion); err != nil || jobsVersion != int64(jobMigrationCount(t, "sqlite")) {
			t.Fatalf("job migrations at %d (%v)", jobsVersion, err)
		}
		db.Close()
	}
	db := open(t, "sqlite://"+path)
	q := sqldb.JobStore{DB: db}
	if n, err := q.Prune(ctx, time.UnixMilli(finished+1)); err != nil || n != 1 {
		t.Fatalf("legacy done job not pruned: %d %v", n, err)
	}
	j, err := q.Claim(ctx, "w/1", []string{"k.v1"}, time.Now(), time.Now().Add(time.Minute))
	if err != nil || j.Key != "a" || j.Fence != 1 || j.Attempt != 1 {
		t.Fatalf("legacy pending job: %+v %v", j, err)
	}
	if err := q.Complete(ctx, j.ID, j.Fence); err != nil {
		t.Fatal(err)
	}
}

func mustSub(t *testing.T) fstest.MapFS {
	t.Helper()
	return fstest.MapFS{"sqlite/00001_things.sql": service["migrations/sqlite/00001_things.sql"]}
}

// jobMigrationCount is how many job-table migrations a dialect has.
func jobMigrationCount(t *testing.T, dialect string) int {
	t.Helper()
	files, err := fs.Glob(sqldb.JobMigrations, "jobsmigrations/"+dialect+"/*.sql")
	if err != nil || len(files) == 0 {
		t.Fatalf("job migrations of %s: %v", dialect, err)
	}
	return len(files)
}

// TestBudgetConformance: the budget suite on both drivers, two handles per
// database standing for two replicas.
func TestBudgetConformance(t *testing.T) {
	eachDriver(t, func(t *testing.T, url func(t *testing.T) string) {
		u := url(t)
		budgettest.Run(t, func(t *testing.T, now func() time.Time) budget.PrunableStore {
			return sqldb.Budget{DB: open(t, u), Now: now}
		})
	})
}

// TestLockIsExclusiveAcrossHandles: two handles on one database (two
// replicas) never hold the same lock at once; another key is free; a
// waiter gives up with its context.
func TestLockIsExclusiveAcrossHandles(t *testing.T) {
	eachDriver(t, func(t *testing.T, url func(t *testing.T) string) {
		ctx := context.Background()
		u := url(t)
		a, b := open(t, u), open(t, u)
		unlock, err := a.Lock(ctx, "instance-1")
		if err != nil {
			t.Fatal(err)
		}
		other, err := b.Lock(ctx, "instance-2")
		if err != nil {
			t.Fatal(err)
		}
		other()
		short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		defer cancel()
		if u2, err := b.Lock(short, "instance-1"); err == nil {
			u2()
			t.Fatal("the second handle took a held lock")
		}
		got := make(chan error, 1)
		go func() {
			u2, err := b.Lock(ctx, "instance-1")
			if err == nil {
				u2()
			}
			got <- err
		}()
		select {
		case err := <-got:
			t.Fatalf("took the held lock: %v", err)
		case <-time.After(100 * time.Millisecond):
		}
		unlock()
		select {
		case err := <-got:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("the lock was not handed over after its release")
		}
	})
}
