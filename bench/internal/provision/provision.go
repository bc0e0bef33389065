// Package provision is the provisioning section of `make bench`: how fast
// the gateway provisions through the facade, as APSC does (many parallel
// APSC workers, each a sync request and its async re-sends), when
// Microsoft's rate limits are what holds it back.
//
// It starts the real binaries (sim/devstack) with their defaults, which are
// Microsoft's published limits, and scales the simulator's limits down
// through its admin API (POST /_sim/settings) so that a window lasts
// seconds, not minutes: the gateway does not know the simulator's numbers
// and has to follow its signals (Retry-After, x-ms-throttle-*). Each figure
// is the median of env.Runs runs:
//
//   - sustained users: users of one tenant for four windows of a
//     scaled-down Graph write limit; the rate is measured over the last
//     three (the first window's budget goes in a burst, as it should),
//     against the ceiling: the window's limit per window length, divided by
//     the writes one user costs (counted at the simulator);
//   - sustained tenants: tenants of one partner under a scaled-down
//     Partner Center rate per partner, against the ceiling: that rate
//     divided by the Partner Center calls one tenant costs (counted at the
//     simulator);
//   - burst: users inside one window's budget, which must not wait for
//     anything but the gateway itself.
//
// The targets: sustained at 90% of the ceiling or more with no failure; a
// burst done inside its window with no 429 and no failure.
package provision

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/o365gateway/gateway/bench/internal/report"
	"github.com/o365gateway/gateway/sim/apsc"
	"github.com/o365gateway/gateway/sim/devstack"
)

// Section is the provisioning section.
func Section() report.Section {
	return report.Section{Name: "provisioning", Title: "Provisioning against Microsoft's rate limits", Run: Run}
}

// userWorkers is USER_JOB_WORKERS of the stack.
const userWorkers = "16"

// plan is what a run measures; Quick shortens it.
type plan struct {
	workers int
	// Graph: the simulator's write window.
	writeLimit  int
	writeWindow time.Duration
	// windows of sustained users (the first one's budget is a burst).
	windows int
	// burst users inside one window.
	burst int
	// Partner Center: the simulator's rate per partner, and how long the
	// sustained tenants run (by the ceiling).
	pcRPS      float64
	tenantsFor time.Duration
}

func planFor(env *report.Env) plan {
	if env.Quick {
		return plan{workers: 50, writeLimit: 40, writeWindow: 4 * time.Second, windows: 3, burst: 30, pcRPS: 8, tenantsFor: 6 * time.Second}
	}
	return plan{workers: 100, writeLimit: 200, writeWindow: 10 * time.Second, windows: 4, burst: 150, pcRPS: 5, tenantsFor: 30 * time.Second}
}

// Run measures the section.
func Run(ctx context.Context, env *report.Env) ([]report.Table, error) {
	p := planFor(env)
	b, err := start(ctx, env)
	if err != nil {
		return nil, err
	}
	defer b.close()
	users, err := b.sustainedUsers(ctx, env, p)
	if err != nil {
		return nil, fmt.Errorf("sustained users: %w", err)
	}
	tenants, err := b.sustainedTenants(ctx, env, p)
	if err != nil {
		return nil, fmt.Errorf("sustained tenants: %w", err)
	}
	burst, err := b.burst(ctx, env, p)
	if err != nil {
		return nil, fmt.Errorf("burst: %w", err)
	}
	return []report.Table{users, tenants, burst}, nil
}

// bench is one running stack with an installed instance.
type bench struct {
	stack *devstack.Stack
	ctrl  *apsc.Controller
	sim   *apsc.SimClient
	part  *apsc.Partner
	inst  *apsc.Instance
	log   func(string, ...any)
}

