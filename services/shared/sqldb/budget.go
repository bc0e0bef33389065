package sqldb

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/o365gateway/gateway/services/shared/budget"
)

// Budget is a budget.Store in the service's database (table rate_budget),
// shared by every replica of the service. A charge, and the lowering of a
// bucket that Microsoft's answers ask for (a Retry-After's pause is a debt
// the refill pays back when it ends), is one statement: an upsert that
// refills and changes the bucket under its row lock and returns the tokens
// left, so that concurrent changes from several replicas are serialised by
// the database. No column beyond the tokens and their time is needed.
type Budget struct {
	DB *DB
	// Now is the clock (time.Now by default). Replicas' clocks may differ a
	// little; a bucket's time never goes back.
	Now func() time.Time
}

var _ budget.Store = Budget{}

// Charge implements budget.Store.
func (b Budget) Charge(ctx context.Context, key string, r budget.Rate, cost float64) (time.Duration, error) {
	// tokens = min(burst, refilled) - cost
	left, err := b.upsert(ctx, key, r, r.Burst-cost, func(refilled string) string {
		return refilled + ` - CAST(? AS DOUBLE PRECISION)`
	}, cost)
	if err != nil {
		return 0, fmt.Errorf("charge rate budget: %w", err)
	}
	return budget.Wait(left, r), nil
}

// Lower implements budget.Store: one upsert, like Charge.
func (b Budget) Lower(ctx context.Context, key string, r budget.Rate, tokens float64) error {
	least := "LEAST"
	if b.DB.Dialect == SQLite {
		least = "MIN"
	}
	// tokens = min(min(burst, refilled), cap)
	if _, err := b.upsert(ctx, key, r, min(r.Burst, tokens), func(refilled string) string {
		return least + `(` + refilled + `, CAST(? AS DOUBLE PRECISION))`
	}, tokens); err != nil {
		return fmt.Errorf("lower rate budget: %w", err)
	}
	return nil
}

var _ budget.Pruner = Budget{}

// Prune implements budget.Pruner, deleting in batches. A bucket charged
// while it is being deleted stays: the outer condition is checked again
// on the row the charge left.
func (b Budget) Prune(ctx context.Context, idleBefore time.Time) (int, error) {
	now := time.Now()
	if b.Now != nil {
		now = b.Now()
	}
	before := budget.PruneBefore(idleBefore, now).UnixMilli()
	n, err := b.DB.deleteInBatches(ctx, `DELETE FROM rate_budget WHERE updated_at < ? AND budget_key IN (
		SELECT budget_key FROM rate_budget WHERE updated_at < ? LIMIT ?)`, before, before)
	if err != nil {
		return n, fmt.Errorf("prune rate budgets: %w", err)
	}
	return n, nil
}

// upsert creates the bucket key with tokens fresh, or sets its tokens to
// set(refilled) (the tokens it held, refilled at r up to now and capped at
// the burst; arg is set's one parameter), under the row's lock, and
// returns them.
func (b Budget) upsert(ctx context.Context, key string, r budget.Rate, fresh float64, set func(refilled string) string, arg float64) (float64, error) {
	now := time.Now()
	if b.Now != nil {
		now = b.Now()
	}
	ms := now.UnixMilli()
	least, greatest := "LEAST", "GREATEST"
	if b.DB.Dialect == SQLite {
		least, greatest = "MIN", "MAX"
	}
	refilled := least + `(CAST(? AS DOUBLE PRECISION), rate_budget.tokens + ` + greatest + `(0, CAST(? AS BIGINT) - rate_budget.updated_at) * CAST(? AS DOUBLE PRECISION) / 1000.0)`
	q := b.DB.Rebind(`INSERT INTO rate_budget (budget_key, tokens, updated_at) VALUES (?, ?, ?)
		ON CONFLICT (budget_key) DO UPDATE SET
		  tokens = ` + set(refilled) + `,
		  updated_at = ` + greatest + `(rate_budget.updated_at, excluded.updated_at)
		RETURNING tokens`)
	var left float64
	err := b.DB.QueryRowContext(ctx, q, key, fresh, ms, r.Burst, ms, r.PerSecond, arg).Scan(&left)
	return left, err
}

// Lock takes the exclusive lock named key, shared by every process working
// on the database and schema, and returns the function that releases it.
// On PostgreSQL it is a session advisory lock held on a connection of its
// own, outside the pool: holders never starve the pool that the work under
// the lock needs, and closing that connection releases the lock for sure
// (as the server does should the process die). A SQLite database is
// written by one process, so the lock lives in that process. Waiting ends
// with ctx.
func (db *DB) Lock(ctx context.Context, key string) (unlock func(), err error) {
	if db.Dialect != Postgres || db.pg == nil {
		return db.localLock(ctx, key)
	}
	conn, err := pgx.ConnectConfig(ctx, db.pg.Copy())
	if err != nil {
		return nil, fmt.Errorf("take lock: connect: %s", scrub(err.Error(), db.pg.Password))
	}
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, lockID("lock:"+key, db.schema)); err != nil {
		_ = conn.Close(context.Background())
		return nil, fmt.Errorf("take lock: %s", scrub(err.Error(), db.pg.Password))
	}
	return func() {
		// Closing the session releases its advisory locks.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = conn.Close(ctx)
	}, nil
}

// locks are the in-process locks of SQLite databases, by database and key.
var locks sync.Map // map[lockKey]chan struct{}

type lockKey struct{ file, key string }

func (db *DB) localLock(ctx context.Context, key string) (func(), error) {
	v, _ := locks.LoadOrStore(lockKey{db.file, key}, make(chan struct{}, 1))
	ch := v.(chan struct{})
	select {
	case ch <- struct{}{}:
		return func() { <-ch }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
