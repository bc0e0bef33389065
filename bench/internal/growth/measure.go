package growth

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/o365gateway/gateway/bench/internal/report"
	"github.com/o365gateway/gateway/services/shared/sqldb"
	"github.com/o365gateway/gateway/sim/apsc"
	"github.com/o365gateway/gateway/sim/devstack"
)

// workers is how many GETs are in flight at once (APSC's calls are few
// and mostly sequential per resource).
const workers = 4

// meter sends APSC's GETs through the facade.
type meter struct {
	st     *stand
	ids    *seeded
	client *http.Client
	warm   int // requests before measuring, per GET
	count  int // requests measured, per GET
}

func newMeter(st *stand, ids *seeded, quick bool) *meter {
	m := &meter{st: st, ids: ids}
	m.warm, m.count = requests(quick)
	return m
}

// requests is how many GETs of each kind warm up and are measured, per run.
func requests(quick bool) (warm, count int) {
	if quick {
		return 100, 400
	}
	return 500, 3000
}

// httpClient presents the controller's certificate, as APSC does, and
// trusts the facade's.
func (m *meter) httpClient() (*http.Client, error) {
	pool, err := m.st.stack.FacadeCAPool()
	if err != nil {
		return nil, err
	}
	tr := &http.Transport{
		TLSClientConfig:     &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool, Certificates: []tls.Certificate{m.st.ctrl.ControllerCertificate()}},
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
		MaxIdleConnsPerHost: workers,
		IdleConnTimeout:     time.Minute,
	}
	return &http.Client{Transport: tr, Timeout: time.Minute}, nil
}

// run is one measurement: a warm-up and the measured GETs of each kind,
// then the processes' memory. Its figures: tenant p50, p99, user p50, p99
// (seconds), RSS of the tenant service, user service and facade (bytes).
func (m *meter) run(ctx context.Context) ([]float64, error) {
	client, err := m.httpClient()
	if err != nil {
		return nil, err
	}
	defer client.CloseIdleConnections()
	m.client = client
	var out []float64
	for _, kind := range []struct {
		svc string
		ids []string
	}{{"tenants", m.ids.TenantIDs}, {"users", m.ids.UserIDs}} {
		if _, err := m.load(ctx, kind.svc, kind.ids, m.warm); err != nil {
			return nil, err
		}
		lat, err := m.load(ctx, kind.svc, kind.ids, m.count)
		if err != nil {
			return nil, err
		}
		out = append(out, quantile(lat, 0.50), quantile(lat, 0.99))
	}
	for _, name := range []string{devstack.Tenant, devstack.User, devstack.Facade} {
		rss, err := report.RSS(m.st.stack.Pid(name))
		if err != nil {
			return nil, fmt.Errorf("RSS of %s: %w", name, err)
		}
		out = append(out, rss)
	}
	return out, nil
}

// probeDuring sends GETs, one at a time of each kind, until stop is
// called; stop returns the slowest of each kind (seconds; -1 if none).
func (m *meter) probeDuring(ctx context.Context) (stop func() (tenant, user float64), err error) {
	client, err := m.httpClient()
	if err != nil {
		return nil, err
	}
	m.client = client
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	slowest := []float64{-1, -1}
	for i, kind := range []struct {
		svc string
		ids []string
	}{{"tenants", m.ids.TenantIDs}, {"users", m.ids.UserIDs}} {
		wg.Go(func() {
			for ctx.Err() == nil {
				d, err := m.get(ctx, kind.svc, kind.ids[rand.IntN(len(kind.ids))])
				if err != nil {
					if ctx.Err() == nil {
						time.Sleep(10 * time.Millisecond)
					}
					continue
				}
				slowest[i] = max(slowest[i], d.Seconds())
			}
		})
	}
	return func() (float64, float64) {
		cancel()
		wg.Wait()
		client.CloseIdleConnections()
		return slowest[0], slowest[1]
	}, nil
}

// load sends n GETs of random ids with the workers and returns their
// latencies (seconds).
func (m *meter) load(ctx context.Context, svc string, ids []string, n int) ([]float64, error) {
	lat := make([]float64, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for range workers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
			for {
				i := int(next.Add(1)) - 1
				if i >= n || ctx.Err() != nil {
					return
				}
				d, err := m.get(ctx, svc, ids[rng.IntN(len(ids))])
				if err != nil {
					errs <- err
					next.Store(int64(n))
					return
				}
				lat[i] = d.Seconds()
			}
		})
	}
	wg.Wait()
	select {
	case err := <-errs:
		return nil, err
	default:
	}
	return lat, ctx.Err()
}

