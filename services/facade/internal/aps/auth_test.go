package aps

import (
	"context"
	"errors"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	tenantv1 "github.com/o365gateway/gateway/gen/go/o365/tenant/v1"
)

// countingInstances answers GetInstanceAuth: unknown until known is set.
type countingInstances struct {
	tenantv1.InstanceServiceClient
	calls int
	known string // PEM
}

func (c *countingInstances) GetInstanceAuth(context.Context, *tenantv1.GetInstanceAuthRequest, ...grpc.CallOption) (*tenantv1.GetInstanceAuthResponse, error) {
	c.calls++
	if c.known == "" {
		return nil, status.Error(codes.NotFound, "unknown")
	}
	return &tenantv1.GetInstanceAuthResponse{ControllerCertificatePem: c.known}, nil
}

// An unknown instance id is remembered briefly (a flood of made-up ids
// reaches the tenant service once), and forgotten at once when this
// replica registers the instance.
func TestUnknownInstancesAreCachedBrieflyAndForgotten(t *testing.T) {
	const id = "0d4c2bde-6a43-4a4c-9d49-2fb0c2f6f1a1"
	fake := &countingInstances{}
	c := &TenantServiceCerts{Client: fake, TTL: time.Minute}
	ctx := context.Background()
	for range 3 {
		if _, err := c.ControllerCert(ctx, id); !errors.Is(err, ErrUnknownInstance) {
			t.Fatalf("%v", err)
		}
	}
	if fake.calls != 1 {
		t.Fatalf("%d lookups of an unknown id, want 1", fake.calls)
	}
	// An id that is not a UUID is unknown without a lookup, and not cached.
	if _, err := c.ControllerCert(ctx, "not-an-instance"); !errors.Is(err, ErrUnknownInstance) || fake.calls != 1 || len(c.cache) != 1 {
		t.Fatalf("a malformed id: %v, %d calls, %d cached", err, fake.calls, len(c.cache))
	}
	fake.known = "-----BEGIN CERTIFICATE-----\nAAEC\n-----END CERTIFICATE-----\n"
	c.Forget(id)
	der, err := c.ControllerCert(ctx, id)
	if err != nil || len(der) != 3 || fake.calls != 2 {
		t.Fatalf("after Forget: %v %v, %d calls", der, err, fake.calls)
	}
	if _, err := c.ControllerCert(ctx, id); err != nil || fake.calls != 2 {
		t.Fatalf("a known certificate is not cached: %d calls", fake.calls)
	}
}

// A case variant of aps.x509.controller is refused: the facade and the
// services must read the same certificate.
func TestControllerFromBodyIsCaseSensitive(t *testing.T) {
	pemText := "-----BEGIN CERTIFICATE-----\\nAAEC\\n-----END CERTIFICATE-----\\n"
	if der, err := controllerFromBody([]byte(`{"aps":{"x509":{"controller":"` + pemText + `"}}}`)); err != nil || len(der) != 3 {
		t.Fatalf("%v %v", der, err)
	}
	for _, body := range []string{
		`{"aps":{"x509":{"controller":"` + pemText + `","Controller":"` + pemText + `"}}}`,
		`{"APS":{"x509":{"controller":"` + pemText + `"}}}`,
		`{"aps":{"x509":{}}}`, `[]`, `{"aps":{"x509":{"controller":7}}}`,
	} {
		if _, err := controllerFromBody([]byte(body)); err == nil {
			t.Errorf("accepted %s", body)
		}
	}
}
