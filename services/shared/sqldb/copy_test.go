package sqldb_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/o365gateway/gateway/services/shared/audit"
	"github.com/o365gateway/gateway/services/shared/jobs"
	"github.com/o365gateway/gateway/services/shared/sqldb"
)

// copySchema is a service whose child table sorts before its parent
// (bookings references rooms), with bytes, NULLs and a job table.
const copySchema = `CREATE TABLE rooms (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  secret_sealed TEXT NOT NULL,
  created_at %[1]s NOT NULL
);
CREATE TABLE bookings (
  id %[1]s PRIMARY KEY,
  room_id TEXT NOT NULL REFERENCES rooms (id),
  note TEXT NOT NULL,
  attachment %[2]s,
  ends_at %[1]s
);`

var copyService = fstest.MapFS{
	"migrations/sqlite/00001_rooms.sql":   {Data: []byte("-- +goose Up\n" + fmt.Sprintf(copySchema, "INTEGER", "BLOB") + "\n-- +goose Down\nDROP TABLE bookings;\nDROP TABLE rooms;\n")},
	"migrations/postgres/00001_rooms.sql": {Data: []byte("-- +goose Up\n" + fmt.Sprintf(copySchema, "BIGINT", "BYTEA") + "\n-- +goose Down\nDROP TABLE bookings;\nDROP TABLE rooms;\n")},
}

const copiedBookings = 1234 // more than one INSERT's worth

