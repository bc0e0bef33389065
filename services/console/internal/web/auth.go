package web

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// MinTokenLength is the shortest admin token the console accepts.
const MinTokenLength = 16

// The console's cookies. The __Host- prefix makes browsers keep them only
// when set over HTTPS (or on loopback) with Path=/ and no Domain, so that
// no other host of the domain can plant one.
const (
	sessionCookie = "__Host-console_session"
	csrfCookie    = "__Host-console_csrf"
	flashCookie   = "__Host-console_flash"
)

// Access says how operators get in; at least one way, or None.
type Access struct {
	// ClientCerts: the TLS listener requires and verifies an operator's
	// client certificate (CONSOLE_CLIENT_CA_FILE); a request without a
	// verified one is refused here too.
	ClientCerts bool
	// Token is the admin token (CONSOLE_ADMIN_TOKEN_FILE): an operator logs
	// in with it once and gets a session cookie. Nil: no login.
	Token *TokenFile
	// SessionTTL is how long a login lasts.
	SessionTTL time.Duration
	// None serves everyone (CONSOLE_INSECURE_NO_AUTH, tests only).
	None bool
}

func (a Access) check() error {
	switch {
	case a.None && (a.ClientCerts || a.Token != nil):
		return errors.New("web: no access control excludes client certificates and the admin token")
	case !a.None && !a.ClientCerts && a.Token == nil:
		return errors.New("web: no access control configured")
	case a.Token != nil && a.SessionTTL <= 0:
		return errors.New("web: a session TTL is required with the admin token")
	}
	return nil
}

// TokenFile is the admin token, read from its file and again whenever the
// file changes (a Kubernetes Secret mounted as a file is updated in place).
type TokenFile struct {
	path  string
	mu    sync.Mutex
	mod   time.Time
	size  int64
	token []byte
}

// OpenTokenFile reads the admin token's file once, to fail at start when it
// is missing or too short. Errors never carry the token.
func OpenTokenFile(path string) (*TokenFile, error) {
	f := &TokenFile{path: path}
	if _, err := f.get(); err != nil {
		return nil, err
	}
	return f, nil
}

