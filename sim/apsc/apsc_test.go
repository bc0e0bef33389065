package apsc

import (
	"bytes"
	"context"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
)

// syncBuffer is a goroutine-safe bytes.Buffer.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type harness struct {
	facade   *fakeFacade
	ctrl     *Controller
	logs     *syncBuffer
	progress *syncBuffer
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	h := &harness{facade: newFakeFacade(t), logs: &syncBuffer{}, progress: &syncBuffer{}}
	ctrl, err := NewController(Options{
		FacadeURL:    h.facade.URL(),
		FacadeCAPool: h.facade.CAPool(),
		MaxRetryWait: 10 * time.Millisecond,
		Logger:       slog.New(slog.NewJSONHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Progress:     h.progress,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() { cancel(); _ = ctrl.Close() })
	if err := ctrl.Start(ctx); err != nil {
		t.Fatal(err)
	}
	h.ctrl = ctrl
	return h
}

func testSettings() map[string]any {
	return map[string]any{
		"cloud": "global", "partner_tenant_id": "11111111-2222-3333-4444-555555555555",
		"client_id": "cid", "client_secret": "very-secret-value", "reseller_mode": "direct",
	}
}

func (h *harness) install(t *testing.T) *Instance {
	t.Helper()
	inst, err := h.ctrl.Install(context.Background(), testSettings())
	if err != nil {
		t.Fatalf("install: %v", err)
	}
	return inst
}

func ctxTimeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func TestInstallBodyAndHeaders(t *testing.T) {
	h := newHarness(t)
	inst := h.install(t)

	if inst.InstanceID == inst.AppID {
		t.Fatal("instance id and app aps.id must differ")
	}
	if inst.Result.Status != http.StatusCreated || inst.Representation["cloud"] != "global" {
		t.Fatalf("result %d %v", inst.Result.Status, inst.Representation)
	}
	reqs := h.facade.requests()
	if len(reqs) != 1 {
		t.Fatalf("want 1 request, got %d", len(reqs))
	}
	r := reqs[0]
	if r.Method != http.MethodPost || r.Path != "/aps/app" {
		t.Fatalf("got %s %s", r.Method, r.Path)
	}
	wantHeaders := map[string]string{
		HeaderControllerURI: h.ctrl.ControllerURI(),
		HeaderInstanceID:    inst.InstanceID,
		HeaderRequestPhase:  PhaseSync,
		"Content-Type":      "application/json",
	}
	for k, v := range wantHeaders {
		if got := r.Header.Get(k); got != v {
			t.Errorf("header %s = %q, want %q", k, got, v)
		}
	}
	if _, err := uuid.Parse(r.Header.Get(HeaderTransactionID)); err != nil {
		t.Errorf("transaction id %q is not a UUID", r.Header.Get(HeaderTransactionID))
	}
	if !strings.HasPrefix(h.ctrl.ControllerURI(), "https://127.0.0.1:") || !strings.HasSuffix(h.ctrl.ControllerURI(), "/") {
		t.Errorf("controller URI %q", h.ctrl.ControllerURI())
	}

	var body struct {
		APS struct {
			ID, Type, Status string
			Package          struct{ ID, Href string }
			X509             struct{ Self, Controller string }
		}
		ClientSecret string `json:"client_secret"`
	}
	if err := json.Unmarshal(r.Body, &body); err != nil {
		t.Fatal(err)
	}
	if body.APS.ID != inst.AppID || body.APS.Type != TypeApp || body.APS.Status != "aps:provisioning" {
		t.Errorf("aps section %+v", body.APS)
	}
	if body.ClientSecret != "very-secret-value" || body.APS.Package.ID == "" {
		t.Errorf("settings or noise missing: %s", r.Body)
	}

	// aps.x509.self: a certificate, then the RSA key that belongs to it.
	b1, rest := pem.Decode([]byte(body.APS.X509.Self))
	b2, rest := pem.Decode(rest)
	if b1 == nil || b1.Type != "CERTIFICATE" || b2 == nil || b2.Type != "RSA PRIVATE KEY" || len(bytes.TrimSpace(rest)) != 0 {
		t.Fatalf("aps.x509.self is not cert then RSA key:\n%s", body.APS.X509.Self)
	}
	cert, err := x509.ParseCertificate(b1.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	key, err := x509.ParsePKCS1PrivateKey(b2.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if !key.PublicKey.Equal(cert.PublicKey.(*rsa.PublicKey)) {
		t.Fatal("the instance key does not match the instance certificate")
	}
	if !bytes.Equal(b1.Bytes, inst.TLSCertificate().Leaf.Raw) || !bytes.Contains(inst.KeyPEM, []byte("RSA PRIVATE KEY")) {
		t.Error("Instance does not carry the certificate it sent")
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(h.ctrl.CACertPEM())
	if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("instance certificate does not chain to the APSC CA: %v", err)
	}

	// aps.x509.controller is the certificate presented on the TLS connection.
	cb, _ := pem.Decode([]byte(body.APS.X509.Controller))
	if cb == nil || !bytes.Equal(cb.Bytes, r.PeerCert) {
		t.Fatal("aps.x509.controller is not the TLS client certificate presented")
	}
	ccert, _ := x509.ParseCertificate(cb.Bytes)
	if _, err := ccert.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("controller certificate is not a client certificate of the APSC CA: %v", err)
	}

	// The app resource is now stored in the controller.
	if res, ok := h.ctrl.Resource(inst.AppID); !ok || res["cloud"] != "global" {
		t.Errorf("app resource not stored: %v", res)
	}

	// No private key and no secret in logs or progress.
	for name, out := range map[string]string{"logs": h.logs.String(), "progress": h.progress.String()} {
		if strings.Contains(out, "PRIVATE KEY") || strings.Contains(out, "very-secret-value") {
			t.Errorf("%s leak a secret:\n%s", name, out)
		}
	}
	if !strings.Contains(h.progress.String(), "→ POST /app (sync) … 201 Created") {
		t.Errorf("progress: %q", h.progress.String())
	}
}

func TestInstallRefused(t *testing.T) {
	h := newHarness(t)
	ctx := ctxTimeout(t, 10*time.Second)

	other, err := h.ctrl.IssueClientCert("someone else")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		opts   []CallOption
		status int
	}{
		{"no client certificate", []CallOption{WithoutClientCert()}, 401},
		{"another certificate", []CallOption{WithClientCert(other)}, 403},
		{"no instance header", []CallOption{WithoutHeader(HeaderInstanceID)}, 400},
		{"no controller header", []CallOption{WithoutHeader("aps-controller-uri")}, 400},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			inst, err := h.ctrl.Install(ctx, testSettings(), tc.opts...)
			var se *StatusError
			if !errors.As(err, &se) || se.Result.Status != tc.status {
				t.Fatalf("want StatusError %d, got %v", tc.status, err)
			}
			if inst == nil || inst.Result.Status != tc.status || inst.Result.APSError() == nil {
				t.Fatalf("instance/result not returned: %+v", inst)
			}
		})
	}
	_, err = h.ctrl.Install(ctx, map[string]any{"cloud": "china"})
	var se *StatusError
	if !errors.As(err, &se) || se.Result.APSError().Reason != "WrongCloud" {
		t.Fatalf("want WrongCloud, got %v", err)
	}

	// A failed installation's certificate is not accepted by the controller.
	inst, _ := h.ctrl.Install(ctx, testSettings(), WithoutClientCert())
	id := h.ctrl.AddResource(TypeAccount, map[string]any{"companyName": "X"})
	status, _ := getResource(t, h.ctrl, inst, id)
	if status != http.StatusForbidden {
		t.Fatalf("failed instance's certificate: want 403, got %d", status)
	}
}

