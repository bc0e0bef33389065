package mscloud

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"
)

// Role enforcement for app+user (delegated) calls under GDAP. A token from
// a refresh_token grant (accessToken.AppOnly false) acts as the partner's
// signed-in user. Such a token acting in a customer's directory (Graph,
// tenantRoute) or on the customer's application consents (Partner Center)
// is allowed only when the partner has a GDAP relationship with that
// customer whose status is active or expiring and whose roles cover the
// call. The roles of all such relationships with the customer add up.
// Security groups and access assignments are not modelled: the roles of
// an active relationship count as held by the partner's signed-in user.
// App-only tokens are not affected: they rely on the application's
// consent in the customer's tenant (pc_consents.go). The relationships
// are the Graph part's; Partner Center asks through gdapCovers.

// Entra role template ids (built-in roles; the ids are the same in every
// tenant).
const (
	roleGlobalAdministrator           = "62e90394-69f5-4237-9190-012177145e10"
	roleUserAdministrator             = "fe930be7-5e62-47db-91af-98c3a49a38b1"
	roleDirectoryWriters              = "9360feb5-f418-4baa-8175-e2a00bac4301"
	roleDirectoryReaders              = "88d8e3e3-8f55-4a1e-953a-9b9898b8876b"
	rolePasswordAdministrator         = "966707d0-3269-4727-9be2-8c3a10f19b9d"
	roleHelpdeskAdministrator         = "729827e3-9c14-49f7-bb1b-9608f156bbb8"
	rolePrivilegedAuthAdministrator   = "7be44c8a-adaf-4e2a-84d6-ab2649e08a13"
	roleLicenseAdministrator          = "4d6ac14f-3453-41d0-bef9-a3e0c569773a"
	roleDomainNameAdministrator       = "8329153b-31d0-4727-b945-745eb3bc5f31"
	roleCloudApplicationAdministrator = "158c047a-c907-4556-b7ef-446551a6b5f7"
	roleApplicationAdministrator      = "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3"
)

// gdapKnownRoles are the roles a relationship may request (POST
// delegatedAdminRelationships refuses others), by display name.
var gdapKnownRoles = map[string]string{
	roleGlobalAdministrator:           "Global Administrator",
	roleUserAdministrator:             "User Administrator",
	roleDirectoryWriters:              "Directory Writers",
	roleDirectoryReaders:              "Directory Readers",
	rolePasswordAdministrator:         "Password Administrator",
	roleHelpdeskAdministrator:         "Helpdesk Administrator",
	rolePrivilegedAuthAdministrator:   "Privileged Authentication Administrator",
	roleLicenseAdministrator:          "License Administrator",
	roleDomainNameAdministrator:       "Domain Name Administrator",
	roleCloudApplicationAdministrator: "Cloud Application Administrator",
	roleApplicationAdministrator:      "Application Administrator",
}

// gdapOp is a class of delegated operations with the same role needs.
type gdapOp string

const (
	opDirectoryRead gdapOp = "directory read"     // GET users, domains, subscribedSkus, verificationDnsRecords
	opUserWrite     gdapOp = "user write"         // POST/PATCH/DELETE users
	opPasswordReset gdapOp = "password reset"     // PATCH of a user setting passwordProfile
	opLicenseAssign gdapOp = "license assignment" // POST users/{id}/assignLicense
	opDomainWrite   gdapOp = "domain write"       // POST/DELETE domains, verify
	opAppConsent    gdapOp = "application consent"
)

// gdapCoverage is the one table of which roles cover which operation
// class; nil means any role of a usable relationship.
var gdapCoverage = map[gdapOp][]string{
	opDirectoryRead: nil,
	opUserWrite:     {roleUserAdministrator, roleDirectoryWriters, roleGlobalAdministrator},
	opPasswordReset: {roleUserAdministrator, rolePasswordAdministrator, roleHelpdeskAdministrator, rolePrivilegedAuthAdministrator, roleGlobalAdministrator},
	opLicenseAssign: {roleLicenseAdministrator, roleUserAdministrator, roleDirectoryWriters, roleGlobalAdministrator},
	opDomainWrite:   {roleDomainNameAdministrator, roleGlobalAdministrator},
	opAppConsent:    {roleCloudApplicationAdministrator, roleApplicationAdministrator, roleGlobalAdministrator},
}

