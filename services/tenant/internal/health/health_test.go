package health

import (
	"testing"
	"time"

	"github.com/o365gateway/gateway/services/shared/gdap"

	"github.com/o365gateway/gateway/services/tenant/internal/storage"
)

func TestDeadlines(t *testing.T) {
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	s := &Service{Warning: 30 * 24 * time.Hour}
	for _, c := range []struct {
		at   time.Time
		want string
	}{
		{time.Time{}, OK}, // unknown
		{now.Add(-time.Second), Expired},
		{now, Expired},
		{now.Add(29 * 24 * time.Hour), Expiring},
		{now.Add(31 * 24 * time.Hour), OK},
	} {
		if got := s.deadline(c.at, now); got != c.want {
			t.Errorf("deadline %v: %s, want %s", c.at, got, c.want)
		}
	}
	if (&Service{}).warning() != DefaultWarning {
		t.Error("no warning period configured: the default applies")
	}
}

func TestTenantRisks(t *testing.T) {
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	appUser := &storage.Instance{RefreshTokenSealed: "sealed"}
	appOnly := &storage.Instance{ClientSecretSealed: "sealed"}
	warn := 30 * 24 * time.Hour
	for _, c := range []struct {
		name string
		inst *storage.Instance
		g    gdap.Relationship
		want string
	}{
		{"pending", appOnly, gdap.Relationship{State: gdap.StatePendingApproval, ApprovalURL: "https://x"}, GdapMissing},
		{"expired", appOnly, gdap.Relationship{State: gdap.StateExpired}, GdapMissing},
		{"never requested", appOnly, gdap.Relationship{}, GdapMissing},
		{"expiring", appOnly, gdap.Relationship{State: gdap.StateExpiring, ExpiresAt: now.Add(time.Hour)}, GdapExpiring},
		{"ending, not extended", appOnly, gdap.Relationship{State: gdap.StateActive, ExpiresAt: now.Add(10 * 24 * time.Hour), Consented: true}, GdapExpiring},
		{"ending, extended", appOnly, gdap.Relationship{State: gdap.StateActive, AutoExtend: true, ExpiresAt: now.Add(10 * 24 * time.Hour), Consented: true}, ""},
		{"app+user without consent", appUser, gdap.Relationship{State: gdap.StateActive, AutoExtend: true}, ConsentMissing},
		{"app+user with consent", appUser, gdap.Relationship{State: gdap.StateActive, AutoExtend: true, Consented: true}, ""},
	} {
		r := risk(c.inst, &storage.Tenant{ID: "t", GDAP: c.g}, now, warn)
		got := ""
		if r != nil {
			got = r.Problem
		}
		if got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
}
