package msauth_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/o365gateway/gateway/services/shared/clouds"
	"github.com/o365gateway/gateway/services/shared/msauth"
	"github.com/o365gateway/gateway/services/shared/secret"
	"github.com/o365gateway/gateway/sim/mscloud"
	"github.com/o365gateway/gateway/sim/mscloud/mscloudtest"
)

func simulator(t *testing.T) (*mscloudtest.Sim, mscloudtest.Partner) {
	t.Helper()
	sim := mscloudtest.Start(t, mscloud.Options{})
	return sim, sim.RegisterPartner("global", "US")
}

func opts(sim *mscloudtest.Sim) msauth.Options {
	e, _ := clouds.Lookup("global")
	return msauth.Options{Endpoints: e.Override(sim.URL, sim.URL, ""), HTTP: sim.Client, Simulated: true}
}

func call(t *testing.T, c *http.Client, url, token string) int {
	req, _ := http.NewRequest("GET", url+"/v1/customers", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

var scope = policy.TokenRequestOptions{Scopes: []string{"https://api.partnercenter.microsoft.com/.default"}}

func TestClientSecretAgainstTheSimulator(t *testing.T) {
	sim, p := simulator(t)
	cred, err := msauth.ClientSecret(opts(sim), p.TenantID, p.ClientID, secret.New(p.ClientSecret))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := cred.GetToken(context.Background(), scope)
	if err != nil || call(t, sim.Client, sim.URL, tok.Token) != 200 {
		t.Fatalf("token refused: %v", err)
	}
	bad, _ := msauth.ClientSecret(opts(sim), p.TenantID, p.ClientID, secret.New("wrong-secret"))
	if _, err := bad.GetToken(context.Background(), scope); err == nil || strings.Contains(err.Error(), "wrong-secret") {
		t.Fatalf("bad secret: %v", err)
	}
}

func TestRefreshTokenRotates(t *testing.T) {
	sim, p := simulator(t)
	store := msauth.NewMemoryStore(secret.New(p.RefreshToken))
	cred := msauth.NewRefreshToken(opts(sim), p.TenantID, p.ClientID, secret.String{}, store)
	tok, err := cred.GetToken(context.Background(), scope)
	if err != nil || call(t, sim.Client, sim.URL, tok.Token) != 200 {
		t.Fatalf("token refused: %v", err)
	}
	if store.Rotations != 1 || store.Token().Reveal() == p.RefreshToken || store.Token().Empty() {
		t.Fatalf("rotation not stored: %d", store.Rotations)
	}
	again, err := cred.GetToken(context.Background(), scope)
	if err != nil || again.Token != tok.Token || store.Rotations != 1 {
		t.Fatal("cached token not reused")
	}
	// Another credential on the same store (another replica) redeems the
	// rotated token, not the spent one.
	other := msauth.NewRefreshToken(opts(sim), p.TenantID, p.ClientID, secret.String{}, store)
	if _, err := other.GetToken(context.Background(), scope); err != nil || store.Rotations != 2 {
		t.Fatalf("second credential on the store: %v (%d rotations)", err, store.Rotations)
	}
	// The spent token no longer works; the error carries no token.
	spent := msauth.NewRefreshToken(opts(sim), p.TenantID, p.ClientID, secret.String{}, msauth.NewMemoryStore(secret.New(p.RefreshToken)))
	if _, err := spent.GetToken(context.Background(), scope); err == nil || strings.Contains(err.Error(), p.RefreshToken) {
		t.Fatalf("spent refresh token: %v", err)
	}
}