func TestProvisionAsync(t *testing.T) {
	h := newHarness(t)
	inst := h.install(t)
	accountID := h.ctrl.AddResource(TypeAccount, DemoAccount("Contoso"))

	start := time.Now()
	res, err := h.ctrl.Provision(ctxTimeout(t, 10*time.Second), inst, "tenants", DemoTenant("contoso", "Contoso", accountID))
	if err != nil {
		t.Fatal(err)
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("MaxRetryWait not applied: took %s", time.Since(start))
	}
	if res.Status != 200 || !res.Success() {
		t.Fatalf("status %d: %s", res.Status, res.Body)
	}
	if _, err := uuid.Parse(res.ResourceID); err != nil {
		t.Fatalf("resource id %q", res.ResourceID)
	}
	m, _ := res.JSON()
	if m["company_name"] != "Contoso" || m["domain_name"] != "contoso.onmicrosoft.com" {
		t.Errorf("final representation %v", m)
	}

	// Trace: sync 202, async 202, async 200.
	wantPhases := []string{PhaseSync, PhaseAsync, PhaseAsync}
	wantStatus := []int{202, 202, 200}
	if len(res.Trace) != 3 {
		t.Fatalf("trace %+v", res.Trace)
	}
	for i, s := range res.Trace {
		if s.Phase != wantPhases[i] || s.Status != wantStatus[i] || s.Method != "POST" || s.Path != "/tenants" {
			t.Errorf("step %d: %+v", i, s)
		}
	}
	if res.Trace[0].Info != "Creating Microsoft customer" || res.Trace[0].RetryTimeout != "30" ||
		res.Trace[0].Waited != 10*time.Millisecond {
		t.Errorf("step 0: %+v", res.Trace[0])
	}

	// What the facade received: the same method, path, body and
	// transaction id each time, the phase changing from sync to async.
	var got []fakeReq
	for _, r := range h.facade.requests() {
		if r.Path == "/aps/tenants" {
			got = append(got, r)
		}
	}
	if len(got) != 3 {
		t.Fatalf("facade got %d tenant requests", len(got))
	}
	tx := got[0].Header.Get(HeaderTransactionID)
	for i, r := range got {
		if r.Method != "POST" || r.Header.Get(HeaderTransactionID) != tx || !bytes.Equal(r.Body, got[0].Body) ||
			r.Header.Get(HeaderRequestPhase) != wantPhases[i] || r.Header.Get(HeaderInstanceID) != inst.InstanceID {
			t.Errorf("re-send %d differs: %s %v", i, r.Method, r.Header)
		}
	}
	if tx == inst.Result.Trace[0].TransactionID {
		t.Error("each operation needs a new transaction id")
	}

	// The platform's noise fields.
	var body map[string]any
	_ = json.Unmarshal(got[0].Body, &body)
	aps := body["aps"].(map[string]any)
	if aps["id"] != res.ResourceID || aps["type"] != TypeTenant || aps["status"] != "aps:provisioning" {
		t.Errorf("aps section %v", aps)
	}
	for _, k := range []string{"revision", "modified", "subscription", "schema", "package", "href"} {
		if _, ok := aps[k]; !ok {
			t.Errorf("noise field aps.%s missing", k)
		}
	}
	if pkg := aps["package"].(map[string]any); pkg["id"] != inst.PackageID || pkg["href"] != "/aps/2/packages/"+inst.PackageID {
		t.Errorf("aps.package %v", pkg)
	}

	// The facade's call back into the controller with the instance
	// certificate succeeded and carried the transaction id.
	if len(h.facade.callbacks) != 1 || h.facade.callbacks[0] != 200 {
		t.Fatalf("callbacks %v", h.facade.callbacks)
	}
	var cb *ReceivedRequest
	for _, r := range h.ctrl.Requests() {
		if r.Path == "/aps/2/resources/"+accountID {
			cb = &r
		}
	}
	if cb == nil || cb.InstanceID != inst.InstanceID || cb.TransactionID() != tx || cb.Status != 200 {
		t.Fatalf("controller requests %+v", h.ctrl.Requests())
	}

	// Progress shows both phases.
	p := h.progress.String()
	for _, want := range []string{
		"→ POST /tenants (sync) … 202 Accepted: Creating Microsoft customer (retry in 30s, waiting 10ms)",
		"→ POST /tenants (async) … 200 OK",
	} {
		if !strings.Contains(p, want) {
			t.Errorf("progress lacks %q:\n%s", want, p)
		}
	}

	// The tenant is stored in the controller, then retrieved and deleted.
	if stored, ok := h.ctrl.Resource(res.ResourceID); !ok || stored["state"] != "active" {
		t.Errorf("tenant not stored: %v", stored)
	}
	ret, err := h.ctrl.Retrieve(context.Background(), inst, "tenants", res.ResourceID)
	if err != nil || ret.Status != 200 || len(ret.Trace) != 1 {
		t.Fatalf("retrieve: %v %+v", err, ret)
	}
	del, err := h.ctrl.Unprovision(context.Background(), inst, "tenants", res.ResourceID)
	if err != nil || del.Status != 204 || !del.Success() {
		t.Fatalf("unprovision: %v %+v", err, del)
	}
	if _, ok := h.ctrl.Resource(res.ResourceID); ok {
		t.Error("unprovisioned tenant still stored")
	}
}

