package authz_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"

	tenantv1 "github.com/o365gateway/gateway/gen/go/o365/tenant/v1"
	"github.com/o365gateway/gateway/services/shared/apierr"
	"github.com/o365gateway/gateway/services/shared/authz"
)

const (
	getTenant = "/o365.tenant.v1.TenantService/GetTenant"
	resolve   = "/o365.tenant.v1.InstanceService/ResolveInstance"
)

func TestAuthorize(t *testing.T) {
	p := authz.New("o365gw.test", nil,
		authz.Rule{Identity: "facade", Methods: []string{authz.Any}, Instances: []string{authz.Any}},
		authz.Rule{Identity: "user", Methods: []string{resolve}, Instances: []string{authz.Any}},
		authz.Rule{Identity: "spiffe://o365gw.test/tool/alice", Methods: []string{"/o365.tenant.v1.TenantService/*"}, Instances: []string{"A"}},
	)
	id := func(name string) string { return "spiffe://o365gw.test/" + name }
	for _, c := range []struct {
		who, method string
		instances   []string
		ok          bool
	}{
		{"facade", getTenant, []string{"A"}, true},
		{"facade", getTenant, nil, true},
		{"user", resolve, []string{"B"}, true},
		{"user", getTenant, []string{"B"}, false}, // not its method
		{"tool/alice", getTenant, []string{"A"}, true},
		{"tool/alice", getTenant, []string{"B"}, false},      // not its instance
		{"tool/alice", getTenant, []string{"A", "B"}, false}, // metadata A, body B
		{"tool/alice", getTenant, nil, false},                // names none
		{"tool/alice", resolve, []string{"A"}, false},        // not its service
		{"tool/mallory", getTenant, []string{"A"}, false},    // unknown
		{"tool/mallory", "/grpc.health.v1.Health/Check", nil, true},
	} {
		err := p.Authorize(id(c.who), c.method, c.instances)
		if (err == nil) != c.ok {
			t.Errorf("%s %s %v: %v", c.who, c.method, c.instances, err)
		}
		if err != nil && apierr.From(err).Code != codes.PermissionDenied {
			t.Errorf("refusal code %v", apierr.From(err).Code)
		}
	}
}

func TestInstancesOfACall(t *testing.T) {
	ctx := metadata.NewIncomingContext(context.Background(), metadata.Pairs("aps-instance-id", "A"))
	got := authz.Instances(ctx, &tenantv1.ResolveInstanceRequest{InstanceId: "B"})
	if len(got) != 2 || got[0] != "A" || got[1] != "B" {
		t.Fatalf("%v", got)
	}
	if got := authz.Instances(context.Background(), &tenantv1.GetTenantRequest{Id: "x"}); len(got) != 0 {
		t.Fatalf("%v", got)
	}
}

func TestLoadFile(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "p.json")
	os.WriteFile(good, []byte(`{"rules":[{"identity":"tool/ops","methods":["*"],"instances":["*"]}]}`), 0o600)
	if rules, err := authz.LoadFile(good); err != nil || len(rules) != 1 {
		t.Fatalf("%v %v", rules, err)
	}
	for _, bad := range []string{`{"rules":[{"identity":"x","methods":["*"]}]}`, `{"rulez":[]}`, `not json`} {
		os.WriteFile(good, []byte(bad), 0o600)
		if _, err := authz.LoadFile(good); err == nil {
			t.Errorf("accepted %s", bad)
		}
	}
}
