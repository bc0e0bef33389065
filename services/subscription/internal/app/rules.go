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
		{Identity: "facade", Instances: all, Methods: []string{"/o365.subscription.v1.SubscriptionService/*"}},
		{Identity: "user", Instances: all, Methods: []string{subscriptionv1.SubscriptionService_ResolveSubscription_FullMethodName}},
		// The tenant service checks and repairs a tenant's drift.
		{Identity: "tenant", Instances: all, Methods: []string{subscriptionv1.SubscriptionService_CheckSubscriptionDrift_FullMethodName,
			subscriptionv1.SubscriptionService_RepairSubscriptionDrift_FullMethodName}},
	}
}
