package mscloud

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/mail"
	"net/url"
	"regexp"
	"strconv"
	"strings"
)

// Sandbox (integration) accounts may hold at most this many customers.
const sandboxCustomerLimit = 75

func (s *pcService) registerPCCustomers() {
	register(s.mux, "POST /v1/customers", s.pcCreateCustomer)
	register(s.mux, "GET /v1/customers", s.pcListCustomers)
	register(s.mux, "GET /v1/customers/{id}", s.withCustomer(s.pcGetCustomer))
	register(s.mux, "DELETE /v1/customers/{id}", s.withCustomer(s.pcDeleteCustomer))
	register(s.mux, "GET /v1/customers/{id}/profiles/billing", s.withCustomer(s.pcGetBilling))
	register(s.mux, "PUT /v1/customers/{id}/profiles/billing", s.withCustomer(s.pcPutBilling))
	register(s.mux, "GET /v1/customers/{id}/profiles/company", s.withCustomer(s.pcGetCompany))
}

// withCustomer resolves {id} among the calling partner's own customers.
func (s *pcService) withCustomer(h func(r *http.Request, c *apiCall, cu *customer) *response) apiHandler {
	return func(r *http.Request, c *apiCall) *response {
		id := lower(r.PathValue("id"))
		cu := s.customers[id]
		if cu == nil || cu.Partner != c.partner {
			return pcError(http.StatusNotFound, codeTenantNotFound, "Tenant "+r.PathValue("id")+" was not found or has no relationship with the partner.")
		}
		return h(r, c, cu)
	}
}

// --- request bodies ---

type customerIn struct {
	CompanyProfile struct {
		Domain                         string `json:"domain"`
		OrganizationRegistrationNumber string `json:"organizationRegistrationNumber"`
	} `json:"companyProfile"`
	BillingProfile      billingIn `json:"billingProfile"`
	EnableGDAPByDefault bool      `json:"enableGDAPByDefault"`
}

type billingIn struct {
	Email          string  `json:"email"`
	Culture        string  `json:"culture"`
	Language       string  `json:"language"`
	CompanyName    string  `json:"companyName"`
	DefaultAddress address `json:"defaultAddress"`
}

var (
	cultureRe      = regexp.MustCompile(`^[a-z]{2}-[A-Z]{2}$`)
	languageRe     = regexp.MustCompile(`^[a-z]{2}$`)
	domainPrefixRe = regexp.MustCompile(`^[a-z0-9]{1,27}$`) // assumed rule for initial-domain prefixes
)

// missingBillingFields lists absent required billing-profile fields.
func (b *billingIn) missing(prefix string) []string {
	var out []string
	req := func(v, name string) {
		if strings.TrimSpace(v) == "" {
			out = append(out, prefix+name)
		}
	}
	req(b.Email, "email")
	req(b.Culture, "culture")
	req(b.Language, "language")
	req(b.CompanyName, "companyName")
	a := b.DefaultAddress
	req(a.FirstName, "defaultAddress.firstName")
	req(a.LastName, "defaultAddress.lastName")
	req(a.AddressLine1, "defaultAddress.addressLine1")
	req(a.City, "defaultAddress.city")
	req(a.Country, "defaultAddress.country")
	return out
}

// invalidBillingFields checks formats of present fields.
func (b *billingIn) invalid(prefix string) []string {
	var out []string
	if _, err := mail.ParseAddress(b.Email); err != nil || strings.ContainsAny(b.Email, "<> ") {
		out = append(out, prefix+"email")
	}
	if !cultureRe.MatchString(b.Culture) {
		out = append(out, prefix+"culture")
	}
	if !languageRe.MatchString(b.Language) {
		out = append(out, prefix+"language")
	}
	return out
}

func fieldError(problem string, fields []string) *response {
	return pcError(http.StatusBadRequest, codeInvalidInput, problem+": "+strings.Join(fields, ", "), fields...)
}

