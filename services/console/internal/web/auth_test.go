package web

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const adminToken = "s3cret-admin-token-0123456789"

func tokenFile(t *testing.T, token string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(p, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestTokenLogin(t *testing.T) {
	path := tokenFile(t, adminToken)
	tok, err := OpenTokenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	ops := deployment(t)
	clock := time.Now()
	h, logs := newHandler(t, ops, Access{Token: tok, SessionTTL: time.Hour})
	h.now = func() time.Time { return clock }
	h.sessions.now = h.now
	b := newBrowser(t, h)

	// Every page sends a stranger to the login form, and back after it.
	rec := b.get("/jobs?state=failed")
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/login?next="+url.QueryEscape("/jobs?state=failed") {
		t.Fatalf("a stranger: %d %s", rec.Code, rec.Header().Get("Location"))
	}
	login := b.get("/login?next=" + url.QueryEscape("/jobs?state=failed"))
	want(t, login.Body.String(), `name="token"`, `type="password"`, `value="/jobs?state=failed"`)
	// Even with the form's token, a stranger's retry goes to the login.
	if rec := b.post("/jobs/tenant/7/retry", nil); rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/login" || len(ops.retried) != 0 {
		t.Fatalf("a stranger's retry: %d %v", rec.Code, ops.retried)
	}

	rec = b.post("/login", url.Values{"token": {"wrong-token-wrong-token"}, "next": {"/jobs?state=failed"}})
	if rec.Code != http.StatusUnauthorized || b.cookies[sessionCookie] != nil {
		t.Fatalf("a wrong token: %d %v", rec.Code, b.cookies[sessionCookie])
	}
	want(t, rec.Body.String(), "That is not the admin token.")

	rec = b.post("/login", url.Values{"token": {adminToken}, "next": {"/jobs?state=failed"}})
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/jobs?state=failed" {
		t.Fatalf("login: %d %s", rec.Code, rec.Header().Get("Location"))
	}
	s := b.cookies[sessionCookie]
	if s == nil || !s.HttpOnly || !s.Secure || s.SameSite != http.SameSiteStrictMode || s.Path != "/" || s.MaxAge != 3600 {
		t.Fatalf("the session cookie: %+v", s)
	}
	if strings.Contains(s.Value, adminToken) {
		t.Fatal("the session cookie carries the token")
	}
	page := b.get("/jobs?state=failed")
	if page.Code != http.StatusOK {
		t.Fatalf("with a session: %d", page.Code)
	}
	want(t, page.Body.String(), "admin (token login)", `action="/logout"`)
	if rec := b.post("/jobs/tenant/7/retry", nil); rec.Code != http.StatusSeeOther || len(ops.retried) != 1 {
		t.Fatalf("a logged-in retry: %d %v", rec.Code, ops.retried)
	}
	// The login page of a logged-in operator goes on.
	if rec := b.get("/login?next=/audit"); rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/audit" {
		t.Fatalf("login again: %d %s", rec.Code, rec.Header().Get("Location"))
	}

	// A forged or expired session is no session.
	good := s.Value
	b.cookies[sessionCookie] = &http.Cookie{Name: sessionCookie, Value: strings.Replace(good, ".", "9.", 1)}
	if rec := b.get("/jobs"); rec.Code != http.StatusSeeOther {
		t.Fatalf("a forged session: %d", rec.Code)
	}
	b.cookies[sessionCookie] = &http.Cookie{Name: sessionCookie, Value: good}
	clock = clock.Add(61 * time.Minute)
	if rec := b.get("/jobs"); rec.Code != http.StatusSeeOther {
		t.Fatalf("an expired session: %d", rec.Code)
	}
	clock = clock.Add(-61 * time.Minute)

	// A new token (the Secret rotated) ends every session.
	if rec := b.get("/jobs"); rec.Code != http.StatusOK {
		t.Fatalf("the session again: %d", rec.Code)
	}
	if err := os.WriteFile(path, []byte("another-token-of-the-admins\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	future := time.Now().Add(time.Minute)
	_ = os.Chtimes(path, future, future)
	if rec := b.get("/jobs"); rec.Code != http.StatusSeeOther {
		t.Fatalf("a session of the old token: %d", rec.Code)
	}
	if rec := b.post("/login", url.Values{"token": {"another-token-of-the-admins"}}); rec.Code != http.StatusSeeOther {
		t.Fatalf("login with the new token: %d", rec.Code)
	}

	// Logging out ends the session, even if its cookie is kept.
	kept := b.cookies[sessionCookie].Value
	page = b.get("/jobs")
	if rec := b.post("/logout", url.Values{"csrf": {formToken(t, page.Body.String())}}); rec.Code != http.StatusSeeOther || b.cookies[sessionCookie] != nil {
		t.Fatalf("logout: %d %v", rec.Code, b.cookies[sessionCookie])
	}
	b.cookies[sessionCookie] = &http.Cookie{Name: sessionCookie, Value: kept}
	if rec := b.get("/jobs"); rec.Code != http.StatusSeeOther {
		t.Fatalf("a logged-out session: %d", rec.Code)
	}

	// The token is in no page and no log line.
	if strings.Contains(logs.String(), adminToken) || strings.Contains(logs.String(), "another-token") {
		t.Fatalf("the log has the token:\n%s", logs)
	}
	if !strings.Contains(logs.String(), "console login failed") || !strings.Contains(logs.String(), "job retried by an operator") {
		t.Errorf("the log lacks the login failure or the retry:\n%s", logs)
	}
}

func TestLoginNeedsItsFormToken(t *testing.T) {
	tok, err := OpenTokenFile(tokenFile(t, adminToken))
	if err != nil {
		t.Fatal(err)
	}
	h, _ := newHandler(t, deployment(t), Access{Token: tok, SessionTTL: time.Hour})
	b := newBrowser(t, h)
	// A login form posted from elsewhere (login CSRF) is refused.
	if rec := b.do("POST", "/login", url.Values{"token": {adminToken}}); rec.Code != http.StatusForbidden || b.cookies[sessionCookie] != nil {
		t.Fatalf("a login without the form's token: %d", rec.Code)
	}
	b.get("/login")
	b.header = http.Header{"Sec-Fetch-Site": {"cross-site"}}
	if rec := b.post("/login", url.Values{"token": {adminToken}}); rec.Code != http.StatusForbidden || b.cookies[sessionCookie] != nil {
		t.Fatalf("a cross-site login: %d", rec.Code)
	}
}

func TestLoginsAreThrottled(t *testing.T) {
	tok, err := OpenTokenFile(tokenFile(t, adminToken))
	if err != nil {
		t.Fatal(err)
	}
	h, _ := newHandler(t, deployment(t), Access{Token: tok, SessionTTL: time.Hour})
	clock := time.Now()
	h.now = func() time.Time { return clock }
	b := newBrowser(t, h)
	b.get("/login")
	for range maxLoginFailures {
		if rec := b.post("/login", url.Values{"token": {"guess-guess-guess-guess"}}); rec.Code != http.StatusUnauthorized {
			t.Fatalf("a failure: %d", rec.Code)
		}
	}
	if rec := b.post("/login", url.Values{"token": {adminToken}}); rec.Code != http.StatusTooManyRequests {
		t.Fatalf("after %d failures: %d", maxLoginFailures, rec.Code)
	}
	clock = clock.Add(61 * time.Second)
	if rec := b.post("/login", url.Values{"token": {adminToken}}); rec.Code != http.StatusSeeOther {
		t.Fatalf("a minute later: %d", rec.Code)
	}
}

func TestTokenFileChecks(t *testing.T) {
	if _, err := OpenTokenFile(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("a missing file accepted")
	}
	short := "tooshort"
	_, err := OpenTokenFile(tokenFile(t, short))
	if err == nil || !strings.Contains(err.Error(), "shorter than") || strings.Contains(err.Error(), short) {
		t.Errorf("a short token: %v", err)
	}
	if _, err := New(Options{Ops: &fakeOps{}}); err == nil {
		t.Error("a console without access control")
	}
	tok, _ := OpenTokenFile(tokenFile(t, adminToken))
	if _, err := New(Options{Ops: &fakeOps{}, Access: Access{None: true, Token: tok, SessionTTL: time.Hour}}); err == nil {
		t.Error("no access control together with a token")
	}
}

// ca is a test CA that issues operators' client certificates.
type ca struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newCA(t *testing.T) *ca {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "operators CA"}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return &ca{c, key}
}

