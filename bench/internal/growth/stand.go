package growth

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/o365gateway/gateway/bench/internal/report"
	"github.com/o365gateway/gateway/services/shared/sqldb"
	"github.com/o365gateway/gateway/sim/apsc"
	"github.com/o365gateway/gateway/sim/devstack"
)

// stand is the stack of one database × size, across its restart.
type stand struct {
	env   *report.Env
	work  string
	dbURL string // PostgreSQL database of the stack; "" for SQLite
	ports devstack.Ports
	watch *logWatch

	stack *devstack.Stack
	ctrl  *apsc.Controller
	inst  *apsc.Instance
	real  realRows
}

// realRows are the rows provisioned through the facade, which seeding
// clones: two tenants with a user each, so that seeding tells the ids of
// a row (which differ between the two) from the constants every row holds
// (the instance's id, the GDAP roles).
type realRows struct {
	InstanceID string
	Tenants    []realTenant
	LoginLocal string // the users' login before the @
}

type realTenant struct {
	ID        string
	Subdomain string // the tenant's initial subdomain
	UserID    string // its user
}

// extraEnv brings the services' logging and tracing back to their
// production defaults (the dev stack logs at debug and writes every span
// to a file) and turns the periodic drift and health checks off: they walk
// every tenant against the Microsoft simulator, which does not know the
// seeded customers.
var extraEnv = map[string][]string{
	devstack.Tenant:       {"TENANT_LOG_LEVEL=info", "TENANT_TRACES=none", "TENANT_DRIFT_INTERVAL=0", "TENANT_HEALTH_INTERVAL=0"},
	devstack.User:         {"USER_LOG_LEVEL=info", "USER_TRACES=none"},
	devstack.Subscription: {"SUBSCRIPTION_TRACES=none"},
	devstack.Facade:       {"FACADE_LOG_LEVEL=info", "FACADE_TRACES=none"},
}

func newStand(ctx context.Context, env *report.Env, work, dbURL string) (*stand, error) {
	st := &stand{env: env, work: work, dbURL: dbURL, watch: &logWatch{}}
	if err := st.start(ctx); err != nil {
		return nil, err
	}
	p := &st.ports
	for _, a := range []struct {
		addr string
		port *int
	}{{st.stack.SimAddr, &p.Sim}, {st.stack.TenantGRPCAddr, &p.Tenant}, {st.stack.SubscriptionGRPCAddr, &p.Subscription},
		{st.stack.UserGRPCAddr, &p.User}, {st.stack.FacadeAddr, &p.Facade}} {
		_, port, err := net.SplitHostPort(a.addr)
		if err == nil {
			*a.port, err = strconv.Atoi(port)
		}
		if err != nil {
			st.close()
			return nil, fmt.Errorf("port of %s: %w", a.addr, err)
		}
	}
	return st, nil
}

// start starts the stack on the stand's work directory (and database),
// on the ports of its first start.
func (st *stand) start(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	s, err := devstack.Start(ctx, devstack.Options{BinDir: st.env.BinDir, WorkDir: st.work, DatabaseURL: st.dbURL,
		RetryTimeout: time.Second, Ports: st.ports, ExtraEnv: extraEnv, Stdout: st.watch, Stderr: st.watch,
		ReadyTimeout: 5 * time.Minute})
	if err != nil {
		return err
	}
	st.stack = s
	return nil
}

// provision installs an instance and provisions two tenants with a user
// each through the facade, as APSC does, and reads them back.
func (st *stand) provision(ctx context.Context) error {
	ctrl, err := st.stack.NewController(apsc.Options{MaxRetryWait: 200 * time.Millisecond})
	if err != nil {
		return err
	}
	if err := ctrl.Start(ctx); err != nil {
		return err
	}
	st.ctrl = ctrl
	p, err := st.stack.RegisterDemoPartner(ctx, "growth")
	if err != nil {
		return fmt.Errorf("register a partner: %w", err)
	}
	inst, err := ctrl.Install(ctx, apsc.DemoSettings(p))
	if err != nil {
		return fmt.Errorf("install: %w", err)
	}
	st.inst = inst
	st.real = realRows{InstanceID: inst.InstanceID, LoginLocal: "gwuser0"}
	for range 2 {
		t, err := st.provisionTenant(ctx)
		if err != nil {
			return err
		}
		st.real.Tenants = append(st.real.Tenants, t)
	}
	return nil
}

// provisionTenant provisions a tenant and a user of it and reads both back.
func (st *stand) provisionTenant(ctx context.Context) (realTenant, error) {
	ctrl, inst := st.ctrl, st.inst
	sub := apsc.RandomSubdomain("growth")
	r, err := ctrl.Provision(ctx, inst, "tenants", apsc.DemoTenant(sub, "Growth Ltd", newUUID()))
	if err := check("provision a tenant", r, err); err != nil {
		return realTenant{}, err
	}
	tenantID := r.ResourceID
	r, err = ctrl.Provision(ctx, inst, "users", map[string]any{
		"tenant": map[string]any{"aps": map[string]any{"id": tenantID}}, "login": st.real.LoginLocal + "@" + sub + ".onmicrosoft.com",
		"first_name": "Grace", "last_name": "Hopper", "usage_location": "US", "password": "Gr0wth!" + newUUID()[:12]})
	if err := check("provision a user", r, err); err != nil {
		return realTenant{}, err
	}
	userID := r.ResourceID
	for _, get := range [][2]string{{"tenants", tenantID}, {"users", userID}} {
		r, err := ctrl.Retrieve(ctx, inst, get[0], get[1])
		if err := check("read back "+get[0], r, err); err != nil {
			return realTenant{}, err
		}
	}
	return realTenant{ID: tenantID, Subdomain: sub, UserID: userID}, nil
}

