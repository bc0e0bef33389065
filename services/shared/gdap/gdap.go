// Package gdap is the gateway's model of granular delegated admin privileges
// (GDAP): the Entra roles a partner asks a customer for, the states a
// tenant's relationship goes through, and the rule that app+user instances
// act in a customer's directory only through an approved relationship.
//
// Microsoft's own model: a partner requests a relationship (Graph
// /tenantRelationships/delegatedAdminRelationships) with a set of Entra role
// templates and a duration (two years at most); the customer's administrator
// approves it from a link; it can be extended automatically by 180 days at a
// time unless it holds the Global Administrator role; a request never
// approved lapses after 90 days. With app+user credentials (the secure
// application model) every call in a customer's directory needs an active
// relationship whose roles cover it; app-only calls rely on the
// application's consent in the customer's tenant instead.
package gdap

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/o365gateway/gateway/services/shared/apierr"
)

// Entra role template ids the gateway knows by name.
const (
	GlobalAdministrator          = "62e90394-69f5-4237-9190-012177145e10"
	UserAdministrator            = "fe930be7-5e62-47db-91af-98c3a49a38b1"
	LicenseAdministrator         = "4d6ac14f-3453-41d0-bef9-a3e0c569773a"
	DirectoryWriters             = "9360feb5-f418-4baa-8175-e2a00bac4301"
	DirectoryReaders             = "88d8e3e3-8f55-4a1e-953a-9b9898b8876b"
	DomainNameAdministrator      = "8329153b-31d0-4727-b945-745eb3bc5f31"
	CloudApplicationAdministator = "158c047a-c907-4556-b7ef-446551a6b5f7"
	ApplicationAdministrator     = "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3"
	PasswordAdministrator        = "966707d0-3269-4727-9be2-8c3a10f19b9d"
	HelpdeskAdministrator        = "729827e3-9c14-49f7-bb1b-9608f156bbb8"
)

// DefaultRoles is the least set the gateway's own calls need: users, their
// licenses and password resets (User Administrator), custom domains
// (Domain Name Administrator) and the application's consent in the
// customer's tenant (Cloud Application Administrator).
var DefaultRoles = []string{UserAdministrator, DomainNameAdministrator, CloudApplicationAdministator}

// Lifetimes Microsoft applies.
const (
	// Duration is what the gateway asks for: the longest Microsoft allows.
	Duration = 730 * 24 * time.Hour
	// ISODuration is Duration as Graph writes it.
	ISODuration = "P730D"
	// AutoExtend is the only extension Microsoft offers.
	AutoExtend = "P180D"
	// NoAutoExtend turns extension off.
	NoAutoExtend = "PT0S"
	// RequestLifetime: a request the customer never approves lapses.
	RequestLifetime = 90 * 24 * time.Hour
	// ExpiringWithin is how long before its end a relationship that will
	// not be extended is reported as expiring.
	ExpiringWithin = 30 * 24 * time.Hour
)

// States of a tenant's relationship, as the tenant's `gdap.state` shows them.
const (
	StateNone            = "none"
	StatePendingApproval = "pending_approval"
	StateActive          = "active"
	StateExpiring        = "expiring"
	StateExpired         = "expired"
)

// Relationship is what the gateway keeps of a tenant's relationship.
type Relationship struct {
	State          string    `json:"state,omitempty"`
	RelationshipID string    `json:"relationship_id,omitempty"`
	DisplayName    string    `json:"display_name,omitempty"`
	Roles          []string  `json:"roles,omitempty"`
	ApprovalURL    string    `json:"approval_url,omitempty"`
	AutoExtend     bool      `json:"auto_extend,omitempty"`
	RequestedAt    time.Time `json:"requested_at,omitzero"`
	ExpiresAt      time.Time `json:"expires_at,omitzero"`
	CheckedAt      time.Time `json:"checked_at,omitzero"`
	// Generation counts the requests made for the tenant: each expired
	// relationship is replaced by a request with the next display name.
	Generation int `json:"generation,omitempty"`
	// Consented: the application's consent in the customer's tenant was
	// granted (app+user instances grant it once the relationship is
	// active, since the consent call itself needs one of its roles).
	Consented bool `json:"consented,omitempty"`
	// Problem is why the last request or check failed, for the health.
	Problem string `json:"problem,omitempty"`
}

