package mscloud

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Login (Microsoft Entra) endpoints, served at the root so that the tenant is
// the first path segment of the authority, as MSAL and azidentity require.
// This file is the HTTP side: faults, discovery, reading the token request
// and resolving its tenant; the Entra part (entraService) decides and
// issues the tokens.

func (s *Server) registerLogin() {
	s.loginMux.HandleFunc("GET /{tenant}/v2.0/.well-known/openid-configuration", s.openIDConfiguration)
	s.loginMux.HandleFunc("POST /{tenant}/oauth2/v2.0/token", s.token)
	s.loginMux.HandleFunc("GET /{tenant}/discovery/v2.0/keys", func(w http.ResponseWriter, _ *http.Request) {
		// Access tokens are opaque, so there is nothing to verify with.
		jsonResponse(http.StatusOK, map[string]any{"keys": []any{}}).writeTo(w)
	})
	s.loginMux.HandleFunc("GET /common/discovery/instance", s.instanceDiscovery)
	s.loginMux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		jsonResponse(http.StatusNotFound, map[string]string{
			"error": "not_found", "error_description": "No such endpoint on the simulated login service: " + r.URL.Path,
		}).writeTo(w)
	})
}

func (s *Server) serveLogin(w http.ResponseWriter, r *http.Request) {
	f := s.faults.take(apiLogin, r)
	if f != nil {
		corr := correlationOf(r)
		switch f.Mode {
		case faultDelay, faultDelayCommit:
			// The body is read first: net/http notices that a client gave
			// up only once the body is consumed.
			if err := bufferBody(r); err != nil {
				status, msg := bodyProblem(err)
				entraError(status, "invalid_request", 50000, msg+" (simulated)", r.Host, corr, s.clock.Now()).writeTo(w)
				return
			}
			if !faultWait(f, &r) {
				abandon()
			}
		case faultError, faultRefuse:
			// For login a refusal is simply a definite 4xx (no token).
			entraFaultError(f.Status, r.Host, corr, s.clock.Now()).writeTo(w)
			return
		case faultThrottle:
			resp := entraError(http.StatusTooManyRequests, "temporarily_unavailable", 90055,
				"TenantThrottlingError: There are too many incoming requests.", r.Host, corr, s.clock.Now())
			resp.header.Set("Retry-After", strconv.Itoa(f.RetryAfterSeconds))
			resp.writeTo(w)
			return
		case faultErrorAfterCommit:
			s.loginMux.ServeHTTP(discardWriter{}, r)
			entraFaultError(f.Status, r.Host, corr, s.clock.Now()).writeTo(w)
			return
		}
	}
	s.loginMux.ServeHTTP(w, r)
}

func correlationOf(r *http.Request) string {
	if c := r.Header.Get("client-request-id"); c != "" {
		return c
	}
	return newGUID()
}

// resolvedTenant is the tenant a login URL names: a partner's tenant, or
// a customer tenant of that partner (customer set).
type resolvedTenant struct {
	Partner  *partner
	TenantID string
	customer *loginCustomer
}

// loginCustomer is what the token endpoint needs to know about a customer
// tenant, as Partner Center had it when the tenant was resolved.
type loginCustomer struct {
	Domain    string
	CreatedAt time.Time
	consented bool // the partner's application has an application consent in the tenant
}

// resolveTenant resolves the first path segment of a login URL: a partner
// tenant id, or a customer tenant id, initial domain or verified custom
// domain (issued by that customer's tenant, for the partner's app). It
// asks each part in turn and holds no lock between the questions.
func (s *Server) resolveTenant(t string) (resolvedTenant, bool) {
	t = lower(t)
	if p := s.entra.partner(t); p != nil {
		return resolvedTenant{Partner: p, TenantID: p.TenantID}, true
	}
	if rt, ok := s.pc.resolveCustomer(t); ok {
		return rt, true
	}
	if id := s.graph.tenantByVerifiedDomain(t); id != "" {
		return s.pc.resolveCustomer(id)
	}
	return resolvedTenant{}, false
}

