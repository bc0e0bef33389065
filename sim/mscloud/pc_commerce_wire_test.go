package mscloud

import "testing"

func TestCartErrorWireNames(t *testing.T) {
	for _, tc := range []struct {
		c    cartErrCode
		want string
	}{
		{cartCatalogItemInvalid, "catalog_item_id_is_not_valid"},
		{cartSubscriptionInvalid, "subscription_is_not_valid"},
		{cartSandboxLimit, "sandbox_limit_exceeded"},
		{cartInvalidInput, "invalid_input"},
		{cartAttestation, "attestation_not_accepted"},
		{cartMaxSeats, "max_allowed_seats_per_subscription_exceeded"},
		{cartErrCode{10008, "SubscriptionIsNotEnabledForRI"}, "subscription_is_not_enabled_for_ri"},
	} {
		if got := tc.c.wire(); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.c.Name, got, tc.want)
		}
	}
}
