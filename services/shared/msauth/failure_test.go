package msauth

import (
	"fmt"
	"testing"
)

func TestDeadCredentials(t *testing.T) {
	for _, c := range []struct {
		body string
		kind string
		dead bool
	}{
		{`{"error":"invalid_client","error_description":"AADSTS7000222: The provided client secret keys for app 'x' are expired.\r\nTrace ID: 1","error_codes":[7000222]}`, Expired, true},
		{`{"error":"invalid_grant","error_description":"AADSTS700082: The refresh token has expired due to inactivity."}`, Expired, true},
		{`{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided.","error_codes":[7000215]}`, Invalid, true},
		{`{"error":"invalid_grant","error_description":"AADSTS70000: Provided grant is invalid or malformed."}`, Invalid, true},
		// A new customer's tenant answers consent-missing for its first minutes: not dead.
		{`{"error":"invalid_grant","error_description":"AADSTS65001: The user or administrator has not consented.","error_codes":[65001]}`, "", false},
		{`not json`, "", false},
	} {
		err := fmt.Errorf("wrapped: %w", failureOf(400, []byte(c.body)))
		kind, f, ok := Dead(err)
		if ok != c.dead || kind != c.kind {
			t.Errorf("%s: kind %q dead %v", c.body, kind, ok)
		}
		if ok && (f.Description == "" || len(f.Description) > 0 && f.Description[len(f.Description)-1] == '\r') {
			t.Errorf("%s: description %q", c.body, f.Description)
		}
	}
	if _, _, ok := Dead(fmt.Errorf("dial tcp: refused")); ok {
		t.Error("a transport error is not a dead credential")
	}
}
