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
	fake := &countingInstances{}
	c := &TenantServiceCerts{Client: fake, TTL: time.Minute}
	ctx := context.Background()
	for range 3 {
		if _, err := c.ControllerCert(ctx, "i-1"); !errors.Is(err, ErrUnknownInstance) {
			t.Fatalf("%v", err)
		}
	}
	if fake.calls != 1 {
		t.Fatalf("%d lookups of an unknown id, want 1", fake.calls)
	}
	fake.known = "-----BEGIN CERTIFICATE-----\nAAEC\n-----END CERTIFICATE-----\n"
	c.Forget("i-1")
	der, err := c.ControllerCert(ctx, "i-1")
	if err != nil || len(der) != 3 || fake.calls != 2 {
		t.Fatalf("after Forget: %v %v, %d calls", der, err, fake.calls)
	}
	if _, err := c.ControllerCert(ctx, "i-1"); err != nil || fake.calls != 2 {
		t.Fatalf("a known certificate is not cached: %d calls", fake.calls)
	}
}