// pcCreateCustomer is POST /v1/customers. Checks run in this order: body,
// required fields, formats, country known, partner may sell there (2030),
// sandbox cap, domain suffix/prefix, domain free, registration number and
// phone, address; then the customer is created.
func (s *pcService) pcCreateCustomer(r *http.Request, c *apiCall) *response {
	p := c.partner
	var in customerIn
	if err := decodeJSON(r, &in); err != nil {
		return pcError(http.StatusBadRequest, codeInvalidInput, "The request body is not a valid customer: "+err.Error())
	}
	missing := in.BillingProfile.missing("billingProfile.")
	if strings.TrimSpace(in.CompanyProfile.Domain) == "" {
		missing = append([]string{"companyProfile.domain"}, missing...)
	}
	if len(missing) > 0 {
		return fieldError("Required fields are missing", missing)
	}
	if bad := in.BillingProfile.invalid("billingProfile."); len(bad) > 0 {
		return fieldError("Fields have an invalid format", bad)
	}
	addr := normaliseAddress(in.BillingProfile.DefaultAddress)
	country := addr.Country
	rules := countryTable[country]
	if rules == nil {
		return noCountryRules(in.BillingProfile.DefaultAddress.Country)
	}
	if !p.sellsIn(country) {
		return pcError(http.StatusForbidden, codeNotOnboarded,
			"Partner is not onboarded to sell in this country/region: "+country+". The partner tenant is not authorized to transact in "+country+".")
	}
	if p.Sandbox && len(s.byPartner[p.TenantID]) >= sandboxCustomerLimit {
		return pcError(http.StatusBadRequest, codeSandboxLimit,
			fmt.Sprintf("Sandbox limit reached: an integration sandbox account can have at most %d customers.", sandboxCustomerLimit))
	}
	domain := lower(in.CompanyProfile.Domain)
	prefix, ok := strings.CutSuffix(domain, p.Cloud.InitialDomainSuffix)
	if !ok || !domainPrefixRe.MatchString(prefix) {
		return pcRichError(http.StatusBadRequest, codeDomainInvalid, "InvalidDomain", // simulated errorName
			"The domain "+in.CompanyProfile.Domain+" is not valid: it must be 1-27 letters or digits followed by "+p.Cloud.InitialDomainSuffix+".")
	}
	if s.domainTaken(domain) {
		return pcRichError(http.StatusConflict, codeDomainExists, "DomainAlreadyExists", // simulated errorName
			"The domain "+domain+" already exists. Choose a different domain prefix.")
	}
	regNo := strings.TrimSpace(in.CompanyProfile.OrganizationRegistrationNumber)
	switch {
	case regNumberRequired[country]:
		if regNo == "" {
			return pcRichError(http.StatusBadRequest, codeRegNumberMissing, "OrganizationRegistrationNumberMissing", // simulated errorName
				"Organization registration number is required for customers in "+country+".")
		}
		if rules.registration != nil && !rules.registration.MatchString(regNo) {
			return pcRichError(http.StatusBadRequest, codeRegNumberFormat, "OrganizationRegistrationNumberInvalid", // simulated errorName
				"Organization registration number has an invalid format. It must match the regular expression "+rules.RegistrationRegex)
		}
		if addr.PhoneNumber == "" {
			return pcRichError(http.StatusBadRequest, codePhoneMissing, "PhoneNumberMissing", // simulated errorName
				"Phone number in billingProfile.defaultAddress.phoneNumber is required for customers in "+country+".")
		}
	case regNumberAccepted[country]:
	case regNo != "":
		return pcRichError(http.StatusBadRequest, codeRegNumberNotAllowed, "OrganizationRegistrationNumberNotSupported", // simulated errorName
			"Organization registration number is not supported for customers in "+country+".")
	}
	if chk := checkAddress(addr, rules); chk.status == addrNone {
		return pcRichError(http.StatusBadRequest, codeInvalidAddress, "InvalidAddress", // simulated errorName
			"The address is not valid. "+invalidMessage(chk.invalid))
	}

	now := s.clock.Now()
	cu := &customer{
		ID: newGUID(), CommerceID: newGUID(), Partner: p, Domain: domain,
		CompanyName: strings.TrimSpace(in.BillingProfile.CompanyName), OrgRegistrationNumber: regNo,
		Billing: billingProfile{
			ID: newGUID(), Email: strings.TrimSpace(in.BillingProfile.Email), Culture: in.BillingProfile.Culture,
			Language: in.BillingProfile.Language, CompanyName: strings.TrimSpace(in.BillingProfile.CompanyName),
			DefaultAddress: addr, ETag: newETag(),
		},
		EnableGDAPByDefault: in.EnableGDAPByDefault, AllowDelegatedAccess: true, CreatedAt: now,
	}
	s.addCustomer(cu)

	out := customerView(cu, true)
	out["userCredentials"] = map[string]string{"userName": "admin@" + domain, "password": newPassword()}
	return jsonResponse(http.StatusCreated, out)
}

