package graph

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/o365gateway/gateway/services/shared/clouds"
)

// Every segment of every path the client calls is either a path word
// (kept in the metrics' operation) or an id the caller passed (written
// {id}): a call added without its words fails here.
func TestPathWordsCoverEveryCall(t *testing.T) {
	var mu sync.Mutex
	var paths []string
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		paths = append(paths, r.URL.Path)
		mu.Unlock()
		_, _ = w.Write([]byte(`{}`))
	}))
	defer srv.Close()
	e := clouds.Endpoints{GraphURL: srv.URL + "/v1.0", GraphAudience: "https://graph.microsoft.com"}
	c := New(e, staticToken{}, "tenant-1", srv.Client(), Options{MaxRetries: -1})
	ctx := context.Background()
	ids := []string{"ID1", "ann@ID2.example.com", "ID2.example.com"}
	_, _ = c.AddDomain(ctx, "ID2.example.com")
	_, _ = c.Domains(ctx)
	_, _ = c.GetDomain(ctx, "ID2.example.com")
	_, _ = c.VerificationRecords(ctx, "ID2.example.com")
	_, _ = c.VerifyDomain(ctx, "ID2.example.com")
	_ = c.DeleteDomain(ctx, "ID2.example.com")
	_, _ = c.CreateRelationship(ctx, Relationship{})
	_, _ = c.Relationship(ctx, "ID1")
	_, _ = c.CustomerRelationships(ctx, "ID1")
	_ = c.LockForApproval(ctx, "ID1")
	_ = c.SetAutoExtend(ctx, &Relationship{ID: "ID1"}, "P180D")
	_, _ = c.ApplicationSecrets(ctx, "ID1")
	_, _ = c.CreateUser(ctx, User{})
	_, _ = c.GetUser(ctx, "ann@ID2.example.com")
	_, _ = c.FindUser(ctx, "ann@ID2.example.com")
	_, _ = c.ListUsers(ctx)
	_ = c.UpdateUser(ctx, "ID1", map[string]any{"accountEnabled": false})
	_ = c.DeleteUser(ctx, "ID1")
	_, _ = c.AssignLicense(ctx, "ID1", []string{"ID1"}, nil)
	_, _ = c.SubscribedSKUs(ctx)
	if len(paths) < 20 {
		t.Fatalf("only %d calls reached the server", len(paths))
	}
	for _, p := range paths {
		for _, seg := range strings.Split(strings.Trim(p, "/"), "/") {
			if !slices.Contains(pathWords, seg) && !slices.Contains(ids, seg) {
				t.Errorf("%s: the segment %q is neither a path word nor an id", p, seg)
			}
		}
	}
}
