package partnercenter

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// DomainExists asks whether a domain is used by any Microsoft tenant
// (HEAD /v1/domains/{domain}: 200 taken, 404 free).
func (c *Client) DomainExists(ctx context.Context, domain string) (bool, error) {
	_, err := c.do(ctx, http.MethodHead, "/v1/domains/"+url.PathEscape(domain), nil, nil, nil, nil)
	if err == nil {
		return true, nil
	}
	if e, ok := AsError(err); ok && e.StatusCode == http.StatusNotFound {
		return false, nil
	}
	return false, err
}

// ValidateAddress asks Microsoft to validate an address.
func (c *Client) ValidateAddress(ctx context.Context, a Address) (*AddressValidation, error) {
	body := map[string]string{
		"AddressLine1": a.AddressLine1, "AddressLine2": a.AddressLine2, "City": a.City,
		"State": a.State, "PostalCode": a.PostalCode, "Country": a.Country,
	}
	var out AddressValidation
	_, err := c.do(ctx, http.MethodPost, "/v1/validations/address", nil, nil, body, &out)
	return &out, err
}

// CountryRules returns Microsoft's validation rules of a country.
func (c *Client) CountryRules(ctx context.Context, iso2 string) (*CountryRules, error) {
	var out CountryRules
	_, err := c.do(ctx, http.MethodGet, "/v1/countryvalidationrules/"+url.PathEscape(strings.ToUpper(iso2)), nil, nil, nil, &out)
	return &out, err
}

// CreateCustomer creates a customer. ctx must carry the step's persisted
// MS-RequestId (WithRequestID).
func (c *Client) CreateCustomer(ctx context.Context, cust Customer) (*Customer, error) {
	var out Customer
	_, err := c.do(ctx, http.MethodPost, "/v1/customers", nil, nil, cust, &out)
	return &out, err
}

// GetCustomer reads one customer of the partner.
func (c *Client) GetCustomer(ctx context.Context, id string) (*Customer, error) {
	var out Customer
	_, err := c.do(ctx, http.MethodGet, "/v1/customers/"+url.PathEscape(id), nil, nil, nil, &out)
	return &out, err
}

// FindCustomerByDomain looks the partner's customers up by initial domain
// (the natural key) and returns nil when none has it.
func (c *Client) FindCustomerByDomain(ctx context.Context, domain string) (*Customer, error) {
	filter, _ := json.Marshal(map[string]string{"Field": "Domain", "Value": domain, "Operator": "starts_with"})
	query := map[string]string{"size": "100", "filter": string(filter)}
	headers := map[string]string{}
	path := "/v1/customers"
	for page := 0; page < 100; page++ {
		var col collection[Customer]
		if _, err := c.do(ctx, http.MethodGet, path, query, headers, nil, &col); err != nil {
			return nil, err
		}
		for i := range col.Items {
			if strings.EqualFold(col.Items[i].CompanyProfile.Domain, domain) {
				return &col.Items[i], nil
			}
		}
		next := col.Links.Next
		if next == nil || next.URI == "" {
			return nil, nil
		}
		u, err := url.Parse(next.URI)
		if err != nil {
			return nil, readError(nil, "the next page link Partner Center returned is not a URL", err)
		}
		path = "/" + strings.TrimPrefix(strings.TrimPrefix(u.Path, "/"), "")
		if !strings.HasPrefix(path, "/v1/") {
			path = "/v1/" + strings.TrimPrefix(path, "/")
		}
		query = map[string]string{}
		for k, v := range u.Query() {
			query[k] = v[0]
		}
		headers = map[string]string{}
		for _, h := range next.Headers {
			headers[h.Key] = h.Value
		}
	}
	// Not "not found": a customer may still exist beyond the pages read,
	// and the caller would create a duplicate.
	return nil, readError(nil, "Partner Center's customer search did not end within 100 pages", errors.New("too many pages"))
}

// DeleteCustomer deletes a customer (integration sandbox only).
func (c *Client) DeleteCustomer(ctx context.Context, id string) error {
	_, err := c.do(ctx, http.MethodDelete, "/v1/customers/"+url.PathEscape(id), nil, nil, nil, nil)
	return err
}

// GetBillingProfile reads a customer's billing profile (with its etag).
func (c *Client) GetBillingProfile(ctx context.Context, customerID string) (*BillingProfile, error) {
	var out BillingProfile
	_, err := c.do(ctx, http.MethodGet, "/v1/customers/"+url.PathEscape(customerID)+"/profiles/billing", nil, nil, nil, &out)
	return &out, err
}

