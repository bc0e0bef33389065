// Package pcerr turns Partner Center errors into the gateway's outcomes:
// for a synchronous call an APS refusal, for a job a decision to wait
// (429), retry (transient) or fail for good with a reason an operator can
// act on. Both services use it, so a Microsoft code means the same thing
// everywhere.
package pcerr

import (
	"errors"
	"net/http"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/o365gateway/gateway/services/shared/apierr"
	"github.com/o365gateway/gateway/services/shared/jobs"
	"github.com/o365gateway/gateway/services/shared/partnercenter"
)

type meaning struct {
	code    codes.Code
	reason  string
	message string // empty: Microsoft's description
}

// known maps documented Partner Center codes to reasons.
var known = map[int]meaning{
	2030:   {codes.FailedPrecondition, apierr.CustomerCountryNotSupported, apierr.CountryNotSupportedMessage},
	600049: {codes.InvalidArgument, apierr.InvalidRequest, ""},
	600050: {codes.InvalidArgument, apierr.InvalidRequest, ""},
	600051: {codes.InvalidArgument, apierr.InvalidAddress, ""},
	600002: {codes.InvalidArgument, apierr.InvalidRequest, ""},
	13605:  {codes.FailedPrecondition, apierr.CustomerAgreementRequired, "The customer must accept the Microsoft Customer Agreement before a purchase: configure the tenant's mca first."},
	10012:  {codes.FailedPrecondition, apierr.CustomerAgreementRequired, "The customer must accept the Microsoft Customer Agreement before a purchase: configure the tenant's mca first."},
	2002:   {codes.InvalidArgument, apierr.QuantityOutOfRange, ""},
	10015:  {codes.InvalidArgument, apierr.QuantityOutOfRange, ""},
	800070: {codes.FailedPrecondition, apierr.OfferNotFound, ""},
	10001:  {codes.FailedPrecondition, apierr.OfferNotFound, ""},
	400013: {codes.FailedPrecondition, apierr.OfferNotFound, ""},
	400018: {codes.FailedPrecondition, apierr.OfferNotFound, ""},
	400019: {codes.FailedPrecondition, apierr.OfferNotFound, ""},
	800018: {codes.FailedPrecondition, apierr.SandboxLimitReached, ""},
	10009:  {codes.FailedPrecondition, apierr.SandboxLimitReached, ""},
	800090: {codes.FailedPrecondition, apierr.CancellationWindowClosed, "The cancellation window has closed: Microsoft no longer allows this seat reduction or cancellation."},
}

// Refusal maps a Partner Center business code to an APS refusal, if known.
func Refusal(code int, description string) (*apierr.Error, bool) {
	m, ok := known[code]
	if !ok {
		return nil, false
	}
	msg := m.message
	if msg == "" {
		msg = "Microsoft refused the request: " + description
	}
	return apierr.New(m.code, m.reason, "%s", msg), true
}

// Business is the refusal of a business error that Partner Center reports
// inside a successful answer (a cart line, a checkout, an upgrade), where
// what names it ("the cart").
func Business(code int, description, what string) *apierr.Error {
	if r, ok := Refusal(code, description); ok {
		return r
	}
	return apierr.New(codes.FailedPrecondition, apierr.MicrosoftRefused, "Microsoft refused %s: %s (code %d).", what, description, code)
}

// Sync maps an error of a synchronous Microsoft call (what = "check the domain").
func Sync(err error, what string) error {
	e, ok := partnercenter.AsError(err)
	switch {
	case ok && e.Throttled():
		return apierr.Wrap(err, codes.ResourceExhausted, apierr.Throttled, "Microsoft is throttling this partner; try again in %s.", e.RetryAfter.Round(time.Second))
	case ok && e.Transient():
		return apierr.Wrap(err, codes.Unavailable, apierr.MicrosoftUnavailable, "Microsoft could not %s right now; try again later.", what)
	case ok:
		if r, known := Refusal(e.Code, e.Description); known {
			return r
		}
		if e.StatusCode == http.StatusUnauthorized || e.StatusCode == http.StatusForbidden {
			return apierr.Wrap(err, codes.FailedPrecondition, apierr.MicrosoftRefused, "Microsoft refused to %s for this partner: %s", what, e.Description)
		}
		return apierr.Wrap(err, codes.FailedPrecondition, apierr.MicrosoftRefused, "Microsoft refused to %s: %s (code %d).", what, e.Description, e.Code)
	default:
		return apierr.Wrap(err, codes.Unavailable, apierr.MicrosoftUnavailable, "Microsoft could not %s right now; try again later.", what)
	}
}

// Job classifies an error met by a job: Snooze on 429 (Retry-After, default
// 30s), the error itself (retry with backoff) when transient or not from
// Partner Center (e.g. token acquisition), Permanent with a reason otherwise.
func Job(err error) error {
	if errors.Is(err, partnercenter.ErrStillRunning) {
		return jobs.Snooze(30*time.Second, err)
	}
	e, ok := partnercenter.AsError(err)
	if !ok {
		return err
	}
	switch {
	case e.Throttled():
		d := e.RetryAfter
		if d <= 0 {
			d = 30 * time.Second
		}
		return jobs.Snooze(d, err)
	case e.Transient():
		return err
	}
	if r, known := Refusal(e.Code, e.Description); known {
		return jobs.Permanent(r)
	}
	return jobs.Permanent(apierr.Wrap(err, codes.FailedPrecondition, apierr.MicrosoftRefused, "Microsoft refused the request: %s (code %d).", e.Description, e.Code))
}