// Current reports the state; an empty relationship is "none".
func (r *Relationship) Current() string {
	if r == nil || r.State == "" {
		return StateNone
	}
	return r.State
}

// Usable tells whether the relationship lets app+user calls act.
func (r *Relationship) Usable() bool {
	s := r.Current()
	return s == StateActive || s == StateExpiring
}

// Validate checks instance-configured roles: role template ids (GUIDs),
// no duplicates. An empty list means DefaultRoles.
func Validate(roles []string) ([]string, error) {
	if len(roles) == 0 {
		return slices.Clone(DefaultRoles), nil
	}
	out := make([]string, 0, len(roles))
	for _, r := range roles {
		r = strings.ToLower(strings.TrimSpace(r))
		if !isGUID(r) {
			return nil, apierr.Invalid("gdap_roles: %q is not an Entra role template id (a GUID).", r)
		}
		if slices.Contains(out, r) {
			return nil, apierr.Invalid("gdap_roles: %s is listed twice.", r)
		}
		out = append(out, r)
	}
	if len(out) > 72 {
		return nil, apierr.Invalid("gdap_roles: at most 72 roles.")
	}
	return out, nil
}

// CanAutoExtend tells whether Microsoft allows auto-extension for roles:
// never with the Global Administrator role.
func CanAutoExtend(roles []string) bool {
	return !slices.Contains(roles, GlobalAdministrator)
}

// StateOf maps Microsoft's relationship status to the tenant's state at
// now: a relationship that will not be extended is expiring in its last
// ExpiringWithin.
func StateOf(status string, end time.Time, autoExtend bool, now time.Time) string {
	switch status {
	case "created", "approvalPending", "approved", "activating":
		return StatePendingApproval
	case "active":
		if !autoExtend && !end.IsZero() && end.Sub(now) <= ExpiringWithin {
			return StateExpiring
		}
		return StateActive
	case "expiring":
		return StateExpiring
	case "expired", "terminated", "terminating", "terminationRequested":
		return StateExpired
	}
	return StateNone
}

// DisplayName is the relationship's name at Microsoft, unique among the
// partner's relationships: the natural key of a request (read back by it
// after a lost answer). Graph allows 50 characters.
func DisplayName(tenantID string, generation int) string {
	id := strings.ReplaceAll(tenantID, "-", "")
	if len(id) > 32 {
		id = id[:32]
	}
	return fmt.Sprintf("o365gw-%s-%d", id, generation)
}

// Require is the rule for directory operations in a customer's tenant.
// App-only instances are not held back (they act through the application's
// consent). App+user instances need a usable relationship; until then the
// answer is a 400 GdapPendingApproval with the approval link. A tenant
// whose relationship was never tracked (provisioned with package 1.0,
// before the gateway requested relationships) is not held back: its
// access is what it was until the first check has seen its relationship.
func Require(appUser bool, r *Relationship) error {
	if !appUser || r.Usable() || r == nil || r.State == "" {
		return nil
	}
	switch r.Current() {
	case StatePendingApproval:
		return apierr.New(codes.FailedPrecondition, apierr.GdapPendingApproval,
			"The customer has not yet approved the partner's delegated admin relationship; the customer's administrator approves it at %s.", r.ApprovalURL)
	case StateExpired:
		return apierr.New(codes.FailedPrecondition, apierr.GdapPendingApproval,
			"The partner's delegated admin relationship with the customer has expired; a new request is being made (see the tenant's gdap).")
	}
	return apierr.New(codes.FailedPrecondition, apierr.GdapPendingApproval,
		"The partner has no delegated admin relationship with the customer yet; it is requested when the tenant is provisioned or linked.")
}

// ApprovalURL is the link a customer's administrator opens to approve a
// relationship in the Microsoft 365 admin center of the cloud.
func ApprovalURL(adminCenter, relationshipID string) string {
	return strings.TrimRight(adminCenter, "/") + "/AdminPortal/Home#/partners/invitation/granularAdminRelationships/" + relationshipID
}

func isGUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, c := range s {
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
				return false
			}
		}
	}
	return true
}
