package mscloud

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Login (Microsoft Entra) endpoints, served at the root so that the tenant is
// the first path segment of the authority, as MSAL and azidentity require.

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
	f := s.takeFault(apiLogin, r)
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
			if !s.faultWait(f, &r) {
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

// resolveTenant resolves the first path segment of a login URL: a partner
// tenant id, or a customer tenant id, initial domain or verified custom
// domain (issued by that customer's tenant, for the partner's app). Caller
// holds s.mu.
func (s *Server) resolveTenant(t string) (p *partner, tenantID string, ok bool) {
	t = lower(t)
	if p := s.partners[t]; p != nil {
		return p, p.TenantID, true
	}
	if c := s.customers[t]; c != nil {
		return c.Partner, c.ID, true
	}
	if c := s.domains[t]; c != nil {
		return c.Partner, c.ID, true
	}
	if c := s.customerByVerifiedDomain(t); c != nil {
		return c.Partner, c.ID, true
	}
	return nil, "", false
}

func (s *Server) openIDConfiguration(w http.ResponseWriter, r *http.Request) {
	tenant := r.PathValue("tenant")
	s.mu.Lock()
	p, tenantID, ok := s.resolveTenant(tenant)
	s.mu.Unlock()
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
	s.mu.Lock()
	defer s.mu.Unlock()
	p, tenantID, ok := s.resolveTenant(tenant)
	if !ok {
		return fail(http.StatusBadRequest, "invalid_request", 90002, "Tenant '"+tenant+"' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.")
	}
	if p.ClientID != lower(clientID) {
		return fail(http.StatusBadRequest, "unauthorized_client", 700016, "Application with identifier '"+clientID+"' was not found in the directory '"+tenant+
			"'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.")
	}
	// checkSecret accepts any unexpired secret of the partner's app
	// (graph_applications.go); expiry is on the simulated clock.
	checkSecret := func() *response {
		sec := p.secretFor(clientSecret)
		if sec == nil {
			return fail(http.StatusUnauthorized, "invalid_client", 7000215, "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '"+p.ClientID+"'.")
		}
		if !now.Before(sec.End) {
			return fail(http.StatusUnauthorized, "invalid_client", 7000222, "The provided client secret keys for app '"+p.ClientID+
				"' are expired. Visit the Azure portal to create new keys for your app: https://aka.ms/NewClientSecret, or consider using certificate credentials for added security: https://aka.ms/certCreds.")
		}
		return nil
	}

	var rt *refreshToken
	var rtRaw string
	if grant == "client_credentials" {
		if clientSecret == "" {
			return fail(http.StatusUnauthorized, "invalid_client", 7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.")
		}
		if resp := checkSecret(); resp != nil {
			return resp
		}
	} else {
		rtRaw = form.Get("refresh_token")
		if rtRaw == "" {
			return fail(http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'refresh_token'.")
		}
		if clientSecret != "" {
			if resp := checkSecret(); resp != nil {
				return resp
			}
		}
		rt = s.refresh[rtRaw]
		switch {
		case rt == nil || rt.Partner != p || rt.ClientID != p.ClientID:
			return fail(http.StatusBadRequest, "invalid_grant", 70000, "Provided grant is invalid or malformed.")
		case !now.Before(rt.Expires):
			return fail(http.StatusBadRequest, "invalid_grant", 700082, "The refresh token has expired due to inactivity.")
		}
	}

	// A new customer tenant does not know the partner's app for its first
	// customer_propagation_seconds (simulated clock; reference §3.8: "up to
	// 3 minutes"). Simulated choice of error: invalid_grant AADSTS65001.
	if cu := s.customers[tenantID]; cu != nil && now.Before(cu.CreatedAt.Add(s.settings.CustomerPropagation)) {
		return fail(http.StatusBadRequest, "invalid_grant", 65001, "The user or administrator has not consented to use the application with ID '"+p.ClientID+
			"' named '"+p.Name+"'. Send an interactive authorization request for this user and resource. (simulated: the partner relationship of the new customer tenant "+
			cu.Domain+" is still propagating)")
	}

	if cu := s.customers[tenantID]; cu != nil && s.settings.RequireAppConsent && cu.Consents[lower(p.ClientID)] == nil {
		return fail(http.StatusBadRequest, "invalid_grant", 65001, "The user or administrator has not consented to use the application with ID '"+p.ClientID+
			"' named '"+p.Name+"'. Send an interactive authorization request for this user and resource.")
	}

	audience, scope, msg := parseScope(form.Get("scope"), p.Cloud, grant == "refresh_token")
	if msg != "" {
		if form.Get("scope") == "" {
			return fail(http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'scope'.")
		}
		return fail(http.StatusBadRequest, "invalid_scope", 70011, msg)
	}

	lifetime := s.settings.TokenLifetime
	access := randomToken("simat.", 32)
	s.tokens[access] = &accessToken{
		Partner: p, TenantID: tenantID, Audience: audience, ClientID: p.ClientID,
		// Access tokens expire in real time, not on the simulated clock: moving
		// the clock forward (commerce windows) must not invalidate the tokens
		// clients hold, as it never happens with Microsoft.
		AppOnly: grant == "client_credentials", Expires: time.Now().Add(lifetime),
	}
	secs := int(lifetime / time.Second)
	body := map[string]any{"token_type": "Bearer", "expires_in": secs, "ext_expires_in": secs, "access_token": access}
	if rt != nil {
		delete(s.refresh, rtRaw) // rotation: the redeemed refresh token is spent
		next := randomToken("simrt.", 48)
		s.refresh[next] = &refreshToken{Partner: p, ClientID: p.ClientID, Expires: now.Add(refreshTokenLifetime)}
		body["refresh_token"] = next
		body["scope"] = scope
	}
	resp := jsonResponse(http.StatusOK, body)
	resp.header.Set("Cache-Control", "no-store, no-cache")
	resp.header.Set("Pragma", "no-cache")
	resp.header.Set("client-request-id", corr)
	resp.header.Set("x-ms-request-id", newGUID())
	return resp
}

// parseScope checks a v2 scope parameter: exactly one resource scope of the
// Partner Center or Graph audience of the cloud ("<aud>/.default", or for
// delegated grants also "<aud>/user_impersonation" and similar), plus any of
// the OpenID scopes. It returns the audience, the resource scope and an
// error text.
func parseScope(raw string, cloud *cloudProfile, delegated bool) (audience, scope, msg string) {
	var resource []string
	for _, sc := range strings.Fields(raw) {
		switch sc {
		case "openid", "profile", "offline_access", "email":
			continue
		}
		resource = append(resource, sc)
	}
	if len(resource) != 1 {
		return "", "", "The provided value for the input parameter 'scope' is not valid. Exactly one resource scope such as '" + cloud.PartnerCenterAudience + "/.default' is required."
	}
	sc := resource[0]
	i := strings.LastIndex(sc, "/")
	if i <= len("https://") {
		return "", "", "The provided value for the input parameter 'scope' is not valid. The scope " + sc + " is not valid."
	}
	aud, perm := strings.TrimSuffix(sc[:i], "/"), sc[i+1:]
	if !slices.Contains([]string{cloud.PartnerCenterAudience, cloud.GraphAudience}, strings.ToLower(aud)) {
		return "", "", "The provided value for the input parameter 'scope' is not valid. The scope " + sc + " is not valid: the resource is not known in this cloud."
	}
	if perm != ".default" && (!delegated || perm == "") {
		return "", "", "The provided value for the input parameter 'scope' is not valid. The scope " + sc + " is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier."
	}
	return strings.ToLower(aud), sc, ""
}
