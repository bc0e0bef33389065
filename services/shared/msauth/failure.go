package msauth

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
)

// Failure is Entra's refusal of a token request: its OAuth error and the
// AADSTS code of its description. It never holds a secret (Entra's
// descriptions name the application, never the credential).
type Failure struct {
	Status      int
	OAuthError  string // invalid_client, invalid_grant, ...
	Code        int    // AADSTS number, 0 when none
	Description string // the first line of error_description
}

func (f *Failure) Error() string {
	return fmt.Sprintf("Entra refused the token request: HTTP %d %s %s", f.Status, f.OAuthError, f.Description)
}

// Credential kinds of a dead credential.
const (
	// Expired: the client secret's end date passed, or the refresh token
	// was not redeemed for 90 days.
	Expired = "expired"
	// Invalid: the secret is wrong, or the refresh token revoked or spent.
	Invalid = "invalid"
)

// deadCodes are the AADSTS codes that mean the partner's own credential is
// dead: retrying cannot help, the partner must enter new credentials.
// AADSTS65001 (consent missing) is not among them: a new customer's tenant
// answers it for its first minutes.
var deadCodes = map[int]string{
	7000222: Expired, // the client secret keys are expired
	700082:  Expired, // the refresh token expired due to inactivity
	700084:  Expired, // the refresh token (single-page app) expired
	7000215: Invalid, // invalid client secret
	70000:   Invalid, // the grant is invalid or malformed (revoked or spent refresh token)
	50173:   Invalid, // the grant expired after a password change
	700024:  Invalid, // the client assertion is not within its valid time range
}

// Dead tells whether err is Entra's refusal of the partner's credential
// itself, and how it is dead (Expired or Invalid) with Entra's reason.
func Dead(err error) (kind string, f *Failure, ok bool) {
	if !errors.As(err, &f) {
		var af *azidentity.AuthenticationFailedError
		if !errors.As(err, &af) || af.RawResponse == nil {
			return "", nil, false
		}
		body, _ := runtime.Payload(af.RawResponse) // re-readable: azidentity reads it too
		f = failureOf(af.RawResponse.StatusCode, body)
	}
	kind, ok = deadCodes[f.Code]
	return kind, f, ok
}

var aadsts = regexp.MustCompile(`AADSTS(\d+)`)

// failureOf reads Entra's error body.
func failureOf(status int, body []byte) *Failure {
	var out struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
		Codes       []int  `json:"error_codes"`
	}
	_ = json.Unmarshal(body, &out)
	desc := firstLine(out.Description)
	f := &Failure{Status: status, OAuthError: out.Error, Description: desc}
	if len(out.Codes) > 0 {
		f.Code = out.Codes[0]
	} else if m := aadsts.FindStringSubmatch(desc); m != nil {
		f.Code, _ = strconv.Atoi(m[1])
	}
	return f
}

func firstLine(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' || s[i] == '\r' {
			return s[:i]
		}
	}
	return s
}
