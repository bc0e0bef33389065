// Package mscloudtest runs the Microsoft cloud simulator inside a test: an
// HTTPS server with its own CA (also written to a file for clients that take
// a CA file), and helpers for the admin API.
package mscloudtest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"github.com/o365gateway/gateway/sim/mscloud"
)

// Sim is a simulator started for one test.
type Sim struct {
	URL    string
	Client *http.Client
	CAPEM  []byte
	CAFile string
	t      testing.TB
}

// Partner is a partner registered at the simulator.
type Partner struct {
	TenantID     string `json:"tenant_id"`
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
	RefreshToken string `json:"refresh_token"`
}

// Start starts a simulator that stops when the test ends.
func Start(t testing.TB, opts mscloud.Options) *Sim {
	t.Helper()
	bundle, err := mscloud.NewTLS()
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(mscloud.New(opts).Handler())
	srv.TLS = bundle.ServerConfig()
	srv.StartTLS()
	t.Cleanup(srv.Close)
	caFile := filepath.Join(t.TempDir(), "mscloud-ca.pem")
	if err := os.WriteFile(caFile, bundle.CAPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return &Sim{URL: srv.URL, Client: bundle.Client(), CAPEM: bundle.CAPEM, CAFile: caFile, t: t}
}

// Admin calls the admin API and decodes the answer into out (may be nil);
// any status of 300 or more fails the test.
func (s *Sim) Admin(method, path string, body, out any) {
	s.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, s.URL+path, rd)
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.Client.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		s.t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, data)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			s.t.Fatalf("%s %s: %v: %s", method, path, err, data)
		}
	}
}

// RegisterPartner registers a sandbox partner of a cloud allowed to sell in countries.
func (s *Sim) RegisterPartner(cloud string, countries ...string) Partner {
	s.t.Helper()
	var p Partner
	s.Admin("POST", "/_sim/partners", map[string]any{"name": "Test CSP", "cloud": cloud, "countries": countries, "sandbox": true}, &p)
	return p
}

// State returns the simulator's state of one partner.
func (s *Sim) State(partnerTenantID string, out any) {
	s.t.Helper()
	var st struct {
		Partners []json.RawMessage `json:"partners"`
	}
	s.Admin("GET", "/_sim/state?partner="+partnerTenantID, nil, &st)
	if len(st.Partners) != 1 {
		s.t.Fatalf("state of partner %s: %d partners", partnerTenantID, len(st.Partners))
	}
	if err := json.Unmarshal(st.Partners[0], out); err != nil {
		s.t.Fatal(err)
	}
}

// GraphToken returns an app-only Microsoft Graph token of the partner's app
// issued by a customer tenant (tenant id, initial domain or verified custom
// domain): Graph calls with it act in that tenant. graphAudience is the
// partner cloud's, e.g. "https://graph.microsoft.com".
func (s *Sim) GraphToken(p Partner, tenant, graphAudience string) string {
	s.t.Helper()
	resp, err := s.Client.PostForm(s.URL+"/"+tenant+"/oauth2/v2.0/token", url.Values{
		"grant_type": {"client_credentials"}, "client_id": {p.ClientID}, "client_secret": {p.ClientSecret},
		"scope": {graphAudience + "/.default"},
	})
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		AccessToken string `json:"access_token"`
	}
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || json.Unmarshal(data, &out) != nil || out.AccessToken == "" {
		s.t.Fatalf("Graph token for tenant %s: %d %s", tenant, resp.StatusCode, data)
	}
	return out.AccessToken
}
