package msauth_test

import (
	"context"
	"strings"
	"testing"

	"github.com/o365gateway/gateway/services/shared/msauth"
	"github.com/o365gateway/gateway/services/shared/secret"
	"github.com/o365gateway/gateway/services/shared/telemetry/telemetrytest"
)

// Redemptions are counted by outcome, and every token request (the
// refresh-token credential's and azidentity's) as a login call whose
// operation names no tenant.
func TestTokenMetrics(t *testing.T) {
	telemetrytest.Install()
	sim, p := simulator(t)
	redeemed := func(outcome string) float64 {
		return telemetrytest.Value(t, "refresh_token_redemptions_total", "outcome", outcome)
	}
	const tokenOp = "POST /{id}/oauth2/v2.0/token"
	logins := func() float64 {
		return telemetrytest.Value(t, "microsoft_requests_total", "api", "login", "operation", tokenOp, "status", "200")
	}
	ok, invalid, before := redeemed("ok"), redeemed("invalid"), logins()

	store := msauth.NewMemoryStore(secret.New(p.RefreshToken))
	cred := msauth.NewRefreshToken(opts(sim), p.TenantID, p.ClientID, secret.String{}, store)
	if _, err := cred.GetToken(context.Background(), scope); err != nil {
		t.Fatal(err)
	}
	spent := msauth.NewRefreshToken(opts(sim), p.TenantID, p.ClientID, secret.String{}, msauth.NewMemoryStore(secret.New(p.RefreshToken)))
	if _, err := spent.GetToken(context.Background(), scope); err == nil {
		t.Fatal("a spent refresh token was redeemed")
	}
	if redeemed("ok") != ok+1 || redeemed("invalid") != invalid+1 {
		t.Errorf("redemptions ok %v, invalid %v; want %v, %v", redeemed("ok"), redeemed("invalid"), ok+1, invalid+1)
	}
	app, err := msauth.ClientSecret(opts(sim), p.TenantID, p.ClientID, secret.New(p.ClientSecret))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := app.GetToken(context.Background(), scope); err != nil {
		t.Fatal(err)
	}
	if got := logins(); got != before+2 {
		t.Errorf("successful token requests %v, want %v", got, before+2)
	}
	for _, name := range []string{"microsoft_requests_total", "refresh_token_redemptions_total"} {
		for _, pt := range telemetrytest.Points(t, name) {
			for k, v := range pt.Attrs {
				if strings.Contains(v, p.TenantID) || strings.Contains(v, p.ClientID) || strings.Contains(v, p.RefreshToken) {
					t.Errorf("%s carries an id or a secret: %s=%q", name, k, v)
				}
			}
		}
	}
}
