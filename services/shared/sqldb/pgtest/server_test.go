package pgtest_test

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"testing"

	"github.com/o365gateway/gateway/services/shared/sqldb/pgtest"
)

// TestStartServer: a program's own cluster, with its settings, its
// databases, and nothing left behind once stopped; the tests' server (URL)
// is another one.
func TestStartServer(t *testing.T) {
	if _, err := pgtest.StartServer("not a setting"); err == nil {
		t.Fatal("a malformed setting was accepted")
	}
	srv, err := pgtest.StartServer("work_mem=8MB")
	if errors.Is(err, pgtest.ErrUnavailable) && os.Getenv("CI") != "true" {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	ctx := context.Background()
	if err := srv.CreateDatabase("Bad-Name"); err == nil {
		t.Fatal("a database name that is no identifier was accepted")
	}
	if err := srv.CreateDatabase("bench_one"); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("pgx", srv.URL("bench_one"))
	if err != nil {
		t.Fatal(err)
	}
	var workMem string
	if err := db.QueryRowContext(ctx, `SHOW work_mem`).Scan(&workMem); err != nil || workMem != "8MB" {
		t.Fatalf("work_mem %q %v: the setting was not applied", workMem, err)
	}
	if _, err := db.ExecContext(ctx, `CREATE TABLE t (id int)`); err != nil {
		t.Fatal(err)
	}
	db.Close()

	// The tests' server is a different cluster.
	other, err := sql.Open("pgx", pgtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	var n int
	if err := other.QueryRowContext(ctx, `SELECT COUNT(*) FROM pg_database WHERE datname = 'bench_one'`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("the program's database is on the tests' server: %d %v", n, err)
	}

	if err := srv.DropDatabase("bench_one"); err != nil {
		t.Fatal(err)
	}
	if err := srv.DropDatabase("bench_one"); err != nil {
		t.Fatalf("dropping a missing database: %v", err)
	}
	dir := srv.Dir()
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("%s is left after Stop: %v", dir, err)
	}
	if err := srv.Stop(); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
}
