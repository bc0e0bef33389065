package mscloud

import (
	"net/http"
	"slices"
	"strings"
	"time"
)

// Partner Center agreements: the Microsoft Customer Agreement metadata
// and the partner's attestation that a customer accepted it (required
// before purchases). Partner Center part (pcService).

func (s *pcService) registerPCAgreements() {
	register(s.mux, "GET /v1/agreements", s.pcAgreementMetadata)
	register(s.mux, "POST /v1/customers/{id}/agreements", s.withCustomer(s.pcCreateAgreement))
	register(s.mux, "GET /v1/customers/{id}/agreements", s.withCustomer(s.pcListAgreements))
}

func collection(items []any) map[string]any {
	if items == nil {
		items = []any{}
	}
	return map[string]any{"totalCount": len(items), "items": items, "attributes": map[string]string{"objectType": "Collection"}}
}

// pcAgreementMetadata is GET /v1/agreements[?agreementType=…]. Only the
// Microsoft Customer Agreement is known; another type gives an empty list.
func (s *pcService) pcAgreementMetadata(r *http.Request, _ *apiCall) *response {
	t := r.URL.Query().Get("agreementType")
	var items []any
	if t == "" || strings.EqualFold(t, agreementTypeMCA) || strings.EqualFold(t, "All") {
		items = append(items, map[string]any{
			"templateId": mcaTemplateID, "agreementType": agreementTypeMCA, "agreementLink": mcaAgreementLink, "versionRank": 0,
			"attributes": map[string]string{"objectType": "AgreementMetaData"},
		})
	}
	return jsonResponse(http.StatusOK, collection(items))
}

type agreementIn struct {
	PrimaryContact contact `json:"primaryContact"`
	TemplateID     string  `json:"templateId"`
	DateAgreed     string  `json:"dateAgreed"`
	Type           string  `json:"type"`
}

func parseAgreedDate(v string) (time.Time, bool) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

func agreementView(a *agreement) map[string]any {
	return map[string]any{
		"primaryContact": a.PrimaryContact, "templateId": a.TemplateID,
		"dateAgreed": a.DateAgreed.Format(time.RFC3339), "type": a.Type,
		"agreementLink": mcaAgreementLink, "userId": a.UserID,
		"attributes": map[string]string{"objectType": "Agreement"},
	}
}

// pcCreateAgreement is POST /v1/customers/{id}/agreements: the partner
// attests that the customer accepted the MCA.
func (s *pcService) pcCreateAgreement(r *http.Request, _ *apiCall, cu *customer) *response {
	var in agreementIn
	if err := decodeJSON(r, &in); err != nil {
		return pcError(http.StatusBadRequest, codeInvalidInput, "The request body is not a valid agreement: "+err.Error())
	}
	var missing []string
	for name, v := range map[string]string{
		"primaryContact.firstName": in.PrimaryContact.FirstName, "primaryContact.lastName": in.PrimaryContact.LastName,
		"primaryContact.email": in.PrimaryContact.Email, "templateId": in.TemplateID, "dateAgreed": in.DateAgreed, "type": in.Type,
	} {
		if strings.TrimSpace(v) == "" {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return fieldError("Required fields are missing", missing)
	}
	if !strings.EqualFold(in.Type, agreementTypeMCA) {
		return pcError(http.StatusBadRequest, codeInvalidInput, "Agreement type "+in.Type+" is not supported.", "type")
	}
	if !strings.EqualFold(in.TemplateID, mcaTemplateID) {
		return pcError(http.StatusBadRequest, codeInvalidInput, "Template id "+in.TemplateID+" is not a valid agreement template.", "templateId")
	}
	agreed, ok := parseAgreedDate(in.DateAgreed)
	if !ok {
		return pcError(http.StatusBadRequest, codeInvalidInput, "dateAgreed is not a valid date.", "dateAgreed")
	}
	pc := contact{
		FirstName: strings.TrimSpace(in.PrimaryContact.FirstName), LastName: strings.TrimSpace(in.PrimaryContact.LastName),
		Email: strings.TrimSpace(in.PrimaryContact.Email), PhoneNumber: strings.TrimSpace(in.PrimaryContact.PhoneNumber),
	}
	for _, a := range cu.Agreements {
		if strings.EqualFold(a.PrimaryContact.Email, pc.Email) && strings.EqualFold(a.PrimaryContact.FirstName, pc.FirstName) &&
			strings.EqualFold(a.PrimaryContact.LastName, pc.LastName) {
			return pcRichError(http.StatusConflict, codeAgreementExists, "PartnerConfirmedAgreementAlreadyExists",
				"A partner confirmed agreement already exists for the customer.")
		}
	}
	a := &agreement{PrimaryContact: pc, TemplateID: mcaTemplateID, DateAgreed: agreed, Type: agreementTypeMCA, UserID: newGUID()}
	cu.Agreements = append(cu.Agreements, a)
	cu.MCAAttested = true
	return jsonResponse(http.StatusCreated, agreementView(a))
}

func (s *pcService) pcListAgreements(r *http.Request, _ *apiCall, cu *customer) *response {
	t := r.URL.Query().Get("agreementType")
	var items []any
	for _, a := range cu.Agreements {
		if t == "" || strings.EqualFold(t, a.Type) || strings.EqualFold(t, "All") {
			items = append(items, agreementView(a))
		}
	}
	return jsonResponse(http.StatusOK, collection(items))
}
