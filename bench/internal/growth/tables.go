package growth

import (
	"fmt"
	"strconv"

	"github.com/o365gateway/gateway/bench/internal/report"
)

func ms(seconds float64) string { return report.Number(seconds * 1000) }

func count(n int) string {
	switch {
	case n >= 1_000_000 && n%1_000_000 == 0:
		return strconv.Itoa(n/1_000_000) + "M"
	case n >= 1000 && n%1000 == 0:
		return strconv.Itoa(n/1000) + "k"
	}
	return strconv.Itoa(n)
}

func ratio(x, base float64) float64 {
	if base <= 0 {
		return 0
	}
	return x / base
}

func times(r float64) string { return fmt.Sprintf("%.2f×", r) }

// tables renders the results: latency (with the target) and resources.
func tables(env *report.Env, rs []result) []report.Table {
	runs := max(env.Runs, 1)
	warm, measured := requests(env.Quick)
	lat := report.Table{
		Title: "Growth: GET latency through the facade by store size",
		Note: fmt.Sprintf(`GET /aps/tenants/{id} and GET /aps/users/{id} as APSC sends them (the controller's client certificate, APS headers,
keep-alive TLS) for ids drawn at random from the whole store, %d requests of each after %d of warm-up, %d in flight; each figure the
median of %d runs, every run measuring each store in turn (each store has its own stack, all running), so that a shared machine's
load falls alike on the stores compared. Every store has %d users per tenant, all in one application instance. The instance and two
tenants with a user each are provisioned through the facade (the services' migrations and write paths made their rows); the rest are
clones of those rows with fresh ids inserted into the services' databases; the stack then restarts on the seeded store and waits
for the services' start-up re-sealing pass. Services at their production log level (info), no trace export, periodic drift and health checks off (the simulator
does not know the seeded customers). Ratios: this store's figure over the smallest store's on the same database.`,
			measured, warm, workers, runs, usersPerTenant),
		Header: []string{"database", "tenants", "users", "tenant p50 ms", "tenant p99 ms", "user p50 ms", "user p99 ms",
			"tenant p50 / p99 vs smallest", "user p50 / p99 vs smallest"},
	}
	res := report.Table{
		Title: "Growth: memory, disk and start-up by store size",
		Note: `RSS (VmRSS) of each process after the measurement (median of the runs). Data on disk: the SQLite file with its WAL, or the
PostgreSQL schema's tables with indexes and TOAST. Store lookup: p50 of the two GETs' own primary-key queries sent by the benchmark
straight to the database beside the running services; store tenant page: p50 of the query that reads 100 of an instance's tenants
in id order from a random one (the periodic drift and health checks walk every tenant with it; the operators' listing pages with it). Re-sealing pass: the services' walk over every stored secret at start
(and hourly), from their log; the slowest GET sent while it ran, one at a time of each kind, right after the restart. Seeding: the bulk insert of the cloned rows; restart: the stack's start on the seeded store until ready.`,
		Header: []string{"database", "tenants", "users", "RSS tenant MiB", "RSS user MiB", "RSS facade MiB", "tenant data MiB",
			"user data MiB", "store lookup tenant / user µs", "store tenant page ms", "re-sealing pass tenant / user s",
			"slowest GET during the pass tenant / user ms", "seeding s", "restart s"},
	}
	base := map[string]result{}
	last := map[string]result{}
	var dbs []string
	for _, r := range rs {
		b, ok := base[r.DB]
		if !ok {
			base[r.DB], b = r, r
			dbs = append(dbs, r.DB)
		}
		last[r.DB] = r
		lat.Add(r.DB, count(r.Size.Tenants), count(r.Size.Users), ms(r.TenantP50), ms(r.TenantP99), ms(r.UserP50), ms(r.UserP99),
			times(ratio(r.TenantP50, b.TenantP50))+" / "+times(ratio(r.TenantP99, b.TenantP99)),
			times(ratio(r.UserP50, b.UserP50))+" / "+times(ratio(r.UserP99, b.UserP99)))
		res.Add(r.DB, count(r.Size.Tenants), count(r.Size.Users), report.MiB(r.RSSTenant), report.MiB(r.RSSUser), report.MiB(r.RSSFacade),
			report.MiB(r.DiskTenant), report.MiB(r.DiskUser), report.Number(r.Store.Tenant*1e6)+" / "+report.Number(r.Store.User*1e6),
			ms(r.Store.TenantPage),
			seconds(r.RekeyTenant)+" / "+seconds(r.RekeyUser), millis(r.DuringTenant)+" / "+millis(r.DuringUser),
			report.Number(r.Seed), report.Number(r.Restart))
	}
	for _, db := range dbs {
		lat.Footer = append(lat.Footer, verdict(db, base[db], last[db], env.Quick))
	}
	return []report.Table{lat, res}
}

func millis(s float64) string {
	if s < 0 {
		return "–"
	}
	return ms(s)
}

func seconds(s float64) string {
	if s < 0 {
		return "?"
	}
	return report.Number(s)
}

// verdict says whether the largest store's GETs are within target of the
// smallest's (on the p50; the p99 is reported beside it), and if not
// where the time went.
func verdict(db string, small, big result, quick bool) string {
	tp50, up50 := ratio(big.TenantP50, small.TenantP50), ratio(big.UserP50, small.UserP50)
	tp99, up99 := ratio(big.TenantP99, small.TenantP99), ratio(big.UserP99, small.UserP99)
	ok := tp50 <= target && up50 <= target
	s := fmt.Sprintf("%s: a GET at %s tenants / %s users within %.1f× of the %s-tenant store (p50): %s — tenant %s, user %s (p99: %s, %s).",
		db, count(big.Size.Tenants), count(big.Size.Users), target, count(small.Size.Tenants), report.Verdict(ok),
		times(tp50), times(up50), times(tp99), times(up99))
	if quick {
		s += " (Quick run: smaller stores, fewer requests; not the issue's figures.)"
	}
	if ok {
		if tp99 > target || up99 > target {
			s += " The p99 moved more than the p50: a tail of slow requests (a shared, noisy machine, or the page cache), not the lookups, which held."
		}
		return s
	}
	st, su := ratio(big.Store.Tenant, small.Store.Tenant), ratio(big.Store.User, small.Store.User)
	if st > target || su > target {
		return s + fmt.Sprintf(" Why: the store's own primary-key lookups slowed too (tenant %s, user %s): the database no longer answers from memory, or a query plan changed.",
			times(st), times(su))
	}
	return s + fmt.Sprintf(" Why: not the store's lookups, which held (tenant %s, user %s); the time went to the processes (RSS tenant %s → %s MiB, user %s → %s MiB: the heap and the garbage collector) or to the machine's noise.",
		times(st), times(su), report.MiB(small.RSSTenant), report.MiB(big.RSSTenant), report.MiB(small.RSSUser), report.MiB(big.RSSUser))
}
