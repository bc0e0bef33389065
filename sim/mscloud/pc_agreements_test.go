package mscloud

import (
	"net/http"
	"testing"
)

func TestAgreements(t *testing.T) {
	s := newSim(t, Options{})
	p := s.partner("global", true, "US")
	tok := s.pcToken(p)
	id := s.createCustomer(tok, customerBody("mca1.onmicrosoft.com", "US"))["id"].(string)

	code, _, b := s.do(http.MethodGet, "/v1/agreements?agreementType=MicrosoftCustomerAgreement", tok, nil, nil)
	meta := decode[struct {
		TotalCount int `json:"totalCount"`
		Items      []struct {
			TemplateID    string `json:"templateId"`
			AgreementType string `json:"agreementType"`
			AgreementLink string `json:"agreementLink"`
			VersionRank   *int   `json:"versionRank"`
		} `json:"items"`
	}](t, b)
	if code != 200 || meta.TotalCount != 1 || len(meta.Items) != 1 || meta.Items[0].TemplateID != mcaTemplateID ||
		meta.Items[0].AgreementType != "MicrosoftCustomerAgreement" || meta.Items[0].AgreementLink == "" || meta.Items[0].VersionRank == nil {
		t.Fatalf("metadata: %d %s", code, b)
	}

	body := map[string]any{
		"primaryContact": map[string]any{"firstName": "Ann", "lastName": "Lee", "email": "ann@contoso.example", "phoneNumber": "4255550100"},
		"templateId":     meta.Items[0].TemplateID, "dateAgreed": "2026-11-20T10:00:00Z", "type": "MicrosoftCustomerAgreement",
	}
	path := "/v1/customers/" + id + "/agreements"
	code, _, b = s.do(http.MethodPost, path, tok, body, nil)
	a := decode[map[string]any](t, b)
	if code != http.StatusCreated || a["templateId"] != mcaTemplateID || a["type"] != "MicrosoftCustomerAgreement" ||
		a["dateAgreed"] != "2026-11-20T10:00:00Z" || a["primaryContact"].(map[string]any)["email"] != "ann@contoso.example" {
		t.Fatalf("attest: %d %s", code, b)
	}
	if st := s.state(p.TenantID); !st[0].Customers[0].MCAAttested {
		t.Errorf("mca_attested not set in state")
	}

	// The same contact again (different case) is refused with the rich 600061 error.
	body["primaryContact"].(map[string]any)["email"] = "ANN@contoso.example"
	code, _, b = s.do(http.MethodPost, path, tok, body, nil)
	e := decode[pcErr](t, b)
	if code != http.StatusConflict || e.Code != 600061 || e.ErrorName != "PartnerConfirmedAgreementAlreadyExists" ||
		e.IsRetryable == nil || *e.IsRetryable || e.ErrorMessageExtended != "InternalErrorCode=600061" || e.Parameters == nil || e.Message == "" {
		t.Errorf("repeat: %d %s", code, b)
	}
	// Another contact is a second attestation.
	body["primaryContact"] = map[string]any{"firstName": "Bob", "lastName": "Ray", "email": "bob@contoso.example"}
	if code, _, b := s.do(http.MethodPost, path, tok, body, nil); code != http.StatusCreated {
		t.Errorf("second contact: %d %s", code, b)
	}
	code, _, b = s.do(http.MethodGet, path, tok, nil, nil)
	if list := decode[map[string]any](t, b); code != 200 || list["totalCount"] != float64(2) {
		t.Errorf("list: %d %s", code, b)
	}

	for name, mod := range map[string]func(m map[string]any){
		"bad template":   func(m map[string]any) { m["templateId"] = newGUID() },
		"bad type":       func(m map[string]any) { m["type"] = "MicrosoftCloudAgreement" },
		"bad date":       func(m map[string]any) { m["dateAgreed"] = "yesterday" },
		"missing email":  func(m map[string]any) { m["primaryContact"] = map[string]any{"firstName": "C", "lastName": "D"} },
		"missing date":   func(m map[string]any) { delete(m, "dateAgreed") },
		"missing fields": func(m map[string]any) { delete(m, "templateId"); delete(m, "type") },
	} {
		m := map[string]any{
			"primaryContact": map[string]any{"firstName": "Cy", "lastName": "Dee", "email": "cy@contoso.example"},
			"templateId":     mcaTemplateID, "dateAgreed": "2026-11-20", "type": "MicrosoftCustomerAgreement",
		}
		mod(m)
		if code, _, b := s.do(http.MethodPost, path, tok, m, nil); code != http.StatusBadRequest || decode[pcErr](t, b).Code != codeInvalidInput {
			t.Errorf("%s: %d %s", name, code, b)
		}
	}
	// Another partner cannot attest for this customer.
	other := s.pcToken(s.partner("global", true, "US"))
	if code, _, _ := s.do(http.MethodPost, path, other, body, nil); code != http.StatusNotFound {
		t.Errorf("foreign customer: %d", code)
	}
}
