package mscloud

import (
	"net/http"
	"strings"
)

// Application consents (Partner Center "control panel vendor" API): the
// partner grants its multitenant application permissions in a customer's
// tenant, which GDAP's app+user model needs before the application can get
// tokens issued by that tenant.
//
//	POST   /v1/customers/{id}/applicationconsents         {applicationId, applicationGrants[{enterpriseApplicationId, scope}]}
//	GET    /v1/customers/{id}/applicationconsents
//	DELETE /v1/customers/{id}/applicationconsents/{appId}
//
// A consent for an application that already has one → 409 (simulated code
// 600080). With the setting require_app_consent, customer-tenant tokens for
// an application without consent are refused (AADSTS65001). POST and
// DELETE with an app+user token need the partner's GDAP roles in the
// customer tenant (gdap_access.go): else 403, simulated code 900301.

type appConsent struct {
	ApplicationID string
	Grants        []consentGrant
}

type consentGrant struct {
	EnterpriseApplicationID string `json:"enterpriseApplicationId"`
	Scope                   string `json:"scope"`
}

const codeConsentExists = 600080 // simulated code

func (s *pcService) registerPCConsents() {
	register(s.mux, "POST /v1/customers/{id}/applicationconsents", s.withCustomer(s.pcCreateConsent))
	register(s.mux, "GET /v1/customers/{id}/applicationconsents", s.withCustomer(s.pcListConsents))
	register(s.mux, "DELETE /v1/customers/{id}/applicationconsents/{appId}", s.withCustomer(s.pcDeleteConsent))
}

func consentView(c *appConsent) map[string]any {
	return map[string]any{"applicationId": c.ApplicationID, "applicationGrants": c.Grants,
		"attributes": map[string]string{"objectType": "ApplicationConsent"}}
}

func (s *pcService) pcCreateConsent(r *http.Request, call *apiCall, cu *customer) *response {
	if denied := s.pcGDAPDenied(call, cu, opAppConsent); denied != nil {
		return denied
	}
	var in struct {
		ApplicationID     string         `json:"applicationId"`
		ApplicationGrants []consentGrant `json:"applicationGrants"`
	}
	if err := decodeJSON(r, &in); err != nil {
		return pcError(http.StatusBadRequest, codeInvalidInput, "The request body is not a valid application consent: "+err.Error())
	}
	if strings.TrimSpace(in.ApplicationID) == "" || len(in.ApplicationGrants) == 0 {
		return fieldError("Required fields are missing", []string{"applicationId", "applicationGrants"})
	}
	for _, g := range in.ApplicationGrants {
		if g.EnterpriseApplicationID == "" || g.Scope == "" {
			return fieldError("Required fields are missing", []string{"applicationGrants[].enterpriseApplicationId", "applicationGrants[].scope"})
		}
	}
	key := strings.ToLower(in.ApplicationID)
	if cu.Consents == nil {
		cu.Consents = map[string]*appConsent{}
	}
	if _, ok := cu.Consents[key]; ok {
		return pcRichError(http.StatusConflict, codeConsentExists, "ApplicationConsentAlreadyExists",
			"A consent for application "+in.ApplicationID+" already exists for this customer.")
	}
	c := &appConsent{ApplicationID: in.ApplicationID, Grants: in.ApplicationGrants}
	cu.Consents[key] = c
	return jsonResponse(http.StatusCreated, consentView(c))
}

func (s *pcService) pcListConsents(_ *http.Request, _ *apiCall, cu *customer) *response {
	var items []any
	for _, c := range cu.Consents {
		items = append(items, consentView(c))
	}
	return jsonResponse(http.StatusOK, collection(items))
}

func (s *pcService) pcDeleteConsent(r *http.Request, c *apiCall, cu *customer) *response {
	if denied := s.pcGDAPDenied(c, cu, opAppConsent); denied != nil {
		return denied
	}
	key := strings.ToLower(r.PathValue("appId"))
	if _, ok := cu.Consents[key]; !ok {
		return pcError(http.StatusNotFound, codeRouteNotFound, "No consent for application "+r.PathValue("appId")+".")
	}
	delete(cu.Consents, key)
	return &response{status: http.StatusNoContent}
}

// pcGDAPDenied refuses a delegated Partner Center call on customer cu that
// the partner's GDAP roles there do not cover (403, simulated code
// codeGDAPAccessDenied; gdap_access.go); app-only calls pass. Caller holds
// s.mu (the roles are Graph's: order pc → graph).
func (s *pcService) pcGDAPDenied(c *apiCall, cu *customer, op gdapOp) *response {
	if c.token.AppOnly || s.graph.gdapCovers(c.partner, cu.ID, []gdapOp{op}, s.clock.Now()) {
		return nil
	}
	return pcError(http.StatusForbidden, codeGDAPAccessDenied,
		"The signed-in user has no active granular delegated admin relationship with customer "+cu.ID+" that grants a role allowing "+string(op)+".")
}
