package mscloud

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// The Entra token endpoint's decision (POST /{tenant}/oauth2/v2.0/token),
// after login.go has read the form and resolved the tenant: client, secret
// and refresh-token checks, the customer tenant's checks, the scope, and
// the tokens issued. All of it runs in one critical section of s.mu, so a
// refresh token is redeemed once.

// tokenRequest is a parsed token request.
type tokenRequest struct {
	form          url.Values
	tenant        string // as in the URL
	grant         string // client_credentials or refresh_token
	clientID      string
	clientSecret  string
	correlationID string
	// fail builds an Entra error answer.
	fail func(status int, errCode string, aadsts int, text string) *response
}

// grant answers req for the resolved tenant rt, under the settings st at
// simulated time now.
func (s *entraService) grant(req tokenRequest, rt resolvedTenant, st settings, now time.Time) *response {
	fail, form, clientSecret := req.fail, req.form, req.clientSecret
	p, tenantID := rt.Partner, rt.TenantID
	s.mu.Lock()
	defer s.mu.Unlock()
	if p.ClientID != lower(req.clientID) {
		return fail(http.StatusBadRequest, "unauthorized_client", 700016, "Application with identifier '"+req.clientID+"' was not found in the directory '"+req.tenant+
			"'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.")
	}
	// checkSecret accepts any unexpired secret of the partner's app
	// (entra_secrets.go); expiry is on the simulated clock.
	checkSecret := func() *response {
		sec := s.secretFor(p, clientSecret)
		if sec == nil {
			return fail(http.StatusUnauthorized, "invalid_client", 7000215, "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '"+p.ClientID+"'.")
		}
		if !now.Before(sec.End) {
			return fail(http.StatusUnauthorized, "invalid_client", 7000222, "The provided client secret keys for app '"+p.ClientID+
				"' are expired. Visit the Azure portal to create new keys for your app: https://aka.ms/NewClientSecret, or consider using certificate credentials for added security: https://aka.ms/certCreds.")
		}
		return nil
	}

	var rtok *refreshToken
	var rtRaw string
	if req.grant == "client_credentials" {
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
		rtok = s.refresh[rtRaw]
		switch {
		case rtok == nil || rtok.Partner != p || rtok.ClientID != p.ClientID:
			return fail(http.StatusBadRequest, "invalid_grant", 70000, "Provided grant is invalid or malformed.")
		case !now.Before(rtok.Expires):
			return fail(http.StatusBadRequest, "invalid_grant", 700082, "The refresh token has expired due to inactivity.")
		}
	}

	// A new customer tenant does not know the partner's app for its first
	// customer_propagation_seconds (simulated clock; Microsoft gives the new
	// partner relationship up to 3 minutes to propagate). Simulated choice of
	// error: invalid_grant AADSTS65001.
	if cu := rt.customer; cu != nil && now.Before(cu.CreatedAt.Add(st.CustomerPropagation)) {
		return fail(http.StatusBadRequest, "invalid_grant", 65001, "The user or administrator has not consented to use the application with ID '"+p.ClientID+
			"' named '"+p.Name+"'. Send an interactive authorization request for this user and resource. (simulated: the partner relationship of the new customer tenant "+
			cu.Domain+" is still propagating)")
	}

	if cu := rt.customer; cu != nil && st.RequireAppConsent && !cu.consented {
		return fail(http.StatusBadRequest, "invalid_grant", 65001, "The user or administrator has not consented to use the application with ID '"+p.ClientID+
			"' named '"+p.Name+"'. Send an interactive authorization request for this user and resource.")
	}

	audience, scope, msg := parseScope(form.Get("scope"), p.Cloud, req.grant == "refresh_token")
	if msg != "" {
		if form.Get("scope") == "" {
			return fail(http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'scope'.")
		}
		return fail(http.StatusBadRequest, "invalid_scope", 70011, msg)
	}

	lifetime := st.TokenLifetime
	access := randomToken("simat.", 32)
	s.tokens[access] = &accessToken{
		Partner: p, TenantID: tenantID, Audience: audience, ClientID: p.ClientID,
		// Access tokens expire in real time, not on the simulated clock: moving
		// the clock forward (commerce windows) must not invalidate the tokens
		// clients hold, as it never happens with Microsoft.
		AppOnly: req.grant == "client_credentials", Expires: time.Now().Add(lifetime),
	}
	secs := int(lifetime / time.Second)
	body := map[string]any{"token_type": "Bearer", "expires_in": secs, "ext_expires_in": secs, "access_token": access}
	if rtok != nil {
		delete(s.refresh, rtRaw) // rotation: the redeemed refresh token is spent
		next := randomToken("simrt.", 48)
		s.refresh[next] = &refreshToken{Partner: p, ClientID: p.ClientID, Expires: now.Add(refreshTokenLifetime)}
		body["refresh_token"] = next
		body["scope"] = scope
	}
	resp := jsonResponse(http.StatusOK, body)
	resp.header.Set("Cache-Control", "no-store, no-cache")
	resp.header.Set("Pragma", "no-cache")
	resp.header.Set("client-request-id", req.correlationID)
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
