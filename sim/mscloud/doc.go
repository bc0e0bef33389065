// Package mscloud is an in-memory simulator of the Microsoft cloud the
// gateway talks to: the Microsoft Entra token endpoint, Partner Center REST
// and (prefix reserved, handlers to come) Microsoft Graph, plus an admin API
// for tests and operators. Facts follow shared/reference/microsoft-apis.md;
// where the public documentation is silent the simulator picks a behaviour
// and says so below and at the code ("simulated code", "assumed").
//
// # One listener, four APIs
//
//	/{tenant}/v2.0/.well-known/openid-configuration   Entra discovery (MSAL/azidentity)
//	/{tenant}/oauth2/v2.0/token                       Entra token endpoint
//	/v1/...                                           Partner Center
//	/v1.0/...                                         Microsoft Graph (404 for now)
//	/_sim/...                                         admin API
//
// The login authority, the Partner Center base URL and the Graph base URL
// (base + "/v1.0") are the same host for every cloud profile (global, usgov,
// china); a partner's profile decides which audiences its tokens may carry
// and the initial-domain suffix of its customers. GET /_sim/ describes it.
//
// # Tokens
//
// Access tokens are opaque random strings kept in memory with partner,
// issuing tenant, audience and expiry (simulated clock). Scopes are
// "<audience>/.default" (refresh-token grants also take
// "<audience>/user_impersonation"); the audience must be the Partner Center
// or Graph audience of the partner's cloud. Partner Center accepts only its
// own audience, issued by the partner tenant. Refresh tokens (issued by
// POST /_sim/partners, valid 90 days) rotate: each redemption returns a new
// one and spends the old one. The login path's tenant may be the partner
// tenant id or one of its customers' tenant ids or initial domains.
//
// # Address validation verdicts (deterministic)
//
// With the built-in country table (US, CA, GB, DE, FR, NL, ES, IT, AU, IN,
// BR, JP, CN, AE, HU, RU, UA, PL, ZA; unknown country: 400 code 2040):
//
//   - "None", no suggestion, when addressLine1 is empty, the city is missing
//     where required, the state is not in the country's state list where a
//     state is required, or the postal code is missing where required or does
//     not match the country's regular expression. validationMessage names the
//     properties ('AddressLine1', 'City', 'Region', 'PostalCode').
//   - "StreetPartial" with one suggestion (addressLine1 prefixed "1 ") when
//     addressLine1 holds no digit.
//   - "VerifiedShippable" with one suggestion, the normalised original
//     (spaces collapsed, state, postal code and country upper-cased).
//
// Create customer and billing-profile updates refuse an address whose
// verdict is "None" (400, simulated code 600059).
//
// # Create customer
//
// Checks, in order: JSON body; required fields (companyProfile.domain,
// billingProfile email, culture, language, companyName, defaultAddress
// firstName, lastName, addressLine1, city, country) and formats (email,
// culture xx-XX, language xx) → 400 code 2000 (simulated) listing the fields
// in data; country in the table → 400 2040; partner authorized for the
// country → 403 2030; sandbox cap of 75 customers → 400 800018 (assumed);
// domain = 1-27 letters/digits + the cloud's initial-domain suffix
// (".onmicrosoft.com", china ".partner.onmschina.cn") → 400 600014
// (simulated); domain free across all partners and the reserved list → 409
// 600013 (simulated); organization registration number: required in AM, AZ,
// BY, HU, IN, KZ, KG, MD, RU, TJ, UZ, UA (missing 600049, bad format 600050
// with the regex in the message, missing phone 600051), accepted without
// checks in BR, ZA, PL, AE, SA, TR, TH, VN, MM, IQ, SS, VE, refused
// elsewhere (600002); address verdict "None" → 400 600059 (simulated).
// 600xxx errors use the richer shape (code, message, description,
// errorName, isRetryable, parameters, errorMessageExtended); their errorName
// values, except PartnerConfirmedAgreementAlreadyExists, are simulated.
//
// # Other Partner Center choices
//
//   - Customers of another partner, or unknown ids: 404 code 60003.
//   - DELETE /v1/customers/{id}: 204 for sandbox partners; otherwise 403
//     code 800019 (simulated). Deleting frees the domain.
//   - PUT billing profile: If-Match missing or stale → 412 code 2055.
//   - GET /v1/customers: size defaults to 100, capped at 500 (simulated);
//     totalCount is the number of items on the page; links use URIs
//     relative to /v1, as the service does; links.next carries
//     MS-ContinuationToken and seekOperation=Next.
//   - MCA attestation repeated for the same contact (email, first and last
//     name): 409 (assumed) code 600061.
//   - Missing/invalid/expired/wrong-audience token: 401, code 900300
//     (simulated), WWW-Authenticate: OAuth realm=urn:cpsvc:cpid:….
//   - Unknown route 404 code 2004, wrong method 405 code 2005 (simulated).
//   - Injected Partner Center errors carry code = HTTP status (simulated).
//
// # MS-RequestId replay and throttling
//
// For Partner Center calls other than GET/HEAD carrying MS-RequestId, the
// first answer produced by a handler (success or business error, never a
// 401, 429 or injected error) is stored under (partner, method, path,
// MS-RequestId) and returned verbatim for later requests with the same key
// without doing the work again; MS-CorrelationId and MS-CV are per request.
// Throttling uses token buckets per partner and per partner+customer (paths
// /v1/customers/{id}/…) on the simulated clock; refused calls get 429 with
// Retry-After (seconds until a token is available, at least 1) and body
// {"statusCode":429,"message":"Rate limit is exceeded. Try again in N seconds."}.
//
// # Faults
//
// POST /_sim/faults injects failures per API (partnercenter, graph, login),
// optional method, path prefix and hit count; they apply before
// authentication. The first matching fault (in creation order) applies.
package mscloud
