package mscloud

import (
	"net/http"
	"testing"
)

func TestApplicationConsents(t *testing.T) {
	s := newCommerceSim(t)
	sh := newShop(t, s, "global", true, "US", true)
	if st, b := s.admin(http.MethodPost, "/_sim/settings", map[string]any{"require_app_consent": true}); st != 200 {
		t.Fatalf("%d %s", st, b)
	}
	if st, body := s.graphTokenForm(sh.p, sh.cid); st != http.StatusBadRequest || body["error"] != "invalid_grant" {
		t.Fatalf("token without consent: %d %v", st, body)
	}
	consent := map[string]any{"applicationId": sh.p.ClientID, "applicationGrants": []any{
		map[string]any{"enterpriseApplicationId": "00000003-0000-0000-c000-000000000000", "scope": "Directory.ReadWrite.All"}}}
	if st, _, b := sh.call(http.MethodPost, sh.cpath("/applicationconsents"), consent, nil); st != http.StatusCreated {
		t.Fatalf("consent: %d %s", st, b)
	}
	if st, _, b := sh.call(http.MethodPost, sh.cpath("/applicationconsents"), consent, nil); st != http.StatusConflict ||
		decode[pcErr](t, b).Code != codeConsentExists {
		t.Fatalf("second consent: %d %s", st, b)
	}
	if st, _ := s.graphTokenForm(sh.p, sh.cid); st != http.StatusOK {
		t.Fatalf("token with consent: %d", st)
	}
	st, _, b := sh.call(http.MethodGet, sh.cpath("/applicationconsents"), nil, nil)
	if st != 200 || decode[struct{ TotalCount int }](t, b).TotalCount != 1 {
		t.Fatalf("list: %d %s", st, b)
	}
	if st, _, _ := sh.call(http.MethodPost, sh.cpath("/applicationconsents"), map[string]any{"applicationId": "x"}, nil); st != http.StatusBadRequest {
		t.Fatalf("no grants: %d", st)
	}
	if st, _, _ := sh.call(http.MethodDelete, sh.cpath("/applicationconsents/"+sh.p.ClientID), nil, nil); st != http.StatusNoContent {
		t.Fatalf("delete: %d", st)
	}
	if st, _ := s.graphTokenForm(sh.p, sh.cid); st != http.StatusBadRequest {
		t.Fatalf("token after the consent was removed: %d", st)
	}
}