func check(what string, r *apsc.Result, err error) error {
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if r.Status != http.StatusOK {
		return fmt.Errorf("%s: %d %s", what, r.Status, bytes.TrimSpace(r.Body))
	}
	return nil
}

func (st *stand) stop() error {
	if st.stack == nil {
		return nil
	}
	err := st.stack.Stop()
	st.stack = nil
	return err
}

// restart starts the stack again on its (seeded) data, same ports.
func (st *stand) restart(ctx context.Context) error {
	if err := st.stop(); err != nil {
		return err
	}
	st.watch.reset()
	return st.start(ctx)
}

func (st *stand) close() error {
	if st.ctrl != nil {
		_ = st.ctrl.Close()
		st.ctrl = nil
	}
	return st.stop()
}

// storeURLs are the databases of the tenant and user services.
type storeURLs struct {
	Tenant, User string
}

func (st *stand) stores() storeURLs {
	if st.dbURL == "" {
		return storeURLs{Tenant: "sqlite://" + st.work + "/tenant.db", User: "sqlite://" + st.work + "/user.db"}
	}
	in := func(schema string) string {
		u, _ := url.Parse(st.dbURL)
		q := u.Query()
		q.Set("search_path", schema)
		u.RawQuery = q.Encode()
		return u.String()
	}
	return storeURLs{Tenant: in(devstack.Tenant), User: in(devstack.User)}
}

// waitRekey waits for the tenant and user services' start-up re-sealing
// passes and returns how long each took (seconds; -1 if not seen in time).
func (st *stand) waitRekey(ctx context.Context, limit time.Duration) (tenant, user float64) {
	deadline := time.Now().Add(limit)
	for {
		t, tok := st.watch.rekey(devstack.Tenant)
		u, uok := st.watch.rekey(devstack.User)
		if tok && uok || time.Now().After(deadline) || ctx.Err() != nil {
			if !tok {
				t = -1
			}
			if !uok {
				u = -1
			}
			return t, u
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// logWatch reads the processes' output (devstack's copy, "[name] line")
// for the re-sealing passes.
type logWatch struct {
	mu      sync.Mutex
	buf     []byte
	rekeyed map[string]float64 // seconds, by process, since reset
}

func (w *logWatch) reset() {
	w.mu.Lock()
	w.rekeyed = nil
	w.mu.Unlock()
}

func (w *logWatch) rekey(name string) (float64, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	d, ok := w.rekeyed[name]
	return d, ok
}

func (w *logWatch) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		w.line(w.buf[:i])
		w.buf = w.buf[i+1:]
	}
	return len(p), nil
}

func (w *logWatch) line(l []byte) {
	if !bytes.Contains(l, []byte("re-sealing pass")) || len(l) == 0 || l[0] != '[' {
		return
	}
	name, rest, ok := strings.Cut(string(l[1:]), "] ")
	if !ok {
		return
	}
	var rec struct {
		Duration string `json:"duration"`
	}
	if json.Unmarshal([]byte(rest), &rec) != nil {
		return
	}
	d, err := time.ParseDuration(rec.Duration)
	if err != nil {
		return
	}
	if w.rekeyed == nil {
		w.rekeyed = map[string]float64{}
	}
	if _, seen := w.rekeyed[name]; !seen {
		w.rekeyed[name] = d.Seconds()
	}
}

// createDatabase creates a database on the server of serverURL and
// returns its URL and a function that drops it.
func createDatabase(ctx context.Context, serverURL, name string) (string, func(), error) {
	admin, err := sqldb.Open(ctx, serverURL)
	if err != nil {
		return "", nil, err
	}
	if _, err := admin.ExecContext(ctx, `CREATE DATABASE "`+name+`"`); err != nil {
		admin.Close()
		return "", nil, fmt.Errorf("create database %s: %w", name, err)
	}
	u, err := url.Parse(serverURL)
	if err != nil {
		admin.Close()
		return "", nil, err
	}
	u.Path = "/" + name
	drop := func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_, _ = admin.ExecContext(ctx, `DROP DATABASE IF EXISTS "`+name+`" WITH (FORCE)`)
		admin.Close()
	}
	return u.String(), drop, nil
}

// newUUID is a random version-4 UUID.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return formatUUID(b)
}

func formatUUID(b [16]byte) string {
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	const hex = "0123456789abcdef"
	out := make([]byte, 36)
	j := 0
	for i, c := range b {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			out[j] = '-'
			j++
		}
		out[j], out[j+1] = hex[c>>4], hex[c&0x0f]
		j += 2
	}
	return string(out)
}
