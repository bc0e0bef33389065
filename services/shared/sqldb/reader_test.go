package sqldb

import (
	"context"
	"database/sql"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"
)

func TestIsSelect(t *testing.T) {
	for q, want := range map[string]bool{
		"SELECT 1":                           true,
		"  \n\tselect id FROM t":             true,
		"SELECTED":                           false,
		"INSERT INTO t VALUES (1)":           false,
		"UPDATE t SET a=1 RETURNING a":       false,
		"WITH x AS (SELECT 1) DELETE FROM t": false,
		"PRAGMA foreign_keys = OFF":          false,
		"":                                   false,
	} {
		if got := isSelect(q); got != want {
			t.Errorf("isSelect(%q) = %v, want %v", q, got, want)
		}
	}
}

// TestSQLiteReadsBesideAWrite: on a SQLite file a SELECT is answered while
// a write transaction holds the writer, sees what was committed before it,
// and a write sent through QueryRowContext still goes to the writer.
func TestSQLiteReadsBesideAWrite(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "r.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if db.readers == nil {
		t.Fatal("a SQLite file has no read pool")
	}
	if _, err := db.ExecContext(ctx, `CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER)`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `INSERT INTO t VALUES ('a', 1)`); err != nil {
		t.Fatal(err)
	}
	inTx, release := make(chan struct{}), make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_ = db.InTx(ctx, func(tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, `UPDATE t SET v = 2 WHERE k = 'a'`); err != nil {
				return err
			}
			close(inTx)
			<-release
			return nil
		})
	}()
	<-inTx
	rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	var v int
	err = db.QueryRowContext(rctx, `SELECT v FROM t WHERE k = ?`, "a").Scan(&v)
	cancel()
	close(release)
	wg.Wait()
	if err != nil {
		t.Fatalf("read while the writer is busy: %v", err)
	}
	if v != 1 {
		t.Fatalf("read %d during the write, want the committed 1", v)
	}
	if err := db.QueryRowContext(ctx, `SELECT v FROM t WHERE k = ?`, "a").Scan(&v); err != nil || v != 2 {
		t.Fatalf("read after the commit: %d, %v; want 2", v, err)
	}
	var k string
	if err := db.QueryRowContext(ctx, `INSERT INTO t VALUES ('b', 3) RETURNING k`).Scan(&k); err != nil || k != "b" {
		t.Fatalf("INSERT … RETURNING through QueryRowContext: %q, %v", k, err)
	}
	if _, err := db.readers.db.ExecContext(ctx, `INSERT INTO t VALUES ('c', 4)`); err == nil {
		t.Fatal("the read pool accepted a write")
	}
}

// TestReadersCacheStatementsUpToTheirBound: each SELECT is prepared once,
// concurrent first uses leave one statement, and past the bound a SELECT
// still runs, unprepared.
func TestReadersCacheStatementsUpToTheirBound(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "c.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var n int
			if err := db.QueryRowContext(ctx, `SELECT 1`).Scan(&n); err != nil || n != 1 {
				t.Errorf("SELECT 1: %d %v", n, err)
			}
		}()
	}
	wg.Wait()
	if got := len(db.readers.stmts); got != 1 {
		t.Fatalf("%d cached statements, want 1", got)
	}
	for i := range maxCachedStmts + 10 {
		var n int
		if err := db.QueryRowContext(ctx, `SELECT `+strconv.Itoa(i)).Scan(&n); err != nil || n != i {
			t.Fatalf("SELECT %d: %d %v", i, n, err)
		}
	}
	if got := len(db.readers.stmts); got != maxCachedStmts {
		t.Fatalf("%d cached statements, want the bound %d", got, maxCachedStmts)
	}
}
