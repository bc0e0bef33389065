package accounts

import (
	"context"
	"strings"
	"testing"

	"github.com/o365gateway/gateway/services/shared/apierr"
	"github.com/o365gateway/gateway/services/shared/apsmd"

	"github.com/o365gateway/gateway/services/tenant/internal/storage"
)

func TestSameController(t *testing.T) {
	for _, c := range []struct {
		uri, registered string
		same            bool
	}{
		{"https://apsc.example:6308/", "https://apsc.example:6308/", true},
		{"https://APSC.example:6308", "https://apsc.example:6308/aps", true},
		{"https://apsc.example/", "https://apsc.example:443/", true},
		{"https://apsc.example:6308/", "https://apsc.example:6309/", false},
		{"https://evil.example:6308/", "https://apsc.example:6308/", false},
		{"http://apsc.example:6308/", "https://apsc.example:6308/", false},
		{"not a url", "https://apsc.example:6308/", false},
	} {
		if got := SameController(c.uri, c.registered); got != c.same {
			t.Errorf("%s vs %s: %v", c.uri, c.registered, got)
		}
	}
}

// A request whose APS-Controller-URI is not the instance's registered
// controller never gets the instance's key presented anywhere.
func TestReadRefusesAnotherController(t *testing.T) {
	r := &Reader{}
	inst := &storage.Instance{InstanceID: "i", ControllerURI: "https://apsc.example:6308/"}
	_, _, err := r.Read(context.Background(), inst, apsmd.Request{ControllerURI: "https://evil.example:6308/"}, "acc-1")
	if e := apierr.From(err); err == nil || e.Reason != apierr.InvalidRequest || !strings.Contains(e.Message, "not the controller") {
		t.Fatalf("%v", err)
	}
}
