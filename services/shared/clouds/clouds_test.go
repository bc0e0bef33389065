package clouds

import "testing"

func TestTable(t *testing.T) {
	for name, want := range map[string]string{"global": "x.onmicrosoft.com", "china": "x.partner.onmschina.cn", "USGOV": "x.onmicrosoft.com"} {
		e, err := Lookup(name)
		if err != nil {
			t.Fatal(err)
		}
		if got := e.InitialDomain("X"); got != want {
			t.Errorf("%s: %s", name, got)
		}
	}
	if _, err := Lookup("germany"); err == nil {
		t.Fatal("closed cloud accepted")
	}
	g, _ := Lookup("global")
	o := g.Override("https://127.0.0.1:9443", "https://127.0.0.1:9443/", "")
	if o.LoginAuthority != "https://127.0.0.1:9443/" || o.PartnerCenterURL != "https://127.0.0.1:9443" || o.PartnerCenterAudience != g.PartnerCenterAudience || o.GraphURL != g.GraphURL {
		t.Fatalf("%+v", o)
	}
}
