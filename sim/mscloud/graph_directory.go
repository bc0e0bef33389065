package mscloud

import (
	"bytes"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
)

// The Microsoft Entra directory of a customer tenant, as Microsoft Graph
// sees it: users (live and soft-deleted) and domains. It is created the
// first time anything looks at it, with the initial domain (verified,
// default) and the tenant's first global admin, admin@{initial domain},
// the account Partner Center's create customer returns in userCredentials.
// Graph calls act in the tenant that issued the token (tenantRoute).

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

// dirOf returns cu's directory, creating it on first use. Caller holds s.mu.
func (s *Server) dirOf(cu *customer) *tenantDirectory {
	if cu.dir != nil {
		return cu.dir
	}
	d := &tenantDirectory{}
	d.domains = append(d.domains, &dirDomain{
		Name: cu.Domain, Initial: true, Default: true, Verified: true,
		TXT: newDomainTXT(), MX: mxHostFor(cu.Partner.Cloud, cu.Domain), Created: cu.CreatedAt,
	})
	addr := cu.Billing.DefaultAddress
	display := strings.TrimSpace(addr.FirstName + " " + addr.LastName)
	if display == "" {
		display = "admin"
	}
	d.seq++
	d.users = append(d.users, &dirUser{
		ID: newGUID(), Seq: d.seq, UPN: "admin@" + cu.Domain, DisplayName: display,
		GivenName: addr.FirstName, Surname: addr.LastName, MailNickname: "admin", AccountEnabled: true,
		UsageLocation: addr.Country, locPrev: addr.Country, Password: newPassword(), Created: cu.CreatedAt,
	})
	cu.dir = d
	return d
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

// --- routing ---

// tenantHandler is a Graph handler acting in a customer tenant.
type tenantHandler func(r *http.Request, c *apiCall, cu *customer, now time.Time) *response

// tenantRoute registers a Graph handler that acts in the customer tenant
// that issued the token: a Graph token of the partner tenant itself gets
// 403 Authorization_RequestDenied, and an app+user token needs a GDAP
// relationship whose roles cover the call (gdap_access.go; pattern must
// be classified there). The customer's commerce state is settled first
// (subscribedSkus, seats), then the request is charged to the app+tenant
// throttling budget.
func (s *Server) tenantRoute(pattern string, h tenantHandler) {
	ops := mustClassifyTenantRoute(pattern)
	s.graphRoute(pattern, func(r *http.Request, c *apiCall) *response {
		tok := c.token
		if tok.TenantID == c.partner.TenantID {
			return s.gerr(c, http.StatusForbidden, "Authorization_RequestDenied", msgInsufficientPrivileges)
		}
		cu := s.customers[tok.TenantID]
		if cu == nil || cu.Partner != c.partner {
			// The sandbox customer was deleted after the token was issued.
			resp := s.gerr(c, http.StatusUnauthorized, "InvalidAuthenticationToken", "The tenant of the access token does not exist any more.")
			resp.header.Set("WWW-Authenticate", `Bearer realm="", authorization_uri="https://`+r.Host+`/common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000"`)
			return resp
		}
		now := s.clock.Now()
		if !tok.AppOnly && !s.gdapCovers(c.partner, cu.ID, ops.of(r), now) {
			return s.gerr(c, http.StatusForbidden, "Authorization_RequestDenied", msgInsufficientPrivileges)
		}
		s.settle(cu, now)
		d := s.dirOf(cu)
		charge, refused := s.graphCharge(c, cu.ID, len(d.users), r)
		if refused != nil {
			return refused
		}
		resp := h(r, c, cu, now)
		charge.annotate(resp)
		return resp
	})
}

// gerr is a Graph error answer for the call.
func (s *Server) gerr(c *apiCall, status int, code, msg string) *response {
	return graphError(status, code, msg, c.requestID, c.clientRequestID, s.clock.Now())
}

func (s *Server) badRequest(c *apiCall, msg string) *response {
	return s.gerr(c, http.StatusBadRequest, "Request_BadRequest", msg)
}

func (s *Server) notFound(c *apiCall, id string) *response {
	return s.gerr(c, http.StatusNotFound, "Request_ResourceNotFound",
		"Resource '"+id+"' does not exist or one of its queried reference-property objects are not present.")
}

// graphJSON is a 2xx Graph answer with a JSON body.
func graphJSON(status int, v any) *response {
	r := jsonResponse(status, v)
	r.header.Set("Content-Type", "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8")
	r.header.Set("OData-Version", "4.0")
	return r
}

// odataContext is the @odata.context of the answer, e.g.
// https://host/v1.0/$metadata#users/$entity.
func odataContext(r *http.Request, fragment string) string {
	return baseURL(r) + "/v1.0/$metadata#" + fragment
}

// errBadJSON is Graph's answer to a body that is not a JSON object.
const msgBadJSON = "Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format."

// decodeObject reads a JSON object body; keys keep their case.
func decodeObject(r *http.Request) (map[string]json.RawMessage, bool) {
	var m map[string]json.RawMessage
	if err := decodeJSON(r, &m); err != nil || m == nil {
		return nil, false
	}
	return m, true
}

func isJSONNull(raw json.RawMessage) bool { return bytes.Equal(bytes.TrimSpace(raw), []byte("null")) }

// --- admin: state, DNS, users created outside the platform ---

type stateUser struct {
	ID                string   `json:"id"`
	CustomerID        string   `json:"customer_id"`
	UserPrincipalName string   `json:"user_principal_name"`
	DisplayName       string   `json:"display_name"`
	AccountEnabled    bool     `json:"account_enabled"`
	UsageLocation     string   `json:"usage_location"`
	Licenses          []string `json:"licenses"`
}

type stateDomain struct {
	CustomerID string `json:"customer_id"`
	ID         string `json:"id"`
	IsVerified bool   `json:"is_verified"`
	IsInitial  bool   `json:"is_initial"`
}

// appendDirectoryState adds cu's live users and domains. Caller holds s.mu.
func (s *Server) appendDirectoryState(sp *statePartner, cu *customer) {
	d := s.dirOf(cu)
	for _, u := range d.users {
		su := stateUser{ID: u.ID, CustomerID: cu.ID, UserPrincipalName: u.UPN, DisplayName: u.DisplayName,
			AccountEnabled: u.AccountEnabled, UsageLocation: u.UsageLocation, Licenses: []string{}}
		for _, l := range u.Licenses {
			su.Licenses = append(su.Licenses, l.SkuID)
		}
		sp.Users = append(sp.Users, su)
	}
	for _, dm := range d.domains {
		sp.Domains = append(sp.Domains, stateDomain{CustomerID: cu.ID, ID: dm.Name, IsVerified: dm.Verified, IsInitial: dm.Initial})
	}
}

func (s *Server) registerAdminGraph() {
	s.adminMux.HandleFunc("POST /_sim/dns", s.adminPublishDNS)
	s.adminMux.HandleFunc("GET /_sim/dns", s.adminListDNS)
	s.adminMux.HandleFunc("POST /_sim/customers/{id}/users", s.adminCreateUser)
}

// POST /_sim/dns {"domain":"contoso.com","txt":"MS=ms12345678"} publishes a
// TXT record at the domain's apex ("txt": "" with "remove": true takes all
// of the domain's records away).
func (s *Server) adminPublishDNS(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Domain string `json:"domain"`
		TXT    string `json:"txt"`
		Remove bool   `json:"remove"`
	}
	if !decodeAdmin(w, r, &in) {
		return
	}
	name := strings.TrimSuffix(lower(in.Domain), ".")
	if !domainNameRe.MatchString(name) {
		adminError(w, http.StatusBadRequest, "domain must be a DNS name such as contoso.com")
		return
	}
	txt := strings.TrimSpace(in.TXT)
	if txt == "" && !in.Remove {
		adminError(w, http.StatusBadRequest, `txt is required (or "remove": true)`)
		return
	}
	s.mu.Lock()
	switch {
	case in.Remove && txt == "":
		delete(s.dns, name)
	case in.Remove:
		kept := []string{}
		for _, v := range s.dns[name] {
			if v != txt {
				kept = append(kept, v)
			}
		}
		s.dns[name] = kept
	default:
		found := false
		for _, v := range s.dns[name] {
			found = found || v == txt
		}
		if !found {
			s.dns[name] = append(s.dns[name], txt)
		}
	}
	records := append([]string{}, s.dns[name]...)
	s.mu.Unlock()
	adminJSON(w, http.StatusOK, map[string]any{"domain": name, "txt": records})
}

