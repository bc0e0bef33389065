package opsclient

import (
	"os"
	"path/filepath"
	"testing"
)

func TestJobRefs(t *testing.T) {
	svc, id, err := ParseRef("user/42")
	if err != nil || svc != "user" || id != 42 {
		t.Fatalf("%s %d %v", svc, id, err)
	}
	for _, bad := range []string{"", "42", "user/", "user/x", "user/0", "facade/1", "user/-3"} {
		if _, _, err := ParseRef(bad); err == nil {
			t.Errorf("%q was accepted", bad)
		}
	}
	if (Job{Service: "tenant"}).Ref() != "tenant/0" {
		t.Error("ref of a job")
	}
	for typ, want := range map[string]string{"instance": "tenant", "domain": "tenant", "subscription": "subscription", "user": "user"} {
		if got, err := OwnerOf(typ); err != nil || got != want {
			t.Errorf("%s: %s %v", typ, got, err)
		}
	}
	if _, err := OwnerOf("job"); err == nil {
		t.Error("an unknown type has an owner")
	}
}

func TestStackFileIsFoundFromSubdirectories(t *testing.T) {
	root := t.TempDir()
	run := filepath.Join(root, ".run")
	sub := filepath.Join(root, "services", "shared")
	for _, d := range []string{run, sub} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	want := Config{Addresses: map[string]string{"tenant": "127.0.0.1:1"}, CAFile: "ca.pem", CertFile: "c.pem", KeyFile: "k.pem"}
	if err := WriteStack(run, want); err != nil {
		t.Fatal(err)
	}
	t.Chdir(sub)
	p, err := FindStack()
	if err != nil {
		t.Fatal(err)
	}
	got, err := ReadStack(p)
	if err != nil || got.Addresses["tenant"] != "127.0.0.1:1" || got.KeyFile != "k.pem" {
		t.Fatalf("%+v %v", got, err)
	}
	if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o600 {
		t.Fatalf("the stack file names the tool's key: mode %v", fi.Mode())
	}
}
