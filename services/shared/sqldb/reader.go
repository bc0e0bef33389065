package sqldb

import (
	"context"
	"database/sql"
	"strings"
	"sync"
	"unicode"
)

// SQLite's readers. In WAL mode any number of connections read at once,
// each from the last committed state, beside the one writer; the writer
// pool keeps a single connection (SQLite serialises writers anyway), so a
// read that went through it would wait behind every write transaction and
// job claim. A file database therefore has a second pool of read-only
// connections, and the SELECT statements a store runs outside a
// transaction (QueryContext, QueryRowContext) go there, prepared once per
// connection. Statements in a transaction stay on the transaction's
// connection: they must see its writes.
const (
	// readConns is the size of the read pool.
	readConns = 4
	// maxCachedStmts bounds the prepared statements kept per database;
	// past it (statements built with a varying number of arguments) a
	// statement is prepared for its one use.
	maxCachedStmts = 256
)

type readers struct {
	db    *sql.DB
	mu    sync.RWMutex
	stmts map[string]*sql.Stmt
}

func openReaders(file string) (*readers, error) {
	db, err := sql.Open("sqlite", "file:"+file+"?_pragma=busy_timeout(10000)&_pragma=query_only(1)")
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(readConns)
	db.SetMaxIdleConns(readConns)
	return &readers{db: db, stmts: map[string]*sql.Stmt{}}, nil
}

// stmt returns the prepared statement of q, nil when the cache is full.
// It prepares without holding the cache's lock (preparing takes a
// connection of the pool); of two goroutines preparing the same statement,
// the first to store it wins and the other's is closed.
func (r *readers) stmt(ctx context.Context, q string) (*sql.Stmt, error) {
	r.mu.RLock()
	s, full := r.stmts[q], len(r.stmts) >= maxCachedStmts
	r.mu.RUnlock()
	if s != nil || full {
		return s, nil
	}
	s, err := r.db.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if have := r.stmts[q]; have != nil || r.stmts == nil || len(r.stmts) >= maxCachedStmts {
		_ = s.Close()
		return have, nil
	}
	r.stmts[q] = s
	return s, nil
}

func (r *readers) close() error {
	r.mu.Lock()
	for _, s := range r.stmts {
		_ = s.Close()
	}
	r.stmts = nil
	r.mu.Unlock()
	return r.db.Close()
}

// isSelect tells whether q is a plain SELECT (a statement that only reads).
func isSelect(q string) bool {
	q = strings.TrimLeftFunc(q, unicode.IsSpace)
	return len(q) > 6 && strings.EqualFold(q[:6], "select") && unicode.IsSpace(rune(q[6]))
}

// QueryContext runs a query; on SQLite a SELECT goes to the read pool.
func (db *DB) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	if db.readers != nil && isSelect(q) {
		s, err := db.readers.stmt(ctx, q)
		if err != nil {
			return nil, err
		}
		if s == nil {
			return db.readers.db.QueryContext(ctx, q, args...)
		}
		return s.QueryContext(ctx, args...)
	}
	return db.DB.QueryContext(ctx, q, args...)
}

// QueryRowContext runs a query expected to return at most one row; on
// SQLite a SELECT goes to the read pool.
func (db *DB) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	if db.readers != nil && isSelect(q) {
		s, err := db.readers.stmt(ctx, q)
		if err == nil && s != nil {
			return s.QueryRowContext(ctx, args...)
		}
		// Unprepared (the cache is full, or preparing failed: the query
		// then reports the error itself).
		return db.readers.db.QueryRowContext(ctx, q, args...)
	}
	return db.DB.QueryRowContext(ctx, q, args...)
}
