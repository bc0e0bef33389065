package sqldb_test

import (
	"context"
	"strings"
	"testing"

	"github.com/o365gateway/gateway/services/shared/telemetry/telemetrytest"
)

// The pool of a service database is reported while it is open: its
// connections by state, its limit and its waits, by engine.
func TestPoolMetrics(t *testing.T) {
	telemetrytest.Install()
	eachDriver(t, func(t *testing.T, url func(t *testing.T) string) {
		db := open(t, url(t))
		system := string(db.Dialect)
		value := func(name string, attrs ...string) float64 {
			return telemetrytest.Value(t, name, append([]string{"db_system", system}, attrs...)...)
		}
		// Other tests of the package may hold pools of the same engine.
		inUse := value("db_pool_connections", "state", "in_use")
		maxOpen := value("db_pool_max_open_connections")
		conn, err := db.Conn(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if got := value("db_pool_connections", "state", "in_use"); got != inUse+1 {
			t.Errorf("in use with a connection held: %v, want %v", got, inUse+1)
		}
		if maxOpen < float64(db.PoolStats().MaxOpenConnections) {
			t.Errorf("max open %v, want at least this pool's %d", maxOpen, db.PoolStats().MaxOpenConnections)
		}
		for _, name := range []string{"db_pool_waits_total", "db_pool_wait_seconds_total", "db_pool_closed_total"} {
			if len(telemetrytest.Points(t, name)) == 0 {
				t.Errorf("no series of %s", name)
			}
		}
		conn.Close()
		db.Close()
		if got := value("db_pool_max_open_connections"); got != maxOpen-float64(db.PoolStats().MaxOpenConnections) {
			t.Errorf("max open after Close: %v, want %v", got, maxOpen-float64(db.PoolStats().MaxOpenConnections))
		}
		for _, p := range telemetrytest.Points(t, "db_pool_connections") {
			for k, v := range p.Attrs {
				if strings.Contains(v, "/") || (k != "db_system" && k != "state") {
					t.Errorf("unexpected attribute %s=%q", k, v)
				}
			}
		}
	})
}