func TestAsyncFailureIsAResult(t *testing.T) {
	h := newHarness(t)
	h.facade.finalStatus = 500
	inst := h.install(t)
	res, err := h.ctrl.Provision(ctxTimeout(t, 10*time.Second), inst, "tenants", map[string]any{"initial_subdomain": "x"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != 500 || res.Success() || len(res.Trace) != 3 {
		t.Fatalf("%+v", res)
	}
	if ae := res.APSError(); ae == nil || ae.Reason != "CustomerCountryNotSupported" || ae.Code != 500 {
		t.Fatalf("error body %+v", ae)
	}
	if !strings.Contains(h.progress.String(), "500 Internal Server Error: CustomerCountryNotSupported: Customer Country is currently not Supported") {
		t.Errorf("progress:\n%s", h.progress.String())
	}
}

func TestAcceptedWithoutRetryTimeoutIsAProtocolError(t *testing.T) {
	h := newHarness(t)
	h.facade.retryTimeout = ""
	inst := h.install(t)
	res, err := h.ctrl.Provision(ctxTimeout(t, 10*time.Second), inst, "tenants", map[string]any{"initial_subdomain": "x"})
	if !errors.Is(err, ErrProtocol) {
		t.Fatalf("want ErrProtocol, got %v", err)
	}
	if res == nil || len(res.Trace) != 1 || res.Status != 202 {
		t.Fatalf("%+v", res)
	}
}

func TestAsyncGivesUpAtDeadline(t *testing.T) {
	h := newHarness(t)
	h.facade.accepts = 1 << 30
	inst := h.install(t)
	// The fake facade answers 202 for ever: the deadline ends the call, after
	// at least two rounds (time for two mutual-TLS exchanges on a busy machine).
	ctx := ctxTimeout(t, 2*time.Second)
	res, err := h.ctrl.Operation(ctx, inst, http.MethodGet, "/tenants/"+uuid.NewString()+"/slow", nil, nil)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("want deadline exceeded, got %v", err)
	}
	if res == nil || len(res.Trace) < 2 {
		t.Fatalf("trace %+v", res)
	}
}

func TestOtherOperations(t *testing.T) {
	h := newHarness(t)
	inst := h.install(t)
	ctx := ctxTimeout(t, 10*time.Second)
	tid := uuid.NewString()

	res, err := h.ctrl.Operation(ctx, inst, http.MethodGet, "/app/"+inst.AppID+"/domainAvailability", url.Values{"subdomain": {"fabrikam"}}, nil)
	if err != nil || res.Status != 200 {
		t.Fatalf("%v %+v", err, res)
	}
	var avail struct {
		Domain    string
		Available bool
	}
	if err := res.Decode(&avail); err != nil || avail.Domain != "fabrikam.onmicrosoft.com" || !avail.Available {
		t.Fatalf("%v %+v", err, avail)
	}

	if res, err := h.ctrl.Configure(ctx, inst, "tenants", tid, map[string]any{"company": map[string]any{"name": "N"}}); err != nil || res.Status != 200 {
		t.Fatalf("configure: %v %+v", err, res)
	}
	if res, err := h.ctrl.Link(ctx, inst, "tenants", tid, "users", "u-1", TypeUser); err != nil || res.Status != 204 {
		t.Fatalf("link: %v %+v", err, res)
	}
	if res, err := h.ctrl.Unlink(ctx, inst, "tenants", tid, "users", "u-1"); err != nil || res.Status != 204 {
		t.Fatalf("unlink: %v %+v", err, res)
	}
	reqs := h.facade.requests()
	byPath := map[string]fakeReq{}
	for _, r := range reqs {
		byPath[r.Method+" "+r.Path+"?"+r.RawQuery] = r
	}
	if _, ok := byPath["GET /aps/app/"+inst.AppID+"/domainAvailability?subdomain=fabrikam"]; !ok {
		t.Errorf("domainAvailability not sent as expected: %v", keys(byPath))
	}
	put, ok := byPath["PUT /aps/tenants/"+tid+"?"]
	if !ok {
		t.Fatalf("configure not sent: %v", keys(byPath))
	}
	var pb map[string]any
	_ = json.Unmarshal(put.Body, &pb)
	if aps := pb["aps"].(map[string]any); aps["id"] != tid || aps["type"] != TypeTenant {
		t.Errorf("configure body %s", put.Body)
	}
	link, ok := byPath["POST /aps/tenants/"+tid+"/users?"]
	if !ok || string(link.Body) != `{"aps":{"id":"u-1","type":"`+TypeUser+`"}}` {
		t.Errorf("link: %v %s", ok, link.Body)
	}
	if _, ok := byPath["DELETE /aps/tenants/"+tid+"/users/u-1?"]; !ok {
		t.Errorf("unlink not sent: %v", keys(byPath))
	}
}

func keys(m map[string]fakeReq) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestRaw(t *testing.T) {
	h := newHarness(t)
	inst := h.install(t)
	ctx := ctxTimeout(t, 10*time.Second)

	// An async re-send by hand, trailing slash kept, single exchange.
	res, err := h.ctrl.Raw(ctx, inst, http.MethodPost, "/tenants/", http.Header{
		HeaderRequestPhase:  {PhaseAsync},
		HeaderTransactionID: {"tx-by-hand"},
	}, []byte(`{"initial_subdomain":"x"}`))
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != 202 || len(res.Trace) != 1 || res.Trace[0].Phase != PhaseAsync {
		t.Fatalf("%+v", res)
	}
	reqs := h.facade.requests()
	last := reqs[len(reqs)-1]
	if last.Path != "/aps/tenants/" || last.Header.Get(HeaderRequestPhase) != PhaseAsync ||
		last.Header.Get(HeaderTransactionID) != "tx-by-hand" || last.Header.Get(HeaderControllerURI) != h.ctrl.ControllerURI() {
		t.Fatalf("sent %s %v", last.Path, last.Header)
	}

	// A header removed by giving no value; non-UUID id passed through.
	res, err = h.ctrl.Raw(ctx, inst, http.MethodGet, "/tenants/not-a-uuid", http.Header{HeaderControllerURI: nil}, nil)
	if err != nil || res.Status != 400 {
		t.Fatalf("%v %+v", err, res)
	}
	last = h.facade.requests()[len(h.facade.requests())-1]
	if last.Path != "/aps/tenants/not-a-uuid" || last.Header.Get(HeaderControllerURI) != "" {
		t.Fatalf("sent %s %v", last.Path, last.Header)
	}

	// Another client certificate on a later request: 403; none: 401.
	other, _ := h.ctrl.IssueClientCert("intruder")
	if res, _ := h.ctrl.Retrieve(ctx, inst, "tenants", uuid.NewString(), WithClientCert(other)); res.Status != 403 {
		t.Fatalf("other cert: %d", res.Status)
	}
	if res, _ := h.ctrl.Retrieve(ctx, inst, "tenants", uuid.NewString(), WithoutClientCert()); res.Status != 401 {
		t.Fatalf("no cert: %d", res.Status)
	}
	if res, _ := h.ctrl.Retrieve(ctx, inst, "tenants", uuid.NewString(), WithHeader(HeaderInstanceID, uuid.NewString())); res.Status != 404 {
		t.Fatalf("unknown instance: %d", res.Status)
	}
}

// getResource calls the controller's API with inst's certificate (none
// when inst is nil).
func getResource(t *testing.T, c *Controller, inst *Instance, id string) (int, map[string]any) {
	t.Helper()
	return callResource(t, c, inst, http.MethodGet, id, nil)
}

func callResource(t *testing.T, c *Controller, inst *Instance, method, id string, body []byte) (int, map[string]any) {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(c.CACertPEM())
	cl := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsConfigFor(pool, inst)}}
	defer cl.CloseIdleConnections()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, _ := http.NewRequest(method, c.ControllerURI()+"aps/2/resources/"+id, rd)
	resp, err := cl.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

