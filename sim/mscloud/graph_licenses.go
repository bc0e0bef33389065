package mscloud

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"time"
)

// Licenses in a customer tenant:
//
//	POST /v1.0/users/{id|upn}/assignLicense   200 user
//	GET  /v1.0/subscribedSkus                  derived from the Partner Center subscriptions
//	GET  /v1.0/subscribedSkus/{tenantId}_{skuId}
//
// The seats of a license SKU are the customer's Partner Center
// subscriptions granting it (licensing.go; tenantRoute reads them from
// Partner Center when the call begins): active quantity →
// prepaidUnits.enabled, suspended quantity → prepaidUnits.suspended;
// consumedUnits counts the live users holding the SKU (plus any units
// recorded without a user through pcService.setAssignedUnits). Partner
// Center's GET /v1/customers/{id}/subscribedskus reads the same numbers.

func (s *graphService) registerGraphLicenses() {
	s.tenantRoute("POST /v1.0/users/{id}/assignLicense", s.graphAssignLicense)
	s.tenantRoute("GET /v1.0/subscribedSkus", s.graphSubscribedSkus)
	s.tenantRoute("GET /v1.0/subscribedSkus/{skuKey}", s.graphSubscribedSku)
}

func subscribedSkuView(cu *tenantCall, u *skuUnits) map[string]any {
	plans := []any{}
	for _, p := range u.License.Plans {
		plans = append(plans, map[string]any{
			"servicePlanId": p.ID, "servicePlanName": p.ServiceName, "provisioningStatus": "Success", "appliesTo": "User",
		})
	}
	subs := []string{}
	for _, sub := range cu.seats.Subs {
		if sub.License.ID == u.License.ID && (sub.Status == subActive || sub.Status == subSuspended) {
			subs = append(subs, sub.ID)
		}
	}
	return map[string]any{
		"id": cu.ID + "_" + u.License.ID, "accountId": cu.ID, "accountName": cu.org.CompanyName,
		"skuId": u.License.ID, "skuPartNumber": u.License.PartNumber, "appliesTo": "User",
		"capabilityStatus": skuCapability(u), "consumedUnits": u.Consumed,
		"prepaidUnits":    map[string]int{"enabled": u.Active, "suspended": u.Suspended, "warning": 0, "lockedOut": 0},
		"servicePlans":    plans,
		"subscriptionIds": subs,
	}
}

func (s *graphService) graphSubscribedSkus(r *http.Request, _ *apiCall, cu *tenantCall, _ time.Time) *response {
	value := []any{}
	for _, u := range cu.licenseUnits() {
		value = append(value, subscribedSkuView(cu, u))
	}
	return graphJSON(http.StatusOK, map[string]any{"@odata.context": odataContext(r, "subscribedSkus"), "value": value})
}

func (s *graphService) graphSubscribedSku(r *http.Request, c *apiCall, cu *tenantCall, _ time.Time) *response {
	key := lower(r.PathValue("skuKey"))
	for _, u := range cu.licenseUnits() {
		if key == cu.ID+"_"+u.License.ID {
			view := subscribedSkuView(cu, u)
			view["@odata.context"] = odataContext(r, "subscribedSkus/$entity")
			return graphJSON(http.StatusOK, view)
		}
	}
	return s.notFound(c, r.PathValue("skuKey"))
}

type addLicenseIn struct {
	SkuID         string   `json:"skuId"`
	DisabledPlans []string `json:"disabledPlans"`
}

