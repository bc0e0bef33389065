package audit

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	tenantv1 "github.com/o365gateway/gateway/gen/go/o365/tenant/v1"
	userv1 "github.com/o365gateway/gateway/gen/go/o365/user/v1"
)

func TestIsChange(t *testing.T) {
	for method, want := range map[string]bool{
		tenantv1.TenantService_ProvisionTenant_FullMethodName:           true,
		tenantv1.TenantService_ConfigureTenant_FullMethodName:           true,
		tenantv1.TenantService_NotifyTenantLink_FullMethodName:          true,
		tenantv1.TenantService_SynchronizeTenant_FullMethodName:         true,
		tenantv1.DomainService_VerifyDomain_FullMethodName:              true,
		tenantv1.InstanceService_CreateInstance_FullMethodName:          true,
		userv1.UserService_ResetUserPassword_FullMethodName:             true,
		userv1.UserService_SyncUsers_FullMethodName:                     true,
		"/o365.admin.v1.AdminService/RotateKeys":                        true,
		"/o365.future.v1.FutureService/Frobnicate":                      true, // unknown: a change
		"/o365.future.v1.FutureService/Getaway":                         true, // not a Get method
		tenantv1.TenantService_GetTenant_FullMethodName:                 false,
		tenantv1.TenantService_ResolveTenant_FullMethodName:             false,
		tenantv1.InstanceService_CheckDomainAvailability_FullMethodName: false,
		tenantv1.InstanceService_GetInstanceAuth_FullMethodName:         false,
		tenantv1.InstanceService_IssueAccessToken_FullMethodName:        false,
		"/o365.subscription.v1.SubscriptionService/ListOffers":          false,
		"/o365.admin.v1.AdminService/ExportAuditEntries":                false,
		"/grpc.health.v1.Health/Check":                                  false,
		"/grpc.reflection.v1.ServerReflection/ServerReflectionInfo":     false,
	} {
		if got := IsChange(method); got != want {
			t.Errorf("IsChange(%s) = %v, want %v", method, got, want)
		}
	}
}

// Every field is covered by the MAC, and the encoding has no ambiguity
// between neighbouring fields.
func TestCanonicalCoversEveryField(t *testing.T) {
	k, err := NewKey(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	base := Entry{Seq: 3, Time: time.Unix(1700000000, 123456000), Service: "tenant", Kind: KindCall, InstanceID: "i",
		Caller:   Caller{Identity: "a", APSIdentityID: "b", APSActorID: "c", APSAccountHierarchy: "d", APSTransactionID: "e"},
		Resource: Resource{Type: "tenant", ID: "r"}, Operation: Operation{Method: "/m/M", Phase: "sync", Attempt: 1},
		Outcome: Outcome{Code: "OK", Reason: "x"}, MSRequestIDs: []string{"s=1"}, KeyID: k.ID, PrevMAC: "p"}
	mac := k.Seal(&base)
	edits := []func(e *Entry){
		func(e *Entry) { e.Seq++ },
		func(e *Entry) { e.Time = e.Time.Add(time.Microsecond) },
		func(e *Entry) { e.Service = "user" },
		func(e *Entry) { e.Kind = KindJob },
		func(e *Entry) { e.InstanceID = "j" },
		func(e *Entry) { e.Caller.Identity = "z" },
		func(e *Entry) { e.Caller.APSIdentityID = "z" },
		func(e *Entry) { e.Caller.APSActorID = "z" },
		func(e *Entry) { e.Caller.APSAccountHierarchy = "z" },
		func(e *Entry) { e.Caller.APSTransactionID = "z" },
		func(e *Entry) { e.Resource.Type = "user" },
		func(e *Entry) { e.Resource.ID = "z" },
		func(e *Entry) { e.Operation.Method = "/m/N" },
		func(e *Entry) { e.Operation.Phase = "async" },
		func(e *Entry) { e.Operation.Attempt = 2 },
		func(e *Entry) { e.Outcome.Code = "Internal" },
		func(e *Entry) { e.Outcome.Reason = "y" },
		func(e *Entry) { e.MSRequestIDs = nil },
		func(e *Entry) { e.MSRequestIDs = []string{"s=", "1"} },
		func(e *Entry) { e.KeyID = "other" },
		func(e *Entry) { e.PrevMAC = "q" },
		func(e *Entry) { e.Caller.Identity, e.Caller.APSIdentityID = "ab", "" }, // shifting bytes between fields
	}
	for i, edit := range edits {
		e := base
		e.MSRequestIDs = append([]string(nil), base.MSRequestIDs...)
		edit(&e)
		if k.Seal(&e) == mac {
			t.Errorf("edit %d is not covered by the MAC", i)
		}
	}
	base.MAC = mac
	if !k.Check(&base) {
		t.Fatal("the sealed entry does not check")
	}
}

func TestKeyNeverPrints(t *testing.T) {
	raw := []byte("0123456789abcdef0123456789abcdef")
	k, err := NewKey(raw)
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("k", "key", k)
	for _, s := range []string{fmt.Sprint(k), fmt.Sprintf("%+v", k), fmt.Sprintf("%#v", k), fmt.Sprintf("%v", *k), logs.String()} {
		if strings.Contains(s, "0123456789") || strings.Contains(s, "MDEyMzQ1") || strings.Contains(s, "48 49 50") {
			t.Errorf("the key shows: %s", s)
		}
	}
	if _, err := ParseKey("dG9vIHNob3J0"); err == nil {
		t.Error("a short key accepted")
	}
	k2, _ := NewKey(append(raw[:31:31], 'X'))
	if k2.ID == k.ID {
		t.Error("two keys, one id")
	}
}

func TestParseHead(t *testing.T) {
	mac := strings.Repeat("ab", 32)
	h, err := ParseHead("12:" + strings.ToUpper(mac))
	if err != nil || h != (Head{Seq: 12, MAC: mac}) || h.String() != "12:"+mac {
		t.Fatalf("%+v %v", h, err)
	}
	for _, bad := range []string{"", "12", "x:" + mac, "12:abc", "-1:" + mac, "12:" + strings.Repeat("zz", 32)} {
		if _, err := ParseHead(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
