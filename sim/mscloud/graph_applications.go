package mscloud

import (
	"net/http"
	"regexp"
	"strings"
)

// The partner's application registration as Microsoft Graph shows it:
//
//	GET  /v1.0/applications?$filter=appId eq '{clientId}'   Graph, partner tenant; $select
//
// The application and its client secrets are Entra's (entra_secrets.go);
// this handler reads them through entraService.application and holds no
// Graph state.

func (s *graphService) registerGraphApplications() {
	s.partnerRoute("GET /v1.0/applications", s.graphListApplications)
}

var (
	appFilterRe = regexp.MustCompile(`(?i)^\s*appId\s+eq\s+'([^']*)'\s*$`)
	appProps    = []string{"id", "appId", "displayName", "passwordCredentials"}
)

// graphListApplications lists the applications of the partner tenant:
// the partner's own app, or none when $filter names another appId.
func (s *graphService) graphListApplications(r *http.Request, c *apiCall) *response {
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
		value = append(value, selectProps(s.entra.application(c.partner), props))
	}
	return graphJSON(http.StatusOK, map[string]any{"@odata.context": odataContext(r, "applications"+selectFragment(props)), "value": value})
}