func TestResourcesAPI(t *testing.T) {
	h := newHarness(t)
	inst := h.install(t)
	id := h.ctrl.AddResource(TypeAccount, DemoAccount("Contoso"))

	status, m := getResource(t, h.ctrl, inst, id)
	if status != 200 || m["companyName"] != "Contoso" {
		t.Fatalf("%d %v", status, m)
	}
	aps := m["aps"].(map[string]any)
	if aps["id"] != id || aps["type"] != TypeAccount || aps["status"] != "aps:ready" {
		t.Fatalf("aps %v", aps)
	}
	if m["addressPostal"].(map[string]any)["countryName"] != "US" {
		t.Fatalf("%v", m)
	}

	status, m = getResource(t, h.ctrl, nil, id)
	if status != 401 || m["error"] != "APS::Util::AccessViolation" || m["message"] == "" {
		t.Fatalf("no cert: %d %v", status, m)
	}
	other, _ := h.ctrl.IssueClientCert("x")
	stranger := &Instance{cert: other}
	status, m = getResource(t, h.ctrl, stranger, id)
	if status != 403 || m["error"] != "APS::Util::AccessViolation" {
		t.Fatalf("other cert: %d %v", status, m)
	}
	if status, _ := getResource(t, h.ctrl, inst, uuid.NewString()); status != 404 {
		t.Fatalf("unknown id: %d", status)
	}

	// PUT merges (usage push), keeping what it does not name.
	status, m = callResource(t, h.ctrl, inst, http.MethodPut, id, []byte(`{"seats":{"usage":3},"addressPostal":{"locality":"Seattle"}}`))
	if status != 200 {
		t.Fatalf("put: %d %v", status, m)
	}
	stored, _ := h.ctrl.Resource(id)
	addr := stored["addressPostal"].(map[string]any)
	if stored["seats"].(map[string]any)["usage"] != float64(3) || addr["locality"] != "Seattle" || addr["region"] != "WA" ||
		stored["companyName"] != "Contoso" || stored["aps"].(map[string]any)["revision"] != 2 {
		t.Fatalf("merged %v", stored)
	}
	if status, _ := callResource(t, h.ctrl, inst, http.MethodPut, id, []byte(`[1]`)); status != 400 {
		t.Fatalf("bad body: %d", status)
	}
	if status, _ := callResource(t, h.ctrl, inst, http.MethodDelete, id, nil); status != 405 {
		t.Fatalf("delete: %d", status)
	}

	var statuses []int
	for _, r := range h.ctrl.Requests() {
		statuses = append(statuses, r.Status)
	}
	want := []int{200, 401, 403, 404, 200, 400, 405}
	if len(statuses) != len(want) {
		t.Fatalf("requests log %v", statuses)
	}
	for i := range want {
		if statuses[i] != want[i] {
			t.Fatalf("requests log %v, want %v", statuses, want)
		}
	}
	if h.ctrl.Requests()[0].InstanceID != inst.InstanceID {
		t.Error("instance id not recorded")
	}
}

