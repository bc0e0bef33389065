// Package growth is the "growth" section of `make bench`: how the latency
// of APSC's GETs and the memory of the processes change as the store grows
// from 100 tenants to 100k tenants with 1M users, on SQLite and on
// PostgreSQL (issue 12: "a GET at 100k tenants / 1M users is within 1.5× of
// the small store").
//
// For each database and store size it starts the real binaries
// (sim/devstack), installs an instance and provisions two tenants with a
// user each through the facade as APSC does, so that the services'
// migrations and write paths made the rows; stops the stack; clones those
// rows into the services' databases in bulk (seed.go) up to the size; and
// starts the stack again on the same data. With every size's stack
// running, each run then measures GET /aps/tenants/{id} and GET
// /aps/users/{id} for random seeded ids through the facade, with the
// controller's client certificate and APS headers, on every size in turn
// (measure.go).
//
// Set O365GW_GROWTH_KEEP to keep the seeded SQLite files in the work
// directory (they are removed at the end otherwise).
package growth

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/o365gateway/gateway/bench/internal/report"
)

// Section is the growth section of the benchmark run.
func Section() report.Section {
	return report.Section{Name: "growth", Title: "Store growth: GET latency and memory by store size", Run: run}
}

// usersPerTenant is how many users every tenant has, at every size.
const usersPerTenant = 10

// target is the bound: the largest store's GET within 1.5× of the
// smallest's.
const target = 1.5

// size is one store size.
type size struct {
	Tenants int
	Users   int
}

func (s size) name() string { return fmt.Sprintf("%dt", s.Tenants) }

// sizes are the store sizes measured: 100, 10k and 100k tenants with ten
// users each (Quick: 100 and 1k tenants).
func sizes(quick bool) []size {
	ts := []int{100, 10_000, 100_000}
	if quick {
		ts = []int{100, 1_000}
	}
	out := make([]size, len(ts))
	for i, n := range ts {
		out[i] = size{Tenants: n, Users: n * usersPerTenant}
	}
	return out
}

// result is what one database × size measured (medians of env.Runs runs).
type result struct {
	DB   string
	Size size
	// GET latencies, seconds.
	TenantP50, TenantP99, UserP50, UserP99 float64
	// RSS after the measurement, bytes.
	RSSTenant, RSSUser, RSSFacade float64
	// Bytes on disk of the tenant and user services' data.
	DiskTenant, DiskUser float64
	// The store's own queries (measured beside the services on the same
	// database).
	Store storeProbe
	// Seeding and the restart on the seeded store, seconds.
	Seed, Restart float64
	// The services' start-up re-sealing pass (a walk over every row of
	// the table), seconds; -1 when its log line was not found.
	RekeyTenant, RekeyUser float64
	// The slowest GET sent while those passes ran (one at a time of
	// each kind), seconds; -1 when none was sent.
	DuringTenant, DuringUser float64
}

func run(ctx context.Context, env *report.Env) ([]report.Table, error) {
	if env.BinDir == "" {
		return nil, fmt.Errorf("growth: no binaries directory (make build)")
	}
	dbs := []string{"SQLite"}
	if env.PostgresURL != "" {
		dbs = append(dbs, "PostgreSQL")
	}
	var results []result
	for _, db := range dbs {
		rs, err := measureDB(ctx, env, db)
		if err != nil {
			return nil, fmt.Errorf("growth: %s: %w", db, err)
		}
		results = append(results, rs...)
	}
	return tables(env, results), nil
}

// measureDB measures every size on one database. Each size gets a stack
// and a store of its own, seeded once; the stacks then all run, and each
// run measures every size in turn, so that the load of a shared machine
// falls alike on the sizes the ratios compare.
func measureDB(ctx context.Context, env *report.Env, db string) ([]result, error) {
	var stores []*store
	defer func() {
		for _, s := range stores {
			s.close()
		}
	}()
	for _, sz := range sizes(env.Quick) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		logf(env, "growth: %s, %d tenants / %d users: provisioning and seeding", db, sz.Tenants, sz.Users)
		s, err := prepare(ctx, env, db, sz)
		if s != nil {
			stores = append(stores, s)
		}
		if err != nil {
			return nil, fmt.Errorf("%d tenants: %w", sz.Tenants, err)
		}
	}
	const per = 7 // figures of a size per run (meter.run)
	figs, err := report.Runs(ctx, env, func(ctx context.Context, run int) ([]float64, error) {
		out := make([]float64, per*len(stores))
		for j := range stores {
			i := j
			if run%2 == 1 { // every other run the other way round
				i = len(stores) - 1 - j
			}
			s := stores[i]
			xs, err := s.meter.run(ctx)
			if err != nil {
				return nil, fmt.Errorf("%d tenants: %w", s.res.Size.Tenants, err)
			}
			logf(env, "growth: %s, run %d, %d tenants: tenant GET p50 %s ms, user GET p50 %s ms", db, run+1,
				s.res.Size.Tenants, ms(xs[0]), ms(xs[2]))
			copy(out[i*per:], xs)
		}
		return out, nil
	})
	if err != nil {
		return nil, err
	}
	var out []result
	for i, s := range stores {
		f := figs[i*per : (i+1)*per]
		r := &s.res
		r.TenantP50, r.TenantP99, r.UserP50, r.UserP99 = f[0], f[1], f[2], f[3]
		r.RSSTenant, r.RSSUser, r.RSSFacade = f[4], f[5], f[6]
		if err := s.finish(ctx); err != nil {
			return nil, fmt.Errorf("%d tenants: %w", r.Size.Tenants, err)
		}
		out = append(out, *r)
	}
	return out, nil
}

