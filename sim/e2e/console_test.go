package e2e

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/google/uuid"

	adminv1 "github.com/o365gateway/gateway/gen/go/o365/admin/v1"
	"github.com/o365gateway/gateway/services/shared/opsclient"
	"github.com/o365gateway/gateway/sim/apsc"
	"github.com/o365gateway/gateway/sim/devstack"
)

// chromium finds Debian's Chromium. Where there is none the test is
// skipped loudly (and reported to $O365GW_SKIP_LOG), except under CI=true,
// where it fails: CI must run the browser test (.ci/run installs it).
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	const hint = " (Debian: apt-get install chromium; .ci/run installs it)"
	if os.Getenv("CI") == "true" {
		t.Fatal("CI=true requires Chromium for the console's browser test: neither chromium nor chromium-browser is in PATH" + hint)
	}
	msg := "SKIPPED the console's browser test: no chromium or chromium-browser in PATH" + hint
	wd, _ := os.Getwd()
	fmt.Fprintf(os.Stderr, "\n!!!!! %s: %s\n\n", wd, msg)
	if path := os.Getenv("O365GW_SKIP_LOG"); path != "" {
		if f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644); err == nil {
			fmt.Fprintf(f, "%s: %s\n", wd, msg)
			f.Close()
		}
	}
	t.Skip(msg)
	return ""
}

// consoleProc is bin/console running against a test's stack.
type consoleProc struct {
	URL   string // https://127.0.0.1:PORT
	Token string // the admin token
	Log   string // its log file
}

// startConsole runs bin/console against the stack with an admin token and
// a self-signed server certificate, and waits until it serves.
func (e *env) startConsole() *consoleProc {
	t := e.t
	t.Helper()
	dir := t.TempDir()
	c := &consoleProc{Token: "e2e-console-" + uuid.NewString(), Log: filepath.Join(dir, "console.log")}
	tokenFile := filepath.Join(dir, "admin-token")
	if err := os.WriteFile(tokenFile, []byte(c.Token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := selfSigned(t, dir)
	port, err := devstack.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	c.URL = "https://" + addr
	tools := e.stack.ToolConfig()
	logf, err := os.Create(c.Log)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(binDir, "console"))
	cmd.Env = append(os.Environ(), "CONSOLE_LISTEN_ADDR="+addr, "CONSOLE_TLS_CERT_FILE="+certFile, "CONSOLE_TLS_KEY_FILE="+keyFile,
		"CONSOLE_ADMIN_TOKEN_FILE="+tokenFile, "CONSOLE_TENANT_ADDR="+tools.Addresses["tenant"],
		"CONSOLE_SUBSCRIPTION_ADDR="+tools.Addresses["subscription"], "CONSOLE_USER_ADDR="+tools.Addresses["user"],
		"CONSOLE_MTLS_CA_FILE="+tools.CAFile, "CONSOLE_MTLS_CERT_FILE="+tools.CertFile, "CONSOLE_MTLS_KEY_FILE="+tools.KeyFile,
		"CONSOLE_TRUST_DOMAIN="+tools.TrustDomain, "CONSOLE_LOG_LEVEL=debug")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait(); logf.Close() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		b, _ := os.ReadFile(c.Log)
		if t.Failed() {
			t.Logf("---- console log (tail) ----\n%s", tail(string(b), 4000))
		}
		if bytes.Contains(b, []byte(c.Token)) {
			t.Error("the console's log has the admin token")
		}
	})
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // the test's own self-signed certificate
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		select {
		case err := <-exited:
			b, _ := os.ReadFile(c.Log)
			t.Fatalf("the console exited: %v\n%s", err, b)
		default:
		}
		if resp, err := client.Get(c.URL + "/login"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return c
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("the console did not serve within 30s")
		}
	}
}