func TestUninstallRevokesCertificate(t *testing.T) {
	h := newHarness(t)
	inst := h.install(t)
	id := h.ctrl.AddResource(TypeAccount, DemoAccount("Contoso"))
	// The fake has no DELETE /app route: a failed uninstall keeps the certificate.
	if _, err := h.ctrl.Uninstall(context.Background(), inst); err == nil {
		t.Fatal("want an error for a refused uninstall")
	}
	if status, _ := getResource(t, h.ctrl, inst, id); status != 200 {
		t.Fatalf("after refused uninstall: %d", status)
	}
}

func TestInstallNeedsStart(t *testing.T) {
	c, err := NewController(Options{FacadeURL: "https://127.0.0.1:1/aps"})
	if err != nil {
		t.Fatal(err)
	}
	if c.FacadeURL() != "https://127.0.0.1:1/aps/" {
		t.Errorf("facade URL %q", c.FacadeURL())
	}
	if _, err := c.Install(context.Background(), nil); err == nil {
		t.Fatal("install before start must fail")
	}
	if _, err := NewController(Options{FacadeURL: "ftp://x"}); err == nil {
		t.Fatal("bad URL accepted")
	}
}

func TestRunDemo(t *testing.T) {
	f := newFakeFacade(t)
	sim := newFakeSim(t, f)
	var out syncBuffer
	err := RunDemo(ctxTimeout(t, 20*time.Second), DemoOptions{
		FacadeURL:    f.URL(),
		FacadeCAPool: f.CAPool(),
		SimURL:       sim.srv.URL,
		SimCAPEM:     sim.caPEM(),
		MaxRetryWait: 5 * time.Millisecond,
		Out:          &out,
	})
	if err != nil {
		t.Fatalf("demo: %v\n%s", err, out.String())
	}
	o := out.String()
	for _, want := range []string{
		"[1/14] Register a demo CSP partner", "[14/14] Unprovision the tenant",
		"      → POST /tenants (sync) … 202 Accepted: Creating Microsoft customer (retry in 30s, waiting 5ms)",
		"      → POST /tenants (async) … 200 OK",
		"the partner has 1 customer(s) at Microsoft",
		"the partner now has 0 customer(s)",
		"the facade called back: GET /aps/2/resources/",
		"Demo passed: 14 steps.",
	} {
		if !strings.Contains(o, want) {
			t.Errorf("output lacks %q:\n%s", want, o)
		}
	}
	if strings.Contains(o, "s3cret-value") || strings.Contains(o, "PRIVATE KEY") {
		t.Errorf("the demo prints a secret:\n%s", o)
	}
}

