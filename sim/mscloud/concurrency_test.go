package mscloud

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestPartsConcurrently drives every path that crosses the API parts at
// the same time, so that `go test -race` checks the split state and a
// lock-order mistake shows up as a deadlock (the test fails after a
// minute with the goroutines dumped):
//
//   - Graph tenant routes read Partner Center's seats, then lock Graph
//     (create users, assign licenses, subscribedSkus; app-only and
//     delegated, so GDAP roles are checked inside Graph);
//   - Partner Center calls Graph with its own lock held (subscribedskus,
//     delegated application consents, transitions with license transfer,
//     billing-profile updates, customers created and deleted);
//   - login resolves customer tenants through Entra, Partner Center and
//     Graph in turn;
//   - the admin API takes all three parts (state) or one (users, secrets,
//     settings, GDAP approval).
func TestPartsConcurrently(t *testing.T) {
	s := newCommerceSim(t)
	sh := newShop(t, s, "global", false, "US", true)
	p := sh.p
	graphAud := cloudProfiles["global"].GraphAudience
	pcAud := cloudProfiles["global"].PartnerCenterAudience
	e3 := sh.buyOne(ciE3, 200)
	s.activeGDAP(p, sh.cid, roleGlobalAdministrator)
	appGraph := s.graphToken(p, sh.cid)
	delGraph := s.delegatedToken(&p, sh.cid, graphAud)
	delPC := s.delegatedToken(&p, p.TenantID, pcAud)
	sandbox := newShop(t, s, "global", true, "US", false)
	var domain string
	for _, c := range s.state(p.TenantID)[0].Customers {
		if c.ID == sh.cid {
			domain = c.Domain
		}
	}

	const workers, rounds = 3, 8
	var (
		wg       sync.WaitGroup
		failures atomic.Int64
		mu       sync.Mutex
		problems []string
	)
	// call sends one request and records transport errors and 5xx answers
	// (no t.Fatal off the test goroutine).
	call := func(method, path, token string, body any, hdr map[string]string) (int, []byte) {
		var rd io.Reader
		if body != nil {
			j, _ := json.Marshal(body)
			rd = bytes.NewReader(j)
		}
		req, _ := http.NewRequest(method, s.url+path, rd)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		if rd != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := s.client.Do(req)
		if err != nil {
			failures.Add(1)
			mu.Lock()
			problems = append(problems, method+" "+path+": "+err.Error())
			mu.Unlock()
			return 0, nil
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode >= 500 {
			failures.Add(1)
			mu.Lock()
			problems = append(problems, fmt.Sprintf("%s %s: %d %s", method, path, resp.StatusCode, b))
			mu.Unlock()
		}
		return resp.StatusCode, b
	}
	form := func(tenant string, v url.Values) int {
		resp, err := s.client.PostForm(s.url+"/"+tenant+"/oauth2/v2.0/token", v)
		if err != nil {
			failures.Add(1)
			mu.Lock()
			problems = append(problems, "token at "+tenant+": "+err.Error())
			mu.Unlock()
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	run := func(f func(w, i int)) {
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range rounds {
					f(w, i)
				}
			}()
		}
	}
	var seq atomic.Int64
	next := func() string { return strconv.FormatInt(seq.Add(1), 10) }
	// done counts the cross-part operations that succeeded.
	var doneMu sync.Mutex
	done := map[string]int{}
	count := func(what string, code, want int) {
		if code == want {
			doneMu.Lock()
			done[what]++
			doneMu.Unlock()
		}
	}

	// Graph, app-only: users with E3 licenses.
	run(func(_, _ int) {
		upn := "u" + next() + "@" + domain
		code, b := call(http.MethodPost, "/v1.0/users", appGraph, newUserBody(upn, withProp("usageLocation", "US")), nil)
		count("graph user", code, http.StatusCreated)
		var u graphUserT
		if code == http.StatusCreated && json.Unmarshal(b, &u) == nil {
			code, _ := call(http.MethodPost, "/v1.0/users/"+u.ID+"/assignLicense", appGraph, assignBody([]string{licE3.ID}, nil), nil)
			count("license", code, http.StatusOK)
		}
		code, _ = call(http.MethodGet, "/v1.0/subscribedSkus", appGraph, nil, nil)
		count("graph subscribedSkus", code, http.StatusOK)
	})
	// Graph, delegated (GDAP roles checked under Graph's lock), and GDAP routes.
	run(func(_, _ int) {
		code, _ := call(http.MethodGet, "/v1.0/users?$top=5", delGraph, nil, nil)
		count("delegated users", code, http.StatusOK)
		code, _ = call(http.MethodPost, "/v1.0/domains", delGraph, map[string]any{"id": "d" + next() + ".example.com"}, nil)
		count("delegated domain", code, http.StatusCreated)
		code, _ = call(http.MethodGet, gdapPath, s.partnerGraphTokenQuiet(p), nil, nil)
		count("gdap list", code, http.StatusOK)
	})
	// Partner Center calling Graph with its lock held.
	run(func(w, i int) {
		code, _ := call(http.MethodGet, sh.cpath("/subscribedskus"), sh.tok, nil, nil)
		count("pc subscribedskus", code, http.StatusOK)
		consents := sh.cpath("/applicationconsents")
		app := newGUID()
		code, _ = call(http.MethodPost, consents, delPC, map[string]any{"applicationId": app, "applicationGrants": []any{
			map[string]any{"enterpriseApplicationId": "00000003-0000-0000-c000-000000000000", "scope": "User.Read.All"}}}, nil)
		count("delegated consent", code, http.StatusCreated)
		call(http.MethodDelete, consents+"/"+app, delPC, nil, nil)
		q := 200 + w*rounds + i
		code, _ = call(http.MethodPatch, sh.cpath("/subscriptions/"+e3), sh.tok, map[string]any{"quantity": q}, nil)
		count("quantity", code, http.StatusOK)
		code, b := call(http.MethodGet, sh.cpath("/profiles/billing"), sh.tok, nil, nil)
		var bp map[string]any
		if code == http.StatusOK && json.Unmarshal(b, &bp) == nil {
			bp["companyName"] = "Contoso " + next()
			etag, _ := bp["attributes"].(map[string]any)["etag"].(string)
			code, _ := call(http.MethodPut, sh.cpath("/profiles/billing"), sh.tok, bp, map[string]string{"If-Match": etag})
			count("billing", code, http.StatusOK)
		}
	})
	// Transitions with license transfer move the directory's licenses
	// (E3 users get E5) while Graph assigns E3.
	run(func(_, _ int) {
		code, _ := call(http.MethodPost, sh.cpath("/subscriptions/"+e3+"/transitions"), sh.tok, map[string]any{
			"toCatalogItemId": ciE5, "quantity": 1, "termDuration": "P1M", "billingCycle": "monthly",
			"transitionType": "transition_with_license_transfer"}, nil)
		count("transition", code, http.StatusCreated)
		code, _ = call(http.MethodPost, sh.cpath("/orders"), sh.tok, orderBody("monthly", line(ciBasic, 3, "termDuration", "P1M")), nil)
		count("order", code, http.StatusCreated)
	})
	// Customers come and go (Graph tenants with them).
	run(func(_, _ int) {
		code, b := call(http.MethodPost, "/v1/customers", sandbox.tok, customerBody("conc"+next()+".onmicrosoft.com", "US"), nil)
		var cu struct {
			ID string `json:"id"`
		}
		if code == http.StatusCreated && json.Unmarshal(b, &cu) == nil {
			code, _ := call(http.MethodDelete, "/v1/customers/"+cu.ID, sandbox.tok, nil, nil)
			count("customer deleted", code, http.StatusNoContent)
		}
	})
	// Login through the three parts.
	run(func(_, i int) {
		tenant := sh.cid
		if i%2 == 1 {
			tenant = domain
		}
		count("token", form(tenant, url.Values{"grant_type": {"client_credentials"}, "client_id": {p.ClientID},
			"client_secret": {p.ClientSecret}, "scope": {graphAud + "/.default"}}), http.StatusOK)
	})
	// The admin API.
	run(func(_, i int) {
		code, _ := call(http.MethodGet, "/_sim/state", "", nil, nil)
		count("state", code, http.StatusOK)
		code, _ = call(http.MethodPost, "/_sim/customers/"+sh.cid+"/users", "", map[string]any{
			"user_principal_name": "a" + next() + "@" + domain, "usage_location": "US", "licenses": []string{licE3.ID}}, nil)
		count("admin user", code, http.StatusCreated)
		code, _ = call(http.MethodPost, "/_sim/partners/"+p.TenantID+"/secrets", "", map[string]any{}, nil)
		count("secret", code, http.StatusCreated)
		call(http.MethodPost, "/_sim/settings", "", map[string]any{"graph_ru_scale": 1 + float64(i%2)}, nil)
	})

	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	select {
	case <-finished:
	case <-time.After(3 * time.Minute): // far past a slow machine under -race
		// The blocked requests would keep the test server from closing
		// (even after a panic, the cleanups run): dump the goroutines and
		// end the test binary.
		_ = pprof.Lookup("goroutine").WriteTo(os.Stderr, 2)
		fmt.Fprintln(os.Stderr, "FAIL TestPartsConcurrently: requests still running after 3 minutes: deadlock?")
		os.Exit(1)
	}
	if n := failures.Load(); n > 0 {
		t.Fatalf("%d failed requests:\n%s", n, strings.Join(problems, "\n"))
	}
	// Every kind of cross-part call got through at least once.
	for _, what := range []string{"graph user", "license", "graph subscribedSkus", "delegated users", "delegated domain", "gdap list",
		"pc subscribedskus", "delegated consent", "quantity", "billing", "transition", "order", "customer deleted", "token",
		"state", "admin user", "secret"} {
		if done[what] == 0 {
			t.Errorf("no %s succeeded", what)
		}
	}
	t.Logf("succeeded: %v", done)

	// The two halves of the seats still agree: subscribedSkus counts the
	// users holding each SKU.
	held := map[string]int{}
	next2 := "/v1.0/users?$top=999"
	for next2 != "" {
		code, _, b := s.do(http.MethodGet, next2, appGraph, nil, nil)
		if code != http.StatusOK {
			t.Fatalf("users: %d %s", code, b)
		}
		page := decode[struct {
			NextLink string `json:"@odata.nextLink"`
			Value    []struct {
				AssignedLicenses []struct {
					SkuID string `json:"skuId"`
				} `json:"assignedLicenses"`
			} `json:"value"`
		}](t, b)
		for _, u := range page.Value {
			for _, l := range u.AssignedLicenses {
				held[l.SkuID]++
			}
		}
		next2 = strings.TrimPrefix(page.NextLink, s.url)
	}
	code, _, b := s.do(http.MethodGet, "/v1.0/subscribedSkus", appGraph, nil, nil)
	skus := decode[struct {
		Value []struct {
			SkuID         string `json:"skuId"`
			ConsumedUnits int    `json:"consumedUnits"`
		} `json:"value"`
	}](t, b)
	if code != http.StatusOK || len(skus.Value) == 0 {
		t.Fatalf("subscribedSkus: %d %s", code, b)
	}
	for _, sku := range skus.Value {
		if sku.ConsumedUnits != held[sku.SkuID] {
			t.Errorf("%s: consumedUnits %d, users holding it %d", sku.SkuID, sku.ConsumedUnits, held[sku.SkuID])
		}
	}
}

// partnerGraphTokenQuiet is partnerGraphToken for goroutines other than
// the test's: it reports no failure itself (the call using it does).
func (s *testSim) partnerGraphTokenQuiet(p creds) string {
	resp, err := s.client.PostForm(s.url+"/"+p.TenantID+"/oauth2/v2.0/token", url.Values{
		"grant_type": {"client_credentials"}, "client_id": {p.ClientID}, "client_secret": {p.ClientSecret},
		"scope": {cloudProfiles[p.Cloud].GraphAudience + "/.default"}})
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	var body struct {
		AccessToken string `json:"access_token"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return body.AccessToken
}
