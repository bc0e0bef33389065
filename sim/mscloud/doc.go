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
// # Commerce: catalog (pc_catalog.go, catalog_data.go)
//
//	GET /v1/offers?country=XX                                   legacy offers
//	GET /v1/offers/{offerId}?country=XX
//	GET /v1/products?country=XX&targetView=V[&targetSegment=S]  new commerce
//	GET /v1/products/{productId}?country=XX
//	GET /v1/products/{productId}/skus?country=XX
//	GET /v1/products/{productId}/skus/{skuId}?country=XX
//	GET /v1/products/{productId}/skus/{skuId}/availabilities?country=XX
//	GET /v1/products/{productId}/skus/{skuId}/availabilities/{availabilityId}?country=XX
//
// country is required and must be in the built-in table (else 400 2000,
// simulated). Markets: the global catalog sells in every table country
// except CN and RU; usgov only in US; china only in CN. A country outside
// the partner's markets gives empty lists and 404s. Catalogs per cloud
// profile (a choice; the public docs do not list them):
//
//   - global: 8 legacy offers and 8 products (below).
//   - usgov: legacy E1, E3, E5 and the archive add-on; products E1, E3, E5
//     and the archive add-on (same ids as global).
//   - china (21Vianet): 4 legacy offers of its own (E1, E3, Business Basic,
//     Business Standard "operated by 21Vianet"); no new-commerce products:
//     GET /v1/products is an empty collection.
//
// Legacy offer ids (global; upgrades E1 → E3 → E5, Basic → Standard → Premium):
//
//	91FD106F-4B2C-4938-95AC-F54F74E9A239  Office 365 E1                 1–10000
//	796B6B5F-613C-4E24-A17C-EBA730D49C02  Office 365 E3                 1–10000
//	DFB8A0CE-3E8B-4C4A-B9B7-3E7BE6F1C2B5  Office 365 E5                 1–10000
//	3451A3B0-8CDA-44A7-BAD7-C30BE81C4AAA  Microsoft 365 Business Basic  1–300
//	031C9E47-4802-4248-838E-778FB1D2CC05  Microsoft 365 Business Standard 1–300
//	5C9FD4CC-EDCE-44A8-8E91-07DF09744609  Microsoft 365 Business Premium 1–300
//	2828BE95-46BA-4F91-B2FD-0BEF192ECF60  Exchange Online Archiving add-on (parents E1, E3)
//	F5C7F8D0-36D1-4E3D-8F0C-9E8B5A6B1D21  Office 365 E3 Trial, 25–25, cycle "none", US/CA/GB/AU only
//	china: 6B4E1D6A-8F4C-4C2B-9D5E-2A1C0F3E7B11 (E1 → E3), A3D9F2C4-5B7E-4E1A-8C6D-0F2B9E4A7C22 (E3),
//	       C8E2A7B5-1D4F-4A9C-B3E6-7F0D2C5A9E33 (Basic → Standard), E1F6C3D8-2A5B-4C7E-9F1A-4B8D6E0C2F44 (Standard)
//
// Legacy offers bill "monthly" or "annual" (term P1M / P1Y); offer.product.id
// is the license SKU GUID. New-commerce catalog items
// (productId:skuId:availabilityId) and license SKUs:
//
//	CFQ7TTC0LH18:0001:CFQ7TTC0K971  Microsoft 365 Business Basic     3b555118-da6a-4418-894f-7df1e2096870 O365_BUSINESS_ESSENTIALS  1–300
//	CFQ7TTC0LDPB:0001:CFQ7TTC0K5Q2  Microsoft 365 Business Standard  f245ecc8-75af-4f8e-b61f-27d8114de5f3 O365_BUSINESS_PREMIUM     1–300
//	CFQ7TTC0LCHC:0002:CFQ7TTC0K5RZ  Microsoft 365 Business Premium   cbdc14ab-d96c-4c30-b9f4-6ada7cdc1d46 SPB                       1–300
//	CFQ7TTC0LF8R:0001:CFQ7TTC0K6HG  Office 365 E1                    18181a46-0d4e-45cd-891e-60aabd171b4e STANDARDPACK              1–10000
//	CFQ7TTC0LFLZ:0002:CFQ7TTC0K4TS  Office 365 E3                    6fd2c87f-b296-42f0-b197-1e91e994b900 ENTERPRISEPACK            1–10000
//	CFQ7TTC0LF8Q:0001:CFQ7TTC0K8D3  Office 365 E5                    c7df2760-2c81-4ef7-b578-5b5392b571df ENTERPRISEPREMIUM         1–10000
//	CFQ7TTC0LHWP:0001:CFQ7TTC0K9TB  Exchange Online Archiving add-on ee02fd1b-340e-4a4b-b355-4a514e4c8943 EXCHANGEARCHIVE_ADDON     parents E1, E3
//	CFQ7TTC0LHRD:0001:CFQ7TTC0K7Q4  Defender for Office 365 (Plan 1) 4ef96642-f096-40de-a3e9-d83fb2f90211 ATP_ENTERPRISE            parents Basic, Standard
//
// Product ids, the Business Basic / E3 availability ids and the license
// GUIDs follow public samples; the other availability ids and the two add-on
// product ids are made up. Every availability has terms P1M/monthly,
// P1Y/monthly and P1Y/annual (terms[].billingCycle is given). An add-on SKU
// names its parents ("productId:skuId") in purchasePrerequisites and
// dynamicAttributes.prerequisiteSkus; dynamicAttributes.upgradeTargetOffers
// lists the higher SKUs. Only targetView=OnlineServices with no or the
// commercial segment has products; other documented views and segments are
// empty; unknown ones → 400 2000 (simulated). Unknown product / SKU /
// availability → 404 400013 / 400018 / 400019. GET /v1/offers/{id} with a
// new-commerce id (productId or anything with ':') → 400 2100; unknown
// offer → 404 800112 (simulated). Currency: USD "$" except GB GBP, euro
// countries EUR, CA CAD, AU AUD, JP JPY, CN CNY, IN INR, BR BRL.
//
// # Commerce: orders (pc_orders.go, pc_commerce.go)
//
//	POST /v1/customers/{id}/orders                 201 Order
//	GET  /v1/customers/{id}/orders                 collection
//	GET  /v1/customers/{id}/orders/{orderId}
//	GET  /v1/customers/{id}/orders/{orderId}/provisioningstatus
//
// lineItems[].offerId is a legacy offer id or a full catalog item id. Checks,
// all before anything is created: body, billingCycle and offerId present,
// unique lineItemNumbers (400 2000); MCA attested (403 13605, legacy too);
// then per line: item known (404 400013/400018/400019; a catalog item id
// without its availability part → 400019) and sold to this customer's
// country in the partner's cloud (400 800070; unknown legacy ids too);
// quantity within min–max (400 2002); billing cycle and term supported
// (400 800100, simulated: new commerce needs termDuration; legacy monthly →
// P1M, annual → P1Y); add-on: parentSubscriptionId (or
// provisioningContext.parentSubscriptionId) names an active subscription of
// an allowed parent, and only add-ons may name one (400 800101, simulated);
// sandbox: ≤ 25 licenses per subscription, ≤ 5 active/pending/suspended
// subscriptions per customer (400 800018). Each line creates one
// subscription. Orders complete after order_completion_seconds of simulated
// time (default 0: "completed" at once); until then the order is "pending",
// its subscriptions "pending" (not PATCHable, no units) and provisioning
// status "PrefulfillmentPending" (then "Fulfilled"). Order ids are GUIDs,
// alternateId 12 hex digits; line transactionType "new"; unknown order →
// 404 800110 (simulated).
//
// # Commerce: carts and checkout (pc_carts.go)
//
//	POST /v1/customers/{id}/carts                  201 Cart
//	GET  /v1/customers/{id}/carts/{cartId}
//	PUT  /v1/customers/{id}/carts/{cartId}         replaces the line items
//	POST /v1/customers/{id}/carts/{cartId}/checkout  201 CartCheckoutResult
//
// Carts take catalog item ids (legacy offer ids work too), expire 7 days
// after creation (simulated clock), and are created even when lines are
// bad: each bad line carries error{errorCode, errorDescription,
// additionalInformation}. errorCode is the CartErrorCode name in snake case
// (assumed wire form: Partner Center's enum converter writes snake case, and
// Microsoft's Java SDK reads "catalog_item_id_is_not_valid"); the numeric
// value is in orderErrors[].code. Line codes: 10001
// catalog_item_id_is_not_valid (unknown or not sold), 10015
// max_allowed_seats_per_subscription_exceeded (above max), 10010
// invalid_input (below min, missing billingCycle, unsupported term), 10007
// subscription_is_not_valid (add-on parent), 10009 sandbox_limit_exceeded,
// 10012 attestation_not_accepted. orderGroup: one group per distinct
// billingCycle, "0", "1", … in order of first appearance (a choice).
// Checkout: unknown cart 404 800111, already ordered 400 800105, expired
// 400 800106 (all simulated); MCA not attested 403 13605, nothing created.
// Otherwise lines are validated again; each group without a bad line
// becomes one order (lineItemNumber 0..n-1 within it), each group with one
// goes to orderErrors{orderGroupId, code (the numeric cart code),
// description}; the answer is 201 either way. The cart becomes "Ordered"
// when at least one order was created, else it stays "Active" (fix it with
// PUT and check out again).
//
// # Commerce: subscriptions (pc_subscriptions.go)
//
//	GET   /v1/customers/{id}/subscriptions[?order_id=]
//	GET   /v1/customers/{id}/subscriptions/{subId}    (ETag header = attributes.etag)
//	PATCH /v1/customers/{id}/subscriptions/{subId}    full Subscription; 200, or 202 + Location
//
// offerId is the legacy offer id or productId:skuId; productType is
// OnlineServicesNCE for new commerce (OnlineServices for legacy). Terms run
// from the purchase instant: commitmentEndDate = effectiveStartDate + term;
// at its end an auto-renewing subscription starts a new term (new 7-day
// window), otherwise it becomes "expired"; trials do not renew. New
// commerce: cancellationAllowedUntilDate = purchase/renewal + 7 days;
// refundableQuantity lists seat lots still inside their window (seats added
// later get their own 7 days; decreases take the newest lots first);
// refundOptions [{type:"Full", expiresAt}] while the window is open.
// suspensionReasons ["PartnerInitiated"] when suspended; actions
// (ChangeQuantity, Suspend, Upgrade, Cancel, Reactivate) are simulated
// values. Unknown subscription → 404 800109 (simulated).
//
// PATCH compares the body with the subscription; absent fields and equal
// values change nothing; attributes.etag is not checked (the service is
// lenient); a body id other than the path's → 400 2000. Checks in order:
// quantity and status changed together → 400 2001; subscription pending,
// deleted or expired → 400 800102 (simulated); a slow quantity change in
// flight → 409 800102 for another quantity or a status (the same quantity
// again → 202); status "suspended" (from active; add-ons follow), "active"
// (from suspended; add-ons follow; an add-on needs an active parent),
// "deleted" (new commerce inside the window, else 400 800103; legacy → 400
// 800104, suspend instead; add-ons follow), other values 400 2000; quantity
// (only while active, else 800102): min–max 2002, sandbox > 25 on increase
// 800018, new-commerce decrease beyond the refundable quantity → 400 800090
// "Subscription quantity cannot be decreased."; legacy decreases are free.
// autoRenewEnabled and friendlyName apply at once. With slow_patch_seconds
// > 0 a quantity change answers 202 (no body, Location:
// /v1/customers/{id}/subscriptions/{subId}, Retry-After) and shows in GET
// after that many simulated seconds; status changes are never slow.
//
// # Commerce: upgrades and transitions (pc_transitions.go)
//
//	GET  /v1/customers/{id}/subscriptions/{subId}/upgrades           legacy
//	POST /v1/customers/{id}/subscriptions/{subId}/upgrades           200 UpgradeResult
//	GET  /v1/customers/{id}/subscriptions/{subId}/transitionEligibilities?eligibilityType=immediate
//	POST /v1/customers/{id}/subscriptions/{subId}/transitions        201 Transition
//	GET  /v1/customers/{id}/subscriptions/{subId}/transitions        from or to the subscription
//
// Targets are the next higher offers/SKUs only (legacy E1 → E3 → E5, Basic →
// Standard → Premium; new commerce also lets E1 go to E5 and Basic to
// Premium). Upgrade items have upgradeType "upgrade_with_license_transfer";
// POST accepts it or "upgrade_only". Not eligible (upgradeErrors code
// "subscription_status_not_active" or "subscription_addons_present": an
// add-on whose parents do not include the target), not a target, or a
// new-commerce source → 400 800107 (simulated). An upgrade suspends the
// source, creates the target (quantity = body quantity or the source's,
// same billing cycle, own completed order) and moves the add-ons to it.
// Transitions (new commerce only; legacy sources → 400 800108, empty
// eligibility list; eligibilityType "scheduled" → empty list; other → 400
// 2000): body checks 400 2000; not eligible / not a target / bad
// toSubscriptionId → 400 800108 (simulated); quantity 1..source quantity
// and the target's min–max → 2002; sandbox 25 → 800018; term and cycle
// default to the source's → 800100. The whole quantity expires the source
// (assumed) and moves its add-ons; part of it leaves the rest on the source.
// The target is toSubscriptionId or a new subscription (commitment end
// aligned with the source's when the term is the same). "…with_license_transfer"
// moves assigned license units (below) from the source SKU to the target's.
//
// # Commerce: subscribed SKUs and license units
//
// GET /v1/customers/{id}/subscribedskus derives one entry per license SKU
// from the subscriptions: activeUnits (active), suspendedUnits (suspended),
// totalUnits = activeUnits, warningUnits 0, consumedUnits = the customer's
// assigned units (customer.setAssignedUnits / addAssignedUnits, for the
// Graph part), availableUnits = total − consumed; productSku{id (license
// GUID), name, skuPartNumber, targetType "User", licenseGroupId "group1"},
// servicePlans, capabilityStatus "Enabled" or "Suspended". The docs require
// App+User here; the simulator also accepts app-only tokens.
//
// # Commerce: settings, clock, state, faults
//
// POST /_sim/settings keys: order_completion_seconds, slow_patch_seconds
// (0..2592000, default 0; Options.OrderCompletion / SlowPatch) and
// throttle_purchase_rps (default 0 = off: an extra per partner+customer
// bucket for POST …/orders and …/checkout). Time effects are applied
// lazily from the simulated clock whenever a customer's commerce state is
// read (Partner Center call or GET /_sim/state), so POST /_sim/clock
// completes orders and slow PATCHes, closes windows and renews terms.
// GET /_sim/state lists per partner orders {id, customer_id, status,
// created_at, line_items[{offer_id, quantity, subscription_id}]},
// subscriptions {id, customer_id, offer_id, catalog_item_id, offer_name,
// sku_id, quantity, pending_quantity?, status, auto_renew, billing_cycle,
// term_duration, parent_subscription_id, order_id,
// cancellation_allowed_until ("" for legacy), refundable_quantity} and carts
// {id, customer_id, status, expires_at, line_items[{catalog_item_id,
// quantity, order_group, error?}]}. Faults, MS-RequestId replay and
// throttling apply to these routes as to every Partner Center route.
//
// # Commerce: error codes
//
// Documented and used as documented: 2001, 2002, 2100, 13605 (403),
// 400013/400018/400019 (404), 800018 (400 assumed), 800070, 800090 and the
// cart codes 10001, 10007, 10009, 10010, 10012, 10015. Simulated codes: 2000
// (invalid input), 800100 (term/billing cycle), 800101 (add-on parent),
// 800102 (subscription status; 409 while a change is in progress), 800103
// (cancellation window closed), 800104 (legacy delete), 800105 (cart
// ordered), 800106 (cart expired), 800107 (upgrade not eligible), 800108
// (transition not eligible), 800109/800110/800111/800112 (subscription /
// order / cart / offer not found, 404). Also simulated: the upgradeErrors
// codes, transition eligibility error codes (800108), subscription actions
// and suspensionReasons values.
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