func TestRunDemoFailsOnUnexpectedAnswer(t *testing.T) {
	f := newFakeFacade(t)
	f.available = false
	sim := newFakeSim(t, f)
	err := RunDemo(ctxTimeout(t, 20*time.Second), DemoOptions{
		FacadeURL: f.URL(), SimURL: sim.srv.URL, SimCAPEM: sim.caPEM(), MaxRetryWait: time.Millisecond,
	})
	if err == nil || !strings.Contains(err.Error(), "not available") {
		t.Fatalf("want a failure, got %v", err)
	}

	f2 := newFakeFacade(t)
	f2.finalStatus = 500
	sim2 := newFakeSim(t, f2)
	err = RunDemo(ctxTimeout(t, 20*time.Second), DemoOptions{
		FacadeURL: f2.URL(), SimURL: sim2.srv.URL, MaxRetryWait: time.Millisecond,
	})
	if err == nil || !strings.Contains(err.Error(), "CustomerCountryNotSupported") {
		t.Fatalf("want a failure, got %v", err)
	}
}

func TestCountCustomers(t *testing.T) {
	cases := []struct {
		state string
		n     int
		ok    bool
	}{
		{`{"partners":[{"tenant_id":"a","customers":[1,2]},{"tenant_id":"t","customers":[1]}]}`, 1, true},
		{`{"partners":{"t":{"customers":[1,2,3]}}}`, 3, true},
		{`[{"partner":{"id":"t"},"customers":[]}]`, 0, true},
		{`{"partners":[{"tenant_id":"a","customers":[1]}]}`, 0, false},
		{`not json`, 0, false},
	}
	for _, c := range cases {
		n, ok := CountCustomers(json.RawMessage(c.state), "t")
		if n != c.n || ok != c.ok {
			t.Errorf("%s: got %d %v", c.state, n, ok)
		}
	}
}

