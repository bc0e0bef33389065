package grpcserver_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"

	apsv1 "github.com/o365gateway/gateway/gen/go/o365/aps/v1"
	tenantv1 "github.com/o365gateway/gateway/gen/go/o365/tenant/v1"
	userv1 "github.com/o365gateway/gateway/gen/go/o365/user/v1"
	"github.com/o365gateway/gateway/services/shared/apierr"
	"github.com/o365gateway/gateway/services/shared/audit"
	"github.com/o365gateway/gateway/services/shared/grpcserver"
)

// A call's entry: the APS metadata, the caller, the resource's id and the
// outcome; nothing from the body but ids, and no value that is not an id.
func TestCallEntry(t *testing.T) {
	ctx := metadata.NewIncomingContext(context.Background(), metadata.Pairs(
		"aps-instance-id", "0d4c2bde-6a43-4a4c-9d49-2fb0c2f6f1a1", "aps-request-phase", "ASYNC",
		"aps-transaction-id", "tx-1", "aps-identity-id", "alice@example.com", "aps-actor-id", "42",
		"aps-account-hierarchy", "1,1001,1002"))
	req := &tenantv1.ProvisionTenantRequest{Tenant: &tenantv1.Tenant{Aps: &apsv1.Meta{Id: "5b0e0f5e-52f1-4c55-8a39-7a1f7e9d1c11"},
		Company: &tenantv1.Company{Name: "Contoso"}, AdminPassword: "hunter2"}}
	e := grpcserver.CallEntry(ctx, tenantv1.TenantService_ProvisionTenant_FullMethodName, req, "spiffe://o365gw.test/facade",
		apierr.New(codes.FailedPrecondition, apierr.DomainAlreadyTaken, "taken"))
	want := audit.Entry{Kind: audit.KindCall, InstanceID: "0d4c2bde-6a43-4a4c-9d49-2fb0c2f6f1a1",
		Caller: audit.Caller{Identity: "spiffe://o365gw.test/facade", APSIdentityID: audit.NotAnID, APSActorID: "42",
			APSAccountHierarchy: "1,1001,1002", APSTransactionID: "tx-1"},
		Resource:  audit.Resource{Type: "tenant", ID: "5b0e0f5e-52f1-4c55-8a39-7a1f7e9d1c11"},
		Operation: audit.Operation{Method: tenantv1.TenantService_ProvisionTenant_FullMethodName, Phase: "async"},
		Outcome:   audit.Outcome{Code: "FailedPrecondition", Reason: apierr.DomainAlreadyTaken}}
	if fmt.Sprint(e) != fmt.Sprint(want) {
		t.Fatalf("got  %+v\nwant %+v", e, want)
	}
	for _, leak := range []string{"Contoso", "hunter2", "alice"} {
		if strings.Contains(fmt.Sprintf("%+v", e), leak) {
			t.Errorf("the entry carries %q", leak)
		}
	}
	// The id field wins; an instance_id field names the instance when no
	// metadata does; a tool's call has no APS caller.
	e = grpcserver.CallEntry(context.Background(), userv1.UserService_ConfigureUser_FullMethodName,
		&userv1.ConfigureUserRequest{Id: "u-1"}, "spiffe://o365gw.test/tool/ops", nil)
	if e.Resource != (audit.Resource{Type: "user", ID: "u-1"}) || e.Outcome.Code != "OK" || e.Caller != (audit.Caller{Identity: "spiffe://o365gw.test/tool/ops"}) {
		t.Fatalf("configure: %+v", e)
	}
	e = grpcserver.CallEntry(context.Background(), userv1.UserService_SyncUsers_FullMethodName, &userv1.SyncUsersRequest{InstanceId: "inst-9", TenantId: "t"}, "", nil)
	if e.InstanceID != "inst-9" || e.Resource.ID != "" {
		t.Fatalf("sync: %+v", e)
	}
	e = grpcserver.CallEntry(context.Background(), "/o365.tenant.v1.TenantService/GetTenant", &tenantv1.GetTenantRequest{Id: "bob@contoso.com"}, "", errors.New("boom"))
	if e.Resource.ID != audit.NotAnID || e.Outcome.Code != "Internal" {
		t.Fatalf("not an id: %+v", e)
	}
}
