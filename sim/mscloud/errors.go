package mscloud

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Partner Center error codes used by the simulator. Codes from the public
// error table are used as documented (their HTTP status may be assumed, see
// the comments); codes marked "simulated code" are invented because the
// documentation does not name one.
const (
	codeNotOnboarded        = 2030                                   // 403, documented: partner not onboarded to sell in the country/region
	codeETagInvalid         = 2055                                   // documented as "ETag no longer valid"; sent with 412 here (the table lists 400)
	codeTenantNotFound      = 60003                                  // documented "tenant not found"; used for unknown/foreign customers (404, assumed)
	codeRegNumberNotAllowed = 600002                                 // documented: registration number sent for a country that does not take it
	codeRegNumberMissing    = 600049                                 // documented: registration number missing
	codeRegNumberFormat     = 600050                                 // documented: registration number has the wrong format
	codePhoneMissing        = 600051                                 // documented: phone number missing for registration-number countries
	codeAgreementExists     = 600061                                 // documented code; HTTP 409 is assumed
	codeSandboxLimit        = 800018                                 // documented "sandbox limit reached"; status 400 and use for the customer cap are assumed
	codeInvalidInput        = 2000                                   // simulated code: malformed body, missing or invalid field
	codeRouteNotFound       = 2004                                   // simulated code: no such Partner Center resource
	codeMethodNotAllowed    = 2005                                   // simulated code: method not supported on the resource
	codeNoCountryRules      = 2040                                   // simulated code: "No validation rules were found for the country/region XX"
	codeDomainExists        = 600013                                 // simulated code: create customer with a taken domain (409)
	codeDomainInvalid       = 600014                                 // simulated code: domain without the cloud's initial-domain suffix or bad prefix (400)
	codeInvalidAddress      = 600059                                 // simulated code: create customer / update billing profile with an invalid address (400)
	codeDeleteNotAllowed    = 800019                                 // simulated code: delete customer outside the integration sandbox (403)
	codeUnauthorized        = 900300                                 // simulated code: missing, unknown, expired or wrong-audience bearer token (401)
	codeGDAPAccessDenied    = 900301                                 // simulated code: app+user call not covered by the partner's GDAP roles in the customer tenant (403)
	pcRealmCPID             = "7cd0a9f4-6b2b-4f34-9f4b-0c63a6e1c2d5" // simulated: realm id in WWW-Authenticate
	mcaTemplateID           = "117a77b0-9360-443b-8795-c6dedc750cf9" // fixed MCA template id; believed to be the one in Microsoft samples (unverified)
	mcaAgreementLink        = "https://aka.ms/customeragreement"
	agreementTypeMCA        = "MicrosoftCustomerAgreement"
	maxRequestBodyBytes     = 1 << 20
)

// response is a complete HTTP answer. Handlers return one instead of writing
// to the ResponseWriter, so the dispatcher can store it for MS-RequestId
// replay, or swap it for an injected fault after the work is done.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r *response) writeTo(w http.ResponseWriter) {
	for k, v := range r.header {
		w.Header()[k] = append([]string(nil), v...)
	}
	w.WriteHeader(r.status)
	if len(r.body) > 0 {
		_, _ = w.Write(r.body)
	}
}

func jsonResponse(status int, v any) *response {
	b, err := json.Marshal(v)
	if err != nil {
		b = []byte(`{"error":"marshal failure"}`)
		status = http.StatusInternalServerError
	}
	h := http.Header{}
	h.Set("Content-Type", "application/json; charset=utf-8")
	return &response{status: status, header: h, body: b}
}

func emptyResponse(status int) *response {
	return &response{status: status, header: http.Header{}}
}

// --- Partner Center ---

type pcErrorBody struct {
	Code        int      `json:"code"`
	Description string   `json:"description"`
	Data        []string `json:"data"`
	Source      string   `json:"source"`
}

// pcError is the normal Partner Center error shape.
func pcError(status, code int, description string, data ...string) *response {
	if data == nil {
		data = []string{}
	}
	return jsonResponse(status, pcErrorBody{Code: code, Description: description, Data: data, Source: "PartnerFD"})
}

type pcRichErrorBody struct {
	Code                 int               `json:"code"`
	Message              string            `json:"message"`
	Description          string            `json:"description"`
	Data                 []string          `json:"data"`
	Source               string            `json:"source"`
	ErrorName            string            `json:"errorName"`
	IsRetryable          bool              `json:"isRetryable"`
	Parameters           map[string]string `json:"parameters"`
	ErrorMessageExtended string            `json:"errorMessageExtended"`
}

// pcRichError is the richer shape newer customer endpoints use for 600xxx
// codes: the normal fields (code, description, data, source: every Partner
// Center error carries them, as Partner Center documents its error
// responses) plus the richer ones.
func pcRichError(status, code int, errorName, message string) *response {
	return jsonResponse(status, pcRichErrorBody{
		Code: code, Message: message, Description: message, Data: []string{}, Source: "PartnerFD", ErrorName: errorName,
		Parameters: map[string]string{}, ErrorMessageExtended: "InternalErrorCode=" + strconv.Itoa(code),
	})
}

