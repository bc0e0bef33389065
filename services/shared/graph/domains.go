package graph

import (
	"context"
	"net/http"
)

// Domain is a domain of the tenant.
type Domain struct {
	ID         string `json:"id"`
	IsVerified bool   `json:"isVerified"`
	IsInitial  bool   `json:"isInitial"`
	IsDefault  bool   `json:"isDefault"`
}

// DNSRecord is a record the customer must publish to verify a domain.
type DNSRecord struct {
	ODataType        string `json:"@odata.type"`
	RecordType       string `json:"recordType"`
	Label            string `json:"label"`
	Text             string `json:"text,omitempty"`
	MailExchange     string `json:"mailExchange,omitempty"`
	Preference       int    `json:"preference,omitempty"`
	TTL              int    `json:"ttl"`
	IsOptional       bool   `json:"isOptional"`
	SupportedService string `json:"supportedService,omitempty"`
}

// AddDomain adds a custom domain (unverified).
func (c *Client) AddDomain(ctx context.Context, name string) (*Domain, error) {
	var out Domain
	err := c.do(ctx, http.MethodPost, "/domains", map[string]string{"id": name}, &out)
	return &out, err
}

// Domains lists the tenant's domains.
func (c *Client) Domains(ctx context.Context) ([]Domain, error) {
	var page struct {
		Value []Domain `json:"value"`
	}
	err := c.do(ctx, http.MethodGet, "/domains", nil, &page)
	return page.Value, err
}

// GetDomain reads one domain.
func (c *Client) GetDomain(ctx context.Context, name string) (*Domain, error) {
	var out Domain
	err := c.do(ctx, http.MethodGet, "/domains/"+escape(name), nil, &out)
	return &out, err
}

// VerificationRecords lists the DNS records that prove ownership.
func (c *Client) VerificationRecords(ctx context.Context, name string) ([]DNSRecord, error) {
	var page struct {
		Value []DNSRecord `json:"value"`
	}
	err := c.do(ctx, http.MethodGet, "/domains/"+escape(name)+"/verificationDnsRecords", nil, &page)
	return page.Value, err
}

// VerifyDomain asks Microsoft to check the published records.
func (c *Client) VerifyDomain(ctx context.Context, name string) (*Domain, error) {
	var out Domain
	err := c.do(ctx, http.MethodPost, "/domains/"+escape(name)+"/verify", nil, &out)
	return &out, err
}

// DeleteDomain removes a domain.
func (c *Client) DeleteDomain(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodDelete, "/domains/"+escape(name), nil, nil)
}
