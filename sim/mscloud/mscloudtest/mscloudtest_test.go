package mscloudtest_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"testing"

	"github.com/o365gateway/gateway/sim/mscloud"
	"github.com/o365gateway/gateway/sim/mscloud/mscloudtest"
)

func TestGraphToken(t *testing.T) {
	sim := mscloudtest.Start(t, mscloud.Options{})
	p := sim.RegisterPartner("global", "US")
	resp, err := sim.Client.PostForm(sim.URL+"/"+p.TenantID+"/oauth2/v2.0/token", url.Values{"grant_type": {"client_credentials"},
		"client_id": {p.ClientID}, "client_secret": {p.ClientSecret}, "scope": {"https://api.partnercenter.microsoft.com/.default"}})
	if err != nil {
		t.Fatal(err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	body, _ := json.Marshal(map[string]any{
		"companyProfile": map[string]any{"domain": "mscloudtestgraph.onmicrosoft.com"},
		"billingProfile": map[string]any{"email": "a@b.example", "culture": "en-US", "language": "en", "companyName": "C",
			"defaultAddress": map[string]any{"firstName": "A", "lastName": "B", "addressLine1": "1 Main St", "city": "Redmond",
				"state": "WA", "postalCode": "98052", "country": "US"}},
	})
	req, _ := http.NewRequest(http.MethodPost, sim.URL+"/v1/customers", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	resp, err = sim.Client.Do(req)
	if err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("create customer: %v %v", err, resp)
	}
	resp.Body.Close()
	g := sim.GraphToken(p, "mscloudtestgraph.onmicrosoft.com", "https://graph.microsoft.com")
	req, _ = http.NewRequest(http.MethodGet, sim.URL+"/v1.0/users", nil)
	req.Header.Set("Authorization", "Bearer "+g)
	resp, err = sim.Client.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("list users: %v %v", err, resp)
	}
	resp.Body.Close()
}
