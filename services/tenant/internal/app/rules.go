package app

import (
	tenantv1 "github.com/o365gateway/gateway/gen/go/o365/tenant/v1"
	"github.com/o365gateway/gateway/services/shared/authz"
)

// rules are the tenant service's built-in authorization rules. The facade
// acts for any instance (it has authenticated the controller) but gets no
// access token; the other services call only what they need of it, and
// only they get access tokens. Operators' tools are added by the policy
// file (TENANT_AUTHZ_POLICY_FILE).
func rules() []authz.Rule {
	all := []string{authz.Any}
	return []authz.Rule{
		{Identity: "facade", Instances: all, Methods: []string{
			"/o365.tenant.v1.TenantService/*", "/o365.tenant.v1.DomainService/*",
			tenantv1.InstanceService_CreateInstance_FullMethodName, tenantv1.InstanceService_GetInstance_FullMethodName,
			tenantv1.InstanceService_ConfigureInstance_FullMethodName, tenantv1.InstanceService_DeleteInstance_FullMethodName,
			tenantv1.InstanceService_UpgradeInstance_FullMethodName, tenantv1.InstanceService_CheckDomainAvailability_FullMethodName,
			tenantv1.InstanceService_NotifyInstanceLink_FullMethodName, tenantv1.InstanceService_GetInstanceAuth_FullMethodName,
			tenantv1.InstanceService_GetInstanceHealth_FullMethodName, tenantv1.InstanceService_ListCustomers_FullMethodName,
		}},
		{Identity: "subscription", Instances: all, Methods: serviceCalls},
		{Identity: "user", Instances: all, Methods: serviceCalls},
	}
}

// serviceCalls are what the subscription and user services call.
var serviceCalls = []string{tenantv1.InstanceService_ResolveInstance_FullMethodName,
	tenantv1.InstanceService_IssueAccessToken_FullMethodName, tenantv1.TenantService_ResolveTenant_FullMethodName}
