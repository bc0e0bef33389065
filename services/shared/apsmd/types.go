package apsmd

// APS type ids of the gateway's resources (deploy/aps/schemas).
const (
	TypeApp          = "http://o365gateway.org/aps/app/1.0"
	TypeTenant       = "http://o365gateway.org/aps/tenant/1.0"
	TypeDomain       = "http://o365gateway.org/aps/domain/1.0"
	TypeSubscription = "http://o365gateway.org/aps/subscription/1.0"
	TypeUser         = "http://o365gateway.org/aps/user/1.0"
)