func pcUnauthorized(description string) *response {
	r := pcError(http.StatusUnauthorized, codeUnauthorized, description)
	r.header.Set("WWW-Authenticate", "OAuth realm=urn:cpsvc:cpid:"+pcRealmCPID)
	return r
}

// pcThrottled is Partner Center's 429: not the normal error shape.
func pcThrottled(retryAfter int) *response {
	r := jsonResponse(http.StatusTooManyRequests, map[string]any{
		"statusCode": http.StatusTooManyRequests,
		"message":    fmt.Sprintf("Rate limit is exceeded. Try again in %d seconds.", retryAfter),
	})
	r.header.Set("Retry-After", strconv.Itoa(retryAfter))
	return r
}

// pcBodyError is Partner Center's answer to a body it cannot read (too
// large, unknown content coding, bad compressed data).
func pcBodyError(err error) *response {
	status, msg := bodyProblem(err)
	return pcError(status, codeInvalidInput, msg)
}

// pcFault is the body of an injected Partner Center error. The code equals
// the HTTP status (simulated code).
func pcFault(status int) *response {
	return pcError(status, status, "Simulated failure: "+http.StatusText(status)+".")
}

// pcRefusal is the body of an injected definite refusal (fault mode
// refuse): Partner Center's normal error shape, code equal to the HTTP
// status (simulated code).
func pcRefusal(status int) *response {
	return pcError(status, status, "Simulated refusal: "+http.StatusText(status)+". The request was not processed.")
}

// --- Microsoft Graph ---

// graphError is Graph's error shape.
func graphError(status int, code, message, requestID, clientRequestID string, now time.Time) *response {
	r := jsonResponse(status, map[string]any{
		"error": map[string]any{
			"code":    code,
			"message": message,
			"innerError": map[string]string{
				"date":              now.Format("2006-01-02T15:04:05"),
				"request-id":        requestID,
				"client-request-id": clientRequestID,
			},
		},
	})
	r.header.Set("request-id", requestID)
	r.header.Set("client-request-id", clientRequestID)
	return r
}

// graphCodeFor picks a Graph error code for an injected status.
func graphCodeFor(status int) string {
	switch status {
	case http.StatusBadRequest:
		return "Request_BadRequest"
	case http.StatusUnauthorized:
		return "InvalidAuthenticationToken"
	case http.StatusForbidden:
		return "Authorization_RequestDenied"
	case http.StatusNotFound:
		return "Request_ResourceNotFound"
	case http.StatusConflict:
		return "Request_MultipleObjectsWithSameKeyValue"
	case http.StatusTooManyRequests:
		return "TooManyRequests"
	case http.StatusServiceUnavailable:
		return "serviceNotAvailable"
	case http.StatusGatewayTimeout:
		return "gatewayTimeout"
	}
	return "generalException"
}

// --- Microsoft Entra (login) ---

type entraErrorBody struct {
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
	ErrorCodes       []int  `json:"error_codes"`
	Timestamp        string `json:"timestamp"`
	TraceID          string `json:"trace_id"`
	CorrelationID    string `json:"correlation_id"`
	ErrorURI         string `json:"error_uri"`
}

// entraError builds an Entra token-endpoint error. The description follows
// Entra's "AADSTSnnnn: text Trace ID: … Correlation ID: … Timestamp: …" form.
func entraError(status int, errCode string, aadsts int, text, host, correlationID string, now time.Time) *response {
	traceID := newGUID()
	ts := now.Format("2006-01-02 15:04:05Z")
	desc := fmt.Sprintf("AADSTS%d: %s Trace ID: %s Correlation ID: %s Timestamp: %s", aadsts, strings.TrimSpace(text), traceID, correlationID, ts)
	r := jsonResponse(status, entraErrorBody{
		Error: errCode, ErrorDescription: desc, ErrorCodes: []int{aadsts}, Timestamp: ts,
		TraceID: traceID, CorrelationID: correlationID, ErrorURI: "https://" + host + "/error?code=" + strconv.Itoa(aadsts),
	})
	r.header.Set("Cache-Control", "no-store, no-cache")
	r.header.Set("Pragma", "no-cache")
	r.header.Set("x-ms-request-id", traceID)
	r.header.Set("client-request-id", correlationID)
	return r
}

// entraFaultError is the body of an injected login error (AADSTS50000,
// Entra's generic "error issuing a token"; the error field is chosen from
// the status).
func entraFaultError(status int, host, correlationID string, now time.Time) *response {
	errCode := "server_error"
	switch {
	case status == http.StatusServiceUnavailable || status == http.StatusTooManyRequests:
		errCode = "temporarily_unavailable"
	case status == http.StatusUnauthorized:
		errCode = "invalid_client"
	case status < 500:
		errCode = "invalid_request"
	}
	return entraError(status, errCode, 50000, "There was an error issuing a token or an issue with our sign-in service. (simulated fault)", host, correlationID, now)
}
