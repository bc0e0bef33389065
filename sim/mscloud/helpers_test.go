package mscloud

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

type testSim struct {
	t      *testing.T
	srv    *Server
	ts     *httptest.Server
	url    string
	client *http.Client
	bundle *TLSBundle
}

// newSim runs a simulator over TLS with its own CA, as the gateway's tests will.
func newSim(t *testing.T, opts Options) *testSim {
	t.Helper()
	bundle, err := NewTLS()
	if err != nil {
		t.Fatal(err)
	}
	srv := New(opts)
	ts := httptest.NewUnstartedServer(srv.Handler())
	ts.TLS = bundle.ServerConfig()
	ts.StartTLS()
	t.Cleanup(ts.Close)
	return &testSim{t: t, srv: srv, ts: ts, url: ts.URL, client: bundle.Client(), bundle: bundle}
}

type creds struct {
	TenantID     string `json:"tenant_id"`
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
	RefreshToken string `json:"refresh_token"`
	Cloud        string `json:"-"`
}

func (s *testSim) partner(cloud string, sandbox bool, countries ...string) creds {
	s.t.Helper()
	st, b := s.admin(http.MethodPost, "/_sim/partners", map[string]any{"name": "P", "cloud": cloud, "countries": countries, "sandbox": sandbox})
	if st != http.StatusCreated {
		s.t.Fatalf("create partner: %d %s", st, b)
	}
	c := decode[creds](s.t, b)
	c.Cloud = cloud
	return c
}

// tokenForm posts a token request and returns status and decoded body.
func (s *testSim) tokenForm(tenant string, form url.Values) (int, map[string]any) {
	s.t.Helper()
	resp, err := s.client.PostForm(s.url+"/"+tenant+"/oauth2/v2.0/token", form)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, decode[map[string]any](s.t, b)
}

func (s *testSim) token(c creds, scope string) string {
	s.t.Helper()
	st, body := s.tokenForm(c.TenantID, url.Values{
		"grant_type": {"client_credentials"}, "client_id": {c.ClientID}, "client_secret": {c.ClientSecret}, "scope": {scope},
	})
	if st != http.StatusOK {
		s.t.Fatalf("token: %d %v", st, body)
	}
	return body["access_token"].(string)
}

const pcScope = "https://api.partnercenter.microsoft.com/.default"

// pcToken is an app-only Partner Center token for the partner's cloud.
func (s *testSim) pcToken(c creds) string {
	return s.token(c, cloudProfiles[c.Cloud].PartnerCenterAudience+"/.default")
}

// do sends a request; body may be nil, a string or a value to marshal.
func (s *testSim) do(method, path, token string, body any, hdr map[string]string) (int, http.Header, []byte) {
	s.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			s.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, s.url+path, rd)
	if err != nil {
		s.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

func (s *testSim) admin(method, path string, body any) (int, []byte) {
	s.t.Helper()
	st, _, b := s.do(method, path, "", body, nil)
	return st, b
}

func decode[T any](t *testing.T, b []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("decode %T from %q: %v", v, b, err)
	}
	return v
}

// pcErr is either Partner Center error shape.
type pcErr struct {
	Code                 int               `json:"code"`
	Description          string            `json:"description"`
	Data                 []string          `json:"data"`
	Source               string            `json:"source"`
	Message              string            `json:"message"`
	ErrorName            string            `json:"errorName"`
	IsRetryable          *bool             `json:"isRetryable"`
	Parameters           map[string]string `json:"parameters"`
	ErrorMessageExtended string            `json:"errorMessageExtended"`
}

var validAddresses = map[string]map[string]any{
	"US": {"addressLine1": "1 Microsoft Way", "city": "Redmond", "state": "WA", "postalCode": "98052", "country": "US"},
	"GB": {"addressLine1": "2 Kingdom Street", "city": "London", "postalCode": "W2 6BD", "country": "GB"},
	"HU": {"addressLine1": "Neumann János u. 1", "city": "Budapest", "postalCode": "1117", "country": "HU"},
	"PL": {"addressLine1": "ul. Prosta 20", "city": "Warszawa", "postalCode": "00-850", "country": "PL"},
	"CN": {"addressLine1": "5 Danling Street", "city": "Beijing", "postalCode": "100080", "country": "CN"},
	"DE": {"addressLine1": "Walter-Gropius-Str. 5", "city": "München", "postalCode": "80807", "country": "DE"},
}

// customerBody is a valid create-customer body; edit it with mods.
func customerBody(domain, country string, mods ...func(b map[string]any)) map[string]any {
	addr := map[string]any{"firstName": "Ann", "lastName": "Lee", "phoneNumber": "4255550100"}
	for k, v := range validAddresses[country] {
		addr[k] = v
	}
	b := map[string]any{
		"enableGDAPByDefault": false,
		"companyProfile":      map[string]any{"domain": domain},
		"billingProfile": map[string]any{
			"email": "admin@contoso.example", "culture": "en-US", "language": "en", "companyName": "Contoso " + country,
			"defaultAddress": addr,
		},
	}
	for _, m := range mods {
		m(b)
	}
	return b
}

func addrOf(b map[string]any) map[string]any {
	return b["billingProfile"].(map[string]any)["defaultAddress"].(map[string]any)
}

// createCustomer creates a customer and returns its decoded body.
func (s *testSim) createCustomer(token string, body map[string]any) map[string]any {
	s.t.Helper()
	st, _, b := s.do(http.MethodPost, "/v1/customers", token, body, nil)
	if st != http.StatusCreated {
		s.t.Fatalf("create customer: %d %s", st, b)
	}
	return decode[map[string]any](s.t, b)
}

func (s *testSim) state(partner string) []statePartnerT {
	s.t.Helper()
	path := "/_sim/state"
	if partner != "" {
		path += "?partner=" + partner
	}
	st, b := s.admin(http.MethodGet, path, nil)
	if st != http.StatusOK {
		s.t.Fatalf("state: %d %s", st, b)
	}
	return decode[struct {
		Partners []statePartnerT `json:"partners"`
	}](s.t, b).Partners
}

type statePartnerT struct {
	TenantID  string   `json:"tenant_id"`
	Name      string   `json:"name"`
	Cloud     string   `json:"cloud"`
	Sandbox   bool     `json:"sandbox"`
	Countries []string `json:"countries"`
	Customers []struct {
		ID          string `json:"id"`
		Domain      string `json:"domain"`
		CompanyName string `json:"company_name"`
		Country     string `json:"country"`
		MCAAttested bool   `json:"mca_attested"`
		CreatedAt   string `json:"created_at"`
	} `json:"customers"`
	Orders        []any `json:"orders"`
	Subscriptions []any `json:"subscriptions"`
	Users         []any `json:"users"`
	Domains       []any `json:"domains"`
}