// get sends one GET as APSC does and checks it answers 200.
func (m *meter) get(ctx context.Context, svc, id string) (time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, m.st.stack.FacadeURL+svc+"/"+id, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set(apsc.HeaderControllerURI, m.st.ctrl.ControllerURI())
	req.Header.Set(apsc.HeaderInstanceID, m.st.real.InstanceID)
	req.Header.Set(apsc.HeaderTransactionID, newUUID())
	req.Header.Set(apsc.HeaderRequestPhase, apsc.PhaseSync)
	req.Header.Set("Accept", "application/json")
	start := time.Now()
	resp, err := m.client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("GET /%s/%s: %w", svc, id, err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	d := time.Since(start)
	if err != nil {
		return 0, fmt.Errorf("GET /%s/%s: %w", svc, id, err)
	}
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET /%s/%s: %d %s", svc, id, resp.StatusCode, strings.TrimSpace(string(body)))
	}
	return d, nil
}

// quantile is the q-quantile of xs (nearest rank).
func quantile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	i := int(q*float64(len(s))+0.5) - 1
	return s[min(max(i, 0), len(s)-1)]
}

// storeProbe is what probeStore measured: p50s, in seconds.
type storeProbe struct {
	// Tenant and User are the two GETs' primary-key lookups.
	Tenant, User float64
	// TenantPage is a page of 100 of an instance's tenants in id order,
	// from a random tenant on: the query of the periodic drift and health
	// checks' walk over every tenant and of the operators' listing.
	TenantPage float64
}

// probeStore times the services' own queries on the databases directly
// (from this process, beside the running services): whether the store
// itself slows down with its size.
func probeStore(ctx context.Context, urls storeURLs, instanceID string, ids *seeded, quick bool) (storeProbe, error) {
	n := 2000
	if quick {
		n = 200
	}
	probe := func(url, query string, n int, args func() []any) (float64, error) {
		db, err := sqldb.Open(ctx, url)
		if err != nil {
			return 0, err
		}
		defer db.Close()
		stmt, err := db.PrepareContext(ctx, db.Rebind(query))
		if err != nil {
			return 0, err
		}
		defer stmt.Close()
		lat := make([]float64, 0, n)
		for i := range n + n/4 {
			start := time.Now()
			rows, err := stmt.QueryContext(ctx, args()...)
			if err != nil {
				return 0, err
			}
			found := false
			for rows.Next() {
				found = true
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return 0, err
			}
			if !found {
				return 0, fmt.Errorf("%s: no row", query)
			}
			if i >= n/4 { // the first quarter warms up
				lat = append(lat, time.Since(start).Seconds())
			}
		}
		return quantile(lat, 0.5), nil
	}
	random := func(ids []string) func() []any {
		return func() []any { return []any{ids[rand.IntN(len(ids))], instanceID} }
	}
	var p storeProbe
	var err error
	if p.Tenant, err = probe(urls.Tenant, `SELECT * FROM tenants WHERE id = ? AND instance_id = ?`, n, random(ids.TenantIDs)); err != nil {
		return p, err
	}
	if p.User, err = probe(urls.User, `SELECT parent_id, data, state, version FROM users WHERE id = ? AND instance_id = ?`, n,
		random(ids.UserIDs)); err != nil {
		return p, err
	}
	// Pages start before the last 100 tenants in id order, so every page is full.
	sorted := slices.Sorted(slices.Values(ids.TenantIDs))
	from := sorted[:max(1, len(sorted)-100)]
	p.TenantPage, err = probe(urls.Tenant, `SELECT * FROM tenants WHERE instance_id = ? AND id > ? ORDER BY id LIMIT 100`, max(n/20, 20),
		func() []any { return []any{instanceID, from[rand.IntN(len(from))]} })
	return p, err
}

// diskUsage is the bytes on disk of the tenant and user services' data:
// their SQLite files (with the WAL), or their PostgreSQL schemas' tables
// with indexes and TOAST.
func diskUsage(ctx context.Context, urls storeURLs) (tenant, user float64, err error) {
	size := func(url string) (float64, error) {
		if path, ok := strings.CutPrefix(url, "sqlite://"); ok {
			var total int64
			for _, f := range []string{path, path + "-wal"} {
				if fi, err := os.Stat(f); err == nil {
					total += fi.Size()
				}
			}
			return float64(total), nil
		}
		db, err := sqldb.Open(ctx, url)
		if err != nil {
			return 0, err
		}
		defer db.Close()
		var n int64
		err = db.QueryRowContext(ctx, `SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0)::bigint FROM pg_class c
			JOIN pg_namespace s ON s.oid = c.relnamespace WHERE s.nspname = $1 AND c.relkind IN ('r', 'm')`, db.Schema()).Scan(&n)
		return float64(n), err
	}
	if tenant, err = size(urls.Tenant); err != nil {
		return 0, 0, err
	}
	user, err = size(urls.User)
	return tenant, user, err
}
