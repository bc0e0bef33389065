package serving

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/o365gateway/gateway/bench/internal/otlprecv"
	"github.com/o365gateway/gateway/bench/internal/report"
	"github.com/o365gateway/gateway/sim/apsc"
	"github.com/o365gateway/gateway/sim/devstack"
)

// Config is a configuration of the gateway under measurement.
type Config struct {
	Name string
	// Describe says what it is, for the report.
	Describe string
	// Env adds variables to every service and the facade, given the
	// receiver of their traces.
	Env func(r *otlprecv.Receiver) map[string][]string
}

// prefixes of the processes measured.
var prefixes = map[string]string{devstack.Tenant: "TENANT_", devstack.Subscription: "SUBSCRIPTION_", devstack.User: "USER_", devstack.Facade: "FACADE_"}

// ProductionSampleRatio is the trace sampling of the production
// configuration measured.
const ProductionSampleRatio = 0.01

// Production is how a provider runs the gateway: mutual TLS between the
// processes, the authorization policy and the audit log on (as the dev
// stack always has them), info logs, and traces sampled and exported over
// OTLP (to the benchmark's receiver).
var Production = Config{
	Name:     "production",
	Describe: fmt.Sprintf("mutual TLS, authorization and audit on; info logs; traces over OTLP, %g of them sampled", ProductionSampleRatio),
	Env: func(r *otlprecv.Receiver) map[string][]string {
		env := map[string][]string{}
		for name, p := range prefixes {
			env[name] = append(r.Env(p), p+"TRACE_SAMPLE_RATIO="+fmt.Sprint(ProductionSampleRatio))
		}
		return env
	},
}

// MakeRun is `make run`'s configuration: the dev stack's defaults (every
// trace recorded, into size-capped files; info logs).
var MakeRun = Config{
	Name:     "make run",
	Describe: "the dev stack's defaults: every trace recorded into size-capped JSON files; info logs",
	Env:      func(*otlprecv.Receiver) map[string][]string { return nil },
}

// fixture is a running stack with one instance and one tenant to read.
type fixture struct {
	stack    *devstack.Stack
	ctrl     *apsc.Controller
	inst     *apsc.Instance
	tenantID string
	// body is the facade's answer to GET /aps/tenants/{id}.
	body        []byte
	contentType string
}

func (f *fixture) Close() {
	if f.ctrl != nil {
		_ = f.ctrl.Close()
	}
	if f.stack != nil {
		_ = f.stack.Stop()
	}
}

// start starts the binaries in cfg and provisions one tenant.
// allInOne runs them as one process (the allinone binary).
func start(ctx context.Context, env *report.Env, binDir string, cfg Config, recv *otlprecv.Receiver, workDir string, allInOne bool) (*fixture, error) {
	f := &fixture{}
	extra := cfg.Env(recv)
	if env.ProfileDir != "" && binDir == env.BinDir {
		if extra == nil {
			extra = map[string][]string{}
		}
		for _, n := range profiledNames {
			extra[n] = append(extra[n], prefixes[n]+"PPROF=true")
		}
	}
	stack, err := devstack.Start(ctx, devstack.Options{BinDir: binDir, WorkDir: workDir, RetryTimeout: time.Second,
		ExtraEnv: extra, AllInOne: allInOne})
	if err != nil {
		return nil, err
	}
	f.stack = stack
	ctrl, err := stack.NewController(apsc.Options{MaxRetryWait: 200 * time.Millisecond})
	if err != nil {
		f.Close()
		return nil, err
	}
	f.ctrl = ctrl
	if err := ctrl.Start(ctx); err != nil {
		f.Close()
		return nil, err
	}
	sim, err := stack.SimClient()
	if err != nil {
		f.Close()
		return nil, err
	}
	p, err := sim.RegisterPartner(ctx, apsc.DemoPartnerRequest("bench"))
	if err != nil {
		f.Close()
		return nil, err
	}
	if f.inst, err = ctrl.Install(ctx, apsc.DemoSettings(p)); err != nil {
		f.Close()
		return nil, err
	}
	r, err := ctrl.Provision(ctx, f.inst, "tenants", apsc.DemoTenant(apsc.RandomSubdomain("bench"), "Bench Ltd", ""))
	if err != nil || r.Status != http.StatusOK {
		f.Close()
		return nil, fmt.Errorf("provision a tenant: %v (status %d)", err, r.Status)
	}
	f.tenantID = r.ResourceID
	got, err := ctrl.Retrieve(ctx, f.inst, "tenants", f.tenantID)
	if err != nil || got.Status != http.StatusOK {
		f.Close()
		return nil, fmt.Errorf("read the tenant: %v (status %d)", err, got.Status)
	}
	f.body, f.contentType = got.Body, got.Header.Get("Content-Type")
	return f, nil
}
