package sqldb

import (
	"context"
	"database/sql"
	"sync"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// pools are the connection pools of the service databases open in this
// process (OpenMigrated adds them, Close removes them); their statistics
// (sql.DBStats) are the metrics db_pool_*, summed per engine (db_system):
// a service process has one.
var pools = struct {
	sync.Mutex
	open map[*DB]struct{}
}{open: map[*DB]struct{}{}}

var registerPoolMetrics sync.Once

// reportPool adds db to the pools the metrics report.
func reportPool(db *DB) {
	registerPoolMetrics.Do(registerPools)
	pools.Lock()
	defer pools.Unlock()
	pools.open[db] = struct{}{}
}

// Close closes the database and stops reporting its pool.
func (db *DB) Close() error {
	pools.Lock()
	delete(pools.open, db)
	pools.Unlock()
	if db.readers != nil {
		_ = db.readers.close()
	}
	return db.DB.Close()
}

// PoolStats are the statistics of the database's pools together (on a
// SQLite file, the writer's and the readers').
func (db *DB) PoolStats() sql.DBStats {
	t := db.Stats()
	if db.readers != nil {
		t = addStats(t, db.readers.db.Stats())
	}
	return t
}

// addStats sums two pools' statistics.
func addStats(a, b sql.DBStats) sql.DBStats {
	a.MaxOpenConnections += b.MaxOpenConnections
	a.OpenConnections += b.OpenConnections
	a.InUse += b.InUse
	a.Idle += b.Idle
	a.WaitCount += b.WaitCount
	a.WaitDuration += b.WaitDuration
	a.MaxIdleClosed += b.MaxIdleClosed
	a.MaxIdleTimeClosed += b.MaxIdleTimeClosed
	a.MaxLifetimeClosed += b.MaxLifetimeClosed
	return a
}

// poolStats sums the statistics of the open pools by engine.
func poolStats() map[Dialect]sql.DBStats {
	pools.Lock()
	defer pools.Unlock()
	out := map[Dialect]sql.DBStats{}
	for db := range pools.open {
		out[db.Dialect] = addStats(out[db.Dialect], db.PoolStats())
	}
	return out
}

func registerPools() {
	meter := otel.Meter("o365gateway/sqldb")
	conns, _ := meter.Int64ObservableGauge("db_pool_connections",
		metric.WithDescription("connections of the service's database pool by state: in_use or idle"))
	maxOpen, _ := meter.Int64ObservableGauge("db_pool_max_open_connections",
		metric.WithDescription("the most connections the pool opens (0: no limit)"))
	waits, _ := meter.Int64ObservableCounter("db_pool_waits_total",
		metric.WithDescription("times a query waited for a free connection of the pool"))
	waited, _ := meter.Float64ObservableCounter("db_pool_wait_seconds_total",
		metric.WithDescription("time spent waiting for a free connection of the pool"))
	closed, _ := meter.Int64ObservableCounter("db_pool_closed_total",
		metric.WithDescription("connections the pool closed by reason: max_idle, max_idle_time, max_lifetime"))
	_, _ = meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		for dialect, s := range poolStats() {
			sys := attribute.String("db_system", string(dialect))
			o.ObserveInt64(conns, int64(s.InUse), metric.WithAttributes(sys, attribute.String("state", "in_use")))
			o.ObserveInt64(conns, int64(s.Idle), metric.WithAttributes(sys, attribute.String("state", "idle")))
			o.ObserveInt64(maxOpen, int64(s.MaxOpenConnections), metric.WithAttributes(sys))
			o.ObserveInt64(waits, s.WaitCount, metric.WithAttributes(sys))
			o.ObserveFloat64(waited, s.WaitDuration.Seconds(), metric.WithAttributes(sys))
			o.ObserveInt64(closed, s.MaxIdleClosed, metric.WithAttributes(sys, attribute.String("reason", "max_idle")))
			o.ObserveInt64(closed, s.MaxIdleTimeClosed, metric.WithAttributes(sys, attribute.String("reason", "max_idle_time")))
			o.ObserveInt64(closed, s.MaxLifetimeClosed, metric.WithAttributes(sys, attribute.String("reason", "max_lifetime")))
		}
		return nil
	}, conns, maxOpen, waits, waited, closed)
}