func logf(env *report.Env, format string, args ...any) {
	if env.Log != nil {
		env.Log.Info(fmt.Sprintf(format, args...))
	}
}

// store is one database × size: its stack on its seeded store.
type store struct {
	env    *report.Env
	work   string
	st     *stand
	seeded *seeded
	meter  *meter
	drop   func() // drops the PostgreSQL database
	res    result
}

// prepare provisions through a new stack, seeds the store up to sz,
// restarts the stack on it and waits for the start-up re-sealing passes.
// A store it returns, even with an error, must be closed.
func prepare(ctx context.Context, env *report.Env, db string, sz size) (*store, error) {
	s := &store{env: env, res: result{DB: db, Size: sz}, drop: func() {}}
	res := &s.res
	s.work = filepath.Join(env.WorkDir, "growth-"+strings.ToLower(db)+"-"+sz.name())
	if err := os.RemoveAll(s.work); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(s.work, 0o700); err != nil {
		return nil, err
	}
	var dbURL string
	if db == "PostgreSQL" {
		name := "growth_" + sz.name() + "_" + fmt.Sprint(time.Now().UnixNano()%1_000_000)
		u, drop, err := createDatabase(ctx, env.PostgresURL, name)
		if err != nil {
			return nil, err
		}
		s.drop, dbURL = drop, u
	}
	st, err := newStand(ctx, env, s.work, dbURL)
	if err != nil {
		return s, err
	}
	s.st = st
	if err := st.provision(ctx); err != nil {
		return s, err
	}
	if err := st.stop(); err != nil {
		return s, err
	}

	t0 := time.Now()
	if s.seeded, err = seed(ctx, st.stores(), st.real, sz); err != nil {
		return s, fmt.Errorf("seed: %w", err)
	}
	res.Seed = time.Since(t0).Seconds()
	logf(env, "growth: seeded %d tenants and %d users in %s", sz.Tenants, sz.Users, time.Since(t0).Round(100*time.Millisecond))

	t0 = time.Now()
	if err := st.restart(ctx); err != nil {
		return s, fmt.Errorf("restart on the seeded store: %w", err)
	}
	res.Restart = time.Since(t0).Seconds()
	// The services' start-up re-sealing pass walks every row (and again
	// every hour): GETs sent while it runs are reported apart, and the
	// measurement waits for its end.
	s.meter = newMeter(st, s.seeded, env.Quick)
	stopProbe, err := s.meter.probeDuring(ctx)
	if err != nil {
		return s, err
	}
	res.RekeyTenant, res.RekeyUser = st.waitRekey(ctx, 10*time.Minute)
	res.DuringTenant, res.DuringUser = stopProbe()
	return s, nil
}

// finish takes the store's own figures (its queries, its size on disk)
// and closes it.
func (s *store) finish(ctx context.Context) error {
	var err error
	res := &s.res
	if res.Store, err = probeStore(ctx, s.st.stores(), s.st.real.InstanceID, s.seeded, s.env.Quick); err != nil {
		return fmt.Errorf("store probe: %w", err)
	}
	if res.DiskTenant, res.DiskUser, err = diskUsage(ctx, s.st.stores()); err != nil {
		return fmt.Errorf("database size: %w", err)
	}
	return s.close()
}

// close stops the stack, drops the PostgreSQL database and removes the
// SQLite files (the logs stay; O365GW_GROWTH_KEEP keeps the files too).
func (s *store) close() error {
	var err error
	if s.st != nil {
		err = s.st.close()
		s.st = nil
	}
	if s.drop != nil {
		s.drop()
		s.drop = nil
	}
	if os.Getenv("O365GW_GROWTH_KEEP") == "" {
		for _, pat := range []string{"*.db", "*.db-wal", "*.db-shm"} {
			files, _ := filepath.Glob(filepath.Join(s.work, pat))
			for _, f := range files {
				_ = os.Remove(f)
			}
		}
	}
	return err
}
