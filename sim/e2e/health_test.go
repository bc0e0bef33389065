package e2e

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/o365gateway/gateway/sim/apsc"
)

// The credential health reads the client secret's end date from the
// application (expiring well before it), and a secret that has expired is
// refused with a reason that names it.
func TestClientSecretExpiry(t *testing.T) {
	e := start(t)
	soon, err := e.sim.RegisterPartner(e.ctx, apsc.PartnerRequest{Name: "Expiring CSP", Cloud: "global", Countries: []string{"US"},
		Sandbox: true, ClientSecretExpiresIn: "240h"})
	if err != nil {
		t.Fatal(err)
	}
	inst := e.install(map[string]any{"partner_tenant_id": soon.TenantID, "client_id": soon.ClientID, "client_secret": soon.ClientSecret,
		"sales_countries": []any{"US"}})
	r, err := e.ctrl.Operation(e.ctx, inst, "GET", "/app/"+inst.AppID+"/health", url.Values{"refresh": {"true"}}, nil)
	if err != nil || r.Status != 200 {
		t.Fatalf("health: %v %d %s", err, r.Status, r.Body)
	}
	c := mustJSON(t, r)["credentials"].(map[string]any)
	end, _ := time.Parse(time.RFC3339, c["expires_at"].(string))
	if c["kind"] != "client_secret" || c["state"] != "expiring" || end.Sub(time.Now()) > 241*time.Hour || !strings.Contains(c["message"].(string), "expires") {
		t.Fatalf("an expiring secret: %v", c)
	}
	if g := mustJSON(t, r)["graph"].(map[string]any); g["state"] != "ok" {
		t.Fatalf("graph health: %v", g)
	}

	// Once the secret has expired, an instance made with it is refused,
	// and the reason says why.
	dead, err := e.sim.RegisterPartner(e.ctx, apsc.PartnerRequest{Name: "Dead CSP", Cloud: "global", Countries: []string{"US"},
		Sandbox: true, ClientSecretExpiresIn: "1h"})
	if err != nil {
		t.Fatal(err)
	}
	e.admin("POST", "/_sim/clock", map[string]any{"advance": "2h"}, nil)
	settings := apsc.DemoSettings(dead)
	_, err = e.ctrl.Install(e.ctx, settings)
	if err == nil || !strings.Contains(err.Error(), "400") || !strings.Contains(err.Error(), "client secret has expired") || !strings.Contains(err.Error(), "AADSTS7000222") {
		t.Fatalf("an expired secret: %v", err)
	}
}
