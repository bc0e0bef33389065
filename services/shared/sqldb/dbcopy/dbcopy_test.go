package dbcopy_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/o365gateway/gateway/services/shared/jobs"
	"github.com/o365gateway/gateway/services/shared/sqldb"
	"github.com/o365gateway/gateway/services/shared/sqldb/dbcopy"
	"github.com/o365gateway/gateway/services/shared/sqldb/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func migration(up, down string) *fstest.MapFile {
	return &fstest.MapFile{Data: []byte("-- +goose Up\n" + up + "\n-- +goose Down\n" + down + "\n")}
}

// v1 and v2 are two releases of a service: v2 adds a column.
var (
	v1 = fstest.MapFS{
		"migrations/sqlite/00001_items.sql":   migration(`CREATE TABLE items (id TEXT PRIMARY KEY, secret_sealed TEXT NOT NULL, n INTEGER NOT NULL);`, `DROP TABLE items;`),
		"migrations/postgres/00001_items.sql": migration(`CREATE TABLE items (id TEXT PRIMARY KEY, secret_sealed TEXT NOT NULL, n BIGINT NOT NULL);`, `DROP TABLE items;`),
	}
	v2 = fstest.MapFS{
		"migrations/sqlite/00001_items.sql":    v1["migrations/sqlite/00001_items.sql"],
		"migrations/postgres/00001_items.sql":  v1["migrations/postgres/00001_items.sql"],
		"migrations/sqlite/00002_colour.sql":   migration(`ALTER TABLE items ADD COLUMN colour TEXT NOT NULL DEFAULT '';`, `ALTER TABLE items DROP COLUMN colour;`),
		"migrations/postgres/00002_colour.sql": migration(`ALTER TABLE items ADD COLUMN colour TEXT NOT NULL DEFAULT '';`, `ALTER TABLE items DROP COLUMN colour;`),
	}
	// other is another service's, at the same versions.
	other = fstest.MapFS{
		"migrations/sqlite/00001_gadgets.sql":   migration(`CREATE TABLE gadgets (id TEXT PRIMARY KEY);`, `DROP TABLE gadgets;`),
		"migrations/sqlite/00002_sprockets.sql": migration(`CREATE TABLE sprockets (id TEXT PRIMARY KEY);`, `DROP TABLE sprockets;`),
	}
)

var svc = dbcopy.Service{Name: "svc", Migrations: v2, KeyEnv: "SVC_ENCRYPTION_KEY"}

// source makes the SQLite database a service of release fsys left behind
// (it is closed, as the service is stopped) and returns its URL.
func source(t *testing.T, fsys fstest.MapFS, fill func(db *sqldb.DB)) string {
	t.Helper()
	url := "sqlite://" + filepath.Join(t.TempDir(), "svc.db")
	db, err := sqldb.OpenMigrated(context.Background(), url, fsys)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if fill != nil {
		fill(db)
	}
	return url
}

