package mscloud

import (
	"crypto/subtle"
	"net/http"
	"strings"
	"time"
)

// The client secrets of the partner's application (Entra part).
//
//	POST /_sim/partners/{partnerTenantId}/secrets           admin: add a secret (rotation)
//
// Every secret has an end date on the simulated clock: by default 2 years
// after it was added (POST /_sim/partners takes client_secret_expires_in
// for the first one). The token endpoint refuses an expired secret
// (entra_token.go). A partner may hold several secrets; each works until
// it expires, so a rotation adds the new secret before the old one ends.
// Graph shows them without their values (graph_applications.go).

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

// addSecret gives p's app a new client secret valid from now for
// lifetime. Caller holds s.mu.
func (s *entraService) addSecret(p *partner, now time.Time, lifetime time.Duration, displayName string) *clientSecret {
	sec := &clientSecret{KeyID: newGUID(), DisplayName: displayName, Value: newClientSecret(), Start: now, End: now.Add(lifetime)}
	s.secrets[p.TenantID] = append(s.secrets[p.TenantID], sec)
	return sec
}

// secretFor returns p's client secret whose value is v (expired or not),
// or nil. Caller holds s.mu.
func (s *entraService) secretFor(p *partner, v string) *clientSecret {
	for _, sec := range s.secrets[p.TenantID] {
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

// application is p's application as Graph shows it: the secrets appear
// as passwordCredentials with a hint instead of their value.
func (s *entraService) application(p *partner) map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	creds := []any{}
	for _, sec := range s.secrets[p.TenantID] {
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

// POST /_sim/partners/{partnerTenantId}/secrets {"expires_in"?: "17520h",
// "display_name"?} adds a client secret to the partner's app (as the
// partner's admin would in the Entra admin center): 201 {client_secret,
// key_id, end_date_time}. The older secrets keep working until they end.
func (s *entraService) adminAddSecret(w http.ResponseWriter, r *http.Request) {
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
	sec := s.addSecret(p, now, lifetime, strings.TrimSpace(in.DisplayName))
	adminJSON(w, http.StatusCreated, map[string]string{"client_secret": sec.Value, "key_id": sec.KeyID, "end_date_time": tsOf(sec.End)})
}

type stateSecret struct {
	KeyID       string `json:"key_id"`
	EndDateTime string `json:"end_date_time"`
	Expired     bool   `json:"expired"`
}

// secretState lists p's client secrets without their values. Caller holds s.mu.
func (s *entraService) secretState(p *partner, now time.Time) []stateSecret {
	out := []stateSecret{}
	for _, sec := range s.secrets[p.TenantID] {
		out = append(out, stateSecret{KeyID: sec.KeyID, EndDateTime: tsOf(sec.End), Expired: !now.Before(sec.End)})
	}
	return out
}
