// Package sqldb opens a service's database from a URL, applies its embedded
// migrations, and hosts the SQL that every service's store shares (the job
// queue, its migrations and the fencing of job writes). Only store packages
// import it; nothing else knows which engine runs.
package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/pressly/goose/v3"
	_ "modernc.org/sqlite" // pure-Go SQLite driver
)

// Dialect is the SQL engine behind a DB.
type Dialect string

// Supported engines.
const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

// DB is a database handle with its dialect.
type DB struct {
	*sql.DB
	Dialect Dialect
}

// Open opens a database URL: sqlite://path/to/file.db (relative or absolute),
// sqlite://:memory:, or postgres://… (not available in this release).
func Open(ctx context.Context, url string) (*DB, error) {
	switch {
	case strings.HasPrefix(url, "sqlite://"):
		path := strings.TrimPrefix(url, "sqlite://")
		if path == "" {
			return nil, errors.New("sqlite URL needs a path, e.g. sqlite://./data/tenant.db")
		}
		dsn := "file::memory:?cache=shared"
		if path != ":memory:" {
			if dir := filepath.Dir(path); dir != "." {
				if err := os.MkdirAll(dir, 0o700); err != nil {
					return nil, fmt.Errorf("create database directory: %w", err)
				}
			}
			dsn = "file:" + path
		}
		dsn += sep(dsn) + "_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)&_txlock=immediate"
		db, err := sql.Open("sqlite", dsn)
		if err != nil {
			return nil, err
		}
		// One connection: SQLite serialises writers anyway, and this removes
		// SQLITE_BUSY between our own goroutines.
		db.SetMaxOpenConns(1)
		if err := db.PingContext(ctx); err != nil {
			db.Close()
			return nil, fmt.Errorf("open sqlite database: %w", err)
		}
		return &DB{DB: db, Dialect: SQLite}, nil
	case strings.HasPrefix(url, "postgres://"), strings.HasPrefix(url, "postgresql://"):
		return nil, errors.New("the PostgreSQL driver is not part of this release yet; use sqlite://")
	default:
		return nil, fmt.Errorf("unsupported database URL %q (want sqlite://path)", redactURL(url))
	}
}

func sep(dsn string) string {
	if strings.Contains(dsn, "?") {
		return "&"
	}
	return "?"
}

// redactURL drops credentials from a URL before it appears in an error.
func redactURL(u string) string {
	if i := strings.Index(u, "@"); i >= 0 {
		if j := strings.Index(u, "://"); j >= 0 && j < i {
			return u[:j+3] + "…@" + u[i+1:]
		}
	}
	return u
}

// Migrate applies the embedded migrations of fsys (goose SQL files) for the
// DB's dialect, from the folder named after the dialect.
func (db *DB) Migrate(ctx context.Context, fsys fs.FS) error {
	if err := db.migrate(ctx, fsys); err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	return nil
}

func (db *DB) migrate(ctx context.Context, fsys fs.FS, opts ...goose.ProviderOption) error {
	sub, err := fs.Sub(fsys, string(db.Dialect))
	if err != nil {
		return err
	}
	dialect := goose.DialectSQLite3
	if db.Dialect == Postgres {
		dialect = goose.DialectPostgres
	}
	p, err := goose.NewProvider(dialect, db.DB, sub, opts...)
	if err != nil {
		return err
	}
	_, err = p.Up(ctx)
	return err
}

// Rebind rewrites ? placeholders for the DB's dialect.
func (db *DB) Rebind(q string) string {
	if db.Dialect != Postgres {
		return q
	}
	var b strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// InTx runs fn in a transaction, committing when it returns nil.
func (db *DB) InTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// OpenMigrated opens url, applies the job table's migrations (versioned in
// their own table) and then the service's, under the "migrations" folder of
// fsys (one sub-folder per dialect).
func OpenMigrated(ctx context.Context, url string, fsys fs.FS) (*DB, error) {
	db, err := Open(ctx, url)
	if err != nil {
		return nil, err
	}
	err = db.migrateJobs(ctx)
	sub, serr := fs.Sub(fsys, "migrations")
	if err == nil {
		err = serr
	}
	if err == nil {
		err = db.Migrate(ctx, sub)
	}
	if err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}
