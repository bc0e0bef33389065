package app

import (
	"testing"

	adminv1 "github.com/o365gateway/gateway/gen/go/o365/admin/v1"
	"github.com/o365gateway/gateway/services/shared/authz/authztest"
)

// No built-in rule lets the facade or another service use the operators'
// admin API: only the policy file grants it, to tools.
func TestBuiltinRulesGrantNoAdminAPI(t *testing.T) {
	authztest.NoRuleGrants(t, rules(), adminv1.AdminService_ServiceDesc)
}