func (s *Server) adminListDNS(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	out := map[string][]string{}
	for k, v := range s.dns {
		out[k] = append([]string{}, v...)
	}
	s.mu.Unlock()
	adminJSON(w, http.StatusOK, map[string]any{"txt": out})
}

// POST /_sim/customers/{id}/users creates a user the way the customer's own
// admin would in the Microsoft 365 admin center, outside the gateway (sync
// tests). The same rules as POST /v1.0/users apply (verified UPN domain,
// unique UPN); password and mailNickname are generated when absent;
// licenses are assigned with the seat check but without the usage-location
// replication lag.
func (s *Server) adminCreateUser(w http.ResponseWriter, r *http.Request) {
	var in struct {
		UserPrincipalName string   `json:"user_principal_name"`
		DisplayName       string   `json:"display_name"`
		GivenName         string   `json:"given_name"`
		Surname           string   `json:"surname"`
		MailNickname      string   `json:"mail_nickname"`
		UsageLocation     string   `json:"usage_location"`
		AccountEnabled    *bool    `json:"account_enabled"`
		Password          string   `json:"password"`
		Licenses          []string `json:"licenses"`
	}
	if !decodeAdmin(w, r, &in) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cu := s.customers[lower(r.PathValue("id"))]
	if cu == nil {
		adminError(w, http.StatusNotFound, "no customer with id "+r.PathValue("id"))
		return
	}
	now := s.clock.Now()
	s.settle(cu, now)
	d := s.dirOf(cu)
	nu := newUserInput{
		UPN: strings.TrimSpace(in.UserPrincipalName), DisplayName: strings.TrimSpace(in.DisplayName),
		GivenName: strings.TrimSpace(in.GivenName), Surname: strings.TrimSpace(in.Surname),
		MailNickname: strings.TrimSpace(in.MailNickname), UsageLocation: strings.ToUpper(strings.TrimSpace(in.UsageLocation)),
		AccountEnabled: in.AccountEnabled == nil || *in.AccountEnabled, Password: in.Password,
	}
	if nu.MailNickname == "" {
		nu.MailNickname, _, _ = strings.Cut(nu.UPN, "@")
	}
	if nu.DisplayName == "" {
		nu.DisplayName = nu.MailNickname
	}
	if nu.Password == "" {
		// Drawn again while it contains the alias, which Graph's rule refuses.
		local, _, _ := strings.Cut(nu.UPN, "@")
		for nu.Password == "" || !passwordOK(nu.Password, local) {
			nu.Password = newPassword()
		}
	}
	if msg := checkNewUser(d, &nu); msg != "" {
		adminError(w, http.StatusBadRequest, msg)
		return
	}
	var skus []string
	for _, id := range in.Licenses {
		l := cu.tenantLicense(id)
		if l == nil {
			adminError(w, http.StatusBadRequest, "License "+id+" does not correspond to a valid company License.")
			return
		}
		if slices.Contains(skus, l.ID) {
			continue
		}
		skus = append(skus, l.ID)
		if nu.UsageLocation == "" {
			adminError(w, http.StatusBadRequest, "License assignment cannot be done for user with invalid usage location.")
			return
		}
		if cu.freeSeats(l.ID) < 1 {
			adminError(w, http.StatusBadRequest, "Subscription with SKU "+l.ID+" does not have any available licenses.")
			return
		}
	}
	u := d.addUser(nu, now)
	for _, id := range skus {
		u.Licenses = append(u.Licenses, &userLicense{SkuID: id, DisabledPlans: []string{}, Assigned: now})
	}
	provisionMail(u)
	adminJSON(w, http.StatusCreated, userView(u))
}

// jsonString decodes a JSON string into out.
func jsonString(raw json.RawMessage, out *string) bool {
	return json.Unmarshal(raw, out) == nil && !isJSONNull(raw)
}

// uuidFromName is a stable GUID derived from name.
func uuidFromName(name string) string {
	return uuid.NewSHA1(uuid.NameSpaceURL, []byte("mscloud-sim:"+name)).String()
}
