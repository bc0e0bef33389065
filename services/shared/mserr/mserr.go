// Package mserr turns the errors of Microsoft calls, Partner Center's and
// Graph's alike, into the gateway's outcomes: for a synchronous call an APS
// refusal (Sync), for a job a decision to wait (429), retry (transient) or
// fail for good with a reason an operator can act on (Job). Every service
// uses it, so a Microsoft answer means the same thing everywhere.
package mserr

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/o365gateway/gateway/services/shared/apierr"
	"github.com/o365gateway/gateway/services/shared/jobs"
	"github.com/o365gateway/gateway/services/shared/msapi"
	"github.com/o365gateway/gateway/services/shared/msauth"
	"github.com/o365gateway/gateway/services/shared/partnercenter"
)

// api is what differs between the APIs when their errors are classified.
type api struct {
	// throttling names who throttles whom: Partner Center limits the
	// partner, Graph each customer tenant.
	throttling string
	// snooze is the wait after a 429 without Retry-After.
	snooze time.Duration
	// retryUnauthorized: a job retries a 401. A new customer's tenant
	// refuses Graph tokens for its first minutes; Partner Center's client
	// has already retried a 401 once with a fresh token.
	retryUnauthorized bool
}

var apis = map[msapi.API]api{
	msapi.PartnerCenter: {throttling: "Microsoft is throttling this partner", snooze: 30 * time.Second},
	msapi.Graph:         {throttling: "Microsoft Graph is throttling this tenant", snooze: 10 * time.Second, retryUnauthorized: true},
}

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

// refusal is the known refusal of a Partner Center business code in e.
func refusal(e msapi.Error) (*apierr.Error, bool) {
	if pc, ok := e.(*partnercenter.Error); ok {
		return Refusal(pc.Code, pc.Description)
	}
	return nil, false
}

// detail is what Microsoft said, with Partner Center's numeric code.
func detail(e msapi.Error) string {
	if pc, ok := e.(*partnercenter.Error); ok {
		return fmt.Sprintf("%s (code %d).", pc.Description, pc.Code)
	}
	return e.Detail()
}

// Sync maps an error of a synchronous Microsoft call (what = "check the
// domain"): 429 → Throttled, transient or not from Microsoft →
// MicrosoftUnavailable, a known Partner Center code → its reason, anything
// else → MicrosoftRefused.
func Sync(err error, what string) error {
	if dead := Credentials(err); dead != nil {
		return dead
	}
	e, ok := msapi.AsError(err)
	switch {
	case ok && e.Throttled():
		return apierr.Wrap(err, codes.ResourceExhausted, apierr.Throttled, "%s; try again in %s.", apis[e.API()].throttling, e.Wait().Round(time.Second))
	case !ok, e.Transient():
		return apierr.Wrap(err, codes.Unavailable, apierr.MicrosoftUnavailable, "Microsoft could not %s right now; try again later.", what)
	}
	if r, known := refusal(e); known {
		return r
	}
	if e.API() == msapi.PartnerCenter && (e.Status() == http.StatusUnauthorized || e.Status() == http.StatusForbidden) {
		return apierr.Wrap(err, codes.FailedPrecondition, apierr.MicrosoftRefused, "Microsoft refused to %s for this partner: %s", what, e.Detail())
	}
	return apierr.Wrap(err, codes.FailedPrecondition, apierr.MicrosoftRefused, "Microsoft refused to %s: %s", what, detail(e))
}

// Job classifies an error met by a job: nil stays nil; Snooze on 429 (for
// Retry-After) and while Partner Center is still applying a change; the
// error itself (retry with backoff) when transient or not from Microsoft
// (e.g. token acquisition); Permanent with a reason otherwise.
func Job(err error) error {
	if errors.Is(err, partnercenter.ErrStillRunning) {
		return jobs.Snooze(30*time.Second, err)
	}
	if dead := Credentials(err); dead != nil {
		return jobs.Permanent(dead)
	}
	e, ok := msapi.AsError(err)
	if !ok {
		return err
	}
	a := apis[e.API()]
	switch {
	case e.Throttled():
		d := e.Wait()
		if d <= 0 {
			d = a.snooze
		}
		return jobs.Snooze(d, err)
	case e.Transient(), a.retryUnauthorized && e.Status() == http.StatusUnauthorized:
		return err
	}
	if r, known := refusal(e); known {
		return jobs.Permanent(r)
	}
	return jobs.Permanent(apierr.Wrap(err, codes.FailedPrecondition, apierr.MicrosoftRefused, "Microsoft refused the request: %s", detail(e)))
}

// Credentials is the refusal of an error caused by the instance's own dead
// credential (Entra refused the client secret or the refresh token, here or
// in the tenant service that issues the other services' tokens), naming
// the cause; nil for any other error. Retrying cannot help: the partner
// enters new credentials (PUT /app/{id}).
func Credentials(err error) *apierr.Error {
	if err == nil {
		return nil
	}
	if kind, f, ok := msauth.Dead(err); ok {
		which := "client secret"
		if f.OAuthError == "invalid_grant" {
			which = "refresh token"
		}
		if kind == msauth.Expired {
			return apierr.New(codes.FailedPrecondition, apierr.CredentialsExpired,
				"The instance's %s has expired at Microsoft (AADSTS%d); enter a new one in the instance settings.", which, f.Code)
		}
		return apierr.New(codes.FailedPrecondition, apierr.CredentialsInvalid,
			"Microsoft refuses the instance's %s (AADSTS%d: %s); enter a valid one in the instance settings.", which, f.Code, f.OAuthError)
	}
	var ae *apierr.Error
	if errors.As(err, &ae) && (ae.Reason == apierr.CredentialsExpired || ae.Reason == apierr.CredentialsInvalid) {
		return apierr.New(ae.Code, ae.Reason, "%s", ae.Message)
	}
	return nil
}
