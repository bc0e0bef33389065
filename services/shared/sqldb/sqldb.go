// Package sqldb opens a service's database from a URL, applies its embedded
// migrations, and hosts the SQL that every service's store shares (the job
// queue, its migrations and the fencing of job writes). Only store packages
// import it; nothing else knows which engine runs.
//
// Two engines are supported: SQLite (embedded, the default for trying and
// developing) and PostgreSQL (through pgx, for several replicas of a
// service). Store code writes its SQL once, with ? placeholders passed
// through DB.Rebind; the few statements that differ by engine live here
// (the job claim, wake-ups) and in the per-dialect migration folders.
package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
	_ "modernc.org/sqlite" // pure-Go SQLite driver
)

// Dialect is the SQL engine behind a DB. Its value is also the name of the
// migration folder of the engine.
type Dialect string

// Supported engines.
const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

// Pool limits of a PostgreSQL DB. Every replica of every service holds up
// to maxOpenPostgres connections, plus one for job wake-ups (Listen).
const (
	maxOpenPostgres = 16
	// Every open connection may stay idle: a pool that closes connections
	// beyond a smaller idle limit reconnects (TLS, authentication, a new
	// backend process) on every burst of load.
	maxIdlePostgres = maxOpenPostgres
	maxIdleTime     = 5 * time.Minute
)

// DB is a database handle with its dialect.
type DB struct {
	*sql.DB
	Dialect Dialect

	// pg is the parsed PostgreSQL configuration (nil on SQLite), for the
	// dedicated connection of Listen.
	pg *pgx.ConnConfig
	// schema is the first schema of the PostgreSQL search_path, created
	// on first start ("" when the URL names none).
	schema string
	// file is the SQLite database's path (names its in-process locks).
	file string
	// readers is the read pool of a SQLite file (nil otherwise).
	readers *readers
}

// Open opens a database URL:
//
//   - sqlite://path/to/file.db (relative or absolute), sqlite://:memory:
//   - postgres://user:password@host:5432/db?sslmode=…&search_path=tenant
//     (or postgresql://…; any libpq URL parameter pgx understands). With
//     search_path, the first schema it names is created if missing, so that
//     several services can share one database with a schema each.
//
// Errors never contain the password.
func Open(ctx context.Context, url string) (*DB, error) {
	switch {
	case strings.HasPrefix(url, "sqlite://"):
		return openSQLite(ctx, strings.TrimPrefix(url, "sqlite://"))
	case strings.HasPrefix(url, "postgres://"), strings.HasPrefix(url, "postgresql://"):
		return openPostgres(ctx, url)
	default:
		return nil, fmt.Errorf("unsupported database URL %q (want sqlite://path or postgres://…)", redactURL(url))
	}
}

func openSQLite(ctx context.Context, path string) (*DB, error) {
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
	file := path
	if abs, err := filepath.Abs(path); err == nil && path != ":memory:" {
		file = abs
	}
	d := &DB{DB: db, Dialect: SQLite, file: file}
	if path != ":memory:" {
		if d.readers, err = openReaders(file); err != nil {
			db.Close()
			return nil, fmt.Errorf("open sqlite readers: %w", err)
		}
	}
	return d, nil
}

func openPostgres(ctx context.Context, rawURL string) (*DB, error) {
	cfg, err := pgx.ParseConfig(rawURL)
	if err != nil {
		// pgx masks the password in its message; scrub removes it
		// should it still show.
		return nil, fmt.Errorf("invalid PostgreSQL URL %s: %s", redactURL(rawURL), scrub(err.Error(), urlPassword(rawURL)))
	}
	schema := firstSchema(cfg.RuntimeParams["search_path"])
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(maxOpenPostgres)
	db.SetMaxIdleConns(maxIdlePostgres)
	db.SetConnMaxIdleTime(maxIdleTime)
	fail := func(what string, err error) (*DB, error) {
		db.Close()
		return nil, fmt.Errorf("%s %s: %s", what, redactURL(rawURL), scrub(err.Error(), cfg.Password))
	}
	if err := db.PingContext(ctx); err != nil {
		return fail("connect to PostgreSQL", err)
	}
	d := &DB{DB: db, Dialect: Postgres, pg: cfg, schema: schema}
	if schema != "" {
		if err := d.ensureSchema(ctx); err != nil {
			return fail("create schema "+strconv.Quote(schema)+" in", err)
		}
	}
	return d, nil
}

// ensureSchema creates the search_path's schema when it is missing. The
// existence check comes first, so that a role without CREATE on the
// database can use a schema an operator made; the transaction-scoped
// advisory lock keeps two replicas starting at once from racing on it.
func (db *DB) ensureSchema(ctx context.Context) error {
	var exists bool
	if err := db.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)`, db.schema).Scan(&exists); err != nil || exists {
		return err
	}
	return db.InTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, lockID("schema", db.schema)); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `CREATE SCHEMA IF NOT EXISTS `+pgx.Identifier{db.schema}.Sanitize())
		return err
	})
}

// firstSchema returns the first schema a search_path names ("" for none,
// for $user, and for schemas PostgreSQL always has).
func firstSchema(searchPath string) string {
	first, _, _ := strings.Cut(searchPath, ",")
	first = strings.TrimSpace(first)
	if len(first) >= 2 && first[0] == '"' && first[len(first)-1] == '"' {
		first = strings.ReplaceAll(first[1:len(first)-1], `""`, `"`)
	} else {
		first = strings.ToLower(first) // unquoted identifiers fold to lower case
	}
	switch first {
	case "", "$user", "public", "pg_catalog":
		return ""
	}
	return first
}

