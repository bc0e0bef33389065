package mserr

import (
	"errors"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"

	"github.com/o365gateway/gateway/services/shared/apierr"
	"github.com/o365gateway/gateway/services/shared/jobs"
)

func TestDeadCredentialsNameTheCause(t *testing.T) {
	expired := errors.New(`Entra refused`)
	if Credentials(expired) != nil || Credentials(nil) != nil {
		t.Fatal("an ordinary error is not a credential refusal")
	}
	// As the tenant service passes it on to the other services.
	relayed := apierr.New(codes.FailedPrecondition, apierr.CredentialsExpired, "The instance's refresh token has expired at Microsoft (AADSTS700082); enter a new one in the instance settings.")
	err := Job(relayed)
	if !jobs.IsPermanent(err) {
		t.Fatalf("a dead credential is retried: %v", err)
	}
	if e := apierr.From(errors.Unwrap(err)); e.Reason != apierr.CredentialsExpired || !strings.Contains(e.Message, "refresh token") || e.HTTPStatus() != 400 {
		t.Fatalf("job refusal: %+v", e)
	}
	if e := apierr.From(Sync(relayed, "check the domain")); e.Reason != apierr.CredentialsExpired {
		t.Fatalf("sync refusal: %+v", e)
	}
}