// items writes n items and a job per item.
func items(t *testing.T, n int) func(db *sqldb.DB) {
	return func(db *sqldb.DB) {
		ctx := context.Background()
		err := db.InTx(ctx, func(tx *sql.Tx) error {
			for i := range n {
				id := string(rune('a' + i))
				if _, err := tx.ExecContext(ctx, `INSERT INTO items (id, secret_sealed, n, colour) VALUES (?, ?, ?, ?)`, id, "v1:"+id+"==", i, "blue"); err != nil {
					return err
				}
				if _, err := db.Enqueue(ctx, tx, jobs.New{Kind: "item.paint.v1", Key: id}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	err := dbcopy.Run(context.Background(), svc, args, &out)
	return out.String(), err
}

// TestCopyToPostgres: the command migrates the target, copies, verifies
// and prints the figures; it refuses to copy over rows unless -replace;
// -verify-only finds a row altered in the target afterwards.
func TestCopyToPostgres(t *testing.T) {
	from := source(t, v2, items(t, 5))
	to := pgtest.URL(t) + "&search_path=svc"

	out, err := run(t, "-from", from, "-to", to)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, want := range []string{
		"copying (one transaction):", "items                 5 rows", "jobs                  5 rows",
		"table      source rows  target rows  source sha256", "items      5            5", "equal",
		"jobs.id: the next id is 6 (highest stored: 5)",
		"verified: 3 tables, 10 rows, equal on both sides",
		"Point SVC_DATABASE_URL at the target, with the same SVC_ENCRYPTION_KEY(_FILE): secrets were copied sealed under it.",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the report lacks %q:\n%s", want, out)
		}
	}
	t.Log("\n" + out)

	out, err = run(t, "-from", from, "-to", to)
	if !errors.Is(err, sqldb.ErrTargetNotEmpty) || !strings.Contains(err.Error(), "give -replace") {
		t.Fatalf("a second copy: %v\n%s", err, out)
	}
	if out, err = run(t, "-from", from, "-to", to, "-replace"); err != nil {
		t.Fatalf("-replace: %v\n%s", err, out)
	}

	db, err := sqldb.Open(context.Background(), to)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`UPDATE items SET secret_sealed = 'v1:c=x' WHERE id = 'c'`); err != nil {
		t.Fatal(err)
	}
	out, err = run(t, "-from", from, "-to", to, "-verify-only")
	if !errors.Is(err, dbcopy.ErrDifferent) {
		t.Fatalf("verify of an altered target: %v\n%s", err, out)
	}
	for _, want := range []string{
		"DIFFERENT", "items: 1 rows only in the source (missing or altered in the target): id=c",
		"VERIFICATION FAILED: 1 of 3 tables differ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the report lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "copying") {
		t.Errorf("-verify-only copied:\n%s", out)
	}
}

// TestRefusals: the command changes nothing and says why when it is
// misused (targets here are SQLite: the checks come before any engine
// matters).
func TestRefusals(t *testing.T) {
	target := func() string { return "sqlite://" + filepath.Join(t.TempDir(), "target.db") }
	missing := filepath.Join(t.TempDir(), "nothing.db")
	leased := source(t, v2, func(db *sqldb.DB) {
		items(t, 2)(db)
		now := time.Now()
		if _, err := (sqldb.JobStore{DB: db}).Claim(context.Background(), "svc-7f9c/42-abcdef", []string{"item.paint.v1"}, now, now.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
	})
	plain := "sqlite://" + filepath.Join(t.TempDir(), "plain.db") // some SQLite file
	if db, err := sqldb.Open(context.Background(), plain); err != nil {
		t.Fatal(err)
	} else if _, err := db.Exec(`CREATE TABLE notes (id TEXT)`); err != nil {
		t.Fatal(err)
	} else {
		db.Close()
	}
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"no arguments", nil, "-from and -to are required"},
		{"same database", []string{"-from", "sqlite://x.db", "-to", "sqlite://x.db"}, "name the same database"},
		{"stray argument", []string{"-from", "sqlite://x.db", "-to", "sqlite://y.db", "now"}, `unexpected argument "now"`},
		{"missing source", []string{"-from", "sqlite://" + missing, "-to", target()}, "no such file"},
		{"never migrated", []string{"-from", plain, "-to", target()},
			"no migration was ever applied to it: is it the svc service's database?"},
		{"older release", []string{"-from", source(t, v1, nil), "-to", target()},
			"the source is at version 1 of goose_db_version, older than this svc-dbcopy's release (2): start this release's svc service once on the source"},
		{"another service", []string{"-from", source(t, other, nil), "-to", target()}, "the source has a table gadgets the target lacks"},
		{"a replica still runs", []string{"-from", leased, "-to", target()},
			"job 1 is running on the source, leased by svc-7f9c/42-abcdef until"},
	} {
		t.Run(c.name, func(t *testing.T) {
			out, err := run(t, c.args...)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want %q\n%s", err, c.want, out)
			}
		})
	}
	if _, err := os.Stat(missing); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a missing source was created: %v", err)
	}
}
