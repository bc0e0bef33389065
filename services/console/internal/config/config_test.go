package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/o365gateway/gateway/services/shared/config"
	"github.com/o365gateway/gateway/services/shared/opsclient"
)

// TestDocsDescribeEveryKey keeps docs/console.md's configuration table true.
func TestDocsDescribeEveryKey(t *testing.T) {
	doc, err := os.ReadFile("../../../../docs/console.md")
	if err != nil {
		t.Fatal(err)
	}
	if missing := config.Undocumented(string(doc), Prefix, Config{}); len(missing) > 0 {
		t.Errorf("docs/console.md lacks rows for:\n%s", config.Markdown(missing))
	}
}

func load(t *testing.T, env map[string]string) (*Config, error) {
	t.Helper()
	var c Config
	if err := config.LoadFrom(Prefix, &c, func(k string) (string, bool) { v, ok := env[k]; return v, ok }); err != nil {
		return nil, err
	}
	return &c, c.Resolve()
}

func TestDefaultsAndTheStackFile(t *testing.T) {
	dir := t.TempDir()
	stack := opsclient.Config{Addresses: map[string]string{"tenant": "127.0.0.1:9001", "subscription": "127.0.0.1:9002", "user": "127.0.0.1:9003"},
		CAFile: "ca.pem", CertFile: "tool.pem", KeyFile: "tool-key.pem", TrustDomain: "example.test"}
	if err := opsclient.WriteStack(dir, stack); err != nil {
		t.Fatal(err)
	}
	c, err := load(t, map[string]string{"CONSOLE_STACK_FILE": filepath.Join(dir, opsclient.StackFile), "CONSOLE_ADMIN_TOKEN_FILE": "/run/secrets/token",
		"CONSOLE_USER_ADDR": "10.0.0.3:9003"})
	if err != nil {
		t.Fatal(err)
	}
	if c.ListenAddr != "127.0.0.1:9080" || c.SessionTTL.String() != "8h0m0s" || c.PageSize != 100 || c.CallTimeout.String() != "20s" || c.LogLevel != "info" {
		t.Errorf("defaults: %+v", c)
	}
	got := c.Tools
	if got.Addresses["tenant"] != "127.0.0.1:9001" || got.Addresses["user"] != "10.0.0.3:9003" || got.CertFile != "tool.pem" || got.TrustDomain != "example.test" {
		t.Errorf("tools: %+v", got)
	}
}

func TestKeysWithoutAStackFile(t *testing.T) {
	env := map[string]string{"CONSOLE_TENANT_ADDR": "t:1", "CONSOLE_SUBSCRIPTION_ADDR": "s:2", "CONSOLE_USER_ADDR": "u:3",
		"CONSOLE_MTLS_CA_FILE": "ca", "CONSOLE_MTLS_CERT_FILE": "cert", "CONSOLE_MTLS_KEY_FILE": "key",
		"CONSOLE_TLS_CERT_FILE": "srv.pem", "CONSOLE_TLS_KEY_FILE": "srv-key.pem", "CONSOLE_CLIENT_CA_FILE": "operators.pem"}
	c, err := load(t, env)
	if err != nil {
		t.Fatal(err)
	}
	if c.Tools.Addresses["subscription"] != "s:2" || c.Tools.KeyFile != "key" || c.Tools.TrustDomain != "o365gw.local" {
		t.Errorf("tools: %+v", c.Tools)
	}
}

func TestInvalidConfigurations(t *testing.T) {
	base := func() map[string]string {
		return map[string]string{"CONSOLE_TENANT_ADDR": "t:1", "CONSOLE_SUBSCRIPTION_ADDR": "s:2", "CONSOLE_USER_ADDR": "u:3",
			"CONSOLE_MTLS_CA_FILE": "ca", "CONSOLE_MTLS_CERT_FILE": "cert", "CONSOLE_MTLS_KEY_FILE": "key", "CONSOLE_ADMIN_TOKEN_FILE": "tok"}
	}
	for name, tc := range map[string]struct {
		set  map[string]string
		drop []string
		want string
	}{
		"no access control":          {drop: []string{"CONSOLE_ADMIN_TOKEN_FILE"}, want: "no access control"},
		"no auth with a token":       {set: map[string]string{"CONSOLE_INSECURE_NO_AUTH": "true"}, want: "INSECURE_NO_AUTH excludes"},
		"client CA over plain HTTP":  {set: map[string]string{"CONSOLE_CLIENT_CA_FILE": "ca.pem"}, want: "CLIENT_CA_FILE needs HTTPS"},
		"half a server key pair":     {set: map[string]string{"CONSOLE_TLS_CERT_FILE": "srv.pem"}, want: "go together"},
		"a session of a second":      {set: map[string]string{"CONSOLE_SESSION_TTL": "1s"}, want: "SESSION_TTL"},
		"a page of 5000":             {set: map[string]string{"CONSOLE_PAGE_SIZE": "5000"}, want: "PAGE_SIZE"},
		"no service addresses":       {drop: []string{"CONSOLE_USER_ADDR"}, want: "USER_ADDR are required"},
		"no tool certificate":        {drop: []string{"CONSOLE_MTLS_KEY_FILE"}, want: "tool certificate"},
		"a stack file that is not":   {set: map[string]string{"CONSOLE_STACK_FILE": "/nonexistent/stack.json"}, want: "STACK_FILE"},
		"a duration that is no such": {set: map[string]string{"CONSOLE_CALL_TIMEOUT": "soon"}, want: "CALL_TIMEOUT"},
	} {
		env := base()
		for _, k := range tc.drop {
			delete(env, k)
		}
		for k, v := range tc.set {
			env[k] = v
		}
		_, err := load(t, env)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", name, err, tc.want)
		}
	}
	// Tests may run without access control, by saying so.
	env := base()
	delete(env, "CONSOLE_ADMIN_TOKEN_FILE")
	env["CONSOLE_INSECURE_NO_AUTH"] = "true"
	if _, err := load(t, env); err != nil {
		t.Errorf("INSECURE_NO_AUTH: %v", err)
	}
}