// get returns the current token (surrounding white space removed).
func (f *TokenFile) get() ([]byte, error) {
	fi, err := os.Stat(f.path)
	if err != nil {
		return nil, fmt.Errorf("the admin token file: %w", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.token != nil && fi.ModTime().Equal(f.mod) && fi.Size() == f.size {
		return f.token, nil
	}
	b, err := os.ReadFile(f.path)
	if err != nil {
		return nil, fmt.Errorf("the admin token file: %w", err)
	}
	tok := bytes.TrimSpace(b)
	if len(tok) < MinTokenLength {
		f.token = nil
		return nil, fmt.Errorf("the admin token in %s is shorter than %d characters", f.path, MinTokenLength)
	}
	f.token, f.mod, f.size = tok, fi.ModTime(), fi.Size()
	return tok, nil
}

// matches compares a candidate with the token in constant time (both are
// hashed first, so that not even the length leaks).
func (f *TokenFile) matches(candidate string) (bool, error) {
	tok, err := f.get()
	if err != nil {
		return false, err
	}
	a, b := sha256.Sum256([]byte(candidate)), sha256.Sum256(tok)
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1, nil
}

// sessions are stateless: the cookie is an expiry and a nonce, sealed with
// an HMAC whose key derives from the admin token. Every replica accepts it,
// a restart keeps it, and a new token ends every session. A logout revokes
// the nonce in this process.
type sessions struct {
	token *TokenFile
	ttl   time.Duration
	now   func() time.Time

	mu      sync.Mutex
	revoked map[string]time.Time // nonce -> its session's expiry
}

func sessionKey(token []byte) []byte {
	m := hmac.New(sha256.New, token)
	m.Write([]byte("o365gw console session v1"))
	return m.Sum(nil)
}

func seal(key []byte, payload string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(payload))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// issue returns a new session cookie value and its expiry.
func (s *sessions) issue() (string, time.Time, error) {
	tok, err := s.token.get()
	if err != nil {
		return "", time.Time{}, err
	}
	exp := s.now().Add(s.ttl).Truncate(time.Second)
	payload := strconv.FormatInt(exp.Unix(), 10) + "." + random(16)
	return payload + "." + seal(sessionKey(tok), payload), exp, nil
}

// valid tells whether a cookie value is a live session, and its nonce.
func (s *sessions) valid(v string) (string, bool, error) {
	parts := strings.Split(v, ".")
	if len(parts) != 3 {
		return "", false, nil
	}
	exp, err := strconv.ParseInt(parts[0], 10, 64)
	if err != nil || !s.now().Before(time.Unix(exp, 0)) {
		return "", false, nil
	}
	tok, err := s.token.get()
	if err != nil {
		return "", false, err
	}
	if !hmac.Equal([]byte(parts[2]), []byte(seal(sessionKey(tok), parts[0]+"."+parts[1]))) {
		return "", false, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, gone := s.revoked[parts[1]]; gone {
		return "", false, nil
	}
	return parts[1], true, nil
}

// revoke ends a session in this process until it would have expired.
func (s *sessions) revoke(v string) {
	nonce, ok, _ := s.valid(v)
	if !ok {
		return
	}
	exp, _ := strconv.ParseInt(strings.SplitN(v, ".", 2)[0], 10, 64)
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	for n, until := range s.revoked {
		if now.After(until) {
			delete(s.revoked, n)
		}
	}
	if s.revoked == nil {
		s.revoked = map[string]time.Time{}
	}
	s.revoked[nonce] = time.Unix(exp, 0)
}

// loginLimit refuses logins after too many failures in a minute, in this
// process: a guessing client is slowed down to a few tries a minute.
type loginLimit struct {
	mu       sync.Mutex
	failures []time.Time
}

const maxLoginFailures = 10

func (l *loginLimit) blocked(now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	kept := l.failures[:0]
	for _, t := range l.failures {
		if now.Sub(t) < time.Minute {
			kept = append(kept, t)
		}
	}
	l.failures = kept
	return len(kept) >= maxLoginFailures
}

func (l *loginLimit) fail(now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.failures = append(l.failures, now)
}

func random(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b)
}

// whoKey carries the operator's name in a request's context.
type whoKey struct{}

func withWho(ctx context.Context, who string) context.Context {
	return context.WithValue(ctx, whoKey{}, who)
}

// Who is the operator a request is from, as the console names them in its
// pages and logs.
func Who(ctx context.Context) string {
	s, _ := ctx.Value(whoKey{}).(string)
	return s
}

// certName is how an operator's client certificate names them: its URI
// (a SPIFFE ID), else its e-mail address, else its common name.
func certName(c *x509.Certificate) string {
	switch {
	case len(c.URIs) > 0:
		return c.URIs[0].String()
	case len(c.EmailAddresses) > 0:
		return c.EmailAddresses[0]
	case c.Subject.CommonName != "":
		return c.Subject.CommonName
	}
	return c.Subject.String()
}

// identify finds who a request is from; when it is from nobody known, it
// answers the request (a login form, or a refusal) and returns false.
func (h *Handler) identify(w http.ResponseWriter, r *http.Request) (string, bool) {
	if h.access.None {
		return "anonymous (no access control)", true
	}
	who := ""
	if h.access.ClientCerts {
		if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || len(r.TLS.PeerCertificates) == 0 {
			h.fail(w, r, http.StatusForbidden, "A verified client certificate is required.")
			return "", false
		}
		who = certName(r.TLS.PeerCertificates[0])
	}
	if h.access.Token != nil {
		c, err := r.Cookie(sessionCookie)
		ok := false
		if err == nil {
			_, ok, err = h.sessions.valid(c.Value)
		}
		if err != nil {
			h.log.Error("the admin token cannot be read: every session is refused", "error", err.Error())
		}
		if !ok {
			if r.Method == http.MethodGet || r.Method == http.MethodHead {
				http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			} else {
				http.Redirect(w, r, "/login", http.StatusSeeOther)
			}
			return "", false
		}
		if who == "" {
			who = "admin (token login)"
		}
	}
	return who, true
}

// csrfToken is the request's anti-forgery token: the value of its CSRF
// cookie, which is set when missing. Every form carries it back, and a POST
// whose form and cookie differ is refused (a cross-site page can neither
// read the cookie nor, with SameSite=Strict, make the browser send it).
func csrfToken(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(csrfCookie); err == nil && len(c.Value) == 43 {
		return c.Value
	}
	v := random(32)
	http.SetCookie(w, &http.Cookie{Name: csrfCookie, Value: v, Path: "/", HttpOnly: true, Secure: true, SameSite: http.SameSiteStrictMode})
	// Later reads in this request see it too.
	r.AddCookie(&http.Cookie{Name: csrfCookie, Value: v})
	return v
}

// checkCSRF tells whether a POST's form carries its CSRF cookie's value.
func checkCSRF(r *http.Request) bool {
	c, err := r.Cookie(csrfCookie)
	if err != nil || c.Value == "" {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(c.Value), []byte(r.PostFormValue("csrf"))) == 1
}

// localPath is p when it is a path of this console, else def: a form's
// "next" or "back" never sends the browser elsewhere.
func localPath(p, def string) string {
	if p == "" || !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") || strings.ContainsAny(p, "\\\r\n") {
		return def
	}
	u, err := url.Parse(p)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil {
		return def
	}
	return p
}

// login serves GET and POST /login.
func (h *Handler) login(w http.ResponseWriter, r *http.Request) {
	if h.access.Token == nil {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	next := localPath(r.FormValue("next"), "/")
	if next == "/login" || strings.HasPrefix(next, "/login?") {
		next = "/"
	}
	type loginData struct{ Next, Error string }
	if r.Method != http.MethodPost {
		if c, err := r.Cookie(sessionCookie); err == nil {
			if _, ok, _ := h.sessions.valid(c.Value); ok {
				http.Redirect(w, r, next, http.StatusSeeOther)
				return
			}
		}
		h.render(w, r, http.StatusOK, "login", "Log in", "", loginData{Next: next})
		return
	}
	now := h.now()
	if h.logins.blocked(now) {
		h.log.Warn("console login refused: too many failed logins in the last minute", "remote", r.RemoteAddr)
		h.render(w, r, http.StatusTooManyRequests, "login", "Log in", "", loginData{Next: next,
			Error: "Too many failed logins; wait a minute and try again."})
		return
	}
	ok, err := h.access.Token.matches(r.PostFormValue("token"))
	if err != nil {
		h.log.Error("the admin token cannot be read: logins are refused", "error", err.Error())
		h.render(w, r, http.StatusServiceUnavailable, "login", "Log in", "", loginData{Next: next,
			Error: "The console cannot read its admin token; see its log."})
		return
	}
	if !ok {
		h.logins.fail(now)
		h.log.Warn("console login failed: wrong admin token", "remote", r.RemoteAddr)
		h.render(w, r, http.StatusUnauthorized, "login", "Log in", "", loginData{Next: next, Error: "That is not the admin token."})
		return
	}
	v, exp, err := h.sessions.issue()
	if err != nil {
		h.fail(w, r, http.StatusServiceUnavailable, "The console cannot read its admin token; see its log.")
		return
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: v, Path: "/", Expires: exp, MaxAge: int(h.access.SessionTTL / time.Second),
		HttpOnly: true, Secure: true, SameSite: http.SameSiteStrictMode})
	h.log.Info("operator logged in to the console with the admin token", "remote", r.RemoteAddr, "session_expires", exp)
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// logout serves POST /logout.
func (h *Handler) logout(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(sessionCookie); err == nil && h.sessions != nil {
		h.sessions.revoke(c.Value)
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: true, SameSite: http.SameSiteStrictMode})
	h.log.Info("operator logged out of the console", "who", Who(r.Context()), "remote", r.RemoteAddr)
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}
