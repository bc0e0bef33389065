package mscloud

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// Request bodies are bounded on every API: Graph read its body without a
// limit (and while holding the simulator's lock).
func TestBodyLimits(t *testing.T) {
	fz := newFuzzSim(t)
	big := `{"displayName":"` + strings.Repeat("a", maxRequestBodyBytes) + `"}`
	for _, c := range []struct {
		target string
		want   int
	}{
		{"/v1.0/users", http.StatusRequestEntityTooLarge},
		{"/v1/customers", http.StatusRequestEntityTooLarge},
		{"/$PARTNER/oauth2/v2.0/token", http.StatusBadRequest},
		{"/_sim/partners", http.StatusBadRequest},
	} {
		r, ok := fz.request("POST", c.target, "Content-Type: application/json", []byte(big), true)
		if !ok {
			t.Fatal("no request")
		}
		w := httptest.NewRecorder()
		fz.srv.ServeHTTP(w, r)
		if w.Code != c.want {
			t.Errorf("%s: %d, want %d: %.200s", c.target, w.Code, c.want, w.Body)
		}
	}
}
