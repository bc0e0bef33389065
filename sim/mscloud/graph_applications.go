package mscloud

import (
	"crypto/subtle"
	"net/http"
	"regexp"
	"strings"
	"time"
)

// The partner's application registration and its client secrets.
//
//	GET  /v1.0/applications?$filter=appId eq '{clientId}'   Graph, partner tenant; $select
//	POST /_sim/partners/{partnerTenantId}/secrets           admin: add a secret (rotation)
//
// Every secret has an end date on the simulated clock: by default 2 years
// after it was added (POST /_sim/partners takes client_secret_expires_in
// for the first one). The token endpoint refuses an expired secret
// (login.go). A partner may hold several secrets; each works until it
// expires, so a rotation adds the new secret before the old one ends.

// defaultSecretLifetime is how long a client secret lives unless told
// otherwise (the longest the Entra admin center offers: 24 months).
const defaultSecretLifetime = 730 * 24 * time.Hour

// maxSecretLifetime bounds the admin API's expires_in values.
const maxSecretLifetime = 100 * 365 * 24 * time.Hour

type clientSecret struct {
	KeyID       string
	DisplayName string // "" = null
	Value       string
	Start, End  time.Time
}

// addSecret gives p a new client secret valid from now for lifetime.
func (p *partner) addSecret(now time.Time, lifetime time.Duration, displayName string) *clientSecret {
	sec := &clientSecret{KeyID: newGUID(), DisplayName: displayName, Value: newClientSecret(), Start: now, End: now.Add(lifetime)}
	p.secrets = append(p.secrets, sec)
	if p.ClientSecret == "" {
		p.ClientSecret = sec.Value
	}
	return sec
}

// secretFor returns p's client secret whose value is v (expired or not),
// or nil.
func (p *partner) secretFor(v string) *clientSecret {
	for _, sec := range p.secrets {
		if subtle.ConstantTimeCompare([]byte(sec.Value), []byte(v)) == 1 {
			return sec
		}
	}
	return nil
}

// parseSecretLifetime reads an admin API lifetime ("" = the default).
func parseSecretLifetime(v string) (time.Duration, bool) {
	if strings.TrimSpace(v) == "" {
		return defaultSecretLifetime, true
	}
	d, err := time.ParseDuration(v)
	return d, err == nil && d > 0 && d <= maxSecretLifetime
}

// --- Graph ---

func (s *Server) registerGraphApplications() {
	s.partnerRoute("GET /v1.0/applications", s.graphListApplications)
}

var (
	appFilterRe = regexp.MustCompile(`(?i)^\s*appId\s+eq\s+'([^']*)'\s*$`)
	appProps    = []string{"id", "appId", "displayName", "passwordCredentials"}
)

// applicationView is the partner's application as Graph shows it.
func applicationView(p *partner) map[string]any {
	creds := []any{}
	for _, sec := range p.secrets {
		var name any
		if sec.DisplayName != "" {
			name = sec.DisplayName
		}
		creds = append(creds, map[string]any{
			"customKeyIdentifier": nil, "displayName": name, "endDateTime": tsOf(sec.End), "hint": sec.Value[:3],
			"keyId": sec.KeyID, "secretText": nil, "startDateTime": tsOf(sec.Start),
		})
	}
	return map[string]any{"id": p.AppObjectID, "appId": p.ClientID, "displayName": p.Name, "passwordCredentials": creds}
}

// graphListApplications lists the applications of the partner tenant:
// the partner's own app, or none when $filter names another appId.
func (s *Server) graphListApplications(r *http.Request, c *apiCall) *response {
	q := r.URL.Query()
	var props []string
	if raw := strings.TrimSpace(q.Get("$select")); raw != "" {
		for _, p := range strings.Split(raw, ",") {
			p = strings.TrimSpace(p)
			i := -1
			for j, name := range appProps {
				if strings.EqualFold(name, p) {
					i = j
				}
			}
			if i < 0 {
				return s.badRequest(c, "Could not find a property named '"+p+"' on type 'microsoft.graph.application'.")
			}
			props = append(props, appProps[i])
		}
	}
	match := true
	if f := q.Get("$filter"); f != "" {
		m := appFilterRe.FindStringSubmatch(f)
		if m == nil {
			prop := "unknown"
			if pm := filterPropRe.FindStringSubmatch(f); pm != nil {
				prop = pm[1]
			}
			return s.gerr(c, http.StatusBadRequest, "Request_UnsupportedQuery",
				"Unsupported or invalid query filter clause specified for property '"+prop+"' of resource 'Application'.")
		}
		match = lower(m[1]) == c.partner.ClientID
	}
	value := []any{}
	if match {
		value = append(value, selectProps(applicationView(c.partner), props))
	}
	return graphJSON(http.StatusOK, map[string]any{"@odata.context": odataContext(r, "applications"+selectFragment(props)), "value": value})
}

// --- admin ---

func (s *Server) registerAdminSecrets() {
	s.adminMux.HandleFunc("POST /_sim/partners/{partnerTenantId}/secrets", s.adminAddSecret)
}

// POST /_sim/partners/{partnerTenantId}/secrets {"expires_in"?: "17520h",
// "display_name"?} adds a client secret to the partner's app (as the
// partner's admin would in the Entra admin center): 201 {client_secret,
// key_id, end_date_time}. The older secrets keep working until they end.
func (s *Server) adminAddSecret(w http.ResponseWriter, r *http.Request) {
	var in struct {
		ExpiresIn   string `json:"expires_in"`
		DisplayName string `json:"display_name"`
	}
	if !decodeAdmin(w, r, &in) {
		return
	}
	lifetime, ok := parseSecretLifetime(in.ExpiresIn)
	if !ok {
		adminError(w, http.StatusBadRequest, `expires_in must be a positive Go duration such as "17520h", at most 100 years`)
		return
	}
	now := s.clock.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.partners[lower(r.PathValue("partnerTenantId"))]
	if p == nil {
		adminError(w, http.StatusNotFound, "no partner with tenant_id "+r.PathValue("partnerTenantId"))
		return
	}
	sec := p.addSecret(now, lifetime, strings.TrimSpace(in.DisplayName))
	adminJSON(w, http.StatusCreated, map[string]string{"client_secret": sec.Value, "key_id": sec.KeyID, "end_date_time": tsOf(sec.End)})
}

type stateSecret struct {
	KeyID       string `json:"key_id"`
	EndDateTime string `json:"end_date_time"`
	Expired     bool   `json:"expired"`
}

// secretState lists p's client secrets without their values. Caller holds s.mu.
func secretState(p *partner, now time.Time) []stateSecret {
	out := []stateSecret{}
	for _, sec := range p.secrets {
		out = append(out, stateSecret{KeyID: sec.KeyID, EndDateTime: tsOf(sec.End), Expired: !now.Before(sec.End)})
	}
	return out
}
