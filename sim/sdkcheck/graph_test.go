package sdkcheck

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/google/uuid"
	kiotaauth "github.com/microsoft/kiota-authentication-azure-go"
	khttp "github.com/microsoft/kiota-http-go"
	msgraphsdk "github.com/microsoftgraph/msgraph-sdk-go"
	msgraphcore "github.com/microsoftgraph/msgraph-sdk-go-core"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
	"github.com/microsoftgraph/msgraph-sdk-go/models/odataerrors"
	"github.com/microsoftgraph/msgraph-sdk-go/users"

	"github.com/o365gateway/gateway/sim/mscloud"
	"github.com/o365gateway/gateway/sim/mscloud/mscloudtest"
)

// Office 365 E3 in the simulator's global catalog: the legacy offer and
// the license SKU it grants.
const (
	offerE3 = "796B6B5F-613C-4E24-A17C-EBA730D49C02"
	skuE3   = "6fd2c87f-b296-42f0-b197-1e91e994b900"
)

// wire records what reaches the simulator after the SDK's middleware.
type wire struct {
	next http.RoundTripper
	mu   sync.Mutex
	seen []sent
}

type sent struct {
	method, path, encoding string
	status                 int
}

func (w *wire) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := w.next.RoundTrip(r)
	if err == nil {
		w.mu.Lock()
		w.seen = append(w.seen, sent{r.Method, r.URL.Path, r.Header.Get("Content-Encoding"), resp.StatusCode})
		w.mu.Unlock()
	}
	return resp, err
}

