package mscloud

import (
	"encoding/base64"
	"encoding/json"
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// Microsoft Graph users of a customer tenant:
//
//	POST   /v1.0/users                      201 user
//	GET    /v1.0/users                      $top, $skiptoken, $select, $filter=userPrincipalName eq '…'
//	GET    /v1.0/users/{id|userPrincipalName}
//	PATCH  /v1.0/users/{id|userPrincipalName}   204 (passwordProfile = password reset)
//	DELETE /v1.0/users/{id|userPrincipalName}   204, soft delete

func (s *graphService) registerGraphUsers() {
	s.tenantRoute("POST /v1.0/users", s.graphCreateUser)
	s.tenantRoute("GET /v1.0/users", s.graphListUsers)
	s.tenantRoute("GET /v1.0/users/{id}", s.graphGetUser)
	s.tenantRoute("PATCH /v1.0/users/{id}", s.graphPatchUser)
	s.tenantRoute("DELETE /v1.0/users/{id}", s.graphDeleteUser)
}

// Graph messages (the directory's own wording, as client code quotes it).
const (
	msgDuplicateUPN     = "Another object with the same value for property userPrincipalName already exists."
	msgUPNDomain        = "The domain portion of the userPrincipalName property is invalid. You must use one of the verified domain names in your organization."
	msgPasswordComplex  = "The specified password does not comply with password complexity requirements. Please provide a different password."
	msgInvalidUsageLoc  = "License assignment cannot be done for user with invalid usage location."
	msgInsufficientPriv = "Insufficient privileges to complete the operation."
)

func invalidUserProp(name string) string {
	return "Invalid value specified for property '" + name + "' of resource 'User'."
}

// User properties the simulator understands. Keys are lower case; values
// are the canonical names.
var (
	userCoreProps = []string{"accountEnabled", "displayName", "givenName", "surname", "mail", "mailNickname",
		"userPrincipalName", "usageLocation", "passwordProfile"}
	// Other writable user properties: stored as sent and echoed back.
	userExtraProps = []string{"jobTitle", "department", "officeLocation", "mobilePhone", "businessPhones", "city", "country",
		"state", "streetAddress", "postalCode", "companyName", "preferredLanguage", "employeeId", "employeeType",
		"otherMails", "passwordPolicies", "faxNumber", "onPremisesImmutableId"}
	userReadOnlyProps = []string{"id", "assignedLicenses", "licenseAssignmentStates", "assignedPlans", "createdDateTime", "deletedDateTime"}
	userPropNames     = map[string]string{}
	userPropKind      = map[string]string{} // core, extra, readonly
)

func init() {
	for kind, names := range map[string][]string{"core": userCoreProps, "extra": userExtraProps, "readonly": userReadOnlyProps} {
		for _, n := range names {
			userPropNames[strings.ToLower(n)] = n
			userPropKind[n] = kind
		}
	}
}

// userBody is a parsed POST/PATCH body: only the properties present.
type userBody struct {
	strs     map[string]*string // canonical name → value (nil = JSON null)
	enabled  *bool
	password *passwordProfileIn
	extra    map[string]json.RawMessage
}

type passwordProfileIn struct {
	Password                      *string `json:"password"`
	ForceChangePasswordNextSignIn *bool   `json:"forceChangePasswordNextSignIn"`
	ForceChangeWithMfa            *bool   `json:"forceChangePasswordNextSignInWithMfa"`
}

// parseUserBody checks property names and JSON types. It returns a 400
// message when the body is not acceptable.
func parseUserBody(m map[string]json.RawMessage) (*userBody, string) {
	b := &userBody{strs: map[string]*string{}, extra: map[string]json.RawMessage{}}
	for key, raw := range m {
		if strings.HasPrefix(key, "@") {
			continue // @odata.type and other annotations
		}
		name := userPropNames[strings.ToLower(key)]
		switch userPropKind[name] {
		case "":
			return nil, "Property '" + key + "' does not exist as a declared property or extension property."
		case "readonly":
			return nil, "Property '" + name + "' is read-only and cannot be set." // simulated message
		case "extra":
			b.extra[name] = raw
			continue
		}
		switch name {
		case "accountEnabled":
			var v bool
			if err := json.Unmarshal(raw, &v); err != nil || isJSONNull(raw) {
				return nil, invalidUserProp(name)
			}
			b.enabled = &v
		case "passwordProfile":
			var p passwordProfileIn
			if err := json.Unmarshal(raw, &p); err != nil || isJSONNull(raw) {
				return nil, invalidUserProp(name)
			}
			b.password = &p
		default:
			var v *string
			if err := json.Unmarshal(raw, &v); err != nil {
				return nil, invalidUserProp(name)
			}
			if v != nil {
				t := strings.TrimSpace(*v)
				v = &t
			}
			b.strs[name] = v
		}
	}
	return b, ""
}

// str returns the value of a string property and whether it was present.
func (b *userBody) str(name string) (string, bool) {
	v, ok := b.strs[name]
	if !ok || v == nil {
		return "", ok
	}
	return *v, true
}

var (
	// Characters Entra accepts in the local part of a UPN and in mailNickname.
	aliasRe      = regexp.MustCompile("^[A-Za-z0-9!#$%&'*+\\-/=?^_`{|}~.]{1,64}$")
	upnRe        = regexp.MustCompile("^([A-Za-z0-9!#$%&'*+\\-/=?^_`{|}~.]{1,64})@([A-Za-z0-9.-]{1,253})$")
	usageLocRe   = regexp.MustCompile(`^[A-Z]{2}$`)
	filterUPNRe  = regexp.MustCompile(`(?i)^\s*userPrincipalName\s+eq\s+'((?:[^']|'')*)'\s*$`)
	filterPropRe = regexp.MustCompile(`^\s*([A-Za-z][A-Za-z0-9/]*)`)
)

func validAlias(a string) bool {
	return aliasRe.MatchString(a) && !strings.HasPrefix(a, ".") && !strings.HasSuffix(a, ".") && !strings.Contains(a, "..")
}

// splitUPN returns the local part and the lower-case domain of a valid UPN.
func splitUPN(upn string) (local, domain string, ok bool) {
	m := upnRe.FindStringSubmatch(upn)
	if m == nil || !validAlias(m[1]) {
		return "", "", false
	}
	return m[1], strings.ToLower(m[2]), true
}

// passwordOK applies Entra's complexity rule: 8–256 characters, three of
// upper case, lower case, digit and symbol, and not containing the user's
// alias.
func passwordOK(pw, alias string) bool {
	n := len([]rune(pw))
	if n < 8 || n > 256 {
		return false
	}
	var up, lo, dig, sym bool
	for _, r := range pw {
		switch {
		case unicode.IsUpper(r):
			up = true
		case unicode.IsLower(r):
			lo = true
		case unicode.IsDigit(r):
			dig = true
		case unicode.IsSpace(r) || unicode.IsControl(r):
			return false
		default:
			sym = true
		}
	}
	classes := 0
	for _, b := range []bool{up, lo, dig, sym} {
		if b {
			classes++
		}
	}
	if classes < 3 {
		return false
	}
	return len(alias) < 3 || !strings.Contains(strings.ToLower(pw), strings.ToLower(alias))
}

// newUserInput is a user about to be created (Graph or admin API).
type newUserInput struct {
	UPN, DisplayName, GivenName, Surname, Mail, MailNickname, UsageLocation string
	AccountEnabled                                                          bool
	Password                                                                string
	ForceChange                                                             bool
	Extra                                                                   map[string]json.RawMessage
}

// checkNewUser validates a new user against the directory; "" when fine.
func checkNewUser(d *tenantDirectory, nu *newUserInput) string {
	if nu.DisplayName == "" || len(nu.DisplayName) > 256 {
		return invalidUserProp("displayName")
	}
	if !validAlias(nu.MailNickname) {
		return invalidUserProp("mailNickname")
	}
	local, domain, ok := splitUPN(nu.UPN)
	if !ok {
		return invalidUserProp("userPrincipalName")
	}
	if !d.verifiedDomain(domain) {
		return msgUPNDomain
	}
	nu.UPN = local + "@" + domain
	if d.upnTaken(nu.UPN, nil) {
		return msgDuplicateUPN
	}
	nu.UsageLocation = strings.ToUpper(nu.UsageLocation)
	if nu.UsageLocation != "" && !usageLocRe.MatchString(nu.UsageLocation) {
		return invalidUserProp("usageLocation")
	}
	if !passwordOK(nu.Password, local) {
		return msgPasswordComplex
	}
	return ""
}

// addUser creates a live user. A usage location given at creation reaches
// license assignment at once.
func (d *tenantDirectory) addUser(nu newUserInput, now time.Time) *dirUser {
	d.seq++
	u := &dirUser{
		ID: newGUID(), Seq: d.seq, UPN: nu.UPN, DisplayName: nu.DisplayName, GivenName: nu.GivenName, Surname: nu.Surname,
		Mail: nu.Mail, MailNickname: nu.MailNickname, AccountEnabled: nu.AccountEnabled,
		UsageLocation: nu.UsageLocation, locPrev: nu.UsageLocation, Password: nu.Password, ForceChange: nu.ForceChange,
		Extra: nu.Extra, Created: now,
	}
	d.users = append(d.users, u)
	return u
}

// provisionMail gives the user a primary SMTP address (mail = UPN) once it
// holds a license with an Exchange Online plan (simulated: mailbox
// provisioning takes minutes in the service).
func provisionMail(u *dirUser) {
	if u.Mail != "" {
		return
	}
	for _, l := range u.Licenses {
		if lic := allLicenses[l.SkuID]; lic != nil {
			for _, p := range lic.Plans {
				if p.ServiceName == "EXCHANGE_S_STANDARD" || p.ServiceName == "EXCHANGE_S_ENTERPRISE" {
					u.Mail = u.UPN
					return
				}
			}
		}
	}
}

func nullable(v string) any {
	if v == "" {
		return nil
	}
	return v
}

// userView is the user resource with every property the simulator keeps.
func userView(u *dirUser) map[string]any {
	assigned := []any{}
	states := []any{}
	for _, l := range u.Licenses {
		assigned = append(assigned, map[string]any{"skuId": l.SkuID, "disabledPlans": l.DisabledPlans})
		states = append(states, map[string]any{
			"skuId": l.SkuID, "disabledPlans": l.DisabledPlans, "assignedByGroup": nil,
			"state": "Active", "error": "None", "lastUpdatedDateTime": tsOf(l.Assigned),
		})
	}
	for _, sku := range slices.Sorted(maps.Keys(u.violations)) {
		states = append(states, map[string]any{
			"skuId": sku, "disabledPlans": []string{}, "assignedByGroup": nil,
			"state": "Error", "error": "CountViolation", "lastUpdatedDateTime": tsOf(u.violations[sku]),
		})
	}
	out := map[string]any{
		"id": u.ID, "userPrincipalName": u.UPN, "displayName": u.DisplayName,
		"givenName": nullable(u.GivenName), "surname": nullable(u.Surname), "mail": nullable(u.Mail),
		"mailNickname": u.MailNickname, "accountEnabled": u.AccountEnabled, "usageLocation": nullable(u.UsageLocation),
		"assignedLicenses": assigned, "licenseAssignmentStates": states,
		"businessPhones": []string{}, "jobTitle": nil, "mobilePhone": nil, "officeLocation": nil, "preferredLanguage": nil,
		"createdDateTime": tsOf(u.Created),
	}
	for k, v := range u.Extra {
		out[k] = v
	}
	return out
}

// parseSelect reads $select: canonical property names, or a 400 message.
func parseSelect(raw string) ([]string, string) {
	if strings.TrimSpace(raw) == "" {
		return nil, ""
	}
	var out []string
	for _, p := range strings.Split(raw, ",") {
		p = strings.TrimSpace(p)
		name := userPropNames[strings.ToLower(p)]
		if name == "" {
			return nil, "Could not find a property named '" + p + "' on type 'microsoft.graph.user'."
		}
		out = append(out, name)
	}
	return out, ""
}

func selectProps(view map[string]any, props []string) map[string]any {
	if props == nil {
		return view
	}
	out := map[string]any{}
	for _, p := range props {
		out[p] = view[p] // absent (e.g. passwordProfile) → null
	}
	return out
}

func selectFragment(props []string) string {
	if props == nil {
		return ""
	}
	return "(" + strings.Join(props, ",") + ")"
}

// --- handlers ---

func (s *graphService) graphCreateUser(r *http.Request, c *apiCall, cu *tenantCall, now time.Time) *response {
	m, ok := decodeObject(r)
	if !ok {
		return s.gerr(c, http.StatusBadRequest, "BadRequest", msgBadJSON)
	}
	b, msg := parseUserBody(m)
	if msg != "" {
		return s.badRequest(c, msg)
	}
	for _, req := range []string{"accountEnabled", "displayName", "mailNickname", "userPrincipalName", "passwordProfile"} {
		present := b.strs[req] != nil || (req == "accountEnabled" && b.enabled != nil) || (req == "passwordProfile" && b.password != nil)
		if !present {
			return s.badRequest(c, invalidUserProp(req))
		}
	}
	if b.password.Password == nil {
		return s.badRequest(c, invalidUserProp("passwordProfile"))
	}
	nu := newUserInput{AccountEnabled: *b.enabled, Password: *b.password.Password, Extra: b.extra}
	nu.UPN, _ = b.str("userPrincipalName")
	nu.DisplayName, _ = b.str("displayName")
	nu.MailNickname, _ = b.str("mailNickname")
	nu.GivenName, _ = b.str("givenName")
	nu.Surname, _ = b.str("surname")
	nu.UsageLocation, _ = b.str("usageLocation")
	nu.Mail, _ = b.str("mail")
	if f := b.password.ForceChangePasswordNextSignIn; f != nil {
		nu.ForceChange = *f
	}
	d := cu.directory()
	if msg := checkNewUser(d, &nu); msg != "" {
		return s.badRequest(c, msg)
	}
	u := d.addUser(nu, now)
	view := userView(u)
	view["@odata.context"] = odataContext(r, "users/$entity")
	resp := graphJSON(http.StatusCreated, view)
	resp.header.Set("Location", baseURL(r)+"/v1.0/users/"+u.ID)
	return resp
}

func skipToken(seq int) string {
	return base64.RawURLEncoding.EncodeToString([]byte("sim-users:" + strconv.Itoa(seq)))
}

func parseSkipToken(tok string) (int, bool) {
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return 0, false
	}
	n, err := strconv.Atoi(strings.TrimPrefix(string(b), "sim-users:"))
	return n, err == nil && strings.HasPrefix(string(b), "sim-users:") && n >= 0
}

