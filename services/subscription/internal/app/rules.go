package app

import (
	subscriptionv1 "github.com/o365gateway/gateway/gen/go/o365/subscription/v1"
	"github.com/o365gateway/gateway/services/shared/authz"
)

// rules are the subscription service's built-in authorization rules: the
// facade acts for any instance; the user service resolves subscriptions
// (license SKUs). Operators' tools are added by the policy file
// (SUBSCRIPTION_AUTHZ_POLICY_FILE).
func rules() []authz.Rule {
	all := []string{authz.Any}
	return []authz.Rule{
		// The facade calls what the APS surface routes, never the internal
		// resolution and drift calls.
		{Identity: "facade", Instances: all, Methods: []string{subscriptionv1.SubscriptionService_ListOffers_FullMethodName,
			subscriptionv1.SubscriptionService_ProvisionSubscription_FullMethodName, subscriptionv1.SubscriptionService_GetSubscription_FullMethodName,
			subscriptionv1.SubscriptionService_ConfigureSubscription_FullMethodName, subscriptionv1.SubscriptionService_UnprovisionSubscription_FullMethodName,
			subscriptionv1.SubscriptionService_UpgradeSubscription_FullMethodName, subscriptionv1.SubscriptionService_NotifySubscriptionLink_FullMethodName}},
		{Identity: "user", Instances: all, Methods: []string{subscriptionv1.SubscriptionService_ResolveSubscription_FullMethodName}},
		// The tenant service checks and repairs a tenant's drift.
		{Identity: "tenant", Instances: all, Methods: []string{subscriptionv1.SubscriptionService_CheckSubscriptionDrift_FullMethodName,
			subscriptionv1.SubscriptionService_RepairSubscriptionDrift_FullMethodName}},
	}
}
