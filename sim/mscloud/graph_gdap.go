package mscloud

import (
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// GDAP (granular delegated admin privileges) relationships, Microsoft Graph
// v1.0, in the partner's own tenant (partnerRoute: a token of the partner
// tenant, app-only or app+user):
//
//	POST   /v1.0/tenantRelationships/delegatedAdminRelationships              201 relationship
//	GET    /v1.0/tenantRelationships/delegatedAdminRelationships              $filter=customer/tenantId eq '…'
//	GET    /v1.0/tenantRelationships/delegatedAdminRelationships/{id}
//	PATCH  /v1.0/tenantRelationships/delegatedAdminRelationships/{id}         If-Match; 200 relationship
//	DELETE /v1.0/tenantRelationships/delegatedAdminRelationships/{id}         204 (status created only)
//	POST   /v1.0/tenantRelationships/delegatedAdminRelationships/{id}/requests  201 request {action}
//	GET    /v1.0/tenantRelationships/delegatedAdminRelationships/{id}/requests[/{requestId}]
//
// and POST /_sim/gdap/{relationshipId}/approve, the customer's
// administrator approving the request. Lifecycle: created →
// (lockForApproval) approvalPending → (approve) active → expiring →
// expired, or → (terminate) terminated; approvalPending lapses to expired.
// Time effects run on the simulated clock and are applied lazily whenever
// a relationship is read or used (settle).

// Lifetimes of relationships.
const (
	// gdapApprovalWindow: an approvalPending relationship the customer does
	// not approve within this time expires.
	gdapApprovalWindow = 90 * 24 * time.Hour
	// gdapExpiringWindow: an active relationship that will not be extended
	// automatically is "expiring" this long before its endDateTime.
	gdapExpiringWindow = 30 * 24 * time.Hour
	// gdapAutoExtendStep is autoExtendDuration P180D.
	gdapAutoExtendStep  = 180 * 24 * time.Hour
	gdapMaxDurationDays = 730 // P2Y
	gdapMaxDisplayName  = 50  // characters
)

// Relationship statuses (Graph's delegatedAdminRelationshipStatus values
// the simulator uses).
const (
	gdapCreated         = "created"
	gdapApprovalPending = "approvalPending"
	gdapActive          = "active"
	gdapExpiring        = "expiring"
	gdapExpired         = "expired"
	gdapTerminated      = "terminated"
)

// autoExtendDuration values Graph accepts.
const (
	gdapNoExtend     = "PT0S"
	gdapNoExtendDays = "P0D"
	gdapExtend180    = "P180D"
)

type gdapRelationship struct {
	ID           string
	DisplayName  string
	Days         int // duration in days
	CustomerID   string
	CustomerName string
	Roles        []string // lower-case role template ids, request order
	Status       string
	AutoExtend   string // gdapNoExtend, gdapNoExtendDays or gdapExtend180
	ETag         string
	Created      time.Time
	Modified     time.Time
	LockedAt     time.Time // lockForApproval: the approval window starts
	Activated    time.Time // zero until approved
	End          time.Time // zero until approved
	requests     []*gdapRequest
}

type gdapRequest struct {
	ID       string
	Action   string
	Status   string
	Created  time.Time
	Modified time.Time
}

func (g *gdapRelationship) duration() time.Duration { return time.Duration(g.Days) * 24 * time.Hour }

func (g *gdapRelationship) autoExtends() bool { return g.AutoExtend == gdapExtend180 }

// usable: the relationship grants its roles (active or expiring).
func (g *gdapRelationship) usable() bool { return g.Status == gdapActive || g.Status == gdapExpiring }

// touch records a change made at simulated time at: new etag.
func (g *gdapRelationship) touch(at time.Time) {
	g.Modified = at
	g.ETag = `W/"` + newETag() + `"`
}

// settle applies the time effects up to now: an approval request lapses
// after gdapApprovalWindow; an active relationship without auto-extension
// is expiring in its last gdapExpiringWindow and expires at its end; one
// with P180D moves its end 180 days on each time it is reached.
func (g *gdapRelationship) settle(now time.Time) {
	for {
		switch g.Status {
		case gdapApprovalPending:
			lapse := g.LockedAt.Add(gdapApprovalWindow)
			if now.Before(lapse) {
				return
			}
			g.Status = gdapExpired
			g.touch(lapse)
			return
		case gdapActive, gdapExpiring:
			if !now.Before(g.End) {
				if g.autoExtends() {
					at := g.End
					g.End = g.End.Add(gdapAutoExtendStep)
					g.Status = gdapActive
					g.touch(at)
					continue
				}
				g.Status = gdapExpired
				g.touch(g.End)
				return
			}
			from := g.End.Add(-gdapExpiringWindow)
			want := gdapActive
			if !g.autoExtends() && !now.Before(from) {
				want = gdapExpiring
			}
			if want != g.Status {
				at := from
				if want == gdapActive || at.Before(g.Modified) {
					at = g.Modified // the approval or a PATCH of autoExtendDuration made the change
				}
				g.Status = want
				g.touch(at)
			}
			return
		default:
			return
		}
	}
}

// --- JSON ---

type gdapCustomerJSON struct {
	TenantID    string `json:"tenantId"`
	DisplayName string `json:"displayName"`
}

type gdapRoleJSON struct {
	RoleDefinitionID string `json:"roleDefinitionId"`
}

type gdapAccessJSON struct {
	UnifiedRoles []gdapRoleJSON `json:"unifiedRoles"`
}

type gdapJSON struct {
	Context              string           `json:"@odata.context,omitempty"`
	Type                 string           `json:"@odata.type"`
	ETag                 string           `json:"@odata.etag"`
	ID                   string           `json:"id"`
	DisplayName          string           `json:"displayName"`
	Duration             string           `json:"duration"`
	Customer             gdapCustomerJSON `json:"customer"`
	AccessDetails        gdapAccessJSON   `json:"accessDetails"`
	Status               string           `json:"status"`
	AutoExtendDuration   string           `json:"autoExtendDuration"`
	CreatedDateTime      string           `json:"createdDateTime"`
	LastModifiedDateTime string           `json:"lastModifiedDateTime"`
	ActivatedDateTime    *string          `json:"activatedDateTime"`
	EndDateTime          *string          `json:"endDateTime"`
}

func optTime(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	v := tsOf(t)
	return &v
}

func (g *gdapRelationship) view() gdapJSON {
	roles := []gdapRoleJSON{}
	for _, id := range g.Roles {
		roles = append(roles, gdapRoleJSON{id})
	}
	return gdapJSON{
		Type: "#microsoft.graph.delegatedAdminRelationship", ETag: g.ETag, ID: g.ID, DisplayName: g.DisplayName,
		Duration: "P" + strconv.Itoa(g.Days) + "D", Customer: gdapCustomerJSON{g.CustomerID, g.CustomerName},
		AccessDetails: gdapAccessJSON{roles}, Status: g.Status, AutoExtendDuration: g.AutoExtend,
		CreatedDateTime: tsOf(g.Created), LastModifiedDateTime: tsOf(g.Modified),
		ActivatedDateTime: optTime(g.Activated), EndDateTime: optTime(g.End),
	}
}

func (q *gdapRequest) view() map[string]any {
	return map[string]any{
		"@odata.type": "#microsoft.graph.delegatedAdminRelationshipRequest", "id": q.ID, "action": q.Action,
		"status": q.Status, "createdDateTime": tsOf(q.Created), "lastModifiedDateTime": tsOf(q.Modified),
	}
}

// --- request bodies ---

// gdapInput holds the properties a POST or PATCH body names (nil: absent).
type gdapInput struct {
	displayName  *string
	duration     *string
	autoExtend   *string
	customer     *gdapCustomerJSON
	roles        []string
	rolesPresent bool
}

var gdapReadOnly = []string{"id", "status", "createdDateTime", "lastModifiedDateTime", "activatedDateTime", "endDateTime",
	"accessAssignments", "operations", "requests"}

const gdapResource = "delegatedAdminRelationship"

func invalidGDAPProp(name string) string {
	return "Invalid value specified for property '" + name + "' of resource '" + gdapResource + "'."
}

// lowerKeys returns the properties of a JSON object keyed by lower-case
// name, without @-annotations; nil if raw is not an object.
func lowerKeys(raw json.RawMessage) (map[string]json.RawMessage, map[string]string) {
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil || m == nil {
		return nil, nil
	}
	return lowerMap(m)
}

// lowerMap is lowerKeys for a decoded object; names maps each lower-case
// key back to the name as sent.
func lowerMap(m map[string]json.RawMessage) (out map[string]json.RawMessage, names map[string]string) {
	out, names = map[string]json.RawMessage{}, map[string]string{}
	for k, v := range m {
		if strings.HasPrefix(k, "@") {
			continue
		}
		out[strings.ToLower(k)] = v
		names[strings.ToLower(k)] = k
	}
	return out, names
}

// parseGDAPBody reads a relationship body (a decoded JSON object), or
// returns a 400 message.
func parseGDAPBody(body map[string]json.RawMessage) (gdapInput, string) {
	var in gdapInput
	m, names := lowerMap(body)
	str := func(key, name string) (*string, string) {
		v, ok := m[key]
		if !ok {
			return nil, ""
		}
		var s string
		if !jsonString(v, &s) {
			return nil, invalidGDAPProp(name)
		}
		return &s, ""
	}
	for key, name := range names {
		var msg string
		switch key {
		case "displayname":
			in.displayName, msg = str(key, "displayName")
		case "duration":
			in.duration, msg = str(key, "duration")
		case "autoextendduration":
			in.autoExtend, msg = str(key, "autoExtendDuration")
		case "customer":
			cm, _ := lowerKeys(m[key])
			if cm == nil {
				return in, invalidGDAPProp("customer")
			}
			var c gdapCustomerJSON
			if v, ok := cm["tenantid"]; ok && !jsonString(v, &c.TenantID) {
				return in, invalidGDAPProp("customer")
			}
			if v, ok := cm["displayname"]; ok && !isJSONNull(v) && !jsonString(v, &c.DisplayName) {
				return in, invalidGDAPProp("customer")
			}
			in.customer = &c
		case "accessdetails":
			am, _ := lowerKeys(m[key])
			var list []json.RawMessage
			if am == nil || json.Unmarshal(am["unifiedroles"], &list) != nil {
				return in, invalidGDAPProp("accessDetails")
			}
			in.rolesPresent, in.roles = true, []string{}
			for _, item := range list {
				rm, _ := lowerKeys(item)
				var id string
				if rm == nil || !jsonString(rm["roledefinitionid"], &id) {
					return in, invalidGDAPProp("accessDetails")
				}
				in.roles = append(in.roles, id)
			}
		default:
			if slices.ContainsFunc(gdapReadOnly, func(p string) bool { return strings.EqualFold(p, key) }) {
				return in, "Property '" + name + "' is read-only and cannot be set." // simulated message
			}
			return in, "Property '" + name + "' does not exist as a declared property or extension property."
		}
		if msg != "" {
			return in, msg
		}
	}
	return in, ""
}

var isoDurationRe = regexp.MustCompile(`^P(?:(\d{1,4})Y)?(?:(\d{1,4})W)?(?:(\d{1,5})D)?$`)

// parseGDAPDuration reads an ISO 8601 duration of whole days, weeks or
// years (a year is 365 days) between P1D and P2Y; 0 if it is not one.
func parseGDAPDuration(v string) int {
	m := isoDurationRe.FindStringSubmatch(strings.ToUpper(strings.TrimSpace(v)))
	if m == nil || (m[1] == "" && m[2] == "" && m[3] == "") {
		return 0
	}
	days := 0
	for i, per := range []int{365, 7, 1} {
		if m[i+1] != "" {
			n, _ := strconv.Atoi(m[i+1])
			days += n * per
		}
	}
	if days < 1 || days > gdapMaxDurationDays {
		return 0
	}
	return days
}

// applyGDAPInput checks in (merged over g's current values) and applies
// it to g; p is the relationship's partner (display names are unique among its
// relationships). It returns a 400 message, changing nothing on error.
// Caller holds s.mu.
func (s *graphService) applyGDAPInput(p *partner, g *gdapRelationship, in gdapInput) string {
	next := *g
	if in.displayName != nil {
		next.DisplayName = strings.TrimSpace(*in.displayName)
	}
	if n := utf8.RuneCountInString(next.DisplayName); n < 1 || n > gdapMaxDisplayName {
		return invalidGDAPProp("displayName") + " It must be 1 to 50 characters long."
	}
	for _, o := range s.gdap[p.TenantID] {
		if o != g && strings.EqualFold(o.DisplayName, next.DisplayName) {
			return "Another object with the same value for property displayName already exists." // assumed wording
		}
	}
	if in.duration != nil {
		if next.Days = parseGDAPDuration(*in.duration); next.Days == 0 {
			return invalidGDAPProp("duration") + " It must be an ISO 8601 duration from P1D to P2Y (P730D)."
		}
	}
	if next.Days == 0 {
		return invalidGDAPProp("duration")
	}
	if in.customer != nil {
		id := lower(in.customer.TenantID)
		t := s.tenants[id]
		if id == "" {
			return invalidGDAPProp("customer") + " customer.tenantId is required."
		}
		if t == nil || t.Partner != p {
			return "The customer tenant " + in.customer.TenantID + " does not have a reseller relationship with the partner." // simulated message
		}
		next.CustomerID, next.CustomerName = t.ID, strings.TrimSpace(in.customer.DisplayName)
		if next.CustomerName == "" {
			next.CustomerName = t.org.CompanyName
		}
	}
	if next.CustomerID == "" {
		return invalidGDAPProp("customer") + " customer.tenantId is required."
	}
	if in.rolesPresent {
		next.Roles = []string{}
		for _, id := range in.roles {
			id = lower(id)
			if _, ok := gdapKnownRoles[id]; !ok {
				return "The role definition '" + id + "' is not supported for delegated admin relationships." // simulated message
			}
			if !slices.Contains(next.Roles, id) {
				next.Roles = append(next.Roles, id)
			}
		}
	}
	if len(next.Roles) == 0 {
		return invalidGDAPProp("accessDetails") + " At least one role is required."
	}
	if in.autoExtend != nil {
		v := strings.ToUpper(strings.TrimSpace(*in.autoExtend))
		if v != gdapNoExtend && v != gdapNoExtendDays && v != gdapExtend180 {
			return invalidGDAPProp("autoExtendDuration") + " Supported values are PT0S, P0D and P180D."
		}
		next.AutoExtend = v
	}
	if next.AutoExtend == gdapExtend180 && slices.Contains(next.Roles, roleGlobalAdministrator) {
		return "A relationship with the Global Administrator role cannot be extended automatically." // simulated message
	}
	*g = next
	return ""
}

// --- routes ---

const gdapPath = "/v1.0/tenantRelationships/delegatedAdminRelationships"

func (s *graphService) registerGraphGDAP() {
	s.partnerRoute("POST "+gdapPath, s.locked(s.graphCreateGDAP))
	s.partnerRoute("GET "+gdapPath, s.locked(s.graphListGDAP))
	s.partnerRoute("GET "+gdapPath+"/{id}", s.locked(s.withGDAP(s.graphGetGDAP)))
	s.partnerRoute("PATCH "+gdapPath+"/{id}", s.locked(s.withGDAP(s.graphPatchGDAP)))
	s.partnerRoute("DELETE "+gdapPath+"/{id}", s.locked(s.withGDAP(s.graphDeleteGDAP)))
	s.partnerRoute("POST "+gdapPath+"/{id}/requests", s.locked(s.withGDAP(s.graphGDAPRequest)))
	s.partnerRoute("GET "+gdapPath+"/{id}/requests", s.locked(s.withGDAP(s.graphListGDAPRequests)))
	s.partnerRoute("GET "+gdapPath+"/{id}/requests/{requestId}", s.locked(s.withGDAP(s.graphGetGDAPRequest)))
}

// gdapByID finds a relationship of p, settled to now. Caller holds s.mu.
func (s *graphService) gdapByID(p *partner, id string, now time.Time) *gdapRelationship {
	for _, g := range s.gdap[p.TenantID] {
		if g.ID == lower(id) {
			g.settle(now)
			return g
		}
	}
	return nil
}

type gdapHandler func(r *http.Request, c *apiCall, g *gdapRelationship, now time.Time) *response

// withGDAP resolves {id} among the calling partner's relationships: 404
// for an unknown id or another partner's.
func (s *graphService) withGDAP(h gdapHandler) apiHandler {
	return func(r *http.Request, c *apiCall) *response {
		now := s.clock.Now()
		g := s.gdapByID(c.partner, r.PathValue("id"), now)
		if g == nil {
			return s.notFound(c, r.PathValue("id"))
		}
		return h(r, c, g, now)
	}
}

func gdapEntity(r *http.Request, g *gdapRelationship, status int) *response {
	v := g.view()
	v.Context = odataContext(r, "tenantRelationships/delegatedAdminRelationships/$entity")
	resp := graphJSON(status, v)
	resp.header.Set("ETag", g.ETag)
	return resp
}

func (s *graphService) graphCreateGDAP(r *http.Request, c *apiCall) *response {
	m, ok := decodeObject(r)
	if !ok {
		return s.gerr(c, http.StatusBadRequest, "BadRequest", msgBadJSON)
	}
	in, msg := parseGDAPBody(m)
	if msg == "" && in.customer == nil {
		msg = invalidGDAPProp("customer") + " customer.tenantId is required."
	}
	if msg != "" {
		return s.badRequest(c, msg)
	}
	now := s.clock.Now()
	g := &gdapRelationship{ID: newGUID() + "-" + newGUID(), Status: gdapCreated, AutoExtend: gdapNoExtend, Created: now}
	if msg := s.applyGDAPInput(c.partner, g, in); msg != "" {
		return s.badRequest(c, msg)
	}
	g.touch(now)
	s.gdap[c.partner.TenantID] = append(s.gdap[c.partner.TenantID], g)
	resp := gdapEntity(r, g, http.StatusCreated)
	resp.header.Set("Location", baseURL(r)+gdapPath+"/"+g.ID)
	return resp
}

var gdapFilterRe = regexp.MustCompile(`(?i)^\s*customer/tenantId\s+eq\s+'([^']*)'\s*$`)

func (s *graphService) graphListGDAP(r *http.Request, c *apiCall) *response {
	customerID, filtered := "", false
	if f := r.URL.Query().Get("$filter"); f != "" {
		m := gdapFilterRe.FindStringSubmatch(f)
		if m == nil {
			return s.gerr(c, http.StatusBadRequest, "Request_UnsupportedQuery",
				"Unsupported or invalid query filter clause specified for resource 'delegatedAdminRelationship'. Only customer/tenantId eq '{id}' is supported.") // simulated message
		}
		customerID, filtered = lower(m[1]), true
	}
	now := s.clock.Now()
	value := []gdapJSON{}
	for _, g := range s.gdap[c.partner.TenantID] {
		if filtered && g.CustomerID != customerID {
			continue
		}
		g.settle(now)
		value = append(value, g.view())
	}
	return graphJSON(http.StatusOK, map[string]any{
		"@odata.context": odataContext(r, "tenantRelationships/delegatedAdminRelationships"), "value": value,
	})
}

func (s *graphService) graphGetGDAP(r *http.Request, _ *apiCall, g *gdapRelationship, _ time.Time) *response {
	return gdapEntity(r, g, http.StatusOK)
}

// checkIfMatch compares If-Match with g's etag ("*" matches any): a
// missing header when required → 400, a stale one → 412.
func (s *graphService) checkIfMatch(r *http.Request, c *apiCall, g *gdapRelationship, required bool) *response {
	im := strings.TrimSpace(r.Header.Get("If-Match"))
	switch {
	case im == "" && required:
		return s.badRequest(c, "The If-Match header with the relationship's ETag is required.") // simulated message
	case im == "" || im == "*" || im == g.ETag:
		return nil
	}
	return s.gerr(c, http.StatusPreconditionFailed, "resourceModified",
		"The relationship has changed since the ETag in If-Match was read. Read it again and retry with its current ETag.") // simulated message
}

// graphPatchGDAP: everything while created; only autoExtendDuration while
// active or expiring; nothing in the other statuses.
func (s *graphService) graphPatchGDAP(r *http.Request, c *apiCall, g *gdapRelationship, now time.Time) *response {
	if resp := s.checkIfMatch(r, c, g, true); resp != nil {
		return resp
	}
	m, ok := decodeObject(r)
	if !ok {
		return s.gerr(c, http.StatusBadRequest, "BadRequest", msgBadJSON)
	}
	in, msg := parseGDAPBody(m)
	if msg != "" {
		return s.badRequest(c, msg)
	}
	switch {
	case g.Status == gdapCreated:
	case g.usable():
		if in.displayName != nil || in.duration != nil || in.customer != nil || in.rolesPresent {
			return s.badRequest(c, "Only autoExtendDuration can be updated while the relationship is "+g.Status+".") // simulated message
		}
	default:
		return s.badRequest(c, "The relationship cannot be updated in status "+g.Status+".") // simulated message
	}
	if msg := s.applyGDAPInput(c.partner, g, in); msg != "" {
		return s.badRequest(c, msg)
	}
	g.touch(now)
	g.settle(now)
	return gdapEntity(r, g, http.StatusOK)
}

func (s *graphService) graphDeleteGDAP(r *http.Request, c *apiCall, g *gdapRelationship, _ time.Time) *response {
	if resp := s.checkIfMatch(r, c, g, false); resp != nil {
		return resp
	}
	if g.Status != gdapCreated {
		return s.badRequest(c, "Only a relationship in status created can be deleted; this one is "+g.Status+". Terminate an active relationship instead.") // simulated message
	}
	p := c.partner
	s.gdap[p.TenantID] = slices.DeleteFunc(s.gdap[p.TenantID], func(o *gdapRelationship) bool { return o == g })
	return emptyResponse(http.StatusNoContent)
}

// graphGDAPRequest is POST …/{id}/requests {"action"}: lockForApproval
// (created → approvalPending) or terminate (active or expiring →
// terminated), both done at once (status "succeeded").
func (s *graphService) graphGDAPRequest(r *http.Request, c *apiCall, g *gdapRelationship, now time.Time) *response {
	var in struct {
		Action *string `json:"action"`
	}
	if err := decodeJSON(r, &in); err != nil {
		return s.gerr(c, http.StatusBadRequest, "BadRequest", msgBadJSON)
	}
	if in.Action == nil {
		return s.badRequest(c, "Invalid value specified for property 'action' of resource 'delegatedAdminRelationshipRequest'.")
	}
	var action string
	switch strings.ToLower(strings.TrimSpace(*in.Action)) {
	case "lockforapproval":
		action = "lockForApproval"
		if g.Status != gdapCreated {
			return s.badRequest(c, "Only a relationship in status created can be locked for approval; this one is "+g.Status+".") // simulated message
		}
		g.Status, g.LockedAt = gdapApprovalPending, now
	case "terminate":
		action = "terminate"
		if !g.usable() {
			return s.badRequest(c, "Only an active relationship can be terminated; this one is "+g.Status+".") // simulated message
		}
		g.Status, g.End = gdapTerminated, now
	default:
		return s.badRequest(c, "Invalid value specified for property 'action' of resource 'delegatedAdminRelationshipRequest'. Supported actions are lockForApproval and terminate.")
	}
	g.touch(now)
	q := &gdapRequest{ID: newGUID(), Action: action, Status: "succeeded", Created: now, Modified: now}
	g.requests = append(g.requests, q)
	v := q.view()
	v["@odata.context"] = odataContext(r, "tenantRelationships/delegatedAdminRelationships('"+g.ID+"')/requests/$entity")
	resp := graphJSON(http.StatusCreated, v)
	resp.header.Set("Location", baseURL(r)+gdapPath+"/"+g.ID+"/requests/"+q.ID)
	return resp
}

func (s *graphService) graphListGDAPRequests(r *http.Request, _ *apiCall, g *gdapRelationship, _ time.Time) *response {
	value := []any{}
	for _, q := range g.requests {
		value = append(value, q.view())
	}
	return graphJSON(http.StatusOK, map[string]any{
		"@odata.context": odataContext(r, "tenantRelationships/delegatedAdminRelationships('"+g.ID+"')/requests"), "value": value,
	})
}

func (s *graphService) graphGetGDAPRequest(r *http.Request, c *apiCall, g *gdapRelationship, _ time.Time) *response {
	for _, q := range g.requests {
		if q.ID == lower(r.PathValue("requestId")) {
			v := q.view()
			v["@odata.context"] = odataContext(r, "tenantRelationships/delegatedAdminRelationships('"+g.ID+"')/requests/$entity")
			return graphJSON(http.StatusOK, v)
		}
	}
	return s.notFound(c, r.PathValue("requestId"))
}

// --- admin: approval, state ---

func (s *graphService) registerAdminGDAP(adminMux *http.ServeMux) {
	adminMux.HandleFunc("POST /_sim/gdap/{relationshipId}/approve", s.adminApproveGDAP)
}

// POST /_sim/gdap/{relationshipId}/approve: the customer's administrator
// approves the relationship (approvalPending → active, ending after its
// duration): 200 with the relationship, 404 unknown, 409 in another status.
func (s *graphService) adminApproveGDAP(w http.ResponseWriter, r *http.Request) {
	id := lower(r.PathValue("relationshipId"))
	now := s.clock.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	var g *gdapRelationship
	for _, list := range s.gdap {
		for _, cand := range list {
			if cand.ID == id {
				g = cand
			}
		}
	}
	if g != nil {
		g.settle(now)
	}
	if g == nil {
		adminError(w, http.StatusNotFound, "no GDAP relationship with id "+r.PathValue("relationshipId"))
		return
	}
	if g.Status != gdapApprovalPending {
		adminError(w, http.StatusConflict, "the relationship is "+g.Status+"; only an approvalPending relationship can be approved")
		return
	}
	g.Status, g.Activated, g.End = gdapActive, now, now.Add(g.duration())
	g.touch(now)
	g.settle(now)
	adminJSON(w, http.StatusOK, g.view())
}

type stateGDAP struct {
	ID                 string   `json:"id"`
	DisplayName        string   `json:"display_name"`
	CustomerTenantID   string   `json:"customer_tenant_id"`
	Status             string   `json:"status"`
	Roles              []string `json:"roles"`
	AutoExtendDuration string   `json:"auto_extend_duration"`
	EndDateTime        *string  `json:"end_date_time"`
}

// gdapState lists p's relationships, settled to now. Caller holds s.mu.
func (s *graphService) gdapState(p *partner, now time.Time) []stateGDAP {
	out := []stateGDAP{}
	for _, g := range s.gdap[p.TenantID] {
		g.settle(now)
		out = append(out, stateGDAP{ID: g.ID, DisplayName: g.DisplayName, CustomerTenantID: g.CustomerID, Status: g.Status,
			Roles: slices.Clone(g.Roles), AutoExtendDuration: g.AutoExtend, EndDateTime: optTime(g.End)})
	}
	return out
}
