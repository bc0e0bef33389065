package graph

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/o365gateway/gateway/services/shared/budget"
	"github.com/o365gateway/gateway/services/shared/clouds"
)

type staticToken struct{}

func (staticToken) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{Token: "graph-token", ExpiresOn: time.Now().Add(time.Hour)}, nil
}

// An @odata.nextLink that points at another host is not followed: the
// bearer token never leaves the Graph endpoint.
func TestNextLinkStaysOnGraphHost(t *testing.T) {
	var stolen atomic.Int32
	evil := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" {
			stolen.Add(1)
		}
		fmt.Fprint(w, `{"value":[]}`)
	}))
	defer evil.Close()
	var graphURL string
	g := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Query().Get("page") {
		case "":
			fmt.Fprintf(w, `{"value":[{"id":"1","userPrincipalName":"a@x"}],"@odata.nextLink":"%s/v1.0/users?page=2"}`, graphURL)
		case "2":
			fmt.Fprintf(w, `{"value":[{"id":"2","userPrincipalName":"b@x"}],"@odata.nextLink":"%s/v1.0/users?page=3"}`, evil.URL)
		}
	}))
	defer g.Close()
	graphURL = g.URL
	e := clouds.Endpoints{GraphURL: g.URL + "/v1.0", GraphAudience: "https://graph.microsoft.com"}
	// One transport that trusts both test servers.
	tr := g.Client().Transport.(*http.Transport).Clone()
	tr.TLSClientConfig.RootCAs.AddCert(evil.Certificate())
	c := New(e, staticToken{}, "tenant-1", &http.Client{Transport: tr}, Options{MaxRetries: -1})
	users, err := c.ListUsers(context.Background())
	if err == nil {
		t.Fatalf("a foreign nextLink was followed: %d users", len(users))
	}
	if stolen.Load() != 0 {
		t.Fatal("the bearer token was sent to a foreign host")
	}
	// A link on the Graph host itself is followed.
	if _, err := c.resolve(g.URL + "/v1.0/users?page=2"); err != nil {
		t.Fatalf("own nextLink refused: %v", err)
	}
	for _, bad := range []string{evil.URL + "/v1.0/users", "http://" + g.Listener.Addr().String() + "/v1.0/users", g.URL + "/beta/users"} {
		if _, err := c.resolve(bad); err == nil {
			t.Fatalf("%s accepted", bad)
		}
	}
}

// recordingStore is a budget.Store that records the charges.
type recordingStore struct {
	mu   sync.Mutex
	keys []string
}

func (r *recordingStore) Charge(_ context.Context, key string, _ budget.Rate, _ float64) (time.Duration, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.keys = append(r.keys, key)
	return 0, nil
}

func (r *recordingStore) Lower(context.Context, string, budget.Rate, float64) error { return nil }

// Every attempt is charged to the budgets of the application and tenant:
// a write to the writes and the resource units, a read to the resource
// units; a retried write counts twice, as at Graph.
func TestEveryAttemptIsChargedToTheSharedBudget(t *testing.T) {
	var calls atomic.Int32
	g := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPatch && calls.Add(1) == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		if r.Method == http.MethodGet {
			fmt.Fprint(w, `{"id":"1","userPrincipalName":"a@x"}`)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer g.Close()
	e := clouds.Endpoints{GraphURL: g.URL + "/v1.0", GraphAudience: "https://graph.microsoft.com"}
	store := &recordingStore{}
	c := New(e, staticToken{}, "tenant-1", g.Client(), Options{MaxRetries: 2, RetryDelay: time.Millisecond,
		Budget: &budget.Limiter{Store: store}, BudgetKey: "app-1/tenant-1"})
	if err := c.UpdateUser(context.Background(), "1", map[string]any{"displayName": "x"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetUser(context.Background(), "1"); err != nil {
		t.Fatal(err)
	}
	want := []string{"graph/writes/app-1/tenant-1", "graph/ru/app-1/tenant-1", "graph/writes/app-1/tenant-1", "graph/ru/app-1/tenant-1", "graph/ru/app-1/tenant-1"}
	if fmt.Sprint(store.keys) != fmt.Sprint(want) {
		t.Fatalf("charges %v, want %v", store.keys, want)
	}
}

// A collection whose @odata.nextLink comes back is an error, not an
// endless loop: every paged list goes through listAll.
func TestRepeatedNextLinkEnds(t *testing.T) {
	var calls atomic.Int32
	var graphURL string
	g := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		fmt.Fprintf(w, `{"value":[{"id":"r1","displayName":"x"}],"@odata.nextLink":"%s/v1.0/tenantRelationships/delegatedAdminRelationships?page=2"}`, graphURL)
	}))
	defer g.Close()
	graphURL = g.URL
	e := clouds.Endpoints{GraphURL: g.URL + "/v1.0", GraphAudience: "https://graph.microsoft.com"}
	c := New(e, staticToken{}, "partner", g.Client(), Options{MaxRetries: -1})
	if rels, err := c.CustomerRelationships(context.Background(), "c1"); err == nil || len(rels) != 0 {
		t.Fatalf("a repeated link was followed: %d relationships, %v", len(rels), err)
	}
	if n := calls.Load(); n != 2 {
		t.Fatalf("%d requests, want 2 (the first page and the link, once)", n)
	}
}
