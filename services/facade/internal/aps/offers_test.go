package aps_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	subscriptionv1 "github.com/o365gateway/gateway/gen/go/o365/subscription/v1"

	"github.com/o365gateway/gateway/services/facade/internal/aps"
	"github.com/o365gateway/gateway/services/facade/internal/gateway"
)

// fakeCatalog sells offers only in CN, as a china-cloud instance does.
type fakeCatalog struct {
	subscriptionv1.UnimplementedSubscriptionServiceServer
}

func (fakeCatalog) ListOffers(_ context.Context, r *subscriptionv1.ListOffersRequest) (*subscriptionv1.ListOffersResponse, error) {
	out := &subscriptionv1.ListOffersResponse{Offers: []*subscriptionv1.Offer{}}
	if r.GetCountry() == "CN" {
		out.Offers = append(out.Offers, &subscriptionv1.Offer{Id: "6B4E1D6A-8F4C-4C2B-9D5E-2A1C0F3E7B11", Name: "Office 365 E1", Kind: "legacy"})
	}
	return out, nil
}

func (fakeCatalog) UnprovisionSubscription(context.Context, *subscriptionv1.UnprovisionSubscriptionRequest) (*subscriptionv1.UnprovisionSubscriptionResponse, error) {
	return &subscriptionv1.UnprovisionSubscriptionResponse{}, nil
}

func (fakeCatalog) NotifySubscriptionLink(context.Context, *subscriptionv1.NotifySubscriptionLinkRequest) (*subscriptionv1.NotifySubscriptionLinkResponse, error) {
	return &subscriptionv1.NotifySubscriptionLinkResponse{}, nil
}

// An empty offers list is 200 [], never a 204 (which an empty list
// answer was, as empty as an unprovision's), while empty answers stay 204.
func TestEmptyListIsAnArray(t *testing.T) {
	gs := grpc.NewServer()
	subscriptionv1.RegisterSubscriptionServiceServer(gs, fakeCatalog{})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = gs.Serve(lis) }()
	t.Cleanup(gs.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	rest, err := gateway.New(context.Background(), gateway.Upstreams{Subscription: conn}, aps.MuxOptions(time.Second)...)
	if err != nil {
		t.Fatal(err)
	}
	const sub = "/subscriptions/6f0c1a52-0000-4000-8000-0000000000bb"
	for _, c := range []struct {
		method, path string
		body         string
		status       int
		want         string
	}{
		{"GET", "/app/" + instanceID + "/offers?country=US", "", http.StatusOK, "[]"},
		{"GET", "/app/" + instanceID + "/offers?country=CN", "", http.StatusOK, `[{"id":"6B4E1D6A-8F4C-4C2B-9D5E-2A1C0F3E7B11"`},
		{"DELETE", sub, "", http.StatusNoContent, ""},
		{"POST", sub + "/addons", `{"aps":{"id":"x"}}`, http.StatusNoContent, ""},
	} {
		req := httptest.NewRequest(c.method, c.path, strings.NewReader(c.body))
		req.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		rest.ServeHTTP(w, req)
		got := strings.TrimSpace(w.Body.String())
		// (204 bodies are dropped by Handler's writer, not by the mux.)
		if w.Code != c.status || !strings.HasPrefix(got, c.want) || (c.want == "[]" && got != "[]") {
			t.Errorf("%s %s: %d %q, want %d %q", c.method, c.path, w.Code, got, c.status, c.want)
		}
	}
}