func link(uri string) map[string]any {
	return map[string]any{"uri": uri, "method": "GET", "headers": []any{}}
}

func companyProfileView(cu *customer) map[string]any {
	out := map[string]any{
		"tenantId": cu.ID, "domain": cu.Domain, "companyName": cu.CompanyName,
		"links":      map[string]any{"self": link("/customers/" + cu.ID + "/profiles/company")},
		"attributes": map[string]string{"objectType": "CustomerCompanyProfile"},
	}
	if cu.OrgRegistrationNumber != "" {
		out["organizationRegistrationNumber"] = cu.OrgRegistrationNumber
	}
	return out
}

func billingProfileView(cu *customer) map[string]any {
	b := cu.Billing
	return map[string]any{
		"id": b.ID, "email": b.Email, "culture": b.Culture, "language": b.Language, "companyName": b.CompanyName,
		"defaultAddress": b.DefaultAddress,
		"links":          map[string]any{"self": link("/customers/" + cu.ID + "/profiles/billing")},
		"attributes":     map[string]string{"etag": b.ETag, "objectType": "CustomerBillingProfile"},
	}
}

// customerView is the Customer resource; detail adds what only
// get-by-id/create return.
func customerView(cu *customer, detail bool) map[string]any {
	out := map[string]any{
		"id": cu.ID, "commerceId": cu.CommerceID,
		"companyProfile":        companyProfileView(cu),
		"billingProfile":        billingProfileView(cu),
		"relationshipToPartner": "reseller",
		"links":                 map[string]any{"self": link("/customers/" + cu.ID)},
		"attributes":            map[string]string{"objectType": "Customer"},
	}
	if detail {
		out["allowDelegatedAccess"] = cu.AllowDelegatedAccess
		out["enableGDAPByDefault"] = cu.EnableGDAPByDefault
	}
	return out
}

func (s *pcService) pcGetCustomer(_ *http.Request, _ *apiCall, cu *customer) *response {
	return jsonResponse(http.StatusOK, customerView(cu, true))
}

// pcDeleteCustomer is allowed for integration-sandbox partners only.
func (s *pcService) pcDeleteCustomer(_ *http.Request, c *apiCall, cu *customer) *response {
	if !c.partner.Sandbox {
		return pcError(http.StatusForbidden, codeDeleteNotAllowed, "Delete is only allowed in the integration sandbox.")
	}
	s.removeCustomer(cu)
	return emptyResponse(http.StatusNoContent)
}

func (s *pcService) pcGetCompany(_ *http.Request, _ *apiCall, cu *customer) *response {
	return jsonResponse(http.StatusOK, companyProfileView(cu))
}

func (s *pcService) pcGetBilling(_ *http.Request, _ *apiCall, cu *customer) *response {
	resp := jsonResponse(http.StatusOK, billingProfileView(cu))
	resp.header.Set("ETag", `"`+cu.Billing.ETag+`"`)
	return resp
}

// pcPutBilling replaces the billing profile; If-Match must carry the
// current etag (quoted or not).
func (s *pcService) pcPutBilling(r *http.Request, _ *apiCall, cu *customer) *response {
	match := strings.TrimSpace(r.Header.Get("If-Match"))
	match = strings.Trim(strings.TrimPrefix(match, "W/"), `"`)
	if match == "" || match != cu.Billing.ETag {
		return pcError(http.StatusPreconditionFailed, codeETagInvalid, "ETag no longer valid. Get the billing profile again and retry with its current etag in If-Match.")
	}
	var in billingIn
	if err := decodeJSON(r, &in); err != nil {
		return pcError(http.StatusBadRequest, codeInvalidInput, "The request body is not a valid billing profile: "+err.Error())
	}
	if missing := in.missing(""); len(missing) > 0 {
		return fieldError("Required fields are missing", missing)
	}
	if bad := in.invalid(""); len(bad) > 0 {
		return fieldError("Fields have an invalid format", bad)
	}
	addr := normaliseAddress(in.DefaultAddress)
	if addr.Country != cu.Billing.DefaultAddress.Country {
		return pcError(http.StatusBadRequest, codeInvalidInput, "The country of the billing address cannot be changed.", "defaultAddress.country")
	}
	if chk := checkAddress(addr, countryTable[addr.Country]); chk.status == addrNone {
		return pcRichError(http.StatusBadRequest, codeInvalidAddress, "InvalidAddress", "The address is not valid. "+invalidMessage(chk.invalid))
	}
	cu.Billing.Email = strings.TrimSpace(in.Email)
	cu.Billing.Culture, cu.Billing.Language = in.Culture, in.Language
	cu.Billing.CompanyName = strings.TrimSpace(in.CompanyName)
	cu.Billing.DefaultAddress = addr
	cu.Billing.ETag = newETag()
	cu.CompanyName = cu.Billing.CompanyName
	s.graph.setOrg(cu.ID, tenantOrgOf(cu)) // the directory's organisation follows
	return s.pcGetBilling(r, nil, cu)
}

