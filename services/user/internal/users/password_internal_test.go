package users

import (
	"strings"
	"testing"
)

// Entra refuses a password that contains the user's alias. A generated
// password must never do so (NewPassword alone does about once in 3,000
// draws for a three-letter alias, and a re-run would keep it).
func TestPasswordForAvoidsTheAlias(t *testing.T) {
	for range 50000 {
		if pw := passwordFor("Ann@contoso.example"); strings.Contains(strings.ToLower(pw), "ann") || len(pw) != 16 {
			t.Fatalf("password %q for ann", pw)
		}
	}
}