// TestGraphSDK creates a user, assigns it a license, and adds and reads a
// domain through msgraph-sdk-go, authenticated by azidentity's
// ClientSecretCredential at the simulator's login endpoint.
func TestGraphSDK(t *testing.T) {
	sim := mscloudtest.Start(t, mscloud.Options{})
	p := sim.RegisterPartner("global", "US")
	var cu struct {
		ID string `json:"id"`
	}
	sim.Admin("POST", "/_sim/partners/"+p.TenantID+"/customers", map[string]any{"domain": "sdkcheck", "company_name": "SDK Check", "country": "US"}, &cu)
	domain := "sdkcheck.onmicrosoft.com"
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	credential := func(tenant string) azcore.TokenCredential {
		t.Helper()
		c, err := azidentity.NewClientSecretCredential(tenant, p.ClientID, p.ClientSecret, &azidentity.ClientSecretCredentialOptions{
			ClientOptions:            azcore.ClientOptions{Cloud: cloud.Configuration{ActiveDirectoryAuthorityHost: sim.URL + "/"}, Transport: sim.Client},
			DisableInstanceDiscovery: true,
		})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	buySeats(ctx, t, sim, credential(p.TenantID), cu.ID, 2)

	// The SDK's own client: its default Graph middleware (compression,
	// retries, redirects, telemetry) over a transport that trusts the
	// simulator's CA, aimed at the simulator's Graph.
	w := &wire{next: sim.Client.Transport}
	base, _ := url.Parse(sim.URL)
	auth, err := kiotaauth.NewAzureIdentityAuthenticationProviderWithScopesAndValidHosts(credential(cu.ID),
		[]string{"https://graph.microsoft.com/.default"}, []string{base.Hostname()})
	if err != nil {
		t.Fatal(err)
	}
	opts := msgraphsdk.GetDefaultClientOptions()
	httpClient := &http.Client{
		Transport:     khttp.NewCustomTransportWithParentTransport(w, msgraphcore.GetDefaultMiddlewaresWithOptions(&opts)...),
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       30 * time.Second,
	}
	adapter, err := msgraphsdk.NewGraphRequestAdapterWithParseNodeFactoryAndSerializationWriterFactoryAndHttpClient(auth, nil, nil, httpClient)
	if err != nil {
		t.Fatal(err)
	}
	adapter.SetBaseUrl(sim.URL + "/v1.0")
	client := msgraphsdk.NewGraphServiceClient(adapter)

	// A user.
	u := models.NewUser()
	u.SetAccountEnabled(ptr(true))
	u.SetDisplayName(ptr("Ada Lovelace"))
	u.SetMailNickname(ptr("ada"))
	u.SetUserPrincipalName(ptr("ada@" + domain))
	u.SetUsageLocation(ptr("US"))
	pw := models.NewPasswordProfile()
	pw.SetPassword(ptr("Xk7#pLm2qR"))
	pw.SetForceChangePasswordNextSignIn(ptr(true))
	u.SetPasswordProfile(pw)
	created, err := client.Users().Post(ctx, u, nil)
	if err != nil {
		t.Fatalf("create user: %v", graphErr(err))
	}
	if created.GetId() == nil || *created.GetUserPrincipalName() != "ada@"+domain {
		t.Fatalf("created user: id %v, upn %v", created.GetId(), created.GetUserPrincipalName())
	}

	// A license.
	lic := models.NewAssignedLicense()
	lic.SetSkuId(ptr(uuid.MustParse(skuE3)))
	lic.SetDisabledPlans([]uuid.UUID{})
	body := users.NewItemAssignLicensePostRequestBody()
	body.SetAddLicenses([]models.AssignedLicenseable{lic})
	body.SetRemoveLicenses([]uuid.UUID{})
	licensed, err := client.Users().ByUserId(*created.GetId()).AssignLicense().Post(ctx, body, nil)
	if err != nil {
		t.Fatalf("assign license: %v", graphErr(err))
	}
	if l := licensed.GetAssignedLicenses(); len(l) != 1 || l[0].GetSkuId() == nil || l[0].GetSkuId().String() != skuE3 {
		t.Fatalf("assigned licenses: %v", l)
	}
	skus, err := client.SubscribedSkus().Get(ctx, nil)
	if err != nil {
		t.Fatalf("subscribed SKUs: %v", graphErr(err))
	}
	var consumed int32 = -1
	for _, k := range skus.GetValue() {
		if k.GetSkuId() != nil && k.GetSkuId().String() == skuE3 && k.GetConsumedUnits() != nil {
			consumed = *k.GetConsumedUnits()
		}
	}
	if consumed != 1 {
		t.Fatalf("consumed units of E3: %d", consumed)
	}

	// A domain, added and read back.
	d := models.NewDomain()
	d.SetId(ptr("contoso.example"))
	if _, err := client.Domains().Post(ctx, d, nil); err != nil {
		t.Fatalf("add domain: %v", graphErr(err))
	}
	got, err := client.Domains().ByDomainId("contoso.example").Get(ctx, nil)
	if err != nil {
		t.Fatalf("read domain: %v", graphErr(err))
	}
	if *got.GetId() != "contoso.example" || got.GetIsVerified() == nil || *got.GetIsVerified() || got.GetIsRoot() == nil || !*got.GetIsRoot() {
		t.Fatalf("domain: id %v verified %v root %v", *got.GetId(), got.GetIsVerified(), got.GetIsRoot())
	}

	// Every write went out gzip-compressed (the SDK's compression handler)
	// and was accepted as such: the handler falls back to an uncompressed
	// copy only after a 415.
	w.mu.Lock()
	defer w.mu.Unlock()
	var writes []sent
	for _, s := range w.seen {
		if s.method == http.MethodPost && strings.HasPrefix(s.path, "/v1.0/") {
			writes = append(writes, s)
		}
	}
	if len(writes) != 3 || slices.ContainsFunc(writes, func(s sent) bool { return s.encoding != "gzip" || s.status >= 300 }) {
		t.Fatalf("Graph writes on the wire: %+v", writes)
	}
}

// buySeats attests the MCA and buys seats of Office 365 E3 through Partner
// Center, with a token the partner's credential gets from azidentity.
func buySeats(ctx context.Context, t *testing.T, sim *mscloudtest.Sim, cred azcore.TokenCredential, customerID string, seats int) {
	t.Helper()
	tok, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{"https://api.partnercenter.microsoft.com/.default"}})
	if err != nil {
		t.Fatalf("Partner Center token: %v", err)
	}
	call := func(method, path string, body any, out any) {
		t.Helper()
		var rd io.Reader
		if body != nil {
			b, _ := json.Marshal(body)
			rd = bytes.NewReader(b)
		}
		req, _ := http.NewRequestWithContext(ctx, method, sim.URL+path, rd)
		req.Header.Set("Authorization", "Bearer "+tok.Token)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("MS-RequestId", uuid.NewString())
		resp, err := sim.Client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		if resp.StatusCode >= 300 {
			t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, data)
		}
		if out != nil {
			if err := json.Unmarshal(data, out); err != nil {
				t.Fatal(err)
			}
		}
	}
	var agreements struct {
		Items []struct {
			TemplateID string `json:"templateId"`
		} `json:"items"`
	}
	call("GET", "/v1/agreements?agreementType=MicrosoftCustomerAgreement", nil, &agreements)
	if len(agreements.Items) == 0 {
		t.Fatal("no MCA template")
	}
	call("POST", "/v1/customers/"+customerID+"/agreements", map[string]any{"templateId": agreements.Items[0].TemplateID,
		"type": "MicrosoftCustomerAgreement", "dateAgreed": time.Now().UTC().Format("2006-01-02"),
		"primaryContact": map[string]any{"firstName": "Ada", "lastName": "Lovelace", "email": "ada@example.com"}}, nil)
	call("POST", "/v1/customers/"+customerID+"/orders", map[string]any{"billingCycle": "monthly",
		"lineItems": []any{map[string]any{"lineItemNumber": 0, "offerId": offerE3, "quantity": seats}}}, nil)
}

// graphErr spells out Graph's error (code and message) when the SDK gives one.
func graphErr(err error) error {
	var oe *odataerrors.ODataError
	if errors.As(err, &oe) && oe.GetErrorEscaped() != nil {
		e := oe.GetErrorEscaped()
		return fmt.Errorf("%d %s: %s", oe.ResponseStatusCode, deref(e.GetCode()), deref(e.GetMessage()))
	}
	return err
}

func ptr[T any](v T) *T { return &v }

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
