package sqldb_test

import (
	"context"
	"database/sql"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/o365gateway/gateway/services/shared/jobs"
	"github.com/o365gateway/gateway/services/shared/sqldb"
	"github.com/o365gateway/gateway/services/shared/sqldb/pgtest"
)

func TestRebind(t *testing.T) {
	pg := &sqldb.DB{Dialect: sqldb.Postgres}
	q := `SELECT a FROM t WHERE b = ? AND c IN (?, ?) AND d = 'why?' AND e = ?`
	if got, want := pg.Rebind(q), `SELECT a FROM t WHERE b = $1 AND c IN ($2, $3) AND d = 'why?' AND e = $4`; got != want {
		t.Errorf("postgres: %s", got)
	}
	if got := (&sqldb.DB{Dialect: sqldb.SQLite}).Rebind(q); got != q {
		t.Errorf("sqlite: %s", got)
	}
}

// TestOpenHidesThePassword: no error of Open shows the password, whether
// the URL is malformed or the server cannot be reached.
func TestOpenHidesThePassword(t *testing.T) {
	ctx := context.Background()
	for _, url := range []string{
		"postgres://ann:s3cr3t-pw@127.0.0.1:1/db?sslmode=disable&connect_timeout=5",
		"postgresql://ann:s3cr3t-pw@127.0.0.1:notaport/db",
		"postgres://ann@127.0.0.1:1/db?password=s3cr3t-pw&sslmode=disable&connect_timeout=5",
		"postgres://ann:s3cr3t-pw@127.0.0.1:1/db?sslmode=nonsense",
		"mysql://ann:s3cr3t-pw@db.example/db",
	} {
		db, err := sqldb.Open(ctx, url)
		if err == nil {
			db.Close()
			t.Errorf("%s opened", sqldb.RedactURL(url))
			continue
		}
		if strings.Contains(err.Error(), "s3cr3t") {
			t.Errorf("the error shows the password: %v", err)
		}
	}
}

// TestPostgresSchemaPerService: services sharing one database each work in
// the schema their URL names, created on first start; their tables, jobs
// and migration versions stay apart.
func TestPostgresSchemaPerService(t *testing.T) {
	ctx := context.Background()
	base := pgtest.URL(t)
	tenant := open(t, base+"&search_path=tenant")
	user := open(t, base+"&search_path=%22User%22,public")
	if tenant.Schema() != "tenant" || user.Schema() != "User" {
		t.Fatalf("schemas %q and %q", tenant.Schema(), user.Schema())
	}
	if err := thingDocs(tenant).Create(ctx, sqldb.Record{ID: "a", InstanceID: "i", Data: []byte("{}")}, &jobs.New{Kind: "k.v1", Key: "a"}); err != nil {
		t.Fatal(err)
	}
	if active, err := tenant.ActiveJob(ctx, "k.v1", "a"); err != nil || !active {
		t.Fatalf("tenant job: %v %v", active, err)
	}
	if active, err := user.ActiveJob(ctx, "k.v1", "a"); err != nil || active {
		t.Fatalf("the tenant's job is in the user schema: %v %v", active, err)
	}
	if _, err := thingDocs(user).Get(ctx, "i", "a"); !errors.Is(err, sqldb.ErrMissing) {
		t.Fatalf("the tenant's document is in the user schema: %v", err)
	}
	var tables int
	if err := tenant.QueryRowContext(ctx, `SELECT COUNT(*) FROM pg_tables WHERE schemaname IN ('tenant', 'User')
		AND tablename IN ('jobs', 'things', 'goose_db_version', 'jobs_goose_version')`).Scan(&tables); err != nil || tables != 8 {
		t.Fatalf("%d tables in the two schemas (%v), want 8", tables, err)
	}
	// A second start finds its schema and applies nothing.
	again := open(t, base+"&search_path=tenant")
	if _, err := thingDocs(again).Get(ctx, "i", "a"); err != nil {
		t.Fatal(err)
	}
}

