// Package apsc emulates the APS controller (APSC) of Odin Automation /
// CloudBlue Commerce: the external program that calls the gateway's REST
// facade. It is used by demos and end-to-end tests.
//
// A Controller plays both sides of APSC:
//
//   - As a client of the facade it installs application instances
//     (Install: POST /app carrying aps.x509.self, the new instance
//     certificate followed by its RSA private key, and aps.x509.controller,
//     its own certificate) and sends provision, retrieve, configure,
//     unprovision, link, unlink and custom operations with the APS headers
//     APS-Controller-URI, APS-Instance-ID, APS-Transaction-ID and
//     APS-Request-Phase. It presents the controller certificate as TLS
//     client certificate. When the facade answers 202 it waits
//     APS-Retry-Timeout seconds (capped by Options.MaxRetryWait) and
//     re-sends the same method, path, body and transaction id with
//     APS-Request-Phase: async until a final answer. Provisioned resources
//     carry the platform fields APSC really sends (aps.revision,
//     aps.modified, aps.subscription, aps.schema, aps.package, aps.href),
//     so the facade's tolerance of unknown properties is exercised.
//   - As a server it offers the subset of APSC's REST API a connector calls
//     back into: GET and PUT /aps/2/resources/{id} and POST
//     /aps/2/resources over HTTPS, for callers presenting the certificate
//     of an installed instance (401 without a certificate, 403 with another
//     one, with APSC's error body
//     {"error":"APS::Util::AccessViolation","message":"..."}). PUT merges
//     the given properties into the stored resource (nested objects merge),
//     which is how connectors push counter usage; POST registers a resource
//     the application created on its side (what the gateway adopted), and
//     a proposed aps.id that is already held answers 409.
//
// # Assumptions where real APSC is not documented
//
// Account resources (type TypeAccount,
// http://parallels.com/aps/types/pa/account/1.2) are stored with these
// properties, which the gateway may read to fill a tenant's company and
// address when the provision body lacks them:
//
//	companyName     string
//	addressPostal   {streetAddress, extendedAddress, locality, region, postalCode, countryName}
//	techContact     {email, givenName, familyName, telVoice}
//
// countryName holds an ISO 3166 alpha-2 code (e.g. "US"); telVoice is in the
// platform's phone format, <country code>#<area code>#<number>#<extension>
// (e.g. "1#425#5550100#"), which the gateway turns into Microsoft's.
//
// Any installed instance certificate may read and write any stored
// resource (real APSC checks ownership and impersonation). Errors other than
// access violations use the error kind "APS::Util::Exception". Resources
// the facade returns after a successful provision, configure or retrieve
// are stored in the controller (as APSC stores returned properties), and
// removed after a successful unprovision. The controller's CA and its
// server certificate use ECDSA P-256 keys; the controller certificate and
// the instance certificates use RSA 2048 keys, the instance key being sent
// in PKCS#1 PEM ("RSA PRIVATE KEY").
//
// Private keys are never logged; Instance implements slog.LogValuer and
// fmt.Stringer without them. Request and response bodies are not logged.
package apsc
