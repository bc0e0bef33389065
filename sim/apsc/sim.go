package apsc

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"
)

// SimClient talks to the admin API (/_sim/) of the Microsoft cloud
// simulator (sim/mscloud).
type SimClient struct {
	// BaseURL is the simulator's base URL, e.g. https://127.0.0.1:9443.
	BaseURL string
	HTTP    *http.Client
}

// NewSimClient returns a client of the simulator at baseURL trusting the
// CA in caPEM (nil skips verification of the simulator's certificate).
func NewSimClient(baseURL string, caPEM []byte) (*SimClient, error) {
	tlsConf := &tls.Config{MinVersion: tls.VersionTLS12}
	if len(caPEM) > 0 {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(caPEM) {
			return nil, errors.New("apsc: the simulator CA file holds no PEM certificate")
		}
		tlsConf.RootCAs = pool
	} else {
		tlsConf.InsecureSkipVerify = true //nolint:gosec // explicitly asked for: no CA given
	}
	return &SimClient{
		BaseURL: strings.TrimSuffix(baseURL, "/"),
		HTTP: &http.Client{
			Timeout:   30 * time.Second,
			Transport: &http.Transport{TLSClientConfig: tlsConf, Proxy: nil},
		},
	}, nil
}

// PartnerRequest registers a CSP partner at the simulator.
type PartnerRequest struct {
	Name      string   `json:"name"`
	Cloud     string   `json:"cloud"`
	Countries []string `json:"countries"`
	Sandbox   bool     `json:"sandbox"`
	// ClientSecretExpiresIn ends the partner's client secret sooner than
	// the simulator's default two years (a Go duration, e.g. "240h").
	ClientSecretExpiresIn string `json:"client_secret_expires_in,omitempty"`
}

// Partner is a partner registered at the simulator, with its credentials.
type Partner struct {
	TenantID     string `json:"tenant_id"`
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
	RefreshToken string `json:"refresh_token,omitempty"`
}

// LogValue keeps the credentials out of logs.
func (p *Partner) LogValue() slog.Value {
	return slog.GroupValue(slog.String("tenant_id", p.TenantID), slog.String("client_id", p.ClientID))
}

// DemoPartnerRequest is the partner the demo registers. It names no
// countries: the simulator then authorizes the partner wherever its cloud
// sells (global: US, CA, GB, DE and the other markets of its table; china:
// CN; usgov: US), so the request stays right when the cloud is changed.
func DemoPartnerRequest(name string) PartnerRequest {
	return PartnerRequest{Name: name, Cloud: "global", Sandbox: true}
}

// RegisterPartner sends POST /_sim/partners.
func (s *SimClient) RegisterPartner(ctx context.Context, req PartnerRequest) (*Partner, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	raw, err := s.do(ctx, http.MethodPost, "/_sim/partners", body)
	if err != nil {
		return nil, err
	}
	var p Partner
	if err := json.Unmarshal(raw, &p); err != nil {
		return nil, fmt.Errorf("apsc: decode the simulator's partner: %w", err)
	}
	if p.TenantID == "" || p.ClientID == "" {
		return nil, errors.New("apsc: the simulator answered a partner without tenant_id or client_id")
	}
	return &p, nil
}

// State returns GET /_sim/state.
func (s *SimClient) State(ctx context.Context) (json.RawMessage, error) {
	return s.do(ctx, http.MethodGet, "/_sim/state", nil)
}

func (s *SimClient) do(ctx context.Context, method, path string, body []byte) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, s.BaseURL+path, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := s.HTTP.Do(req)
	if err != nil {
		return nil, fmt.Errorf("apsc: simulator %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 32<<20))
	if err != nil {
		return nil, fmt.Errorf("apsc: simulator %s %s: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		return nil, fmt.Errorf("apsc: simulator %s %s answered %s: %s", method, path, resp.Status, truncate(string(raw), 300))
	}
	return raw, nil
}

func truncate(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// CountCustomers finds the partner tenantID in the simulator's state and
// returns how many customers it has. The state's exact shape belongs to the
// simulator; this looks for an object that names tenantID (as a field value
// or as its key) and holds a "customers" array. ok is false when none does.
func CountCustomers(state json.RawMessage, tenantID string) (n int, ok bool) {
	var v any
	if json.Unmarshal(state, &v) != nil {
		return 0, false
	}
	return countIn(v, "", tenantID)
}

func countIn(v any, key, tenantID string) (int, bool) {
	switch t := v.(type) {
	case map[string]any:
		if cs, isArr := t["customers"].([]any); isArr {
			named := key != "" && strings.EqualFold(key, tenantID)
			for _, fv := range t {
				if s, _ := fv.(string); s != "" && strings.EqualFold(s, tenantID) {
					named = true
				}
			}
			if partner, _ := t["partner"].(map[string]any); partner != nil {
				for _, fv := range partner {
					if s, _ := fv.(string); s != "" && strings.EqualFold(s, tenantID) {
						named = true
					}
				}
			}
			if named {
				return len(cs), true
			}
		}
		for k, fv := range t {
			if n, ok := countIn(fv, k, tenantID); ok {
				return n, true
			}
		}
	case []any:
		for _, e := range t {
			if n, ok := countIn(e, "", tenantID); ok {
				return n, true
			}
		}
	}
	return 0, false
}

// PublishDNS publishes a domain's TXT record at the simulator (POST /_sim/dns),
// as the customer would at its DNS provider.
func (s *SimClient) PublishDNS(ctx context.Context, domain, txt string) error {
	body, err := json.Marshal(map[string]string{"domain": domain, "txt": txt})
	if err != nil {
		return err
	}
	_, err = s.do(ctx, http.MethodPost, "/_sim/dns", body)
	return err
}

// CreateCustomer creates a customer the way a partner does in the Partner
// Center portal, outside the platform, and answers its id.
func (s *SimClient) CreateCustomer(ctx context.Context, partnerTenantID, domain, company, country string) (string, error) {
	body, err := json.Marshal(map[string]string{"domain": domain, "company_name": company, "country": country})
	if err != nil {
		return "", err
	}
	raw, err := s.do(ctx, http.MethodPost, "/_sim/partners/"+partnerTenantID+"/customers", body)
	if err != nil {
		return "", err
	}
	var c struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(raw, &c); err != nil || c.ID == "" {
		return "", fmt.Errorf("apsc: the simulator answered no customer id")
	}
	return c.ID, nil
}

// CreateUser creates a user in a customer's directory the way the
// customer's own administrator would, outside the platform.
func (s *SimClient) CreateUser(ctx context.Context, customerID, upn, displayName string) error {
	body, err := json.Marshal(map[string]string{"user_principal_name": upn, "display_name": displayName, "usage_location": "US"})
	if err != nil {
		return err
	}
	_, err = s.do(ctx, http.MethodPost, "/_sim/customers/"+customerID+"/users", body)
	return err
}
