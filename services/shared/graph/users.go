package graph

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// PasswordProfile of a user.
type PasswordProfile struct {
	Password                      string `json:"password"`
	ForceChangePasswordNextSignIn bool   `json:"forceChangePasswordNextSignIn"`
}

// AssignedLicense is a license a user holds.
type AssignedLicense struct {
	SKUID         string   `json:"skuId"`
	DisabledPlans []string `json:"disabledPlans"`
}

// User is a directory user.
type User struct {
	ID                string            `json:"id,omitempty"`
	UserPrincipalName string            `json:"userPrincipalName,omitempty"`
	DisplayName       string            `json:"displayName,omitempty"`
	GivenName         string            `json:"givenName,omitempty"`
	Surname           string            `json:"surname,omitempty"`
	MailNickname      string            `json:"mailNickname,omitempty"`
	UsageLocation     string            `json:"usageLocation,omitempty"`
	AccountEnabled    *bool             `json:"accountEnabled,omitempty"`
	PasswordProfile   *PasswordProfile  `json:"passwordProfile,omitempty"`
	AssignedLicenses  []AssignedLicense `json:"assignedLicenses,omitempty"`
	// CreatedDateTime is read-only (never sent).
	CreatedDateTime *time.Time `json:"createdDateTime,omitempty"`
}

// CreateUser creates a user.
func (c *Client) CreateUser(ctx context.Context, u User) (*User, error) {
	var out User
	err := c.do(ctx, http.MethodPost, "/users", u, &out)
	return &out, err
}

// GetUser reads a user by id or user principal name.
func (c *Client) GetUser(ctx context.Context, idOrUPN string) (*User, error) {
	var out User
	err := c.do(ctx, http.MethodGet, "/users/"+escape(idOrUPN)+"?$select=id,userPrincipalName,displayName,givenName,surname,usageLocation,accountEnabled,assignedLicenses", nil, &out)
	return &out, err
}

// FindUser returns the user with a user principal name, or nil.
func (c *Client) FindUser(ctx context.Context, upn string) (*User, error) {
	var page struct {
		Value []User `json:"value"`
	}
	filter := url.QueryEscape("userPrincipalName eq '" + strings.ReplaceAll(upn, "'", "''") + "'")
	if err := c.do(ctx, http.MethodGet, "/users?$filter="+filter+"&$select=id,userPrincipalName,accountEnabled,assignedLicenses,createdDateTime", nil, &page); err != nil {
		return nil, err
	}
	for i := range page.Value {
		if strings.EqualFold(page.Value[i].UserPrincipalName, upn) {
			return &page.Value[i], nil
		}
	}
	return nil, nil
}

// maxUserPages bounds ListUsers: 1000 pages of 999 users is more than a
// tenant holds.
const maxUserPages = 1000

// ListUsers returns every user, following @odata.nextLink (listAll).
func (c *Client) ListUsers(ctx context.Context) ([]User, error) {
	return listAll[User](ctx, c, "/users?$top=999", "users", maxUserPages)
}

// UpdateUser patches a user (only the fields set).
func (c *Client) UpdateUser(ctx context.Context, id string, patch map[string]any) error {
	return c.do(ctx, http.MethodPatch, "/users/"+escape(id), patch, nil)
}

// DeleteUser deletes a user (soft delete, restorable for 30 days).
func (c *Client) DeleteUser(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, "/users/"+escape(id), nil, nil)
}

// AssignLicense adds and removes licenses of a user.
func (c *Client) AssignLicense(ctx context.Context, id string, add []string, remove []string) (*User, error) {
	body := map[string]any{"addLicenses": []AssignedLicense{}, "removeLicenses": []string{}}
	var adds []AssignedLicense
	for _, s := range add {
		adds = append(adds, AssignedLicense{SKUID: s, DisabledPlans: []string{}})
	}
	if adds != nil {
		body["addLicenses"] = adds
	}
	if remove != nil {
		body["removeLicenses"] = remove
	}
	var out User
	err := c.do(ctx, http.MethodPost, "/users/"+escape(id)+"/assignLicense", body, &out)
	return &out, err
}

// SubscribedSKU is a license SKU of the tenant with its seats.
type SubscribedSKU struct {
	SKUID            string `json:"skuId"`
	SKUPartNumber    string `json:"skuPartNumber"`
	CapabilityStatus string `json:"capabilityStatus"`
	ConsumedUnits    int64  `json:"consumedUnits"`
	PrepaidUnits     struct {
		Enabled   int64 `json:"enabled"`
		Suspended int64 `json:"suspended"`
		Warning   int64 `json:"warning"`
	} `json:"prepaidUnits"`
}

// Free is the number of seats that can still be assigned.
func (s SubscribedSKU) Free() int64 { return s.PrepaidUnits.Enabled - s.ConsumedUnits }

// SubscribedSKUs lists the tenant's license SKUs.
func (c *Client) SubscribedSKUs(ctx context.Context) ([]SubscribedSKU, error) {
	var page struct {
		Value []SubscribedSKU `json:"value"`
	}
	err := c.do(ctx, http.MethodGet, "/subscribedSkus", nil, &page)
	return page.Value, err
}
