// Package authztest checks services' built-in authorization rules in their
// tests.
package authztest

import (
	"testing"

	"google.golang.org/grpc"

	"github.com/o365gateway/gateway/services/shared/authz"
	"github.com/o365gateway/gateway/services/shared/mtls"
)

// NoRuleGrants fails t when one of the identities rules name may call a
// method of service (e.g. the operators' admin API, which only a policy
// file may grant, to tools).
func NoRuleGrants(t *testing.T, rules []authz.Rule, service grpc.ServiceDesc) {
	t.Helper()
	const td = "o365gw.test"
	p := authz.New(td, nil, rules...)
	for _, r := range rules {
		for _, m := range service.Methods {
			method := "/" + service.ServiceName + "/" + m.MethodName
			if err := p.Authorize(mtls.ID(td, r.Identity), method, []string{"0d4c2bde-6a43-4a4c-9d49-2fb0c2f6f1a1"}); err == nil {
				t.Errorf("%s may call %s", r.Identity, method)
			}
		}
	}
}
