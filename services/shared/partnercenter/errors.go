package partnercenter

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/o365gateway/gateway/services/shared/msapi"
)

// Error is a Partner Center refusal. It parses the three shapes Partner
// Center uses: {code, description, data, source}, the richer 600xx variant
// {code, message, description, errorName, isRetryable, ...}, and the 429 body
// {statusCode, message} (with Retry-After).
type Error struct {
	StatusCode    int
	Code          int
	Description   string
	ErrorName     string
	Retryable     bool
	RetryAfter    time.Duration
	RequestID     string
	CorrelationID string
	// transport is why no readable answer came: the transport's failure, or
	// an answer that cannot be decoded or followed.
	transport error
}

func (e *Error) Error() string {
	if e.transport != nil {
		return fmt.Sprintf("partner center: %s: %v", e.Description, e.transport)
	}
	return fmt.Sprintf("partner center: HTTP %d code %d %s: %s", e.StatusCode, e.Code, e.ErrorName, e.Description)
}

// Unwrap returns the transport error, if any.
func (e *Error) Unwrap() error { return e.transport }

// Throttled tells whether Partner Center answered 429.
func (e *Error) Throttled() bool { return e.StatusCode == http.StatusTooManyRequests }

// Transient tells whether the failure may pass by itself (transport, 408, 429, 5xx).
func (e *Error) Transient() bool {
	return e.transport != nil || e.StatusCode == 408 || e.StatusCode == 429 || e.StatusCode >= 500 || e.Retryable
}

// API tells that the error is Partner Center's (see msapi.Error).
func (e *Error) API() msapi.API { return msapi.PartnerCenter }

// Status is the HTTP status; 0 when Partner Center could not be reached.
func (e *Error) Status() int { return e.StatusCode }

// Wait is the Retry-After Partner Center asked for.
func (e *Error) Wait() time.Duration { return e.RetryAfter }

// Detail is Partner Center's description.
func (e *Error) Detail() string { return e.Description }

var _ msapi.Error = (*Error)(nil)

// AsError extracts a *Error from err.
func AsError(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

// flexInt accepts a JSON number or a numeric string.
type flexInt int

func (f *flexInt) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	if s == "" || s == "null" {
		return nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return nil // non-numeric codes are kept as 0; the description still says what happened
	}
	*f = flexInt(n)
	return nil
}

func parseError(resp *http.Response, body []byte) *Error {
	e := &Error{
		StatusCode:    resp.StatusCode,
		RequestID:     resp.Header.Get("MS-RequestId"),
		CorrelationID: resp.Header.Get("MS-CorrelationId"),
	}
	var raw struct {
		Code        flexInt `json:"code"`
		StatusCode  flexInt `json:"statusCode"`
		Description string  `json:"description"`
		Message     string  `json:"message"`
		ErrorName   string  `json:"errorName"`
		IsRetryable bool    `json:"isRetryable"`
	}
	if json.Unmarshal(body, &raw) == nil {
		e.Code = int(raw.Code)
		e.Description = raw.Description
		if e.Description == "" {
			e.Description = raw.Message
		}
		e.ErrorName = raw.ErrorName
		e.Retryable = raw.IsRetryable
	}
	if e.Description == "" {
		e.Description = statusText(resp.StatusCode)
	}
	e.RetryAfter = msapi.RetryAfter(resp.Header)
	return e
}

// statusText describes an HTTP status, also one net/http has no text for.
func statusText(code int) string {
	if t := http.StatusText(code); t != "" {
		return t
	}
	return fmt.Sprintf("HTTP status %d", code)
}

// readError is the typed error of an answer that cannot be read or followed
// (malformed JSON, a link that is not a URL). It counts as transient, as any
// failure to get Partner Center's answer does.
func readError(resp *http.Response, what string, err error) *Error {
	e := &Error{Description: what, transport: err}
	if resp != nil {
		e.StatusCode = resp.StatusCode
		e.RequestID = resp.Header.Get("MS-RequestId")
		e.CorrelationID = resp.Header.Get("MS-CorrelationId")
	}
	return e
}