// selfSigned writes a server certificate for 127.0.0.1 and its key.
func selfSigned(t *testing.T, dir string) (string, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "console e2e"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := filepath.Join(dir, "console.pem"), filepath.Join(dir, "console-key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// browse starts a headless Chromium for the test.
func browse(t *testing.T, path string) (context.Context, context.CancelFunc) {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.Headless,
		// The network is closed: nothing but the console is reached.
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("no-default-browser-check", true),
		// The console's certificate is the test's own, self-signed.
		chromedp.IgnoreCertErrors,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1400, 1000),
	)
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox) // Chromium's sandbox refuses to run as root
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(alloc, chromedp.WithLogf(t.Logf))
	ctx, cancelTimeout := context.WithTimeout(ctx, 3*time.Minute)
	return ctx, func() { cancelTimeout(); cancelCtx(); cancelAlloc() }
}

// screenshot keeps what the browser shows in $O365GW_SCREENSHOTS, when set.
func screenshot(t *testing.T, ctx context.Context, name string) {
	dir := os.Getenv("O365GW_SCREENSHOTS")
	if dir == "" {
		return
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Logf("screenshot %s: %v", name, err)
		return
	}
	_ = os.MkdirAll(dir, 0o755)
	_ = os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644)
}

// An operator finds a provisioning that Microsoft refused on the console's
// jobs page, with Microsoft's reason, clicks Retry once the cause is gone,
// and the platform's next re-send gets 200 — in a real browser, logged in
// with the admin token.
func TestConsoleRetriesAFailedProvisioningInABrowser(t *testing.T) {
	browser := chromium(t)
	e := start(t)
	inst := e.install(nil)
	e.admin("POST", "/_sim/faults", map[string]any{"api": "partnercenter", "method": "POST", "path": "/v1/customers", "mode": "error",
		"status": 400, "count": 0}, nil)
	body := tenantBody(subdomain())
	r, err := e.ctrl.Provision(e.ctx, inst, "tenants", body)
	if err != nil || r.Status != http.StatusInternalServerError {
		t.Fatalf("a refused provisioning: %v %d %s", err, r.Status, r.Body)
	}
	tenantID := r.ResourceID

	// What the operators' API says of the failed job, to compare with the page.
	ops, err := opsclient.Dial(e.stack.ToolConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer ops.Close()
	jobs, err := ops.ListJobs(e.ctx, "tenant", &adminv1.ListJobsRequest{States: []string{"failed"}, InstanceId: inst.InstanceID})
	if err != nil {
		t.Fatal(err)
	}
	var failed *opsclient.Job
	for i := range jobs {
		if jobs[i].GetResource().GetId() == tenantID {
			failed = &jobs[i]
		}
	}
	if failed == nil || failed.GetOperation().GetFailureReason() == "" {
		t.Fatalf("no failed provisioning job with a reason: %v", jobs)
	}

	c := e.startConsole()
	ctx, cancel := browse(t, browser)
	defer cancel()
	started := time.Now()
	row := `tr[data-job="` + failed.Ref() + `"]`
	fail := func(what string, err error) {
		t.Helper()
		screenshot(t, ctx, "console-failed")
		t.Fatalf("%s: %v", what, err)
	}

	// A stranger is sent to the login form, and back to the jobs after it.
	if err := chromedp.Do(ctx, chromedp.Navigate(c.URL+"/jobs?state=failed"), chromedp.WaitVisible(chromedp.CSS(`#token`))); err != nil {
		fail("the login form", err)
	}
	loginURL, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil || !strings.Contains(loginURL, "/login?next=") {
		t.Errorf("a stranger was not sent to the login form: %s %v", loginURL, err)
	}
	if err := chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS(`#token`), c.Token), chromedp.Click(chromedp.CSS(`#login`)),
		chromedp.WaitVisible(chromedp.CSS(row))); err != nil {
		fail("the jobs page after the login", err)
	}
	reason, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(row+` td.reason`)))
	if err != nil {
		fail("the job's reason", err)
	}
	screenshot(t, ctx, "console-jobs-failed")
	op := failed.GetOperation()
	if !strings.Contains(reason, op.GetFailureReason()) || !strings.Contains(reason, strings.TrimSpace(op.GetFailureMessage())) {
		t.Fatalf("the page's reason %q lacks %s: %s", reason, op.GetFailureReason(), op.GetFailureMessage())
	}

	// The cause is gone; the operator retries.
	body["aps"] = map[string]any{"id": tenantID, "type": apsc.TypeFor("tenants")}
	e.admin("DELETE", "/_sim/faults", nil, nil)
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(row+` button.retry`)), chromedp.WaitVisible(chromedp.CSS(`#flash`))); err != nil {
		fail("retry", err)
	}
	flash, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`#flash`)))
	if err != nil {
		fail("the message after the retry", err)
	}
	screenshot(t, ctx, "console-retried")
	if !strings.Contains(flash, "Job "+failed.Ref()+" retried") || !strings.Contains(flash, "new attempt") {
		t.Fatalf("after the retry the page says %q", flash)
	}
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(300 * time.Millisecond) {
		again, err := e.ctrl.Raw(e.ctx, inst, "POST", "/tenants", nil, mustMarshal(body), apsc.WithHeader(apsc.HeaderRequestPhase, apsc.PhaseAsync))
		if err != nil {
			t.Fatal(err)
		}
		if again.Status == http.StatusOK {
			if mustJSON(t, again)["state"] != "active" {
				t.Fatalf("after the retry: %s", again.Body)
			}
			break
		}
		if again.Status != http.StatusAccepted || time.Now().After(deadline) {
			t.Fatalf("the platform's re-send after the retry: %d %s", again.Status, again.Body)
		}
	}
	if n := len(e.customers()); n != 1 {
		t.Fatalf("%d customers at Microsoft, want 1", n)
	}

	// The console shows the outcome: the tenant is active, and the failed
	// job offers no second retry.
	if err := chromedp.Do(ctx, chromedp.Navigate(c.URL+"/instances/"+inst.InstanceID+"/tenants/"+tenantID),
		chromedp.WaitVisible(chromedp.CSS(`#tenant`))); err != nil {
		fail("the tenant page", err)
	}
	tenantText, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`#tenant`)))
	if err != nil || !strings.Contains(tenantText, "active") {
		t.Errorf("the tenant page: %q %v", tenantText, err)
	}
	screenshot(t, ctx, "console-tenant")
	if err := chromedp.Do(ctx, chromedp.Navigate(c.URL+"/jobs?state=failed"), chromedp.WaitVisible(chromedp.CSS(row))); err != nil {
		fail("the jobs page after the retry", err)
	}
	retries, err := chromedp.Run(ctx, chromedp.Nodes(chromedp.CSSAll(row+` button.retry`), chromedp.AtLeast(0)))
	if err != nil || len(retries) != 0 {
		t.Errorf("the retried job still offers a retry: %d %v", len(retries), err)
	}

	// The instance with its tenant, and the retry in the audit log, by the
	// console's tool identity, for the instance.
	if err := chromedp.Do(ctx, chromedp.Navigate(c.URL+"/instances"), chromedp.WaitVisible(chromedp.CSS(`tr[data-instance="`+inst.InstanceID+`"]`))); err != nil {
		fail("the instances", err)
	}
	screenshot(t, ctx, "console-instances")
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`tr[data-instance="`+inst.InstanceID+`"] a`)), chromedp.WaitVisible(chromedp.CSS(`tr[data-tenant="`+tenantID+`"]`))); err != nil {
		fail("the instance's page", err)
	}
	screenshot(t, ctx, "console-instance")
	if err := chromedp.Do(ctx, chromedp.Navigate(c.URL+"/audit?instance="+inst.InstanceID), chromedp.WaitVisible(chromedp.CSS(`#audit`))); err != nil {
		fail("the audit log", err)
	}
	audit, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`#audit`)))
	if err != nil || !strings.Contains(audit, "/o365.admin.v1.AdminService/RetryJob") || !strings.Contains(audit, "tool/operator") {
		t.Errorf("the audit log of the instance lacks the retry: %v\n%s", err, audit)
	}
	screenshot(t, ctx, "console-audit")
	t.Logf("the browser part took %s", time.Since(started).Round(time.Millisecond))
}
