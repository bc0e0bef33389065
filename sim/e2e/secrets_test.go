package e2e

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/o365gateway/gateway/sim/apsc"
	"github.com/o365gateway/gateway/sim/devstack"
)

// scanForSecrets fails the test when a secret the test used appears in a
// log line or a trace of the gateway's processes (every replica), or in an
// answer that must not carry it. The secrets are those the APS controller
// emulator saw (the partner's client secret and refresh token, the users'
// passwords, the passwords the gateway returned, the instances' private
// keys) plus the partner's refresh token. Only the kind of a leaked secret
// is printed, never its value.
func scanForSecrets(t *testing.T, e *env) {
	t.Helper()
	secrets := testSecrets(e)
	files := gatewayOutputs(e.stack)
	for _, finding := range findSecrets(secrets, files) {
		t.Errorf("secrets scan: %s", finding)
	}
	for _, leak := range e.ctrl.Leaks() {
		t.Errorf("secrets scan: %s", leak)
	}
	if testing.Verbose() {
		t.Logf("secrets scan: %d secrets, %d files, %d leaks in answers", len(secrets), len(files), len(e.ctrl.Leaks()))
	}
}

// testSecrets are the secrets a test used.
func testSecrets(e *env) []apsc.Secret {
	seen := map[string]bool{}
	var out []apsc.Secret
	for _, s := range append(e.ctrl.Secrets(), apsc.Secret{Kind: "refresh_token", Value: e.partner.RefreshToken},
		apsc.Secret{Kind: "client_secret", Value: e.partner.ClientSecret}) {
		if s.Value != "" && !seen[s.Value] {
			seen[s.Value] = true
			out = append(out, s)
		}
	}
	return out
}

// findSecrets names the files that contain a secret, and its kind.
func findSecrets(secrets []apsc.Secret, files []string) []string {
	var out []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			out = append(out, err.Error())
			continue
		}
		for _, s := range secrets {
			if bytes.Contains(b, []byte(s.Value)) {
				out = append(out, filepath.Base(f)+" contains a "+s.Kind)
			}
		}
	}
	return out
}

// gatewayOutputs are the log and trace files of the gateway's processes
// (not the simulator's: it stands for Microsoft).
func gatewayOutputs(s *devstack.Stack) []string {
	var out []string
	for name, f := range s.LogFiles {
		if name != devstack.MSCloud {
			out = append(out, f)
		}
	}
	traces, _ := filepath.Glob(filepath.Join(s.WorkDir, "traces-*.jsonl"))
	for _, f := range traces {
		if !strings.Contains(filepath.Base(f), devstack.MSCloud) {
			out = append(out, f)
		}
	}
	return out
}

// TestSecretsScanFindsALeak: the scan is not blind. It knows the secrets
// the test used (a private key, the client secret) and finds one planted in
// a copy of a process's log.
func TestSecretsScanFindsALeak(t *testing.T) {
	e := start(t)
	e.install(nil)
	kinds := map[string]bool{}
	for _, s := range testSecrets(e) {
		kinds[s.Kind] = true
	}
	if !kinds["client_secret"] || !kinds["private key"] {
		t.Fatalf("the scan does not know the secrets the test used: %v", kinds)
	}
	orig, err := os.ReadFile(e.stack.LogFiles[devstack.Tenant])
	if err != nil {
		t.Fatal(err)
	}
	planted := filepath.Join(t.TempDir(), "tenant.log")
	if err := os.WriteFile(planted, append(orig, []byte("leak "+e.partner.ClientSecret+"\n")...), 0o600); err != nil {
		t.Fatal(err)
	}
	got := findSecrets(testSecrets(e), []string{planted})
	if len(got) != 1 || !strings.Contains(got[0], "client_secret") {
		t.Fatalf("the planted secret was not found: %v", got)
	}
}
