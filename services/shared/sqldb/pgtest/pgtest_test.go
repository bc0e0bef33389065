package pgtest_test

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/o365gateway/gateway/services/shared/sqldb/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// TestDatabasesAreSeparate: every URL names a new, empty database.
func TestDatabasesAreSeparate(t *testing.T) {
	ctx := context.Background()
	start := time.Now()
	first := pgtest.URL(t)
	t.Logf("server started and first database created in %v", time.Since(start).Round(time.Millisecond))
	start = time.Now()
	second := pgtest.URL(t)
	t.Logf("second database created in %v", time.Since(start).Round(time.Millisecond))
	if first == second {
		t.Fatalf("one database twice: %s", first)
	}
	a, err := sql.Open("pgx", first)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := sql.Open("pgx", second)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if _, err := a.ExecContext(ctx, `CREATE TABLE t (id int)`); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := b.QueryRowContext(ctx, `SELECT COUNT(*) FROM pg_tables WHERE tablename = 't'`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("the table of the first database is in the second: %d %v", n, err)
	}
}