func start(ctx context.Context, env *report.Env) (*bench, error) {
	work := env.WorkDir
	if work == "" {
		d, err := os.MkdirTemp("", "bench-provision-")
		if err != nil {
			return nil, err
		}
		work = d
	}
	work = filepath.Join(work, "provision")
	// The periodic checks would compete for the Partner Center budget.
	// The user service runs 16 job workers instead of its default 4: with
	// 4, its own jobs, not Microsoft's limit, held sustained users back
	// (78% of the ceiling against 85% with 16, on a 2-core machine).
	extra := map[string][]string{"tenant": {"TENANT_DRIFT_INTERVAL=0", "TENANT_HEALTH_INTERVAL=0"}, "user": {"USER_JOB_WORKERS=" + userWorkers}}
	stack, err := devstack.Start(ctx, devstack.Options{BinDir: env.BinDir, WorkDir: work, RetryTimeout: time.Second, ExtraEnv: extra})
	if err != nil {
		return nil, err
	}
	b := &bench{stack: stack, log: func(string, ...any) {}}
	if env.Log != nil {
		b.log = env.Log.Info
	}
	fail := func(err error) (*bench, error) {
		b.close()
		return nil, err
	}
	if b.ctrl, err = stack.NewController(apsc.Options{}); err != nil {
		return fail(err)
	}
	if err := b.ctrl.Start(ctx); err != nil {
		return fail(err)
	}
	if b.sim, err = stack.SimClient(); err != nil {
		return fail(err)
	}
	if b.part, err = b.sim.RegisterPartner(ctx, apsc.PartnerRequest{Name: "Bench CSP", Cloud: "global", Countries: []string{"US"}, Sandbox: false}); err != nil {
		return fail(err)
	}
	if b.inst, err = b.ctrl.Install(ctx, apsc.DemoSettings(b.part)); err != nil {
		return fail(err)
	}
	return b, nil
}

func (b *bench) close() {
	if b.ctrl != nil {
		_ = b.ctrl.Close()
	}
	_ = b.stack.Stop()
}

// settings sets the simulator's limits (POST /_sim/settings; a change
// starts fresh windows and buckets).
func (b *bench) settings(ctx context.Context, s map[string]any) error {
	body, _ := json.Marshal(s)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(b.sim.BaseURL, "/")+"/_sim/settings", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := b.sim.HTTP.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		data, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("simulator settings: %s %s", resp.Status, data)
	}
	return nil
}

// defaults are the simulator's limits at start, Microsoft's.
var defaults = map[string]any{"graph_write_limit": 3000, "graph_write_window_seconds": 150, "throttle_partner_rps": 100, "throttle_customer_rps": 20}

// counts are the simulator's counters of the partner.
type counts struct {
	GraphWrites    int `json:"graph_writes"`
	GraphThrottled int `json:"graph_throttled"`
	PCCalls        int `json:"pc_calls"`
	PCThrottled    int `json:"pc_throttled"`
}

func (c counts) minus(o counts) counts {
	return counts{c.GraphWrites - o.GraphWrites, c.GraphThrottled - o.GraphThrottled, c.PCCalls - o.PCCalls, c.PCThrottled - o.PCThrottled}
}