// graphListUsers is GET /v1.0/users: creation order, pages of $top
// (default 100, 1–999), @odata.nextLink with $skiptoken; $filter only
// "userPrincipalName eq '…'".
func (s *graphService) graphListUsers(r *http.Request, c *apiCall, cu *tenantCall, _ time.Time) *response {
	q := r.URL.Query()
	top := 100
	if v := q.Get("$top"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 999 {
			return s.badRequest(c, "Invalid page size specified: '"+v+"'. Must be between 1 and 999 inclusive.")
		}
		top = n
	}
	props, msg := parseSelect(q.Get("$select"))
	if msg != "" {
		return s.badRequest(c, msg)
	}
	after := 0
	if v := q.Get("$skiptoken"); v != "" {
		n, ok := parseSkipToken(v)
		if !ok {
			return s.badRequest(c, "The $skiptoken value is not valid.") // simulated message
		}
		after = n
	}
	upnFilter, filtered := "", false
	if f := q.Get("$filter"); f != "" {
		m := filterUPNRe.FindStringSubmatch(f)
		if m == nil {
			prop := "unknown"
			if pm := filterPropRe.FindStringSubmatch(f); pm != nil {
				prop = pm[1]
			}
			return s.gerr(c, http.StatusBadRequest, "Request_UnsupportedQuery",
				"Unsupported or invalid query filter clause specified for property '"+prop+"' of resource 'User'.")
		}
		upnFilter, filtered = strings.ReplaceAll(m[1], "''", "'"), true
	}
	var matches []*dirUser
	for _, u := range cu.directory().users {
		if u.Seq > after && (!filtered || strings.EqualFold(u.UPN, upnFilter)) {
			matches = append(matches, u)
		}
	}
	value := []any{}
	for i, u := range matches {
		if i == top {
			break
		}
		value = append(value, selectProps(userView(u), props))
	}
	out := map[string]any{"@odata.context": odataContext(r, "users"+selectFragment(props)), "value": value}
	if len(matches) > top {
		next := baseURL(r) + "/v1.0/users?"
		for _, k := range []string{"$top", "$select", "$filter"} {
			if v := q.Get(k); v != "" {
				next += k + "=" + url.QueryEscape(v) + "&"
			}
		}
		out["@odata.nextLink"] = next + "$skiptoken=" + skipToken(matches[top-1].Seq)
	}
	return graphJSON(http.StatusOK, out)
}

