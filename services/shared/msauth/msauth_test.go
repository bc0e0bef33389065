package msauth_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/o365gateway/gateway/services/shared/clouds"
	"github.com/o365gateway/gateway/services/shared/msauth"
	"github.com/o365gateway/gateway/services/shared/secret"
	"github.com/o365gateway/gateway/sim/mscloud"
)

type partner struct {
	TenantID     string `json:"tenant_id"`
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
	RefreshToken string `json:"refresh_token"`
}

func simulator(t *testing.T) (*httptest.Server, *http.Client, partner) {
	t.Helper()
	b, err := mscloud.NewTLS()
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(mscloud.New(mscloud.Options{}).Handler())
	srv.TLS = b.ServerConfig()
	srv.StartTLS()
	t.Cleanup(srv.Close)
	body, _ := json.Marshal(map[string]any{"name": "p", "cloud": "global", "countries": []string{"US"}, "sandbox": true})
	resp, err := b.Client().Post(srv.URL+"/_sim/partners", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var p partner
	_ = json.NewDecoder(resp.Body).Decode(&p)
	return srv, b.Client(), p
}

func opts(srv *httptest.Server, c *http.Client) msauth.Options {
	e, _ := clouds.Lookup("global")
	return msauth.Options{Endpoints: e.Override(srv.URL, srv.URL, ""), HTTP: c, Simulated: true}
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
	srv, c, p := simulator(t)
	cred, err := msauth.ClientSecret(opts(srv, c), p.TenantID, p.ClientID, secret.New(p.ClientSecret))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := cred.GetToken(context.Background(), scope)
	if err != nil || call(t, c, srv.URL, tok.Token) != 200 {
		t.Fatalf("token refused: %v", err)
	}
	bad, _ := msauth.ClientSecret(opts(srv, c), p.TenantID, p.ClientID, secret.New("wrong-secret"))
	if _, err := bad.GetToken(context.Background(), scope); err == nil || strings.Contains(err.Error(), "wrong-secret") {
		t.Fatalf("bad secret: %v", err)
	}
}

func TestRefreshTokenRotates(t *testing.T) {
	srv, c, p := simulator(t)
	var rotated []string
	cred := msauth.NewRefreshToken(opts(srv, c), p.TenantID, p.ClientID, secret.String{}, secret.New(p.RefreshToken),
		func(_ context.Context, tok secret.String) error { rotated = append(rotated, tok.Reveal()); return nil })
	tok, err := cred.GetToken(context.Background(), scope)
	if err != nil || call(t, c, srv.URL, tok.Token) != 200 {
		t.Fatalf("token refused: %v", err)
	}
	if len(rotated) != 1 || rotated[0] == p.RefreshToken || rotated[0] == "" {
		t.Fatalf("rotation not reported: %d", len(rotated))
	}
	again, err := cred.GetToken(context.Background(), scope)
	if err != nil || again.Token != tok.Token || len(rotated) != 1 {
		t.Fatal("cached token not reused")
	}
	// The spent token no longer works; the error carries no token.
	spent := msauth.NewRefreshToken(opts(srv, c), p.TenantID, p.ClientID, secret.String{}, secret.New(p.RefreshToken), nil)
	if _, err := spent.GetToken(context.Background(), scope); err == nil || strings.Contains(err.Error(), p.RefreshToken) {
		t.Fatalf("spent refresh token: %v", err)
	}
}
