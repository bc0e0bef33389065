package app

import (
	userv1 "github.com/o365gateway/gateway/gen/go/o365/user/v1"
	"github.com/o365gateway/gateway/services/shared/authz"
)

// rules are the user service's built-in authorization rules: the facade
// acts for any instance; the tenant service synchronizes users. Operators'
// tools are added by the policy file (USER_AUTHZ_POLICY_FILE).
func rules() []authz.Rule {
	all := []string{authz.Any}
	return []authz.Rule{
		{Identity: "facade", Instances: all, Methods: []string{"/o365.user.v1.UserService/*"}},
		{Identity: "tenant", Instances: all, Methods: []string{userv1.UserService_SyncUsers_FullMethodName,
			userv1.UserService_CheckUserDrift_FullMethodName, userv1.UserService_RepairUserDrift_FullMethodName}},
	}
}