// TestPostgresReplicasMigrateOnce: replicas that start at once on a new
// database all come up; one applies the migrations while the others wait
// for the advisory lock.
func TestPostgresReplicasMigrateOnce(t *testing.T) {
	ctx := context.Background()
	url := pgtest.URL(t) + "&search_path=svc"
	const replicas = 4
	errs := make(chan error, replicas)
	for range replicas {
		go func() {
			db, err := sqldb.OpenMigrated(ctx, url, service)
			if err == nil {
				db.Close()
			}
			errs <- err
		}()
	}
	for range replicas {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	db := open(t, url)
	for table, want := range map[string]int{"goose_db_version": 1, "jobs_goose_version": jobMigrationCount(t, "postgres")} {
		var n int
		if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+table+` WHERE version_id > 0`).Scan(&n); err != nil || n != want {
			t.Errorf("%s records %d migrations (%v), want %d", table, n, err, want)
		}
	}
}

// listening is a Waker that says when its Listen has started.
type listening struct {
	jobs.Waker
	once    sync.Once
	started chan struct{}
}

func (l *listening) Listen(ctx context.Context, notify func()) error {
	return l.Waker.Listen(ctx, func() {
		l.once.Do(func() { close(l.started) })
		notify()
	})
}

// TestPostgresWakeUps: a job enqueued by one replica starts at once on
// another whose runner would poll only in an hour.
func TestPostgresWakeUps(t *testing.T) {
	ctx := context.Background()
	url := pgtest.URL(t) + "&search_path=svc"
	worker, enqueuer := open(t, url), open(t, url)
	other := open(t, strings.Replace(url, "search_path=svc", "search_path=other", 1))
	ran := make(chan string, 10)
	waker := &listening{Waker: sqldb.JobStore{DB: worker}, started: make(chan struct{})}
	r := &jobs.Runner{Store: sqldb.JobStore{DB: worker}, Waker: waker, Owner: "test", Workers: 1, Poll: time.Hour, Lease: time.Minute,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	r.Register("k.v1", jobs.Handler{Run: func(ctx context.Context, j *jobs.Job) error {
		ran <- j.Key
		return nil
	}})
	rctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- r.Run(rctx) }()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	select {
	case <-waker.started:
	case <-time.After(10 * time.Second):
		t.Fatal("the runner does not listen")
	}
	time.Sleep(100 * time.Millisecond) // the first claim (nothing due) is over: the worker waits
	enqueue := func(db *sqldb.DB, key string) {
		if err := db.InTx(ctx, func(tx *sql.Tx) error {
			_, err := db.Enqueue(ctx, tx, jobs.New{Kind: "k.v1", Key: key})
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	for _, key := range []string{"a", "b"} {
		start := time.Now()
		enqueue(enqueuer, key)
		select {
		case got := <-ran:
			if got != key {
				t.Fatalf("ran %s, want %s", got, key)
			}
			t.Logf("job %s started %v after it was enqueued by another replica", key, time.Since(start).Round(time.Millisecond))
		case <-time.After(5 * time.Second):
			t.Fatalf("job %s enqueued by another replica did not start within 5s", key)
		}
	}
	// A job of another schema (another service) is not this runner's.
	enqueue(other, "c")
	select {
	case got := <-ran:
		t.Fatalf("ran %s of another schema", got)
	case <-time.After(200 * time.Millisecond):
	}
}

// TestSQLiteHasNoWakeUps: on SQLite Listen returns at once; the runner polls.
func TestSQLiteHasNoWakeUps(t *testing.T) {
	db := open(t, drivers[0].url(t))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := (sqldb.JobStore{DB: db}).Listen(ctx, func() { t.Error("notified") }); err != nil || ctx.Err() != nil {
		t.Fatalf("Listen: %v (%v)", err, ctx.Err())
	}
}

func TestRedactURL(t *testing.T) {
	for _, u := range []string{
		"postgres://ann:s3cr3t@db:5432/gw?sslmode=require",
		"postgres://ann:s3cr3t@with@at@db/gw",
		"postgres://ann@db/gw?sslmode=require&password=s3cr3t",
		"host=db user=ann password=s3cr3t dbname=gw",
		"host=db password='s3cr3t x' dbname=gw",
	} {
		if got := sqldb.RedactURL(u); strings.Contains(got, "s3cr3t") || !strings.Contains(got, "db") {
			t.Errorf("%s", got)
		}
	}
}
