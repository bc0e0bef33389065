package apsmd

import (
	"context"
	"testing"

	"google.golang.org/grpc/metadata"
)

// FromContext reads the incoming metadata, or the Request WithRequest kept.
func TestFromContext(t *testing.T) {
	ctx := metadata.NewIncomingContext(context.Background(), metadata.Pairs(InstanceID, "i1", RequestPhase, "async", TransactionID, "t1"))
	r := FromContext(ctx)
	if r.InstanceID != "i1" || !r.Async() || r.TransactionID != "t1" || r.IdentityID != "" {
		t.Fatalf("read %+v", r)
	}
	kept := WithRequest(ctx, r)
	if got := FromContext(kept); got != r {
		t.Errorf("kept %+v, want %+v", got, r)
	}
	// What is kept is what is returned, not the metadata read again.
	other := WithRequest(ctx, Request{InstanceID: "i2"})
	if got := FromContext(other); got.InstanceID != "i2" {
		t.Errorf("the kept request was not used: %+v", got)
	}
	if got := FromContext(context.Background()); got != (Request{}) {
		t.Errorf("no metadata: %+v", got)
	}
}