// Schema is the PostgreSQL schema the DB works in when its URL named one
// (search_path), "" otherwise and on SQLite.
func (db *DB) Schema() string { return db.schema }

// lockID is a PostgreSQL advisory lock key (the one-bigint key space) for
// what in schema: two services sharing a database never wait for each other.
func lockID(what, schema string) int64 {
	h := fnv.New64a()
	h.Write([]byte("o365gateway/" + what + "/" + schema))
	return int64(h.Sum64())
}

// IsDuplicate tells whether err is a unique or primary key violation.
func IsDuplicate(err error) bool {
	if err == nil {
		return false
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code == "23505" // unique_violation
	}
	msg := err.Error()
	return strings.Contains(msg, "UNIQUE constraint") || strings.Contains(msg, "PRIMARY KEY")
}

func sep(dsn string) string {
	if strings.Contains(dsn, "?") {
		return "&"
	}
	return "?"
}

// redactURL drops credentials from a URL before it appears in an error or
// a log: the user information and a password parameter (also in a
// keyword/value string someone passed by mistake).
func redactURL(u string) string {
	if i := strings.LastIndex(u, "@"); i >= 0 {
		if j := strings.Index(u, "://"); j >= 0 && j < i {
			u = u[:j+3] + "…@" + u[i+1:]
		}
	}
	return passwordParam.ReplaceAllString(u, "${1}…")
}

var passwordParam = regexp.MustCompile(`(?i)(password\s*=\s*)('[^']*'|[^&\s]*)`)

// RedactURL is redactURL for the services' logs.
func RedactURL(u string) string { return redactURL(u) }

// urlPassword is the password of a postgres URL, "" when it has none or
// cannot be parsed.
func urlPassword(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	if p, ok := u.User.Password(); ok {
		return p
	}
	return u.Query().Get("password")
}

// scrub removes password from an error text.
func scrub(msg, password string) string {
	if password == "" {
		return msg
	}
	msg = strings.ReplaceAll(msg, password, "…")
	if esc := url.QueryEscape(password); esc != password {
		msg = strings.ReplaceAll(msg, esc, "…")
	}
	return msg
}

// Migrate applies the embedded migrations of fsys (goose SQL files) for the
// DB's dialect, from the folder named after the dialect ("sqlite",
// "postgres"). Both folders carry the same goose versions.
func (db *DB) Migrate(ctx context.Context, fsys fs.FS) error {
	if err := db.migrate(ctx, fsys, "goose_db_version"); err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	return nil
}

// migrateLockPoll is how often a replica that waits for another one's
// migrations tries the lock again, and migrateLockTries how many times.
const (
	migrateLockPoll  = 1 // seconds, goose's minimum
	migrateLockTries = 600
)

// migrate applies the migrations of fsys versioned in table. On PostgreSQL
// they run under a session-level advisory lock (goose's Postgres session
// locker), keyed by schema and table: when several replicas start at once,
// one migrates and the others wait for it, then find nothing to apply.
func (db *DB) migrate(ctx context.Context, fsys fs.FS, table string, opts ...goose.ProviderOption) error {
	sub, err := fs.Sub(fsys, string(db.Dialect))
	if err != nil {
		return err
	}
	dialect := goose.DialectSQLite3
	opts = append(opts, goose.WithTableName(table), goose.WithDisableGlobalRegistry(true))
	if db.Dialect == Postgres {
		dialect = goose.DialectPostgres
		locker, err := lock.NewPostgresSessionLocker(lock.WithLockID(lockID("migrate:"+table, db.schema)),
			lock.WithLockTimeout(migrateLockPoll, migrateLockTries))
		if err != nil {
			return err
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	p, err := goose.NewProvider(dialect, db.DB, sub, opts...)
	if err != nil {
		return err
	}
	_, err = p.Up(ctx)
	return err
}

// Rebind rewrites ? placeholders for the DB's dialect: $1, $2, … on
// PostgreSQL. A ? inside a quoted string literal is left alone.
func (db *DB) Rebind(q string) string {
	if db.Dialect != Postgres {
		return q
	}
	var b strings.Builder
	b.Grow(len(q) + 16)
	n, quoted := 0, false
	for _, r := range q {
		switch {
		case r == '\'':
			quoted = !quoted
		case r == '?' && !quoted:
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
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
// fsys (one sub-folder per dialect). The pool of the database it returns is
// reported in the metrics db_pool_* until Close.
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
	reportPool(db)
	return db, nil
}
