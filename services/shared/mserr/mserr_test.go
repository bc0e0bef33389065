package mserr

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/o365gateway/gateway/services/shared/apierr"
	"github.com/o365gateway/gateway/services/shared/graph"
	"github.com/o365gateway/gateway/services/shared/jobs"
	"github.com/o365gateway/gateway/services/shared/partnercenter"
)

func TestSyncBothAPIs(t *testing.T) {
	cases := []struct {
		name    string
		err     error
		code    codes.Code
		reason  string
		message string
	}{
		{"pc throttled", &partnercenter.Error{StatusCode: 429, RetryAfter: 57 * time.Second}, codes.ResourceExhausted, apierr.Throttled,
			"Microsoft is throttling this partner; try again in 57s."},
		{"graph throttled", fmt.Errorf("list: %w", &graph.Error{StatusCode: 429, RetryAfter: 5 * time.Second}), codes.ResourceExhausted, apierr.Throttled,
			"Microsoft Graph is throttling this tenant; try again in 5s."},
		{"pc transient", &partnercenter.Error{StatusCode: 503}, codes.Unavailable, apierr.MicrosoftUnavailable,
			"Microsoft could not check the domain right now; try again later."},
		{"graph transient", &graph.Error{StatusCode: 500}, codes.Unavailable, apierr.MicrosoftUnavailable,
			"Microsoft could not check the domain right now; try again later."},
		{"not from Microsoft", errors.New("token: connection refused"), codes.Unavailable, apierr.MicrosoftUnavailable,
			"Microsoft could not check the domain right now; try again later."},
		{"pc known code", &partnercenter.Error{StatusCode: 403, Code: 2030, Description: "not onboarded"}, codes.FailedPrecondition,
			apierr.CustomerCountryNotSupported, apierr.CountryNotSupportedMessage},
		{"pc forbidden", &partnercenter.Error{StatusCode: 403, Code: 900308, Description: "insufficient privileges"}, codes.FailedPrecondition,
			apierr.MicrosoftRefused, "Microsoft refused to check the domain for this partner: insufficient privileges"},
		{"pc refusal", &partnercenter.Error{StatusCode: 400, Code: 1234, Description: "no"}, codes.FailedPrecondition,
			apierr.MicrosoftRefused, "Microsoft refused to check the domain: no (code 1234)."},
		{"graph refusal", &graph.Error{StatusCode: 400, Code: "Request_BadRequest", Message: "bad"}, codes.FailedPrecondition,
			apierr.MicrosoftRefused, "Microsoft refused to check the domain: bad"},
		{"graph forbidden", &graph.Error{StatusCode: 403, Code: "Authorization_RequestDenied", Message: "denied"}, codes.FailedPrecondition,
			apierr.MicrosoftRefused, "Microsoft refused to check the domain: denied"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := apierr.From(Sync(tc.err, "check the domain"))
			if e.Code != tc.code || e.Reason != tc.reason || e.Message != tc.message {
				t.Fatalf("got %v %s %q", e.Code, e.Reason, e.Message)
			}
		})
	}
}

func TestJobBothAPIs(t *testing.T) {
	if Job(nil) != nil {
		t.Fatal("nil is not an error")
	}
	plain := errors.New("token: connection refused")
	cases := []struct {
		name string
		err  error
		// want: "snooze <d>", "retry", or "permanent <reason>"
		want string
	}{
		{"still running", fmt.Errorf("subscription s1: %w", partnercenter.ErrStillRunning), "snooze 30s"},
		{"pc 429 with Retry-After", &partnercenter.Error{StatusCode: 429, RetryAfter: 90 * time.Second}, "snooze 1m30s"},
		{"pc 429 without", &partnercenter.Error{StatusCode: 429}, "snooze 30s"},
		{"graph 429 without", &graph.Error{StatusCode: 429}, "snooze 10s"},
		{"pc 502", &partnercenter.Error{StatusCode: 502}, "retry"},
		{"graph 503", &graph.Error{StatusCode: 503}, "retry"},
		{"not from Microsoft", plain, "retry"},
		{"graph 401 (tenant still propagating)", &graph.Error{StatusCode: 401}, "retry"},
		{"pc 401 after the client's own retry", &partnercenter.Error{StatusCode: 401, Description: "expired"}, "permanent " + apierr.MicrosoftRefused},
		{"pc known code", &partnercenter.Error{StatusCode: 400, Code: 800090}, "permanent " + apierr.CancellationWindowClosed},
		{"graph refusal", &graph.Error{StatusCode: 400, Message: "bad"}, "permanent " + apierr.MicrosoftRefused},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := Job(tc.err)
			switch {
			case strings.HasPrefix(tc.want, "snooze "):
				if !strings.HasPrefix(got.Error(), "snoozed for "+strings.TrimPrefix(tc.want, "snooze ")+":") {
					t.Fatalf("want %s, got %v", tc.want, got)
				}
			case tc.want == "retry":
				if got != tc.err {
					t.Fatalf("want the error itself, got %v", got)
				}
			default:
				if !jobs.IsPermanent(got) || apierr.From(got).Reason != strings.TrimPrefix(tc.want, "permanent ") {
					t.Fatalf("want %s, got %v", tc.want, got)
				}
			}
		})
	}
	e := apierr.From(Job(&partnercenter.Error{StatusCode: 400, Code: 1234, Description: "no"}))
	if e.Message != "Microsoft refused the request: no (code 1234)." {
		t.Fatalf("%q", e.Message)
	}
	e = apierr.From(Job(&graph.Error{StatusCode: 404, Message: "gone"}))
	if e.Message != "Microsoft refused the request: gone" {
		t.Fatalf("%q", e.Message)
	}
}

func TestBusiness(t *testing.T) {
	if e := Business(10009, "sandbox", "the cart"); e.Reason != apierr.SandboxLimitReached {
		t.Fatalf("%+v", e)
	}
	if e := Business(4242, "odd", "the cart"); e.Reason != apierr.MicrosoftRefused || e.Message != "Microsoft refused the cart: odd (code 4242)." {
		t.Fatalf("%+v", e)
	}
}
