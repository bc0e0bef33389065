package apierr

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestRoundTripThroughStatus(t *testing.T) {
	err := New(codes.AlreadyExists, DomainAlreadyTaken, "The domain %s is taken.", "x.onmicrosoft.com")
	st, ok := status.FromError(ToStatus(err))
	if !ok {
		t.Fatal("not a status")
	}
	back := FromStatus(st)
	if back.Reason != DomainAlreadyTaken || back.HTTPStatus() != http.StatusConflict || back.Message != "The domain x.onmicrosoft.com is taken." {
		t.Fatalf("got %+v status %d", back, back.HTTPStatus())
	}
}

func TestJobFailureIs500WithReason(t *testing.T) {
	err := AsJobFailure(New(codes.FailedPrecondition, CustomerCountryNotSupported, CountryNotSupportedMessage))
	st, _ := status.FromError(ToStatus(err))
	back := FromStatus(st)
	if back.HTTPStatus() != 500 || back.Reason != CustomerCountryNotSupported {
		t.Fatalf("got %+v %d", back, back.HTTPStatus())
	}
}

// A recorded failure answers the re-sends with its own code and reason;
// none recorded is FailedPrecondition. Either way a 500 (the job failed).
func TestJobFailedFromRecord(t *testing.T) {
	for code, want := range map[codes.Code]codes.Code{codes.OK: codes.FailedPrecondition, codes.Unavailable: codes.Unavailable} {
		e := JobFailed(code, MicrosoftUnavailable, "The %s failed: %s", "check", "no answer")
		st, _ := status.FromError(ToStatus(e))
		back := FromStatus(st)
		if !back.JobFailed || back.Code != want || back.HTTPStatus() != 500 || back.Reason != MicrosoftUnavailable || back.Message != "The check failed: no answer" {
			t.Fatalf("recorded code %v: got %+v %d", code, back, back.HTTPStatus())
		}
	}
}

func TestUnknownErrorsHideTheirText(t *testing.T) {
	err := fmt.Errorf("pq: password=hunter2 failed")
	st, _ := status.FromError(ToStatus(err))
	if st.Code() != codes.Internal || st.Message() != "Internal error in the gateway." {
		t.Fatalf("leaked: %v", st)
	}
	if !errors.Is(From(err), err) {
		t.Fatal("cause lost for logs")
	}
	if From(context.DeadlineExceeded).Code != codes.DeadlineExceeded {
		t.Fatal("deadline mapping")
	}
}

func TestHTTPMapping(t *testing.T) {
	cases := map[codes.Code]int{
		codes.InvalidArgument: 400, codes.FailedPrecondition: 400, codes.Unauthenticated: 401,
		codes.PermissionDenied: 403, codes.NotFound: 404, codes.AlreadyExists: 409,
		codes.ResourceExhausted: 429, codes.Unavailable: 503, codes.Internal: 500,
	}
	for c, want := range cases {
		if got := (&Error{Code: c}).HTTPStatus(); got != want {
			t.Errorf("%v: got %d want %d", c, got, want)
		}
	}
}
