// Package mscloud is an in-memory simulator of the Microsoft cloud the
// gateway talks to: the Microsoft Entra token endpoint, Partner Center REST
// and Microsoft Graph (users, licenses, subscribed SKUs and domains of the
// customer tenants; GDAP relationships and the partner's application in
// the partner tenant), plus an admin API for tests and operators. Facts follow shared/reference/microsoft-apis.md;
// where the public documentation is silent the simulator picks a behaviour
// and says so below and at the code ("simulated code", "assumed").
//
// # One listener, four APIs
//
//	/{tenant}/v2.0/.well-known/openid-configuration   Entra discovery (MSAL/azidentity)
//	/{tenant}/oauth2/v2.0/token                       Entra token endpoint
//	/v1/...                                           Partner Center
//	/v1.0/...                                         Microsoft Graph
//	/_sim/...                                         admin API
//
// The login authority, the Partner Center base URL and the Graph base URL
// (base + "/v1.0") are the same host for every cloud profile (global, usgov,
// china); a partner's profile decides which audiences its tokens may carry
// and the initial-domain suffix of its customers. GET /_sim/ describes it.
// A partner registered without countries (POST /_sim/partners) may sell
// wherever its cloud's catalog does: china CN, usgov US, global every
// country of the table but CN and RU.
//
// # Request bodies
//
// Partner Center and Graph read a body before the simulator's lock is
// taken, at most 1 MiB as sent. Content-Encoding gzip (also x-gzip) and
// deflate are undone (msgraph-sdk-go gzips every body; at most two codings
// listed together are undone in reverse order; identity is ignored), and the
// decompressed body is held to the same 1 MiB: larger → 413; compressed
// data that does not decode → 400; another coding → 415 (on which the
// SDK sends the body again uncompressed). Errors are in the API's shape.
// JSON property names match in any case, and @odata.type (or any other
// @-annotation) is ignored on Graph objects, nested ones too (the SDK
// annotates every object it writes); Partner Center ignores properties it
// does not know.
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
// tenant id or one of its customers' tenant ids, initial domains or verified
// custom domains; the token is then issued by that customer's tenant (Graph,
// below). Client secrets expire (simulated clock; "The partner's
// application and its client secrets" below). Tokens from a refresh_token
// grant are app+user (delegated): in a customer tenant they need a GDAP
// relationship ("App+user calls and GDAP roles" below).
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
//     properties ('AddressLine1', 'City', 'Region', 'PostalCode'). In the US
//     a ZIP code must also belong to the state by its first three digits
//     (pc_uszip.go: ranges per state for the 50 states and DC, e.g. 980–994
//     WA, 900–961 CA, 100–149 NY; the territories are not checked); a ZIP
//     code of another state names both 'Region' and 'PostalCode' (which of
//     the two is wrong is not known).
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
// 600xxx errors use the richer shape (code, message, description, data,
// source, errorName, isRetryable, parameters, errorMessageExtended): every
// Partner Center error body carries code, description, data (a list, maybe
// empty) and source ("PartnerFD"), the only exception being the 429's
// {statusCode, message}. Their errorName values, except
// PartnerConfirmedAgreementAlreadyExists, are simulated.
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
// the partner's markets gives empty lists (200, as every Partner Center
// list, never 204) and 404s. Catalogs per cloud
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
// moves assigned licenses (below) from the source SKU to the target's: users
// holding the source SKU get the target SKU instead (creation order, as many
// as the quantity moved, disabled plans dropped).
//
// # Commerce: subscribed SKUs and license units
//
// GET /v1/customers/{id}/subscribedskus derives one entry per license SKU
// from the subscriptions: activeUnits (active), suspendedUnits (suspended),
// totalUnits = activeUnits, warningUnits 0, consumedUnits = the live users
// of the customer's directory holding the SKU (Graph assignLicense) plus
// units recorded without a user (customer.setAssignedUnits, for tests of
// Partner Center alone), availableUnits = total − consumed; productSku{id (license
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
// first answer produced by a handler (success or business error) or by a
// refuse fault is stored under (partner, method, path, MS-RequestId) and
// returned verbatim for later requests with the same key without doing the
// work again; MS-CorrelationId and MS-CV are per request. Never stored: a
// 401, a 429 (throttling or throttle fault), an injected error fault's
// answer (whatever its status) and a request dropped by a delay fault.
// While a request is still being processed under a delay_commit fault, a
// request with the same key waits for its outcome and then gets the stored
// answer (if the first stored nothing, e.g. it was refused with a 401, the
// waiting request is processed itself); a waiting request whose client
// gives up is dropped without an answer. The reference does not say what
// Partner Center does with a duplicate in flight; waiting is chosen because
// it invents no error code and matches how concurrent duplicates are
// answered here (one piece of work, one stored answer for all).
// request_id_replay false (POST /_sim/settings) or
// Options.DisableRequestIdReplay turns storing and replay off.
// Throttling uses token buckets per partner and per partner+customer (paths
// /v1/customers/{id}/…) on the simulated clock; refused calls get 429 with
// Retry-After (seconds until a token is available, at least 1) and body
// {"statusCode":429,"message":"Rate limit is exceeded. Try again in N seconds."}.
//
// # Faults
//
// POST /_sim/faults {"api","method","path","mode","status",
// "retry_after_seconds","delay_ms","count"} → 201 {"id"} injects a failure:
// api partnercenter, graph or login; method optional (any if empty); path
// a prefix of the request path (without the query); count the number of
// matching requests it applies to (0 = until cleared). The first matching
// fault (in creation order) that is not used up applies; faults apply
// before authentication, except refuse on Partner Center. Modes, and what
// they do to the work and to MS-RequestId replay:
//
//   - error: answers status (400–599, default 500) at once in the API's
//     error shape, message "Simulated failure: {status text}." (Partner
//     Center code = status). No work; not stored, whatever the status: a
//     retry with the same MS-RequestId does the work.
//   - error_after_commit: handles the request as usual (authentication,
//     throttling, replay, the work; Partner Center stores the real answer
//     for its MS-RequestId), then answers the error status (default 500)
//     instead. A retry with the same MS-RequestId gets the stored real
//     answer (e.g. the 201 of the create) and no second object. If that
//     handling was a 401 or 429, nothing was done, yet the error is
//     answered. Graph: the work is done (a retried create meets the
//     duplicate); login: the token is issued.
//   - refuse: a definite refusal, status 4xx other than 401, 408 and 429
//     (default 400). Partner Center: applies after authentication,
//     throttling and MS-RequestId replay, in place of the work: the normal
//     error shape {"code": status, "description": "Simulated refusal:
//     {status text}. The request was not processed.", "data": [],
//     "source": "PartnerFD"}; no work; stored like a business error, so a
//     later request with the same MS-RequestId gets the same refusal, even
//     after the fault is cleared or used up, while a fresh MS-RequestId
//     goes through. A request Partner Center answers before the work (401,
//     429, a stored answer) is not refused and does not use up the fault
//     (no hit). Graph: Graph's error shape with the code for the status,
//     message "Simulated refusal: …", before authentication; no work,
//     nothing stored (no MS-RequestId in Graph). Login: like error.
//   - throttle: 429 with Retry-After (retry_after_seconds, default 1) and
//     the API's throttling body; no work, nothing stored.
//   - delay: waits delay_ms, then serves the request as usual. If the
//     client disconnects or times out during the wait, the request is
//     dropped: no answer, no work, nothing stored (as if it never reached
//     Microsoft), so a retry with the same MS-RequestId does the work.
//   - delay_commit: waits delay_ms, then serves the request as usual
//     whether or not the client is still there: the work is done and
//     Partner Center stores the answer for the MS-RequestId, as Microsoft
//     finishes a request its client gave up on. A retry with the same
//     MS-RequestId gets the stored answer; one arriving during the wait
//     waits for it (see above). Either way there is one object. Graph and
//     login: the work is done (user created, token issued).
//
// GET /_sim/faults → {"faults": [{"id", "api", "method", "path", "mode",
// "status", "retry_after_seconds", "delay_ms", "count", "remaining",
// "hits"}]}: remaining is null for count 0, else the hits left (0 = used
// up: still listed, no longer applies); hits counts the requests the fault
// applied to (a delay's hit counts even if the client gave up). Faults stay
// listed until DELETE /_sim/faults (all) or DELETE /_sim/faults/{id} (one;
// 404 if unknown).
//
// # Microsoft Graph (graph_directory.go, graph_users.go, graph_licenses.go, graph_domains.go, graph_throttle.go)
//
//	POST   /v1.0/users                                  201 user
//	GET    /v1.0/users                                  $top, $skiptoken, $select, $filter
//	GET    /v1.0/users/{id|userPrincipalName}           $select
//	PATCH  /v1.0/users/{id|userPrincipalName}           204 (passwordProfile = password reset)
//	DELETE /v1.0/users/{id|userPrincipalName}           204 (soft delete)
//	POST   /v1.0/users/{id|userPrincipalName}/assignLicense   200 user
//	GET    /v1.0/subscribedSkus                         also /v1.0/subscribedSkus/{tenantId}_{skuId}
//	POST   /v1.0/domains                                201 domain
//	GET    /v1.0/domains                                also /v1.0/domains/{id}
//	DELETE /v1.0/domains/{id}                           204
//	GET    /v1.0/domains/{id}/verificationDnsRecords
//	POST   /v1.0/domains/{id}/verify                    200 domain
//
// Tokens. A Graph call acts in the tenant that issued its token. The
// gateway (and a test) asks the customer's tenant for an app-only token of
// the partner's app:
//
//	POST /{customerTenantId | initial domain | verified custom domain}/oauth2/v2.0/token
//	grant_type=client_credentials&client_id={partner app}&client_secret={secret}&scope=https://graph.microsoft.com/.default
//
// (the scope is the partner cloud's Graph audience: graph.microsoft.us for
// usgov, microsoftgraph.chinacloudapi.cn for china). grant_type=refresh_token
// with the partner's refresh token works at the customer tenant too
// (app+user), within the roles of the partner's GDAP relationships with
// the customer (below). A Graph token of the partner's own tenant gets 403
// Authorization_RequestDenied "Insufficient privileges to complete the
// operation." for customer data; a token whose (sandbox) customer was
// deleted gets 401 InvalidAuthenticationToken (simulated message). Not
// modelled: GDAP security groups (access assignments; the roles of an
// active relationship count as the signed-in user's) and the fact that the
// real service does not give third-party apps app-only access to customer
// tenants: the simulator keeps accepting app-only tokens there (with the
// application's consent when require_app_consent is set). Permissions
// (User.ReadWrite.All, User-PasswordProfile.ReadWrite.All, Domain.ReadWrite.All,
// DelegatedAdminRelationship.ReadWrite.All, Application.Read.All) and MFA
// claims are not checked: MFA is not required.
//
// Propagation. For customer_propagation_seconds (setting, default 0,
// simulated clock) after a customer is created its tenant refuses every
// token request (app-only and refresh-token) with 400 invalid_grant,
// error_codes [65001], "AADSTS65001: The user or administrator has not
// consented to use the application with ID '…' named '…'. … (simulated: …
// still propagating)" — the error is a simulated choice (the reference
// says only that the relationship needs up to 3 minutes); the partner
// tenant is not affected.
//
// Directory. A customer tenant's directory starts with its initial domain
// (isInitial, isVerified, isDefault, supportedServices Email and
// OfficeCommunicationsOnline) and its first global admin
// admin@{initial domain}, named after the billing address's first and last
// name, usage location = the company's country, no license (a choice).
//
// Users. POST requires accountEnabled, displayName, mailNickname,
// userPrincipalName and passwordProfile.password (missing or wrongly typed →
// 400 Request_BadRequest "Invalid value specified for property '{name}' of
// resource 'User'."); optional givenName, surname, usageLocation (ISO
// alpha-2, upper-cased), mail, and the other common user properties
// (jobTitle, department, officeLocation, mobilePhone, businessPhones, city,
// country, state, streetAddress, postalCode, companyName, preferredLanguage,
// employeeId, employeeType, otherMails, passwordPolicies, faxNumber,
// onPremisesImmutableId: stored and echoed). Unknown properties → 400
// "Property '{name}' does not exist as a declared property or extension
// property."; id, assignedLicenses, licenseAssignmentStates, assignedPlans,
// createdDateTime, deletedDateTime → 400 "Property '{name}' is read-only and
// cannot be set." (simulated message); not JSON → 400 BadRequest "Unable to
// read JSON request payload. …". The UPN's domain must be a verified domain
// of the tenant (else 400 "The domain portion of the userPrincipalName
// property is invalid. You must use one of the verified domain names in your
// organization."); a UPN of a live user → 400 "Another object with the same
// value for property userPrincipalName already exists." (soft-deleted users
// do not block it). Passwords: 8–256 characters, three of upper case, lower
// case, digit, symbol, no spaces, not containing the UPN's local part → else
// 400 "The specified password does not comply with password complexity
// requirements. Please provide a different password." The answer is 201
// with @odata.context and Location. The user resource always carries id,
// userPrincipalName, displayName, givenName, surname, mail, mailNickname,
// accountEnabled, usageLocation, assignedLicenses[{skuId, disabledPlans}],
// licenseAssignmentStates[{skuId, disabledPlans, assignedByGroup, state,
// error, lastUpdatedDateTime}], businessPhones, jobTitle, mobilePhone,
// officeLocation, preferredLanguage, createdDateTime (the real service
// returns several of them only on $select). mail becomes the UPN once the
// user holds a license with an Exchange Online plan (simulated; the service
// provisions mailboxes in minutes).
//
// GET /v1.0/users lists live users in creation order: $top default 100,
// 1–999 (else 400 "Invalid page size specified: '{n}'. Must be between 1 and
// 999 inclusive."), @odata.nextLink = absolute URL keeping $top, $select,
// $filter and adding $skiptoken (opaque; a bad one → 400 simulated
// message). $select takes user property names (unknown → 400 "Could not
// find a property named '{p}' on type 'microsoft.graph.user'."). $filter
// supports only userPrincipalName eq '…' (case-insensitive; a doubled single
// quote escapes one); anything else → 400 Request_UnsupportedQuery "Unsupported or
// invalid query filter clause specified for property '{p}' of resource
// 'User'." (the service supports many more filters). Other query options
// are ignored. GET/PATCH/DELETE take the object id or the UPN; unknown → 404
// Request_ResourceNotFound "Resource '{id}' does not exist or one of its
// queried reference-property objects are not present." PATCH applies all
// or nothing and answers 204; it can rename the UPN (same domain and
// uniqueness rules); clearing usageLocation of a licensed user → 400
// (simulated message). DELETE soft-deletes: the user leaves lists and
// lookups, its licenses stop counting, its UPN is free (no restore API).
//
// Password reset = PATCH with passwordProfile {password,
// forceChangePasswordNextSignIn (default true)}: complexity as above;
// partners of the china and usgov profiles get 403
// Authorization_RequestDenied "Password reset of customer users is not
// supported for partners in Microsoft 365 operated by 21Vianet." / "… in
// Microsoft Cloud for US Government." (reference §4; simulated messages).
//
// usageLocation replication lag: a usageLocation changed by PATCH shows in
// GET at once but reaches license assignment only usage_location_lag_ms
// (setting, default 0, real milliseconds) later; until then assignLicense
// still sees the old value. A location given at creation counts at once.
//
// Licenses. assignLicense takes {"addLicenses":[{"skuId","disabledPlans"}],
// "removeLicenses":["skuId"]}, both required (missing or null → 400 "One or
// more parameters of the function import 'assignLicense' are missing from
// the request payload. The missing parameters are: {names}."). Checks in
// order: china profile → 403 Authorization_RequestDenied "License management
// of customer users is not available to partners in Microsoft 365 operated
// by 21Vianet; …" (reference §4; simulated message); user (404); each added
// SKU appears in the tenant's subscribedSkus (else 400 "License {skuId} does
// not correspond to a valid company License.") and its disabledPlans are
// plans of it (else 400 "Service plan {id} is not part of license {sku}.",
// simulated); each removed SKU is held by the user (else 400 "User does not
// have a corresponding license.", assumed wording) and not also added (400,
// simulated); with additions, the usage location license assignment sees
// is set (else 400 "License assignment cannot be done for user with invalid
// usage location."); each SKU the user does not hold yet has a free seat
// (consumedUnits < prepaidUnits.enabled, else 400 "Subscription with SKU
// {skuId} does not have any available licenses." and the user shows
// licenseAssignmentStates {state "Error", error "CountViolation"} for the SKU
// until it is assigned or removed). Removals apply before additions; an
// added SKU the user holds only gets its disabledPlans replaced. 200 with
// the user. All Request_BadRequest.
//
// subscribedSkus derive from the Partner Center subscriptions, like
// Partner Center's subscribedskus (same numbers): one entry per license SKU
// with an active or suspended subscription or a holder: id
// "{tenantId}_{skuId}", accountId, accountName, skuId, skuPartNumber,
// appliesTo "User", capabilityStatus "Enabled" or "Suspended" (all seats
// suspended), consumedUnits, prepaidUnits{enabled (active quantity),
// suspended, warning 0, lockedOut 0}, servicePlans[{servicePlanId,
// servicePlanName, provisioningStatus "Success", appliesTo "User"}],
// subscriptionIds (the Partner Center subscription ids, simulated). Pending
// orders add nothing until they complete.
//
// Domains. POST takes only id (another property → 400 simulated message; a
// non-DNS name → 400 "Invalid value specified for property 'id' of resource
// 'Domain'."; a name under .onmicrosoft.com, .onmicrosoft.us or
// .partner.onmschina.cn → 400 simulated message; already in the tenant → 400
// "Another object with the same value for property id already exists."
// (assumed); held by another tenant, or under a domain another tenant
// verified → 400 "Domain {id} is already in use by another tenant. …"
// (simulated message)) and answers 201 {id, authenticationType "Managed",
// availabilityStatus null, isAdminManaged true, isDefault false, isInitial
// false, isRoot, isVerified false, supportedServices []}. A domain whose
// parent domain is in the tenant is not a root; it is verified at once when
// the parent is verified, else with it. verificationDnsRecords: a
// domainDnsTxtRecord {id, isOptional false, label {domain}, recordType
// "Txt", supportedService "Email", ttl 3600, text "MS=ms" + 8 digits} and a
// domainDnsMxRecord {…, mailExchange "{domain with dashes}.mail.protection.outlook.com"
// (china: ….mail.protection.partner.outlook.cn), preference 0}; record ids
// are stable. verify: 200 with isVerified true (and the tenant's subdomains
// verified) when the TXT text is published at the domain (POST /_sim/dns);
// else 400 "Domain verification failed. The DNS TXT record … was not found
// …" (simulated message); a subdomain of an unverified domain of the tenant
// → 400 "Domain verification failed. … verify the root domain …"
// (simulated); an already verified domain → 200 again (assumed). DELETE:
// the initial domain, a domain in some live user's UPN, a domain with
// subdomains in the tenant → 400 (simulated messages); else 204. A verified
// custom domain can name the tenant in token requests.
//
// Errors and headers. Graph errors are {"error":{"code","message",
// "innerError":{"date","request-id","client-request-id"}}}; every Graph
// answer carries request-id (new per request) and client-request-id (echoed,
// else = request-id). Graph has no MS-RequestId replay. A known path with
// another method → 405 Request_BadRequest "Specified HTTP method is not
// allowed for the request target."; unknown paths 404
// Request_ResourceNotFound. Injected errors use the code for their status
// (400 Request_BadRequest, 401 InvalidAuthenticationToken, 403
// Authorization_RequestDenied, 404 Request_ResourceNotFound, 409
// Request_MultipleObjectsWithSameKeyValue, 429 TooManyRequests, 503
// serviceNotAvailable, 504 gatewayTimeout, else generalException) and the
// message "Simulated failure: {status text}." (refuse: "Simulated refusal:
// {status text}. The request was not processed."). Faults (api "graph") match
// these routes by path prefix; error_after_commit on POST /v1.0/users
// creates the user and answers the error, so the retry gets the duplicate
// UPN error, as with the real service.
//
// Throttling (reference §3.7). Every customer-tenant Graph request is
// charged per app+tenant: resource units (base 1; GET /v1.0/users list 2;
// GET subscribedSkus 3; $select −1; $expand +1; $top < 20 −1; at least 1)
// against a budget per 10 s of 3,500 (tenant with fewer than 50 live users),
// 5,000 (50–500) or 8,000 (more) × graph_ru_scale (setting, default 1), and
// writes (any method but GET/HEAD) against graph_write_limit (default 3,000)
// per graph_write_window_seconds (default 150). Windows are fixed (they
// start with the first request after the previous window ended) and run on
// the real clock, not the simulated one: throttling is about real request
// rates. Refused requests are not charged (the service charges them). Over
// budget → 429 TooManyRequests "Too many requests. Please try again after N
// seconds." with Retry-After (seconds until the window ends, at least 1),
// x-ms-throttle-scope Tenant_Application/WriteLimit/{appId}/{tenantId} or
// Tenant_Application/ResourceUnitLimit/{appId}/{tenantId} and
// x-ms-throttle-information WriteLimitExceeded or
// ResourceUnitLimitExceeded. Answers carry x-ms-resource-unit (the cost) and,
// once 80% of a budget is used, x-ms-throttle-limit-percentage (0.80–1.00).
// Changing a Graph throttle setting starts fresh windows. Every Graph 429
// (budget or injected throttle fault) counts in the partner's
// graph_throttled in GET /_sim/state.
//
// Admin. GET /_sim/state lists per partner users {id, customer_id,
// user_principal_name, display_name, account_enabled, usage_location,
// licenses [skuId…]} (live users, initial admins included), domains
// {customer_id, id, is_verified, is_initial} and graph_throttled.
// POST /_sim/dns {"domain","txt"} publishes a TXT record ({"domain",
// "txt", "remove": true} takes one away, without txt all of the domain's);
// GET /_sim/dns lists them. POST /_sim/customers/{customerId}/users
// {user_principal_name, display_name?, given_name?, surname?,
// mail_nickname?, usage_location?, account_enabled? (default true),
// password?, licenses? [skuId…]} creates a user "outside the platform" (as
// the customer's own admin would) with the Graph rules (verified domain,
// unique UPN; generated password and mailNickname when absent; licenses
// need a usage location and free seats, no lag) → 201 Graph user, errors
// {"error": …}. Settings: customer_propagation_seconds (0–86400),
// usage_location_lag_ms (0–600000), graph_write_limit (1–1000000),
// graph_write_window_seconds (1–86400), graph_ru_scale (> 0, ≤ 1000).
//
// # GDAP relationships (graph_gdap.go)
//
//	POST   /v1.0/tenantRelationships/delegatedAdminRelationships                 201 relationship, Location
//	GET    /v1.0/tenantRelationships/delegatedAdminRelationships                 $filter=customer/tenantId eq '{id}'
//	GET    /v1.0/tenantRelationships/delegatedAdminRelationships/{id}            ETag header
//	PATCH  /v1.0/tenantRelationships/delegatedAdminRelationships/{id}            If-Match required; 200 relationship
//	DELETE /v1.0/tenantRelationships/delegatedAdminRelationships/{id}            204
//	POST   /v1.0/tenantRelationships/delegatedAdminRelationships/{id}/requests   201 request {action}
//	GET    /v1.0/tenantRelationships/delegatedAdminRelationships/{id}/requests[/{requestId}]
//	POST   /_sim/gdap/{relationshipId}/approve                                   admin: the customer approves
//
// These routes act in the partner's own tenant: a Graph token issued by
// the partner tenant, app-only or app+user; a customer tenant's token gets
// 403 Authorization_RequestDenied "Insufficient privileges to complete the
// operation."; a Partner Center token 401. They work for partners of
// every cloud profile (a choice). accessAssignments, operations,
// the customer's rejection and paging (one page holds every relationship)
// are not modelled.
//
// A relationship: {"@odata.type": "#microsoft.graph.delegatedAdminRelationship",
// "@odata.etag", id ("{guid}-{guid}", as Microsoft's look), displayName,
// duration ("P{n}D"), customer {tenantId, displayName}, accessDetails
// {unifiedRoles [{roleDefinitionId}]}, status, autoExtendDuration,
// createdDateTime, lastModifiedDateTime, activatedDateTime and endDateTime
// (null until approved)}; single answers add @odata.context and an ETag
// header equal to @odata.etag (W/"…", new after every change, time-driven
// ones included). POST and PATCH take those writable properties (names in
// any case, @-annotations ignored); the checks, all 400 Request_BadRequest:
// displayName 1–50 characters after trimming, unique (case-insensitive)
// among the partner's relationships (a duplicate → "Another object with the
// same value for property displayName already exists.", assumed wording
// and code); duration an ISO 8601 duration of days, weeks or years (a year
// = 365 days) from P1D to P730D (P2Y), answered in days; customer.tenantId
// required and a customer of the partner (an unknown or another partner's
// customer → 400, simulated message), customer.displayName defaults to the
// company name; accessDetails.unifiedRoles non-empty, every id one of the
// known roles (below; duplicates dropped); autoExtendDuration PT0S
// (default), P0D or P180D, and not P180D while the roles include Global
// Administrator; read-only properties (id, status, the dates, …) → 400
// "Property '{name}' is read-only and cannot be set.", unknown ones → 400
// "Property '{name}' does not exist as a declared property or extension
// property."; a body that is not a JSON object → 400 BadRequest. The
// messages are simulated.
//
// Lifecycle: status "created" → POST …/requests {"action":
// "lockForApproval"} → "approvalPending" → POST /_sim/gdap/{id}/approve →
// "active" (activatedDateTime = now, endDateTime = now + duration) →
// "expiring" → "expired"; POST …/requests {"action": "terminate"} on an
// active or expiring relationship → "terminated" (endDateTime = now). A
// request answers 201 {"@odata.type":
// "#microsoft.graph.delegatedAdminRelationshipRequest", id, action, status
// "succeeded", createdDateTime, lastModifiedDateTime} with Location; the
// action is done at once (the service runs it asynchronously). Actions in
// the wrong status, unknown or missing actions → 400. The approve call
// answers 200 with the relationship, 404 for an unknown id, 409 unless the
// relationship is approvalPending. PATCH needs If-Match (missing → 400;
// "*" matches; stale → 412, code resourceModified, Graph's generic code
// for an etag mismatch): while created every writable property may change;
// while active or expiring only autoExtendDuration (other properties →
// 400); in the other statuses nothing (400). DELETE only while created
// (else 400; If-Match optional, a stale one → 412). Unknown ids and other
// partners' relationships → 404 Request_ResourceNotFound. $filter other
// than customer/tenantId eq '…' → 400 Request_UnsupportedQuery.
//
// Time, on the simulated clock, applied whenever a relationship is read or
// used (Graph, role checks, GET /_sim/state): approvalPending for 90 days
// (gdapApprovalWindow) → "expired"; an active relationship with
// autoExtendDuration PT0S or P0D is "expiring" from 30 days
// (gdapExpiringWindow) before endDateTime (at once when the duration is
// shorter) and "expired" at endDateTime; with P180D it stays active and
// endDateTime moves 180 days on each time it is reached. Switching
// autoExtendDuration on an expiring relationship to P180D makes it active
// again. lastModifiedDateTime of a time-driven change is the instant it
// happened.
//
// GET /_sim/state lists per partner gdap [{id, display_name,
// customer_tenant_id, status, roles, auto_extend_duration, end_date_time
// (null until approved)}].
//
// # App+user calls and GDAP roles (gdap_access.go)
//
// An app+user token (refresh_token grant) acting in a customer tenant is
// allowed only if the partner has a relationship with that customer whose
// status is active or expiring and whose roles cover the call (the roles of
// several such relationships add up); else 403 Authorization_RequestDenied
// "Insufficient privileges to complete the operation." The check comes
// after the token and tenant checks and before throttling (refused calls
// are not charged). Security groups and accessAssignments are not
// modelled: an active relationship's roles count as held by the partner's
// signed-in user. App-only tokens are not affected. Coverage (gdapCoverage,
// role template ids):
//
//	directory reads (every GET: users, domains, subscribedSkus, verificationDnsRecords)  any role
//	POST /v1.0/users, PATCH and DELETE /v1.0/users/{id}     User Administrator, Directory Writers, Global Administrator
//	PATCH of a user setting passwordProfile (reset)         User Administrator, Password Administrator, Helpdesk Administrator,
//	                                                        Privileged Authentication Administrator, Global Administrator
//	POST /v1.0/users/{id}/assignLicense                     License Administrator, User Administrator, Directory Writers, Global Administrator
//	POST/DELETE /v1.0/domains, POST …/verify                Domain Name Administrator, Global Administrator
//	Partner Center POST/DELETE /v1/customers/{id}/applicationconsents
//	                                                        Cloud Application Administrator, Application Administrator, Global Administrator
//
// A user PATCH with passwordProfile and other properties needs both a
// password-reset role and a user-write role. Partner Center refuses a
// delegated consent call without such a role with 403 code 900301
// (simulated code) in the normal error shape; app-only consents work as
// before, and GET applicationconsents is not guarded. Role ids: Global
// Administrator 62e90394-69f5-4237-9190-012177145e10, User Administrator
// fe930be7-5e62-47db-91af-98c3a49a38b1, Directory Writers
// 9360feb5-f418-4baa-8175-e2a00bac4301, Directory Readers
// 88d8e3e3-8f55-4a1e-953a-9b9898b8876b, Password Administrator
// 966707d0-3269-4727-9be2-8c3a10f19b9d, Helpdesk Administrator
// 729827e3-9c14-49f7-bb1b-9608f156bbb8, Privileged Authentication
// Administrator 7be44c8a-adaf-4e2a-84d6-ab2649e08a13, License Administrator
// 4d6ac14f-3453-41d0-bef9-a3e0c569773a, Domain Name Administrator
// 8329153b-31d0-4727-b945-745eb3bc5f31, Cloud Application Administrator
// 158c047a-c907-4556-b7ef-446551a6b5f7, Application Administrator
// 9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3: the only roles a relationship may
// request here (Microsoft accepts many more). A new tenantRoute for another
// method than GET must be classified in tenantRouteWrites (New panics
// otherwise).
//
// # The partner's application and its client secrets (graph_applications.go)
//
//	GET  /v1.0/applications[?$filter=appId eq '{clientId}'][&$select=…]   partner-tenant Graph token
//	POST /_sim/partners/{partnerTenantId}/secrets                        admin: add a secret
//
// GET /v1.0/applications answers {"@odata.context", "value": [{id (the
// application's object id, not the client id), appId, displayName (the
// partner's name), passwordCredentials [{customKeyIdentifier null,
// displayName (null unless given), endDateTime, hint (the first 3
// characters of the secret, as Microsoft shows), keyId, secretText null,
// startDateTime}]}]}: the partner's own app, or an empty list when $filter
// names another appId (another partner's app). $filter other than appId eq
// '…' → 400 Request_UnsupportedQuery; $select takes id, appId, displayName,
// passwordCredentials (else 400 Request_BadRequest "Could not find a
// property named '…' on type 'microsoft.graph.application'."); a customer
// tenant's token → 403 Authorization_RequestDenied (simulated: the
// application object lives in the partner tenant).
//
// Every client secret ends (simulated clock): the first one 2 years (730
// days) after the partner was created, or after client_secret_expires_in
// (POST /_sim/partners, a positive Go duration such as "240h"; the answer
// adds client_secret_key_id and client_secret_end_date_time). POST
// /_sim/partners/{partnerTenantId}/secrets {"expires_in"? (default
// "17520h"), "display_name"?} adds one (rotation) → 201 {client_secret,
// key_id, end_date_time}; 404 unknown partner, 400 bad duration. Every
// secret works until its own end, so old and new overlap. The token
// endpoint refuses a client_credentials grant, or a refresh_token grant
// that sends a client_secret, with an expired secret: 401 invalid_client,
// "AADSTS7000222: The provided client secret keys for app '{clientId}' are
// expired. …"; an unknown secret stays 7000215; a refresh_token grant
// without client_secret is not affected. GET /_sim/state lists per partner
// client_secrets [{key_id, end_date_time, expired}] (never the values).
package mscloud