// graphAssignLicense is POST /v1.0/users/{id}/assignLicense. Checks in
// order: cloud (21Vianet: 403), user (404), body (both arrays present),
// SKUs known to the tenant and disabled plans part of them, removals held
// by the user, usage location as license assignment sees it, seats
// (CountViolation). Removals apply before additions; nothing changes on
// an error.
func (s *graphService) graphAssignLicense(r *http.Request, c *apiCall, cu *tenantCall, now time.Time) *response {
	if c.partner.Cloud.Name == "china" {
		return s.gerr(c, http.StatusForbidden, "Authorization_RequestDenied",
			"License management of customer users is not available to partners in Microsoft 365 operated by 21Vianet; "+
				"the customer's administrator assigns licenses in the Microsoft 365 admin center.") // simulated message
	}
	d := cu.directory()
	u := d.user(r.PathValue("id"))
	if u == nil {
		return s.notFound(c, r.PathValue("id"))
	}
	var in struct {
		Add    json.RawMessage `json:"addLicenses"`
		Remove json.RawMessage `json:"removeLicenses"`
	}
	if err := decodeJSON(r, &in); err != nil {
		return s.gerr(c, http.StatusBadRequest, "BadRequest", msgBadJSON)
	}
	var missing []string
	if in.Add == nil || isJSONNull(in.Add) {
		missing = append(missing, "addLicenses")
	}
	if in.Remove == nil || isJSONNull(in.Remove) {
		missing = append(missing, "removeLicenses")
	}
	if missing != nil {
		return s.badRequest(c, "One or more parameters of the function import 'assignLicense' are missing from the request payload. The missing parameters are: "+
			strings.Join(missing, ", ")+".")
	}
	var add []addLicenseIn
	var remove []string
	if json.Unmarshal(in.Add, &add) != nil || json.Unmarshal(in.Remove, &remove) != nil {
		return s.gerr(c, http.StatusBadRequest, "BadRequest", msgBadJSON)
	}
	invalid := func(sku string) *response {
		return s.badRequest(c, "License "+sku+" does not correspond to a valid company License.")
	}
	var adds []addLicenseIn // canonical ids, one per SKU (the last wins)
	for _, a := range add {
		lic := cu.tenantLicense(a.SkuID)
		if lic == nil {
			return invalid(a.SkuID)
		}
		plans := []string{}
		for _, p := range a.DisabledPlans {
			if !slices.ContainsFunc(lic.Plans, func(sp servicePlan) bool { return sp.ID == lower(p) }) {
				return s.badRequest(c, "Service plan "+p+" is not part of license "+lic.ID+".") // simulated message
			}
			if !slices.Contains(plans, lower(p)) {
				plans = append(plans, lower(p))
			}
		}
		adds = slices.DeleteFunc(adds, func(x addLicenseIn) bool { return x.SkuID == lic.ID })
		adds = append(adds, addLicenseIn{SkuID: lic.ID, DisabledPlans: plans})
	}
	var removes []string
	for _, id := range remove {
		lic := cu.tenantLicense(id)
		if lic == nil && u.license(id) == nil {
			return invalid(id)
		}
		if u.license(id) == nil {
			return s.badRequest(c, "User does not have a corresponding license.") // assumed wording
		}
		if slices.ContainsFunc(adds, func(a addLicenseIn) bool { return a.SkuID == lower(id) }) {
			return s.badRequest(c, "License "+lower(id)+" cannot be added and removed in the same request.") // simulated message
		}
		removes = append(removes, lower(id))
	}
	if len(adds) > 0 && u.licensingLocation(time.Now()) == "" {
		return s.badRequest(c, msgInvalidUsageLoc)
	}
	for _, a := range adds {
		if u.license(a.SkuID) == nil && cu.freeSeats(a.SkuID) < 1 {
			if u.violations == nil {
				u.violations = map[string]time.Time{}
			}
			u.violations[a.SkuID] = now
			return s.badRequest(c, "Subscription with SKU "+a.SkuID+" does not have any available licenses.")
		}
	}
	// Apply.
	for _, id := range removes {
		u.Licenses = slices.DeleteFunc(u.Licenses, func(l *userLicense) bool { return l.SkuID == id })
		delete(u.violations, id)
	}
	for _, a := range adds {
		if l := u.license(a.SkuID); l != nil {
			l.DisabledPlans = a.DisabledPlans
			l.Assigned = now
		} else {
			u.Licenses = append(u.Licenses, &userLicense{SkuID: a.SkuID, DisabledPlans: a.DisabledPlans, Assigned: now})
		}
		delete(u.violations, a.SkuID)
	}
	provisionMail(u)
	view := userView(u)
	view["@odata.context"] = odataContext(r, "users/$entity")
	return graphJSON(http.StatusOK, view)
}
