package bench

import (
	"context"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/o365gateway/gateway/sim/apsc"
	"github.com/o365gateway/gateway/sim/devstack"
)

// BenchmarkFacadeRetrieveTenant measures GET /aps/tenants/{id} through the
// real binaries as APSC sends it (client certificate, APS headers): TLS
// handshake reuse, the APS layer, grpc-gateway, the tenant service and its
// SQLite store. Needs O365GW_BIN (make bench builds the binaries).
func BenchmarkFacadeRetrieveTenant(b *testing.B) {
	bin := os.Getenv("O365GW_BIN")
	if bin == "" {
		b.Skip("set O365GW_BIN to a folder with the built binaries (make bench)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	stack, err := devstack.Start(ctx, devstack.Options{BinDir: bin, WorkDir: b.TempDir(), RetryTimeout: time.Second,
		ExtraEnv: map[string][]string{"facade": {"FACADE_LOG_LEVEL=warn"}}})
	if err != nil {
		b.Fatal(err)
	}
	defer stack.Stop()
	ctrl, err := stack.NewController(apsc.Options{MaxRetryWait: 200 * time.Millisecond})
	if err != nil {
		b.Fatal(err)
	}
	if err := ctrl.Start(ctx); err != nil {
		b.Fatal(err)
	}
	defer ctrl.Close()
	sim, _ := stack.SimClient()
	p, err := sim.RegisterPartner(ctx, apsc.DemoPartnerRequest("bench"))
	if err != nil {
		b.Fatal(err)
	}
	inst, err := ctrl.Install(ctx, apsc.DemoSettings(p))
	if err != nil {
		b.Fatal(err)
	}
	r, err := ctrl.Provision(ctx, inst, "tenants", apsc.DemoTenant(apsc.RandomSubdomain("bench"), "Bench Ltd", ""))
	if err != nil || r.Status != http.StatusOK {
		b.Fatalf("%v %d", err, r.Status)
	}
	b.ResetTimer()
	for range b.N {
		res, err := ctrl.Retrieve(ctx, inst, "tenants", r.ResourceID)
		if err != nil || res.Status != http.StatusOK {
			b.Fatalf("%v %d", err, res.Status)
		}
	}
}
