package aps

import "testing"

func TestRouteTemplate(t *testing.T) {
	for pattern, want := range map[string]string{
		"/tenants":                         "/tenants",
		"/tenants/{id=*}":                  "/tenants/{id}",
		"/app/{id=*}/{relation=tenants}":   "/app/{id}/tenants",
		"/app/{id=*}/domainAvailability":   "/app/{id}/domainAvailability",
		"/files/{path=**}":                 "/files/{path}",
		"/users/{user.id=*}/resetPassword": "/users/{user.id}/resetPassword",
	} {
		if got := routeTemplate(pattern); got != want {
			t.Errorf("routeTemplate(%q) = %q, want %q", pattern, got, want)
		}
	}
}