// tenantRouteWrites classifies the customer-tenant Graph routes other
// than GET (every GET is a directory read). PATCH /v1.0/users/{id} is
// classified per request (userPatchOps).
var tenantRouteWrites = map[string]gdapOp{
	"POST /v1.0/users":                    opUserWrite,
	"DELETE /v1.0/users/{id}":             opUserWrite,
	"POST /v1.0/users/{id}/assignLicense": opLicenseAssign,
	"POST /v1.0/domains":                  opDomainWrite,
	"DELETE /v1.0/domains/{id}":           opDomainWrite,
	"POST /v1.0/domains/{id}/verify":      opDomainWrite,
}

const userPatchPattern = "PATCH /v1.0/users/{id}"

// routeOps is the operation class of a tenant route.
type routeOps struct {
	fixed     gdapOp
	userPatch bool
}

// mustClassifyTenantRoute returns the class of a tenant route pattern;
// an unclassified write route is a programming error.
func mustClassifyTenantRoute(pattern string) routeOps {
	method, _, _ := strings.Cut(pattern, " ")
	if pattern == userPatchPattern {
		return routeOps{userPatch: true}
	}
	if op, ok := tenantRouteWrites[pattern]; ok {
		return routeOps{fixed: op}
	}
	if method == http.MethodGet {
		return routeOps{fixed: opDirectoryRead}
	}
	panic("mscloud: no GDAP operation class for the tenant route " + pattern)
}

// of returns the classes request r needs.
func (o routeOps) of(r *http.Request) []gdapOp {
	if o.userPatch {
		return userPatchOps(r)
	}
	return []gdapOp{o.fixed}
}

// userPatchOps classifies a user PATCH by its body: passwordProfile is a
// password reset, any other property a user write (both when both are
// present; a body that is not a JSON object counts as a user write). The
// body is read and put back for the handler.
func userPatchOps(r *http.Request) []gdapOp {
	var b []byte
	if r.Body != nil {
		b, _ = io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(b))
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(b, &m) != nil {
		return []gdapOp{opUserWrite}
	}
	password, other := false, false
	for k := range m {
		switch {
		case strings.HasPrefix(k, "@"): // annotations
		case strings.EqualFold(k, "passwordProfile"):
			password = true
		default:
			other = true
		}
	}
	var ops []gdapOp
	if password {
		ops = append(ops, opPasswordReset)
	}
	if other || !password {
		ops = append(ops, opUserWrite)
	}
	return ops
}

// gdapRolesIn is the union of the roles of p's usable (active or
// expiring) relationships with the customer tenant. Caller holds s.mu.
func (s *graphService) gdapRolesIn(p *partner, customerID string, now time.Time) []string {
	var roles []string
	for _, g := range s.gdap[p.TenantID] {
		if g.CustomerID != customerID {
			continue
		}
		g.settle(now)
		if !g.usable() {
			continue
		}
		for _, id := range g.Roles {
			if !slices.Contains(roles, id) {
				roles = append(roles, id)
			}
		}
	}
	return roles
}

// gdapCoversLocked reports whether p's usable relationships with the
// customer hold, for every class in ops, a role that covers it. Caller
// holds s.mu.
func (s *graphService) gdapCoversLocked(p *partner, customerID string, ops []gdapOp, now time.Time) bool {
	roles := s.gdapRolesIn(p, customerID, now)
	if len(roles) == 0 {
		return false
	}
	for _, op := range ops {
		need := gdapCoverage[op]
		if need == nil {
			continue
		}
		if !slices.ContainsFunc(roles, func(id string) bool { return slices.Contains(need, id) }) {
			return false
		}
	}
	return true
}

// gdapCovers is gdapCoversLocked for the other parts (Partner Center's
// application consents, with pcService.mu held): it takes s.mu.
func (s *graphService) gdapCovers(p *partner, customerID string, ops []gdapOp, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.gdapCoversLocked(p, customerID, ops, now)
}