func TestTypeFor(t *testing.T) {
	for svc, want := range map[string]string{
		"app": TypeApp, "tenants": TypeTenant, "domains": TypeDomain,
		"subscriptions": TypeSubscription, "users": TypeUser, "widgets": "http://o365gateway.org/aps/widget/1.0",
	} {
		if got := TypeFor(svc); got != want {
			t.Errorf("%s: %s", svc, got)
		}
	}
}

func tlsConfigFor(pool *x509.CertPool, inst *Instance) *tls.Config {
	conf := &tls.Config{RootCAs: pool}
	if inst != nil {
		conf.Certificates = []tls.Certificate{inst.cert}
	}
	return conf
}

// The controller API bounds request bodies: a larger one is a 413 with
// APSC's error body (it was cut at 10 MiB and read as malformed JSON).
func TestResourcesAPIBodyLimit(t *testing.T) {
	h := newHarness(t)
	inst := h.install(t)
	id := h.ctrl.AddResource(TypeAccount, DemoAccount("Contoso"))
	big := []byte(`{"companyName":"` + strings.Repeat("a", maxAPIBody) + `"}`)
	status, m := callResource(t, h.ctrl, inst, http.MethodPut, id, big)
	if status != http.StatusRequestEntityTooLarge || m["error"] != "APS::Util::Exception" {
		t.Fatalf("%d %v", status, m)
	}
	if stored, _ := h.ctrl.Resource(id); stored["companyName"] != "Contoso" {
		t.Fatalf("changed: %v", stored["companyName"])
	}
}