// --- listing ---

const (
	defaultPageSize = 100 // simulated default when size is absent
	maxPageSize     = 500 // simulated maximum
)

type customerFilter struct {
	Field    string `json:"Field"`
	Value    string `json:"Value"`
	Operator string `json:"Operator"`
}

type continuation struct {
	Offset int             `json:"o"`
	Size   int             `json:"s"`
	Filter *customerFilter `json:"f,omitempty"`
}

// pcListCustomers is GET /v1/customers?size=N[&filter=…]; the next page is
// GET /v1/customers?size=N&seekOperation=Next with MS-ContinuationToken.
func (s *pcService) pcListCustomers(r *http.Request, c *apiCall) *response {
	q := r.URL.Query()
	var st continuation
	if strings.EqualFold(q.Get("seekOperation"), "Next") {
		raw := r.Header.Get("MS-ContinuationToken")
		b, err := base64.RawURLEncoding.DecodeString(raw)
		if err != nil || raw == "" || json.Unmarshal(b, &st) != nil || st.Offset < 0 || st.Size < 1 {
			return pcError(http.StatusBadRequest, codeInvalidInput, "The MS-ContinuationToken header is missing or not valid.", "MS-ContinuationToken")
		}
	} else {
		st.Size = defaultPageSize
		if v := q.Get("size"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				return pcError(http.StatusBadRequest, codeInvalidInput, "The size parameter must be a positive integer.", "size")
			}
			st.Size = min(n, maxPageSize)
		}
		if v := q.Get("filter"); v != "" {
			var f customerFilter
			if err := json.Unmarshal([]byte(v), &f); err != nil {
				return pcError(http.StatusBadRequest, codeInvalidInput, "The filter parameter is not valid JSON.", "filter")
			}
			if !strings.EqualFold(f.Operator, "starts_with") || !(strings.EqualFold(f.Field, "Domain") || strings.EqualFold(f.Field, "CompanyName")) {
				return pcError(http.StatusBadRequest, codeInvalidInput, `Unsupported filter: Field must be "Domain" or "CompanyName" and Operator "starts_with".`, "filter")
			}
			st.Filter = &f
		}
	}
	var matched []*customer
	for _, cu := range s.byPartner[c.partner.TenantID] {
		if st.Filter != nil {
			subject := cu.Domain
			if strings.EqualFold(st.Filter.Field, "CompanyName") {
				subject = cu.CompanyName
			}
			if !strings.HasPrefix(strings.ToLower(subject), strings.ToLower(st.Filter.Value)) {
				continue
			}
		}
		matched = append(matched, cu)
	}
	start := min(st.Offset, len(matched))
	end := min(start+st.Size, len(matched))
	items := make([]any, 0, end-start)
	for _, cu := range matched[start:end] {
		items = append(items, customerView(cu, false))
	}
	selfURI := "/customers?size=" + strconv.Itoa(st.Size)
	if st.Filter != nil {
		fb, _ := json.Marshal(st.Filter)
		selfURI += "&filter=" + url.QueryEscape(string(fb))
	}
	links := map[string]any{"self": link(selfURI)}
	if end < len(matched) {
		next := continuation{Offset: end, Size: st.Size, Filter: st.Filter}
		nb, _ := json.Marshal(next)
		links["next"] = map[string]any{
			"uri":     "/customers?size=" + strconv.Itoa(st.Size) + "&seekOperation=Next",
			"method":  "GET",
			"headers": []map[string]string{{"key": "MS-ContinuationToken", "value": base64.RawURLEncoding.EncodeToString(nb)}},
		}
	}
	return jsonResponse(http.StatusOK, map[string]any{
		"totalCount": len(items), "items": items, "links": links,
		"attributes": map[string]string{"objectType": "Collection"},
	})
}