// fillCopySource writes rooms, bookings and five jobs, then deletes the
// last two jobs, as retention would: SQLite's counter remembers id 5.
func fillCopySource(t *testing.T, ctx context.Context, db *sqldb.DB) {
	t.Helper()
	err := db.InTx(ctx, func(tx *sql.Tx) error {
		for i, name := range []string{"Salle à manger", `it's "quoted"`, "\u65e5\u672c"} {
			if _, err := tx.ExecContext(ctx, `INSERT INTO rooms VALUES (?, ?, ?, ?)`,
				fmt.Sprintf("room-%d", i), name, fmt.Sprintf("v1:sealed%02d==", i), 1_700_000_000_000+int64(i)); err != nil {
				return err
			}
		}
		for i := 1; i <= copiedBookings; i++ {
			var attachment any // NULL for every third
			switch i % 3 {
			case 1:
				attachment = []byte{0, 0xff, byte(i), 0x80}
			case 2:
				attachment = []byte{}
			}
			var ends any
			if i%2 == 0 {
				ends = int64(i) * 1000
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO bookings VALUES (?, ?, ?, ?, ?)`,
				i, fmt.Sprintf("room-%d", i%3), fmt.Sprintf("note %d\nline two\ttab", i), attachment, ends); err != nil {
				return err
			}
		}
		for i := range 5 {
			if _, err := db.Enqueue(ctx, tx, jobs.New{Kind: "room.clean.v1", Key: fmt.Sprintf("room-%d", i%3), Payload: []byte(`{"n":` + fmt.Sprint(i) + `}`)}); err != nil {
				return err
			}
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM jobs WHERE id > 3`)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func openCopy(t *testing.T, url string) *sqldb.DB {
	t.Helper()
	db, err := sqldb.OpenMigrated(context.Background(), url, copyService)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// verifyProblems runs Verify and returns the problems per table.
func verifyProblems(t *testing.T, from, to *sqldb.DB, tables []string) map[string]string {
	t.Helper()
	checks, err := sqldb.Verify(context.Background(), from, to, tables)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, c := range checks {
		if !c.OK() {
			out[c.Table] = strings.Join(c.Problems, " | ")
		}
		if c.OK() != (c.SourceRows == c.TargetRows && c.SourceSum == c.TargetSum && len(c.Problems) == 0) {
			t.Errorf("%s: OK %v with %+v", c.Table, c.OK(), c)
		}
	}
	return out
}

// TestCopyAndVerify: a SQLite database copied into a fresh one of each
// engine verifies equal, and Verify finds every kind of damage done to the
// target afterwards: an altered value, a lost row, NULL turned into empty
// bytes, a sequence set back.
func TestCopyAndVerify(t *testing.T) {
	eachDriver(t, func(t *testing.T, url func(t *testing.T) string) {
		ctx := context.Background()
		src := openCopy(t, "sqlite://"+filepath.Join(t.TempDir(), "source.db"))
		fillCopySource(t, ctx, src)
		// The audit chain moves with the rest and still verifies.
		key := auditKey(t)
		appendEntries(t, &audit.Log{Store: sqldb.AuditLog{DB: src}, Key: key, Service: "svc"}, "inst-1", 3)
		dst := openCopy(t, url(t))

		tables, err := dst.Tables(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{"audit_log", "jobs", "rooms", "bookings"}; !slices.Equal(tables, want) {
			t.Fatalf("tables %v, want %v (version tables left out, parents first)", tables, want)
		}
		if st, err := src.Tables(ctx); err != nil || !slices.Equal(st, tables) {
			t.Fatalf("source tables %v (%v)", st, err)
		}
		var progress []string
		counts, err := sqldb.Copy(ctx, src, dst, tables, sqldb.CopyOptions{Progress: func(table string, n int64) {
			progress = append(progress, fmt.Sprintf("%s=%d", table, n))
		}})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := strings.Join(progress, " "), fmt.Sprintf("audit_log=3 jobs=3 rooms=3 bookings=%d", copiedBookings); got != want {
			t.Errorf("progress %q, want %q", got, want)
		}
		if counts["bookings"] != copiedBookings {
			t.Errorf("counts %v", counts)
		}
		if p := verifyProblems(t, src, dst, tables); len(p) > 0 {
			t.Fatalf("a fresh copy differs: %v", p)
		}
		if r := verify(t, dst, audit.NewKeyring(key), &audit.Head{Seq: 3, MAC: mustHead(t, src).MAC}); !r.OK() || r.Entries != 3 {
			t.Fatalf("the copied audit chain: %+v", r)
		}
		var attachment []byte
		if err := dst.QueryRowContext(ctx, dst.Rebind(`SELECT attachment FROM bookings WHERE id = ?`), 4).Scan(&attachment); err != nil ||
			string(attachment) != string([]byte{0, 0xff, 4, 0x80}) {
			t.Errorf("bytes of booking 4: %x (%v)", attachment, err)
		}

		if dst.Dialect == sqldb.Postgres {
			// The next job id is past the jobs retention deleted on the source.
			var id int64
			err := dst.InTx(ctx, func(tx *sql.Tx) (err error) {
				id, err = dst.Enqueue(ctx, tx, jobs.New{Kind: "room.clean.v1"})
				return err
			})
			if err != nil || id != 6 {
				t.Fatalf("first job on the target got id %d (%v), want 6", id, err)
			}
			if _, err := dst.ExecContext(ctx, `DELETE FROM jobs WHERE id = 6`); err != nil {
				t.Fatal(err)
			}
		}

		// A second copy is refused: the target has rows.
		if _, err := sqldb.Copy(ctx, src, dst, tables, sqldb.CopyOptions{}); !errors.Is(err, sqldb.ErrTargetNotEmpty) {
			t.Fatalf("copy into a target with rows: %v", err)
		}
		recopy := func() {
			t.Helper()
			if _, err := sqldb.Copy(ctx, src, dst, tables, sqldb.CopyOptions{Replace: true}); err != nil {
				t.Fatal(err)
			}
			if p := verifyProblems(t, src, dst, tables); len(p) > 0 {
				t.Fatalf("after a copy with Replace: %v", p)
			}
		}
		recopy()

		damage := []struct {
			name, sql, table string
			want             []string
		}{
			{"altered text", `UPDATE bookings SET note = note || '.' WHERE id = 7`, "bookings",
				[]string{"1 rows only in the source (missing or altered in the target): id=7", "1 rows only in the target: id=7"}},
			{"altered sealed secret", `UPDATE rooms SET secret_sealed = 'v1:sealed01=x' WHERE id = 'room-1'`, "rooms",
				[]string{"only in the source (missing or altered in the target): id=room-1"}},
			{"lost job", `DELETE FROM jobs WHERE id = 2`, "jobs",
				[]string{"3 rows in the source, 2 in the target", "1 rows only in the source (missing or altered in the target): id=2"}},
			{"NULL became empty bytes", `UPDATE bookings SET attachment = ? WHERE id = 3`, "bookings",
				[]string{"id=3"}},
			{"number altered", `UPDATE bookings SET ends_at = ends_at + 1 WHERE id = 1000`, "bookings",
				[]string{"id=1000"}},
		}
		if dst.Dialect == sqldb.Postgres {
			damage = append(damage, struct {
				name, sql, table string
				want             []string
			}{"sequence set back", `SELECT setval(pg_get_serial_sequence('jobs', 'id'), 2)`, "jobs",
				[]string{"would hand out id 3, which is taken (highest 3)"}})
		}
		for _, d := range damage {
			var args []any
			if strings.Contains(d.sql, "?") {
				args = append(args, []byte{})
			}
			if _, err := dst.ExecContext(ctx, dst.Rebind(d.sql), args...); err != nil {
				t.Fatalf("%s: %v", d.name, err)
			}
			p := verifyProblems(t, src, dst, tables)
			if len(p) != 1 || p[d.table] == "" {
				t.Errorf("%s: problems %v, want some in %s only", d.name, p, d.table)
			}
			for _, w := range d.want {
				if !strings.Contains(p[d.table], w) {
					t.Errorf("%s: %q does not say %q", d.name, p[d.table], w)
				}
			}
			recopy()
		}
	})
}

// TestCopyIsAllOrNothing: a copy that fails midway (in its last table)
// leaves the target empty.
func TestCopyIsAllOrNothing(t *testing.T) {
	eachDriver(t, func(t *testing.T, url func(t *testing.T) string) {
		ctx := context.Background()
		src := openCopy(t, "sqlite://"+filepath.Join(t.TempDir(), "source.db"))
		fillCopySource(t, ctx, src)
		dst := openCopy(t, url(t))
		// A booking whose room the target lacks: its foreign key fails
		// after jobs and rooms were inserted.
		if _, err := src.ExecContext(ctx, `PRAGMA foreign_keys = OFF`); err != nil {
			t.Fatal(err)
		}
		if _, err := src.ExecContext(ctx, `INSERT INTO bookings (id, room_id, note) VALUES (99999, 'nowhere', '')`); err != nil {
			t.Fatal(err)
		}
		tables, err := dst.Tables(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := sqldb.Copy(ctx, src, dst, tables, sqldb.CopyOptions{}); err == nil || !strings.Contains(err.Error(), "copy table bookings") {
			t.Fatalf("copy of a dangling reference: %v", err)
		}
		for _, table := range tables {
			var n int
			if err := dst.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+table).Scan(&n); err != nil || n != 0 {
				t.Errorf("%s has %d rows after a failed copy (%v)", table, n, err)
			}
		}
	})
}

// TestCopyRefusesDifferentColumns: a target at another migration version
// (here a column more) is refused before anything is written.
func TestCopyRefusesDifferentColumns(t *testing.T) {
	ctx := context.Background()
	src := openCopy(t, "sqlite://"+filepath.Join(t.TempDir(), "source.db"))
	fillCopySource(t, ctx, src)
	dst := openCopy(t, "sqlite://"+filepath.Join(t.TempDir(), "target.db"))
	if _, err := dst.ExecContext(ctx, `ALTER TABLE rooms ADD COLUMN floor INTEGER NOT NULL DEFAULT 0`); err != nil {
		t.Fatal(err)
	}
	_, err := sqldb.Copy(ctx, src, dst, []string{"rooms"}, sqldb.CopyOptions{})
	if err == nil || !strings.Contains(err.Error(), "only in the target: floor") {
		t.Fatalf("copy into other columns: %v", err)
	}
	checks, err := sqldb.Verify(ctx, src, dst, []string{"rooms"})
	if err != nil || checks[0].OK() || !strings.Contains(checks[0].Problems[0], "columns differ") {
		t.Fatalf("verify of other columns: %+v %v", checks, err)
	}
}
