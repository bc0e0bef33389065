package mscloud

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
)

// TestAzidentityClientSecretCredential proves the real SDK (azidentity ->
// MSAL Go) accepts the simulator as an authority and that its token works
// against Partner Center.
func TestAzidentityClientSecretCredential(t *testing.T) {
	s := newSim(t, Options{})
	p := s.partner("global", true, "US")
	cred, err := azidentity.NewClientSecretCredential(p.TenantID, p.ClientID, p.ClientSecret, &azidentity.ClientSecretCredentialOptions{
		ClientOptions: azcore.ClientOptions{
			Cloud:     cloud.Configuration{ActiveDirectoryAuthorityHost: s.url + "/"},
			Transport: s.bundle.Client(),
		},
		DisableInstanceDiscovery: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tok, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{"https://api.partnercenter.microsoft.com/.default"}})
	if err != nil {
		t.Fatalf("GetToken: %v", err)
	}
	if tok.Token == "" || time.Until(tok.ExpiresOn) < 50*time.Minute {
		t.Fatalf("unexpected token %+v", tok)
	}
	st, _, b := s.do(http.MethodGet, "/v1/customers", tok.Token, nil, nil)
	if st != http.StatusOK {
		t.Fatalf("GET /v1/customers with azidentity token: %d %s", st, b)
	}
	if c := decode[map[string]any](t, b); c["totalCount"] != float64(0) {
		t.Errorf("new partner has customers: %s", b)
	}

	// A wrong secret surfaces as an authentication failure from the SDK.
	bad, err := azidentity.NewClientSecretCredential(p.TenantID, p.ClientID, "wrong", &azidentity.ClientSecretCredentialOptions{
		ClientOptions:            azcore.ClientOptions{Cloud: cloud.Configuration{ActiveDirectoryAuthorityHost: s.url + "/"}, Transport: s.bundle.Client()},
		DisableInstanceDiscovery: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bad.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{pcScope}}); err == nil {
		t.Fatal("GetToken with a wrong secret succeeded")
	} else if !strings.Contains(err.Error(), "AADSTS7000215") {
		t.Errorf("error does not carry the AADSTS code: %v", err)
	}
}