func (b *bench) counts(ctx context.Context) (counts, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(b.sim.BaseURL, "/")+"/_sim/state?partner="+b.part.TenantID, nil)
	if err != nil {
		return counts{}, err
	}
	resp, err := b.sim.HTTP.Do(req)
	if err != nil {
		return counts{}, err
	}
	defer resp.Body.Close()
	var st struct {
		Partners []counts `json:"partners"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil || len(st.Partners) != 1 {
		return counts{}, fmt.Errorf("simulator state: %s, %v", resp.Status, err)
	}
	return st.Partners[0], nil
}

// tenant provisions a tenant and returns its APS id and initial domain.
func (b *bench) tenant(ctx context.Context) (string, string, error) {
	sub := apsc.RandomSubdomain("bench")
	r, err := b.ctrl.Provision(ctx, b.inst, "tenants", apsc.DemoTenant(sub, "Bench Ltd", ""))
	if err != nil {
		return "", "", err
	}
	if r.Status != http.StatusOK {
		return "", "", fmt.Errorf("tenant: %d %s", r.Status, r.Body)
	}
	return r.ResourceID, sub + ".onmicrosoft.com", nil
}

// outcome of a batch of provisionings.
type outcome struct {
	done     []time.Duration // completion times since the start, sorted
	failures int
	firstErr string
	elapsed  time.Duration
}

// batch provisions n resources with workers parallel APSC workers; body(i)
// is the i-th resource.
func (b *bench) batch(ctx context.Context, workers, n int, svc string, body func(i int) map[string]any) outcome {
	var (
		mu   sync.Mutex
		out  outcome
		next atomic.Int64
		wg   sync.WaitGroup
	)
	startAt := time.Now()
	for range min(workers, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n || ctx.Err() != nil {
					return
				}
				r, err := b.ctrl.Provision(ctx, b.inst, svc, body(i))
				at := time.Since(startAt)
				mu.Lock()
				switch {
				case err != nil:
					out.failures++
					if out.firstErr == "" {
						out.firstErr = err.Error()
					}
				case r.Status != http.StatusOK:
					out.failures++
					if out.firstErr == "" {
						out.firstErr = fmt.Sprintf("%d %s", r.Status, bytes.TrimSpace(r.Body))
					}
				default:
					out.done = append(out.done, at)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	out.elapsed = time.Since(startAt)
	slices.Sort(out.done)
	return out
}

func userBody(tenantID, login string) map[string]any {
	return map[string]any{"tenant": map[string]any{"aps": map[string]any{"id": tenantID}}, "login": login,
		"first_name": "Ann", "last_name": "Lee", "usage_location": "US"}
}

// sustainedUsers: users of one new tenant for p.windows windows of the
// scaled-down write limit.
func (b *bench) sustainedUsers(ctx context.Context, env *report.Env, p plan) (report.Table, error) {
	var failures, throttled, perUser float64
	var why string
	figures, err := report.Runs(ctx, env, func(ctx context.Context, run int) ([]float64, error) {
		tenantID, domain, before, err := b.usersRun(ctx, p)
		if err != nil {
			return nil, err
		}
		n := p.writeLimit * p.windows
		out := b.batch(ctx, p.workers, n, "users", func(i int) map[string]any {
			return userBody(tenantID, fmt.Sprintf("s%d-%04d@%s", run, i, domain))
		})
		after, err := b.counts(ctx)
		if err != nil {
			return nil, err
		}
		d := after.minus(before)
		w := float64(d.GraphWrites) / float64(max(1, len(out.done)))
		// The first window's budget goes at once and the rest of that
		// window is spent waiting for the next: the sustained rate is that
		// of the users done after the first window (which starts with the
		// first write, about when the first user is done), up to the last.
		rate, whole := 0.0, 0.0
		if len(out.done) > 0 {
			last := out.done[len(out.done)-1]
			whole = float64(len(out.done)) / last.Seconds() * 60
			t0 := out.done[0] + p.writeWindow
			after := 0
			for _, at := range out.done {
				if at > t0 {
					after++
				}
			}
			if last > t0 {
				rate = float64(after) / (last - t0).Seconds() * 60
			}
		}
		ceiling := float64(p.writeLimit) / p.writeWindow.Seconds() / math.Max(w, 1) * 60
		b.log("provision: sustained users", "run", run, "users", len(out.done), "failures", out.failures, "per_min", rate, "ceiling", ceiling,
			"writes_per_user", w, "graph_429", d.GraphThrottled, "elapsed", out.elapsed)
		failures += float64(out.failures)
		throttled += float64(d.GraphThrottled)
		perUser = w
		if out.firstErr != "" && why == "" {
			why = out.firstErr
		}
		return []float64{float64(n), rate, ceiling, rate / ceiling, float64(d.GraphThrottled), float64(out.failures), out.elapsed.Seconds(), whole}, nil
	})
	if err != nil {
		return report.Table{}, err
	}
	t := report.Table{
		Title: "Sustained users in one tenant",
		Note: fmt.Sprintf(`%d parallel APSC workers (APS-Retry-Timeout 1 s; USER_JOB_WORKERS=`+userWorkers+`) provision users (no license) into one tenant through the facade while the simulator
limits Graph writes to %d per %s per application and tenant (Graph: 3,000 per 150 s; the gateway keeps Microsoft's numbers and
follows the simulator's signals). %d windows' worth of users. Sustained: the users done after the first window (whose budget
goes at once, the rest of it waiting for the next window) per minute up to the last; the whole run's rate, first window included, is shown beside it. Ceiling: the limit per window length divided by the Graph writes one user costs (%.2f, counted at the simulator).
Median of %d runs.`, p.workers, p.writeLimit, p.writeWindow, p.windows, perUser, max(env.Runs, 1)),
		Header: []string{"users", "sustained users/min", "ceiling users/min", "of the ceiling", "whole run users/min", "Graph 429s", "failures", "time (s)"},
	}
	t.Add(report.Number(figures[0]), report.Number(figures[1]), report.Number(figures[2]), fmt.Sprintf("%.0f%%", figures[3]*100),
		report.Number(figures[7]), report.Number(figures[4]), report.Number(failures), report.Number(figures[6]))
	t.Footer = []string{verdict("sustained users ≥ 90% of the ceiling with 0 failures", figures[3], failures, why, throttled)}
	return t, nil
}

// sustainedTenants: tenants of one partner under a scaled-down Partner
// Center rate.
func (b *bench) sustainedTenants(ctx context.Context, env *report.Env, p plan) (report.Table, error) {
	// What one tenant costs at Partner Center, unthrottled.
	if err := b.settings(ctx, defaults); err != nil {
		return report.Table{}, err
	}
	before, err := b.counts(ctx)
	if err != nil {
		return report.Table{}, err
	}
	const probe = 2
	for range probe {
		if _, _, err := b.tenant(ctx); err != nil {
			return report.Table{}, err
		}
	}
	after, err := b.counts(ctx)
	if err != nil {
		return report.Table{}, err
	}
	perTenant := float64(after.minus(before).PCCalls) / probe
	ceiling := p.pcRPS / math.Max(perTenant, 1) * 60
	n := max(4, int(math.Ceil(ceiling/60*p.tenantsFor.Seconds())))
	var failures, throttled float64
	var why string
	figures, err := report.Runs(ctx, env, func(ctx context.Context, run int) ([]float64, error) {
		if err := b.settings(ctx, map[string]any{"throttle_partner_rps": p.pcRPS, "throttle_customer_rps": 20, "graph_write_limit": 3000, "graph_write_window_seconds": 150}); err != nil {
			return nil, err
		}
		before, err := b.counts(ctx)
		if err != nil {
			return nil, err
		}
		out := b.batch(ctx, p.workers, n, "tenants", func(int) map[string]any {
			return apsc.DemoTenant(apsc.RandomSubdomain("bench"), "Bench Ltd", "")
		})
		after, err := b.counts(ctx)
		if err != nil {
			return nil, err
		}
		d := after.minus(before)
		rate := 0.0
		if len(out.done) > 0 {
			rate = float64(len(out.done)) / out.done[len(out.done)-1].Seconds() * 60
		}
		b.log("provision: sustained tenants", "run", run, "tenants", len(out.done), "failures", out.failures, "per_min", rate, "ceiling", ceiling,
			"pc_calls", d.PCCalls, "pc_429", d.PCThrottled, "elapsed", out.elapsed)
		failures += float64(out.failures)
		throttled += float64(d.PCThrottled)
		if out.firstErr != "" && why == "" {
			why = out.firstErr
		}
		return []float64{rate, rate / ceiling, float64(d.PCThrottled), out.elapsed.Seconds(), float64(d.PCCalls) / float64(max(1, len(out.done)))}, nil
	})
	if err != nil {
		return report.Table{}, err
	}
	if err := b.settings(ctx, defaults); err != nil {
		return report.Table{}, err
	}
	t := report.Table{
		Title: "Sustained tenants of one partner",
		Note: fmt.Sprintf(`%d tenants provisioned through the facade by %d parallel APSC workers while the simulator limits Partner Center to
%s calls per second per partner (Microsoft publishes no number; the gateway starts from 600 a minute, pauses for each Retry-After and lowers its rate on each 429).
Ceiling: that rate divided by the Partner Center calls one tenant costs (%.1f, counted at the simulator without throttling).
Median of %d runs.`, n, min(p.workers, n), report.Number(p.pcRPS), perTenant, max(env.Runs, 1)),
		Header: []string{"tenants", "tenants/min", "ceiling tenants/min", "of the ceiling", "Partner Center 429s", "failures", "calls per tenant", "time (s)"},
	}
	t.Add(report.Number(float64(n)), report.Number(figures[0]), report.Number(ceiling), fmt.Sprintf("%.0f%%", figures[1]*100),
		report.Number(figures[2]), report.Number(failures), report.Number(figures[4]), report.Number(figures[3]))
	t.Footer = []string{verdict("sustained tenants ≥ 90% of the ceiling with 0 failures", figures[1], failures, why, throttled)}
	return t, nil
}

// usersRun prepares a run of users: a new tenant (under the simulator's
// default limits), then fresh Graph write windows of the plan's size, and
// the simulator's counts before the load.
func (b *bench) usersRun(ctx context.Context, p plan) (tenantID, domain string, before counts, err error) {
	if err = b.settings(ctx, defaults); err != nil {
		return
	}
	if tenantID, domain, err = b.tenant(ctx); err != nil {
		return
	}
	if err = b.settings(ctx, map[string]any{"graph_write_limit": p.writeLimit, "graph_write_window_seconds": int(p.writeWindow / time.Second)}); err != nil {
		return
	}
	before, err = b.counts(ctx)
	return
}

// burst: users inside one window's budget.
func (b *bench) burst(ctx context.Context, env *report.Env, p plan) (report.Table, error) {
	var failures, throttled float64
	var why string
	figures, err := report.Runs(ctx, env, func(ctx context.Context, run int) ([]float64, error) {
		tenantID, domain, before, err := b.usersRun(ctx, p)
		if err != nil {
			return nil, err
		}
		out := b.batch(ctx, p.workers, p.burst, "users", func(i int) map[string]any {
			return userBody(tenantID, fmt.Sprintf("b%d-%04d@%s", run, i, domain))
		})
		after, err := b.counts(ctx)
		if err != nil {
			return nil, err
		}
		d := after.minus(before)
		b.log("provision: burst", "run", run, "users", len(out.done), "failures", out.failures, "elapsed", out.elapsed, "graph_429", d.GraphThrottled, "graph_writes", d.GraphWrites)
		failures += float64(out.failures)
		throttled += float64(d.GraphThrottled)
		if out.firstErr != "" && why == "" {
			why = out.firstErr
		}
		return []float64{float64(len(out.done)) / out.elapsed.Seconds(), out.elapsed.Seconds(), float64(d.GraphThrottled), float64(d.GraphWrites)}, nil
	})
	if err != nil {
		return report.Table{}, err
	}
	if err := b.settings(ctx, defaults); err != nil {
		return report.Table{}, err
	}
	t := report.Table{
		Title: "A burst of users inside one window",
		Note: fmt.Sprintf(`%d users into one tenant by %d parallel APSC workers, under the same scaled-down Graph write limit (%d per %s): the
burst fits the window's budget, so nothing but the gateway itself should hold it back (the gateway's write budget holds the
whole window). Median of %d runs.`, p.burst, min(p.workers, p.burst), p.writeLimit, p.writeWindow, max(env.Runs, 1)),
		Header: []string{"users", "users/s", "time (s)", "Graph writes", "Graph 429s", "failures"},
	}
	t.Add(report.Number(float64(p.burst)), report.Number(figures[0]), report.Number(figures[1]), report.Number(figures[3]), report.Number(figures[2]), report.Number(failures))
	ok := failures == 0 && throttled == 0 && figures[1] < p.writeWindow.Seconds()
	line := fmt.Sprintf("Target (the burst done inside its %s window, no 429, 0 failures): %s.", p.writeWindow, report.Verdict(ok))
	if !ok {
		switch {
		case failures > 0:
			line += " Failures: " + why
		case throttled > 0:
			line += fmt.Sprintf(" The simulator answered %.0f 429s: the burst did not fit the window's budget (writes per user more than assumed).", throttled)
		default:
			line += " The gateway itself took longer than a window for the burst."
		}
	}
	t.Footer = []string{line}
	return t, nil
}

// verdict is a sustained table's footer.
func verdict(target string, ratio, failures float64, why string, throttled float64) string {
	ok := ratio >= 0.9 && failures == 0
	line := fmt.Sprintf("Target (%s): %s (%.0f%% of the ceiling, %.0f failures, %.0f 429s at the simulator in all runs).", target, report.Verdict(ok), ratio*100, failures, throttled)
	if ok {
		return line
	}
	if failures > 0 {
		return line + " Failures, the first: " + why
	}
	return line + " Below the ceiling: the simulator's windows are fixed, as Graph's are, so any part of a window the gateway does not fill is lost; the gateway's own pace through the facade on this machine (every process and the APSC workers on 2 cores: see the burst's users/s) leaves little headroom above the ceiling for its jitter, and a window that fills early ends with a 429 whose whole-second Retry-After is waited out."
}