func (c *ca) client(t *testing.T, uri string) tls.Certificate {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	u, _ := url.Parse(uri)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "alice"}, URIs: []*url.URL{u},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.cert, &key.PublicKey, c.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func TestClientCertificates(t *testing.T) {
	operators := newCA(t)
	ops := deployment(t)
	h, logs := newHandler(t, ops, Access{ClientCerts: true})
	srv := httptest.NewUnstartedServer(h)
	pool := x509.NewCertPool()
	pool.AddCert(operators.cert)
	srv.TLS = &tls.Config{ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12}
	srv.StartTLS()
	defer srv.Close()

	client := func(certs ...tls.Certificate) *http.Client {
		tr := srv.Client().Transport.(*http.Transport).Clone()
		tr.TLSClientConfig.Certificates = certs
		return &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	if resp, err := client().Get(srv.URL + "/jobs"); err == nil {
		resp.Body.Close()
		t.Fatalf("no client certificate: %d", resp.StatusCode)
	}
	if resp, err := client(newCA(t).client(t, "spiffe://elsewhere/mallory")).Get(srv.URL + "/jobs"); err == nil {
		resp.Body.Close()
		t.Fatalf("a certificate of another CA: %d", resp.StatusCode)
	}
	c := client(operators.client(t, "spiffe://o365gw.local/operator/alice"))
	resp, err := c.Get(srv.URL + "/jobs?state=failed")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Strict-Transport-Security") == "" {
		t.Fatalf("%d %v", resp.StatusCode, resp.Header)
	}
	want(t, string(body), "spiffe://o365gw.local/operator/alice", `data-job="tenant/7"`)
	if strings.Contains(string(body), `action="/logout"`) {
		t.Error("a logout without a login")
	}
	// The retry names the operator in the console's log.
	var csrf string
	for _, ck := range resp.Cookies() {
		if ck.Name == csrfCookie {
			csrf = ck.Value
		}
	}
	req, _ := http.NewRequest("POST", srv.URL+"/jobs/tenant/7/retry", strings.NewReader(url.Values{"csrf": {csrf}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(&http.Cookie{Name: csrfCookie, Value: csrf})
	resp, err = c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || len(ops.retried) != 1 {
		t.Fatalf("retry: %d %v", resp.StatusCode, ops.retried)
	}
	if !strings.Contains(logs.String(), "by=spiffe://o365gw.local/operator/alice") {
		t.Errorf("the log does not name the operator:\n%s", logs)
	}

	// Behind a listener that did not verify one, nothing is served.
	rec := newBrowser(t, h).get("/jobs")
	if rec.Code != http.StatusForbidden {
		t.Fatalf("without TLS: %d", rec.Code)
	}
}
