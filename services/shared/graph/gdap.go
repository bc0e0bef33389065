package graph

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// The partner's granular delegated admin relationships with its customers
// (Graph /tenantRelationships/delegatedAdminRelationships). These calls act
// in the partner's own tenant: the client must be built for the partner's
// tenant id, not a customer's.

// Relationship is a delegatedAdminRelationship.
type Relationship struct {
	ID                 string        `json:"id,omitempty"`
	ETag               string        `json:"@odata.etag,omitempty"`
	DisplayName        string        `json:"displayName"`
	Duration           string        `json:"duration,omitempty"`
	Customer           RelCustomer   `json:"customer"`
	AccessDetails      AccessDetails `json:"accessDetails"`
	Status             string        `json:"status,omitempty"`
	AutoExtendDuration string        `json:"autoExtendDuration,omitempty"`
	CreatedDateTime    *time.Time    `json:"createdDateTime,omitempty"`
	ActivatedDateTime  *time.Time    `json:"activatedDateTime,omitempty"`
	EndDateTime        *time.Time    `json:"endDateTime,omitempty"`
}

// RelCustomer is the customer side of a relationship.
type RelCustomer struct {
	TenantID    string `json:"tenantId"`
	DisplayName string `json:"displayName,omitempty"`
}

// AccessDetails are the roles a relationship grants.
type AccessDetails struct {
	UnifiedRoles []UnifiedRole `json:"unifiedRoles"`
}

// UnifiedRole names an Entra role template.
type UnifiedRole struct {
	RoleDefinitionID string `json:"roleDefinitionId"`
}

// RoleIDs lists the relationship's role template ids.
func (r *Relationship) RoleIDs() []string {
	out := make([]string, 0, len(r.AccessDetails.UnifiedRoles))
	for _, u := range r.AccessDetails.UnifiedRoles {
		out = append(out, u.RoleDefinitionID)
	}
	return out
}

// Roles builds AccessDetails from role template ids.
func Roles(ids []string) AccessDetails {
	a := AccessDetails{UnifiedRoles: make([]UnifiedRole, 0, len(ids))}
	for _, id := range ids {
		a.UnifiedRoles = append(a.UnifiedRoles, UnifiedRole{RoleDefinitionID: id})
	}
	return a
}

const relationships = "/tenantRelationships/delegatedAdminRelationships"

// CreateRelationship creates a relationship (status "created"). Its display
// name is unique among the partner's relationships: a repeated create is
// refused, and the caller reads the first back by name.
func (c *Client) CreateRelationship(ctx context.Context, r Relationship) (*Relationship, error) {
	var out Relationship
	err := c.do(ctx, http.MethodPost, relationships, r, &out)
	return &out, err
}

// Relationship reads one relationship.
func (c *Client) Relationship(ctx context.Context, id string) (*Relationship, error) {
	var out Relationship
	err := c.do(ctx, http.MethodGet, relationships+"/"+escape(id), nil, &out)
	return &out, err
}

// CustomerRelationships lists the partner's relationships with one customer.
func (c *Client) CustomerRelationships(ctx context.Context, customerTenantID string) ([]Relationship, error) {
	q := url.Values{"$filter": {"customer/tenantId eq '" + odataString(customerTenantID) + "'"}}
	return listAll[Relationship](ctx, c, relationships+"?"+q.Encode(), "relationships", maxRelationshipPages)
}

// maxRelationshipPages bounds CustomerRelationships: a partner has a few
// relationships with one customer, never pages of them.
const maxRelationshipPages = 100

// LockForApproval asks for the customer's approval (created →
// approvalPending).
func (c *Client) LockForApproval(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodPost, relationships+"/"+escape(id)+"/requests", map[string]string{"action": "lockForApproval"}, nil)
}

// SetAutoExtend changes a relationship's auto-extension ("P180D" or
// "PT0S"), with the etag it was read with.
func (c *Client) SetAutoExtend(ctx context.Context, r *Relationship, duration string) error {
	h := http.Header{}
	if r.ETag != "" {
		h.Set("If-Match", r.ETag)
	}
	return c.doWith(ctx, http.MethodPatch, relationships+"/"+escape(r.ID), h, map[string]string{"autoExtendDuration": duration}, nil)
}

// PasswordCredential is a client secret of an application (never its value).
type PasswordCredential struct {
	KeyID         string     `json:"keyId"`
	DisplayName   string     `json:"displayName"`
	Hint          string     `json:"hint"`
	StartDateTime *time.Time `json:"startDateTime"`
	EndDateTime   *time.Time `json:"endDateTime"`
}

// ApplicationSecrets lists the client secrets of the partner's application
// (by its client id), as Graph describes them: hint and end date.
func (c *Client) ApplicationSecrets(ctx context.Context, clientID string) ([]PasswordCredential, error) {
	q := url.Values{"$filter": {"appId eq '" + odataString(clientID) + "'"}, "$select": {"id,appId,passwordCredentials"}}
	var page struct {
		Value []struct {
			PasswordCredentials []PasswordCredential `json:"passwordCredentials"`
		} `json:"value"`
	}
	if err := c.do(ctx, http.MethodGet, "/applications?"+q.Encode(), nil, &page); err != nil {
		return nil, err
	}
	if len(page.Value) == 0 {
		return nil, nil
	}
	return page.Value[0].PasswordCredentials, nil
}

// odataString escapes a value for a quoted OData literal.
func odataString(v string) string { return strings.ReplaceAll(v, "'", "''") }
