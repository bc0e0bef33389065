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
		// The facade calls what the APS surface routes, never the internal
		// synchronization and drift calls.
		{Identity: "facade", Instances: all, Methods: []string{userv1.UserService_ProvisionUser_FullMethodName,
			userv1.UserService_GetUser_FullMethodName, userv1.UserService_ConfigureUser_FullMethodName,
			userv1.UserService_UnprovisionUser_FullMethodName, userv1.UserService_ResetUserPassword_FullMethodName,
			userv1.UserService_NotifyUserLink_FullMethodName}},
		{Identity: "tenant", Instances: all, Methods: []string{userv1.UserService_SyncUsers_FullMethodName,
			userv1.UserService_CheckUserDrift_FullMethodName, userv1.UserService_RepairUserDrift_FullMethodName}},
	}
}
