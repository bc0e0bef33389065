package mscloud

import (
	"encoding/json"
	"strings"
	"time"
)

// The Microsoft Entra directory of a customer tenant, as Microsoft Graph
// sees it: users (live and soft-deleted) and domains. It belongs to the
// tenant's record (graph_tenants.go), which creates it the first time
// anything looks at it; everything here is guarded by graphService.mu.
// Graph calls act in the tenant that issued the token (tenantRoute,
// graph_routes.go).

type tenantDirectory struct {
	users   []*dirUser // live users, creation order
	deleted []*dirUser // soft-deleted users (DELETE /v1.0/users/{id})
	domains []*dirDomain
	seq     int // user creation sequence: orders pages and skip tokens
}

type dirUser struct {
	ID             string
	Seq            int
	UPN            string
	DisplayName    string
	GivenName      string // "" = null
	Surname        string // "" = null
	Mail           string // "" = null
	MailNickname   string
	AccountEnabled bool
	UsageLocation  string // "" = null; what GET shows at once
	// License assignment sees a changed usageLocation only from locAt on
	// (real time, usage_location_lag_ms); before that it still sees locPrev.
	locPrev     string
	locAt       time.Time
	Licenses    []*userLicense
	violations  map[string]time.Time // license SKU GUID → last CountViolation
	Password    string
	ForceChange bool
	Extra       map[string]json.RawMessage // other user properties, stored and echoed
	Created     time.Time
	Deleted     time.Time
}

type userLicense struct {
	SkuID         string // lower-case license SKU GUID
	DisabledPlans []string
	Assigned      time.Time
}

type dirDomain struct {
	Name     string // lower case
	Initial  bool
	Default  bool
	Verified bool
	TXT      string // MS=ms########
	MX       string
	Created  time.Time
}

// user finds a live user by object id or user principal name.
func (d *tenantDirectory) user(idOrUPN string) *dirUser {
	k := lower(idOrUPN)
	for _, u := range d.users {
		if u.ID == k || lower(u.UPN) == k {
			return u
		}
	}
	return nil
}

// upnTaken: a live user other than except has upn.
func (d *tenantDirectory) upnTaken(upn string, except *dirUser) bool {
	for _, u := range d.users {
		if u != except && strings.EqualFold(u.UPN, upn) {
			return true
		}
	}
	return false
}

func (d *tenantDirectory) domain(name string) *dirDomain {
	k := lower(name)
	for _, dm := range d.domains {
		if dm.Name == k {
			return dm
		}
	}
	return nil
}

// verifiedDomain reports whether name is a verified domain of the tenant.
func (d *tenantDirectory) verifiedDomain(name string) bool {
	dm := d.domain(name)
	return dm != nil && dm.Verified
}

// licensingLocation is the usage location license assignment sees now.
func (u *dirUser) licensingLocation(realNow time.Time) string {
	if realNow.Before(u.locAt) {
		return u.locPrev
	}
	return u.UsageLocation
}

// setUsageLocation changes the location at once for reads and after lag
// for license assignment.
func (u *dirUser) setUsageLocation(loc string, lag time.Duration) {
	now := time.Now()
	if loc == u.UsageLocation {
		return
	}
	u.locPrev = u.licensingLocation(now)
	u.UsageLocation = loc
	u.locAt = now.Add(lag)
}

func (u *dirUser) license(skuID string) *userLicense {
	for _, l := range u.Licenses {
		if l.SkuID == lower(skuID) {
			return l
		}
	}
	return nil
}
