package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	adminv1 "github.com/o365gateway/gateway/gen/go/o365/admin/v1"
	tenantv1 "github.com/o365gateway/gateway/gen/go/o365/tenant/v1"
	"github.com/o365gateway/gateway/services/shared/audit"
	"github.com/o365gateway/gateway/services/shared/sqldb"
)

// connAs is a connection to the service with name's certificate.
func (e *env) connAs(name string) *grpc.ClientConn {
	e.t.Helper()
	conn, err := grpc.NewClient(e.addr, meshDial(e.t, e.pki, name))
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { conn.Close() })
	return conn
}

// A change made through gRPC with the APS controller's metadata is
// recorded with its caller, the asynchronous outcome with Microsoft's
// request ids, a refused change too; reads are not. Only the operators'
// tools named by the policy file read the log, within their instances.
func TestAuditRecordsChangesWithTheirCaller(t *testing.T) {
	a := uuid.NewString()
	e := newEnvWith(t, envOptions{mesh: true, policy: `{"rules":[
		{"identity":"tool/auditor","methods":["/o365.admin.v1.AdminService/*"],"instances":["*"]},
		{"identity":"tool/alice","methods":["/o365.admin.v1.AdminService/ListAuditEntries"],"instances":["` + a + `"]}]}`})
	const identity, actor, hierarchy, tx = "8a3f0f7c-0c1e-4b55-b0a4-3d2a9a0d7e11", "77", "1,1001,1002", "c5a4c3a0-5f0e-4f0b-a1c9-2b6d1f0a9e42"
	apsCtx := func(instanceID, phase string) context.Context {
		return metadata.AppendToOutgoingContext(context.Background(), "aps-instance-id", instanceID,
			"aps-controller-uri", "https://apsc.example:6308/", "aps-request-phase", phase, "aps-transaction-id", tx,
			"aps-identity-id", identity, "aps-actor-id", actor, "aps-account-hierarchy", hierarchy)
	}
	inst, err := e.installID(a, nil)
	if err != nil {
		t.Fatal(err)
	}
	other := e.mustInstall()

	// A provisioning as APSC drives it, then reads.
	tn := newTenant(subdomain())
	var hdr metadata.MD
	if _, err := e.tenants.ProvisionTenant(apsCtx(a, "sync"), &tenantv1.ProvisionTenantRequest{Tenant: tn}, grpc.Header(&hdr)); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); len(hdr.Get("aps-async-info")) > 0; {
		if time.Now().After(deadline) {
			t.Fatal("provisioning did not finish")
		}
		time.Sleep(100 * time.Millisecond)
		hdr = nil
		if _, err := e.tenants.ProvisionTenant(apsCtx(a, "async"), &tenantv1.ProvisionTenantRequest{Tenant: tn}, grpc.Header(&hdr)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.tenants.GetTenant(apsCtx(a, "sync"), &tenantv1.GetTenantRequest{Id: tn.GetAps().GetId()}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.instances.GetInstance(apsCtx(a, "sync"), &tenantv1.GetInstanceRequest{Id: inst.appID}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.instances.CheckDomainAvailability(apsCtx(a, "sync"), &tenantv1.CheckDomainAvailabilityRequest{Id: inst.appID, Subdomain: subdomain()}); err != nil {
		t.Fatal(err)
	}
	// A change the policy refuses.
	mallory := tenantv1.NewTenantServiceClient(e.connAs("tool/mallory"))
	_, err = mallory.UnprovisionTenant(apsCtx(a, ""), &tenantv1.UnprovisionTenantRequest{Id: tn.GetAps().GetId()})
	if status.Code(err) != codes.PermissionDenied {
		t.Fatalf("mallory unprovisions: %v", err)
	}

	// The facade and the other services may not read the log.
	for _, name := range []string{"facade", "subscription", "user"} {
		_, err := adminv1.NewAdminServiceClient(e.connAs(name)).ListAuditEntries(apsCtx(a, ""), &adminv1.ListAuditEntriesRequest{InstanceId: a})
		if status.Code(err) != codes.PermissionDenied {
			t.Errorf("%s reads the audit log: %v", name, err)
		}
	}
	auditor := adminv1.NewAdminServiceClient(e.connAs("tool/auditor"))
	ctx := context.Background()
	rot, err := auditor.RotateKeys(ctx, &adminv1.RotateKeysRequest{})
	if err != nil || rot.GetActiveKey() != "default" {
		t.Fatalf("rotate keys: %v %v", rot, err)
	}

	// Every entry, two at a time.
	var entries []*adminv1.AuditEntry
	req := &adminv1.ListAuditEntriesRequest{PageSize: 2}
	for {
		page, err := auditor.ListAuditEntries(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		entries = append(entries, page.GetEntries()...)
		if page.GetNextPageToken() == "" {
			break
		}
		req.PageToken = page.GetNextPageToken()
	}
	find := func(method, phase string) []*adminv1.AuditEntry {
		var out []*adminv1.AuditEntry
		for _, en := range entries {
			if en.GetOperation().GetMethod() == method && (phase == "*" || en.GetOperation().GetPhase() == phase) {
				out = append(out, en)
			}
		}
		return out
	}
	apsCaller := func(what string, en *adminv1.AuditEntry) {
		t.Helper()
		c := en.GetCaller()
		if c.GetIdentity() != "spiffe://o365gw.test/facade" || c.GetApsIdentityId() != identity || c.GetApsActorId() != actor ||
			c.GetApsAccountHierarchy() != hierarchy || c.GetApsTransactionId() != tx || en.GetInstanceId() != a || en.GetService() != "tenant" {
			t.Errorf("%s: caller %v of instance %s", what, c, en.GetInstanceId())
		}
	}
	created := find(tenantv1.InstanceService_CreateInstance_FullMethodName, "*")
	if len(created) != 2 || created[0].GetResource().GetType() != "instance" || created[0].GetResource().GetId() != inst.appID ||
		created[0].GetCaller().GetIdentity() != "spiffe://o365gw.test/facade" || created[0].GetOutcome().GetCode() != "OK" {
		t.Fatalf("CreateInstance entries %v", created)
	}
	sync, async := find(tenantv1.TenantService_ProvisionTenant_FullMethodName, "sync"), find(tenantv1.TenantService_ProvisionTenant_FullMethodName, "async")
	if len(sync) != 1 || len(async) == 0 || sync[0].GetResource().GetId() != tn.GetAps().GetId() || sync[0].GetResource().GetType() != "tenant" {
		t.Fatalf("ProvisionTenant entries: sync %v, async %v", sync, async)
	}
	apsCaller("the sync provision", sync[0])
	apsCaller("an async re-send", async[0])
	job := find("tenant.provision.v2", "*")
	if len(job) != 1 || job[0].GetKind() != audit.KindJob || job[0].GetResource().GetId() != tn.GetAps().GetId() ||
		job[0].GetOutcome().GetCode() != "OK" || len(job[0].GetMsRequestIds()) == 0 || job[0].GetCaller().GetIdentity() != "spiffe://o365gw.test/tenant" {
		t.Fatalf("the job's outcome: %v", job)
	}
	refused := find(tenantv1.TenantService_UnprovisionTenant_FullMethodName, "*")
	if len(refused) != 1 || refused[0].GetOutcome().GetCode() != "PermissionDenied" || refused[0].GetOutcome().GetReason() != "Forbidden" ||
		refused[0].GetCaller().GetIdentity() != "spiffe://o365gw.test/tool/mallory" {
		t.Fatalf("the refused change: %v", refused)
	}
	rotated := find("/o365.admin.v1.AdminService/RotateKeys", "*")
	if len(rotated) != 1 || rotated[0].GetCaller().GetIdentity() != "spiffe://o365gw.test/tool/auditor" || rotated[0].GetResource().GetType() != "admin" {
		t.Fatalf("the key rotation: %v", rotated)
	}
	for _, read := range []string{tenantv1.TenantService_GetTenant_FullMethodName, tenantv1.InstanceService_GetInstance_FullMethodName,
		tenantv1.InstanceService_CheckDomainAvailability_FullMethodName, "/o365.admin.v1.AdminService/ListAuditEntries"} {
		if n := len(find(read, "*")); n != 0 {
			t.Errorf("%d entries of the read %s", n, read)
		}
	}

	// The export has the same entries as JSON lines, without personal data.
	exp, err := auditor.ExportAuditEntries(ctx, &adminv1.ExportAuditEntriesRequest{})
	if err != nil || int(exp.GetCount()) != len(entries) || exp.GetNextPageToken() != "" {
		t.Fatalf("export: %d lines of %d, %v", exp.GetCount(), len(entries), err)
	}
	lines := bytes.Split(bytes.TrimSpace(exp.GetJsonl()), []byte("\n"))
	var last audit.Entry
	if err := json.Unmarshal(lines[len(lines)-1], &last); err != nil || len(lines) != len(entries) || last.Seq != entries[len(entries)-1].GetSeq() {
		t.Fatalf("export lines: %d, last %+v, %v", len(lines), last, err)
	}
	for _, pii := range []string{"Contoso", "contoso.example", "Ann", "Redmond", e.partner.ClientSecret} {
		if bytes.Contains(exp.GetJsonl(), []byte(pii)) {
			t.Errorf("the export carries %q", pii)
		}
	}
	// A tool limited to an instance reads its entries only.
	alice := adminv1.NewAdminServiceClient(e.connAs("tool/alice"))
	mine, err := alice.ListAuditEntries(ctx, &adminv1.ListAuditEntriesRequest{InstanceId: a, PageSize: 1000})
	if err != nil || len(mine.GetEntries()) == 0 {
		t.Fatalf("alice lists instance A: %v", err)
	}
	for _, en := range mine.GetEntries() {
		if en.GetInstanceId() != a {
			t.Fatalf("alice got an entry of %s", en.GetInstanceId())
		}
	}
	for _, r := range []*adminv1.ListAuditEntriesRequest{{}, {InstanceId: other.id}} {
		if _, err := alice.ListAuditEntries(ctx, r); status.Code(err) != codes.PermissionDenied {
			t.Errorf("alice lists %q: %v", r.GetInstanceId(), err)
		}
		// Naming her instance in the metadata does not widen an empty filter.
		if _, err := alice.ListAuditEntries(apsCtx(a, ""), r); status.Code(err) != codes.PermissionDenied {
			t.Errorf("alice lists %q with instance A in the metadata: %v", r.GetInstanceId(), err)
		}
	}

	// The chain verifies with the key against the head the service gives.
	head, err := auditor.GetAuditHead(ctx, &adminv1.GetAuditHeadRequest{})
	if err != nil || head.GetSeq() < int64(len(entries)) {
		t.Fatalf("head %v, %v", head, err)
	}
	key, err := audit.LoadKeyFile(e.auditKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	db, err := sqldb.Open(ctx, e.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	r, err := audit.Verify(ctx, sqldb.AuditLog{DB: db}, audit.NewKeyring(key), &audit.Head{Seq: head.GetSeq(), MAC: head.GetMac()})
	if err != nil || !r.OK() {
		t.Fatalf("verify: %+v %v", r, err)
	}
	if strings.Contains(e.logs.String(), "audit entry not written") {
		t.Error("an audit entry was lost")
	}
}