// UpdateBillingProfile replaces a billing profile; p.Attributes.Etag must be
// the etag just read (sent quoted in If-Match).
func (c *Client) UpdateBillingProfile(ctx context.Context, customerID string, p BillingProfile) (*BillingProfile, error) {
	var out BillingProfile
	etag := p.Attributes.Etag
	if etag != "" && !strings.HasPrefix(etag, `"`) {
		etag = `"` + etag + `"`
	}
	p.Attributes.ObjectType = "CustomerBillingProfile"
	_, err := c.do(ctx, http.MethodPut, "/v1/customers/"+url.PathEscape(customerID)+"/profiles/billing", nil,
		map[string]string{"If-Match": etag}, p, &out)
	return &out, err
}

// MCATemplateID returns the template id of the Microsoft Customer Agreement.
func (c *Client) MCATemplateID(ctx context.Context) (string, error) {
	var col collection[struct {
		TemplateID    string `json:"templateId"`
		AgreementType string `json:"agreementType"`
	}]
	_, err := c.do(ctx, http.MethodGet, "/v1/agreements", map[string]string{"agreementType": "MicrosoftCustomerAgreement"}, nil, nil, &col)
	if err != nil {
		return "", err
	}
	for _, it := range col.Items {
		if it.TemplateID != "" {
			return it.TemplateID, nil
		}
	}
	return "", &Error{StatusCode: http.StatusNotFound, Description: "no Microsoft Customer Agreement template was returned"}
}

// AttestAgreement records that a customer accepted an agreement. An
// attestation that already exists (600061) counts as success.
func (c *Client) AttestAgreement(ctx context.Context, customerID string, a Agreement) error {
	_, err := c.do(ctx, http.MethodPost, "/v1/customers/"+url.PathEscape(customerID)+"/agreements", nil, nil, a, nil)
	if e, ok := AsError(err); ok && (e.Code == 600061 || e.ErrorName == "PartnerConfirmedAgreementAlreadyExists") {
		return nil
	}
	return err
}

// GraphApplicationID is the enterprise application id of Microsoft Graph.
const GraphApplicationID = "00000003-0000-0000-c000-000000000000"

// GrantApplicationConsent consents the partner's application to Graph scopes
// in a customer's tenant (POST /v1/customers/{id}/applicationconsents), so
// that the application can get tokens issued by that tenant. A consent that
// already exists (409) counts as success.
func (c *Client) GrantApplicationConsent(ctx context.Context, customerID, applicationID string, scopes []string) error {
	body := map[string]any{"applicationId": applicationID, "applicationGrants": []map[string]string{
		{"enterpriseApplicationId": GraphApplicationID, "scope": strings.Join(scopes, ",")}}}
	_, err := c.do(ctx, http.MethodPost, "/v1/customers/"+url.PathEscape(customerID)+"/applicationconsents", nil, nil, body, nil)
	if e, ok := AsError(err); ok && e.StatusCode == http.StatusConflict {
		return nil
	}
	return err
}

// CustomerPage is one page of the partner's customers.
type CustomerPage struct {
	Customers []Customer
	// Continuation names the next page (empty on the last).
	Continuation string
}

// ListCustomers reads one page of the partner's customers: the first with
// continuation "", the next ones with the continuation of the previous
// page (Partner Center's seekOperation=Next with MS-ContinuationToken).
func (c *Client) ListCustomers(ctx context.Context, size int, continuation string) (*CustomerPage, error) {
	query := map[string]string{"size": strconv.Itoa(size)}
	headers := map[string]string{}
	if continuation != "" {
		query["seekOperation"] = "Next"
		headers["MS-ContinuationToken"] = continuation
	}
	var col collection[Customer]
	if _, err := c.do(ctx, http.MethodGet, "/v1/customers", query, headers, nil, &col); err != nil {
		return nil, err
	}
	page := &CustomerPage{Customers: col.Items}
	if next := col.Links.Next; next != nil {
		for _, h := range next.Headers {
			if strings.EqualFold(h.Key, "MS-ContinuationToken") {
				page.Continuation = h.Value
			}
		}
	}
	return page, nil
}

// SubscriptionCount counts a customer's subscriptions.
func (c *Client) SubscriptionCount(ctx context.Context, customerID string) (int, error) {
	var col collection[json.RawMessage]
	_, err := c.do(ctx, http.MethodGet, "/v1/customers/"+url.PathEscape(customerID)+"/subscriptions", nil, nil, nil, &col)
	return len(col.Items), err
}