func (s *Server) openIDConfiguration(w http.ResponseWriter, r *http.Request) {
	tenant := r.PathValue("tenant")
	rt, ok := s.resolveTenant(tenant)
	p, tenantID := rt.Partner, rt.TenantID
	cloud := cloudProfiles["global"]
	issuerTenant := tenantID
	switch {
	case ok:
		cloud = p.Cloud
	case tenant == "common" || tenant == "organizations":
		issuerTenant = "{tenantid}"
		tenantID = tenant
	default:
		entraError(http.StatusBadRequest, "invalid_tenant", 90002, "Tenant '"+tenant+"' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.",
			r.Host, correlationOf(r), s.clock.Now()).writeTo(w)
		return
	}
	base := baseURL(r)
	graphHost := strings.TrimPrefix(cloud.RealGraphHost, "https://")
	jsonResponse(http.StatusOK, map[string]any{
		"token_endpoint":                        base + "/" + tenantID + "/oauth2/v2.0/token",
		"token_endpoint_auth_methods_supported": []string{"client_secret_post", "private_key_jwt", "client_secret_basic"},
		"jwks_uri":                              base + "/" + tenantID + "/discovery/v2.0/keys",
		"response_modes_supported":              []string{"query", "fragment", "form_post"},
		"subject_types_supported":               []string{"pairwise"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"response_types_supported":              []string{"code", "id_token", "code id_token", "id_token token"},
		"scopes_supported":                      []string{"openid", "profile", "email", "offline_access"},
		"issuer":                                base + "/" + issuerTenant + "/v2.0",
		"request_uri_parameter_supported":       false,
		"userinfo_endpoint":                     base + "/oidc/userinfo",
		"authorization_endpoint":                base + "/" + tenantID + "/oauth2/v2.0/authorize",
		"device_authorization_endpoint":         base + "/" + tenantID + "/oauth2/v2.0/devicecode",
		"http_logout_supported":                 true,
		"frontchannel_logout_supported":         true,
		"end_session_endpoint":                  base + "/" + tenantID + "/oauth2/v2.0/logout",
		"claims_supported":                      []string{"sub", "iss", "cloud_instance_name", "cloud_instance_host_name", "cloud_graph_host_name", "msgraph_host", "aud", "exp", "iat", "auth_time", "acr", "nonce", "preferred_username", "name", "tid", "ver", "at_hash", "c_hash", "email"},
		"kerberos_endpoint":                     base + "/" + tenantID + "/kerberos",
		"tenant_region_scope":                   nil,
		"cloud_instance_name":                   cloud.CloudInstanceName,
		"cloud_graph_host_name":                 "graph.windows.net",
		"msgraph_host":                          graphHost,
		"rbac_url":                              "https://pas.windows.net",
	}).writeTo(w)
}

func (s *Server) instanceDiscovery(w http.ResponseWriter, r *http.Request) {
	jsonResponse(http.StatusOK, map[string]any{
		"tenant_discovery_endpoint": baseURL(r) + "/{tenant}/v2.0/.well-known/openid-configuration",
		"api-version":               "1.1",
		"metadata": []map[string]any{{
			"preferred_network": r.Host, "preferred_cache": r.Host, "aliases": []string{r.Host},
		}},
	}).writeTo(w)
}

// token is POST /{tenant}/oauth2/v2.0/token.
func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	s.tokenResponse(r).writeTo(w)
}

func (s *Server) tokenResponse(r *http.Request) *response {
	now := s.clock.Now()
	corr := correlationOf(r)
	fail := func(status int, errCode string, aadsts int, text string) *response {
		return entraError(status, errCode, aadsts, text, r.Host, corr, now)
	}
	r.Body = http.MaxBytesReader(nil, r.Body, maxRequestBodyBytes)
	if err := r.ParseForm(); err != nil {
		return fail(http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'grant_type'.")
	}
	form := r.PostForm
	clientID, clientSecret := form.Get("client_id"), form.Get("client_secret")
	if u, pw, ok := r.BasicAuth(); ok { // client_secret_basic
		clientID, clientSecret = u, pw
	}
	grant := form.Get("grant_type")
	switch {
	case grant == "":
		return fail(http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'grant_type'.")
	case grant != "client_credentials" && grant != "refresh_token":
		return fail(http.StatusBadRequest, "unsupported_grant_type", 70003, "The app requested an unsupported grant type '"+grant+"'.")
	case clientID == "":
		return fail(http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'client_id'.")
	}

	tenant := r.PathValue("tenant")
	rt, ok := s.resolveTenant(tenant)
	if !ok {
		return fail(http.StatusBadRequest, "invalid_request", 90002, "Tenant '"+tenant+"' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.")
	}
	return s.entra.grant(tokenRequest{
		form: form, tenant: tenant, grant: grant, clientID: clientID, clientSecret: clientSecret, correlationID: corr, fail: fail,
	}, rt, s.settings.get(), now)
}