func (s *graphService) graphGetUser(r *http.Request, c *apiCall, cu *tenantCall, _ time.Time) *response {
	u := cu.directory().user(r.PathValue("id"))
	if u == nil {
		return s.notFound(c, r.PathValue("id"))
	}
	props, msg := parseSelect(r.URL.Query().Get("$select"))
	if msg != "" {
		return s.badRequest(c, msg)
	}
	view := selectProps(userView(u), props)
	view["@odata.context"] = odataContext(r, "users"+selectFragment(props)+"/$entity")
	return graphJSON(http.StatusOK, view)
}

// passwordResetBlocked names the cloud where partners may not reset
// customer users' passwords (Partner Center's national-cloud limits;
// BEHAVIOUR.md, "Users"), or "".
func passwordResetBlocked(cloud *cloudProfile) string {
	switch cloud.Name {
	case "china":
		return "Microsoft 365 operated by 21Vianet"
	case "usgov":
		return "Microsoft Cloud for US Government"
	}
	return ""
}

// graphPatchUser is PATCH /v1.0/users/{id}: 204. All checks run before
// anything changes.
func (s *graphService) graphPatchUser(r *http.Request, c *apiCall, cu *tenantCall, _ time.Time) *response {
	d := cu.directory()
	u := d.user(r.PathValue("id"))
	if u == nil {
		return s.notFound(c, r.PathValue("id"))
	}
	m, ok := decodeObject(r)
	if !ok {
		return s.gerr(c, http.StatusBadRequest, "BadRequest", msgBadJSON)
	}
	b, msg := parseUserBody(m)
	if msg != "" {
		return s.badRequest(c, msg)
	}
	if b.password != nil {
		if where := passwordResetBlocked(c.partner.Cloud); where != "" {
			return s.gerr(c, http.StatusForbidden, "Authorization_RequestDenied",
				"Password reset of customer users is not supported for partners in "+where+".") // simulated message
		}
	}
	// Validate.
	for _, name := range []string{"displayName", "mailNickname", "userPrincipalName"} {
		if v, present := b.strs[name]; present && (v == nil || *v == "") {
			return s.badRequest(c, invalidUserProp(name))
		}
	}
	if v, ok := b.str("displayName"); ok && len(v) > 256 {
		return s.badRequest(c, invalidUserProp("displayName"))
	}
	if v, ok := b.str("mailNickname"); ok && !validAlias(v) {
		return s.badRequest(c, invalidUserProp("mailNickname"))
	}
	newUPN := u.UPN
	if v, ok := b.str("userPrincipalName"); ok {
		local, domain, valid := splitUPN(v)
		if !valid {
			return s.badRequest(c, invalidUserProp("userPrincipalName"))
		}
		if !d.verifiedDomain(domain) {
			return s.badRequest(c, msgUPNDomain)
		}
		newUPN = local + "@" + domain
		if d.upnTaken(newUPN, u) {
			return s.badRequest(c, msgDuplicateUPN)
		}
	}
	newLoc, locSet := b.str("usageLocation")
	newLoc = strings.ToUpper(newLoc)
	if locSet {
		if newLoc != "" && !usageLocRe.MatchString(newLoc) {
			return s.badRequest(c, invalidUserProp("usageLocation"))
		}
		if newLoc == "" && len(u.Licenses) > 0 {
			return s.badRequest(c, "Usage location cannot be removed from a user with assigned licenses.") // simulated message
		}
	}
	if b.password != nil {
		local, _, _ := splitUPN(newUPN)
		if b.password.Password == nil || !passwordOK(*b.password.Password, local) {
			return s.badRequest(c, msgPasswordComplex)
		}
	}
	// Apply.
	u.UPN = newUPN
	if v, ok := b.str("displayName"); ok {
		u.DisplayName = v
	}
	if v, ok := b.str("mailNickname"); ok {
		u.MailNickname = v
	}
	if v, ok := b.str("givenName"); ok {
		u.GivenName = v
	}
	if v, ok := b.str("surname"); ok {
		u.Surname = v
	}
	if v, ok := b.str("mail"); ok {
		u.Mail = v
	}
	if b.enabled != nil {
		u.AccountEnabled = *b.enabled
	}
	if locSet {
		u.setUsageLocation(newLoc, s.settings.get().UsageLocationLag)
	}
	if b.password != nil {
		u.Password = *b.password.Password
		u.ForceChange = b.password.ForceChangePasswordNextSignIn == nil || *b.password.ForceChangePasswordNextSignIn
	}
	for k, v := range b.extra {
		if u.Extra == nil {
			u.Extra = map[string]json.RawMessage{}
		}
		if isJSONNull(v) {
			delete(u.Extra, k)
		} else {
			u.Extra[k] = v
		}
	}
	return emptyResponse(http.StatusNoContent)
}

// graphDeleteUser soft-deletes the user: it leaves lists and lookups, its
// licenses stop counting as consumed, its UPN is free again.
func (s *graphService) graphDeleteUser(r *http.Request, c *apiCall, cu *tenantCall, now time.Time) *response {
	d := cu.directory()
	u := d.user(r.PathValue("id"))
	if u == nil {
		return s.notFound(c, r.PathValue("id"))
	}
	for i, x := range d.users {
		if x == u {
			d.users = append(d.users[:i:i], d.users[i+1:]...)
			break
		}
	}
	u.Deleted = now
	d.deleted = append(d.deleted, u)
	return emptyResponse(http.StatusNoContent)
}
