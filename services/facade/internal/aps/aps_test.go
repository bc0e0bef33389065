package aps_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	apsv1 "github.com/o365gateway/gateway/gen/go/o365/aps/v1"
	tenantv1 "github.com/o365gateway/gateway/gen/go/o365/tenant/v1"
	"github.com/o365gateway/gateway/services/shared/apierr"
	"github.com/o365gateway/gateway/services/shared/apsmd"

	"github.com/o365gateway/gateway/services/facade/internal/aps"
	"github.com/o365gateway/gateway/services/facade/internal/gateway"
)

const instanceID = "6f0c1a52-0000-4000-8000-000000000001"
const tenantID = "6f0c1a52-0000-4000-8000-0000000000aa"

// fakeServices stands in for the tenant service.
type fakeServices struct {
	tenantv1.UnimplementedInstanceServiceServer
	tenantv1.UnimplementedTenantServiceServer
	controllerPEM string
	lastMD        metadata.MD
	lastTenant    *tenantv1.Tenant
	// created are instances created since the harness started (as by
	// another replica of the facade).
	created sync.Map
}

func (f *fakeServices) GetInstanceAuth(_ context.Context, r *tenantv1.GetInstanceAuthRequest) (*tenantv1.GetInstanceAuthResponse, error) {
	if _, ok := f.created.Load(r.GetInstanceId()); r.GetInstanceId() != instanceID && !ok {
		return nil, apierr.ToStatus(apierr.New(codes.NotFound, apierr.UnknownInstance, "unknown"))
	}
	return &tenantv1.GetInstanceAuthResponse{ControllerCertificatePem: f.controllerPEM, Cloud: "global"}, nil
}

func (f *fakeServices) CreateInstance(ctx context.Context, r *tenantv1.CreateInstanceRequest) (*tenantv1.CreateInstanceResponse, error) {
	f.lastMD, _ = metadata.FromIncomingContext(ctx)
	return &tenantv1.CreateInstanceResponse{Instance: &tenantv1.Instance{Aps: &apsv1.Meta{Id: r.GetInstance().GetAps().GetId()}, Cloud: "global"}}, nil
}

func (f *fakeServices) ProvisionTenant(ctx context.Context, r *tenantv1.ProvisionTenantRequest) (*tenantv1.ProvisionTenantResponse, error) {
	f.lastMD, _ = metadata.FromIncomingContext(ctx)
	f.lastTenant = r.GetTenant()
	if r.GetTenant().GetInitialSubdomain() == "taken" {
		return nil, apierr.ToStatus(apierr.New(codes.AlreadyExists, apierr.DomainAlreadyTaken, "The domain taken.onmicrosoft.com is already used."))
	}
	if apsmd.FromContext(ctx).Async() {
		return &tenantv1.ProvisionTenantResponse{Tenant: &tenantv1.Tenant{Aps: &apsv1.Meta{Id: tenantID, Status: "aps:ready"}, State: "active"}}, nil
	}
	if err := apsmd.SetAccepted(ctx, "Creating Microsoft customer x.onmicrosoft.com"); err != nil {
		return nil, err
	}
	return &tenantv1.ProvisionTenantResponse{Tenant: &tenantv1.Tenant{Aps: &apsv1.Meta{Id: tenantID, Status: "aps:provisioning"}, State: "creating"}}, nil
}

func (f *fakeServices) GetTenant(_ context.Context, r *tenantv1.GetTenantRequest) (*tenantv1.GetTenantResponse, error) {
	if !strings.Contains(r.GetId(), "-") {
		return nil, apierr.ToStatus(apierr.Invalid("The tenant id %q is not a UUID.", r.GetId()))
	}
	return &tenantv1.GetTenantResponse{Tenant: &tenantv1.Tenant{Aps: &apsv1.Meta{Id: r.GetId()}, State: "active"}}, nil
}

func (f *fakeServices) UnprovisionTenant(context.Context, *tenantv1.UnprovisionTenantRequest) (*tenantv1.UnprovisionTenantResponse, error) {
	return &tenantv1.UnprovisionTenantResponse{}, nil
}

func newCert(tb testing.TB, cn string) (tls.Certificate, string) {
	tb.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

type harness struct {
	url      string
	rest     http.Handler
	calls    *atomic.Int32 // service calls other than the certificate look-up
	fake     *fakeServices
	ctrl     tls.Certificate
	ctrlPEM  string
	other    tls.Certificate
	otherPEM string
}

func newHarness(t *testing.T) *harness {
	ctrl, ctrlPEM := newCert(t, "controller")
	other, otherPEM := newCert(t, "intruder")
	fake := &fakeServices{controllerPEM: ctrlPEM}
	calls := &atomic.Int32{}
	gs := grpc.NewServer(grpc.UnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, next grpc.UnaryHandler) (any, error) {
		if info.FullMethod != tenantv1.InstanceService_GetInstanceAuth_FullMethodName {
			calls.Add(1)
		}
		return next(ctx, req)
	}))
	tenantv1.RegisterInstanceServiceServer(gs, fake)
	tenantv1.RegisterTenantServiceServer(gs, fake)
	lis, _ := net.Listen("tcp", "127.0.0.1:0")
	go func() { _ = gs.Serve(lis) }()
	t.Cleanup(gs.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	rest, err := gateway.New(context.Background(), gateway.Upstreams{Tenant: conn}, aps.MuxOptions(2500*time.Millisecond)...)
	if err != nil {
		t.Fatal(err)
	}
	h := aps.Handler(rest, aps.Options{BasePath: "/aps", Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Certs: &aps.TenantServiceCerts{Client: tenantv1.NewInstanceServiceClient(conn), TTL: time.Minute}})
	srv := httptest.NewUnstartedServer(h)
	srv.TLS = &tls.Config{ClientAuth: tls.RequestClientCert}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return &harness{url: srv.URL, rest: rest, calls: calls, fake: fake, ctrl: ctrl, ctrlPEM: ctrlPEM, other: other, otherPEM: otherPEM}
}

type answer struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

func (h *harness) do(t *testing.T, cert *tls.Certificate, method, path string, headers map[string]string, body string) answer {
	t.Helper()
	tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}
	if cert != nil {
		c := *cert
		tr.TLSClientConfig.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &c, nil }
	}
	req, _ := http.NewRequest(method, h.url+path, strings.NewReader(body))
	req.Header.Set("APS-Instance-ID", instanceID)
	req.Header.Set("APS-Controller-URI", "https://apsc.example:6308")
	req.Header.Set("APS-Request-Phase", "sync")
	req.Header.Set("APS-Transaction-ID", "tx-42")
	req.Header.Set("Content-Type", "application/json")
	for k, v := range headers {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	_ = json.Unmarshal(raw, &a.body)
	return a
}

func wantAPSError(t *testing.T, a answer, status int, reason string) {
	t.Helper()
	if a.status != status || a.body["type"] != reason || a.body["error"] != reason || a.body["code"] != float64(status) ||
		a.body["message"] == "" || !strings.HasPrefix(a.header.Get("Content-Type"), "application/json") {
		t.Fatalf("want %d %s, got %d %s", status, reason, a.status, a.raw)
	}
}

func TestAuthentication(t *testing.T) {
	h := newHarness(t)
	path := "/aps/tenants/" + tenantID
	wantAPSError(t, h.do(t, nil, "GET", path, nil, ""), 401, apierr.Unauthenticated)
	wantAPSError(t, h.do(t, &h.other, "GET", path, nil, ""), 403, apierr.Forbidden)
	wantAPSError(t, h.do(t, &h.ctrl, "GET", path, map[string]string{"APS-Instance-ID": "6f0c1a52-0000-4000-8000-00000000ffff"}, ""), 404, apierr.UnknownInstance)
	wantAPSError(t, h.do(t, &h.ctrl, "GET", path, map[string]string{"APS-Controller-URI": ""}, ""), 400, apierr.InvalidRequest)
	if a := h.do(t, &h.ctrl, "GET", path, nil, ""); a.status != 200 || a.body["state"] != "active" {
		t.Fatalf("%d %s", a.status, a.raw)
	}
	// The re-send of an uninstall whose answer was lost: the instance is
	// gone, and an unprovision of an unknown id answers 204. Only that.
	gone := map[string]string{"APS-Instance-ID": "6f0c1a52-0000-4000-8000-00000000ffff"}
	if a := h.do(t, &h.ctrl, "DELETE", "/aps/app/6f0c1a52-0000-4000-8000-00000000eeee/", gone, ""); a.status != 204 || a.raw != "" {
		t.Fatalf("uninstall of an instance already gone: %d %s", a.status, a.raw)
	}
	wantAPSError(t, h.do(t, &h.ctrl, "DELETE", "/aps/tenants/"+tenantID, gone, ""), 404, apierr.UnknownInstance)
	wantAPSError(t, h.do(t, &h.ctrl, "DELETE", "/aps/app/6f0c1a52-0000-4000-8000-00000000eeee/tenants/"+tenantID, gone, ""), 404, apierr.UnknownInstance)
	wantAPSError(t, h.do(t, &h.ctrl, "GET", "/aps/app/6f0c1a52-0000-4000-8000-00000000eeee", gone, ""), 404, apierr.UnknownInstance)
	wantAPSError(t, h.do(t, nil, "DELETE", "/aps/app/6f0c1a52-0000-4000-8000-00000000eeee", gone, ""), 401, apierr.Unauthenticated)
	// Unknown a moment ago on this replica, created since on another: the
	// uninstall is not answered from the memory of the unknown id.
	fresh := map[string]string{"APS-Instance-ID": "6f0c1a52-0000-4000-8000-00000000dddd"}
	wantAPSError(t, h.do(t, &h.ctrl, "GET", "/aps/app/6f0c1a52-0000-4000-8000-00000000cccc", fresh, ""), 404, apierr.UnknownInstance)
	h.fake.created.Store(fresh["APS-Instance-ID"], true)
	if a := h.do(t, &h.ctrl, "DELETE", "/aps/app/6f0c1a52-0000-4000-8000-00000000cccc", fresh, ""); a.status == 204 {
		t.Fatal("the uninstall of an instance created elsewhere was answered 204 from the remembered unknown id")
	}
}

func TestInstanceCreationNeedsTheControllerCertificate(t *testing.T) {
	h := newHarness(t)
	body := `{"aps":{"id":"6f0c1a52-0000-4000-8000-0000000000bb","x509":{"self":"x","controller":` + jsonString(h.ctrlPEM) + `}},"cloud":"global"}`
	wantAPSError(t, h.do(t, &h.other, "POST", "/aps/app", nil, body), 403, apierr.Forbidden)
	wantAPSError(t, h.do(t, &h.ctrl, "POST", "/aps/app", nil, `{"aps":{}}`), 400, apierr.InvalidRequest)
	a := h.do(t, &h.ctrl, "POST", "/aps/app/", map[string]string{"APS-Instance-ID": "6f0c1a52-0000-4000-8000-0000000000cc"}, body)
	if a.status != 200 || a.body["cloud"] != "global" {
		t.Fatalf("%d %s", a.status, a.raw)
	}
	if got := h.fake.lastMD.Get("aps-instance-id"); len(got) != 1 || got[0] != "6f0c1a52-0000-4000-8000-0000000000cc" {
		t.Fatalf("metadata %v", h.fake.lastMD)
	}
	// Another controller cannot re-create an existing instance with its own certificate.
	hijack := `{"aps":{"id":"6f0c1a52-0000-4000-8000-0000000000bb","x509":{"self":"x","controller":` + jsonString(h.otherPEM) + `}}}`
	wantAPSError(t, h.do(t, &h.other, "POST", "/aps/app", nil, hijack), 403, apierr.Forbidden)
}

func jsonString(s string) string { b, _ := json.Marshal(s); return string(b) }

func TestAsyncProtocolAndHeaders(t *testing.T) {
	h := newHarness(t)
	body := `{"aps":{"id":"` + tenantID + `","type":"http://o365gateway.org/aps/tenant/1.0","revision":3,"modified":"2026-01-01T00:00:00Z",
		"package":{"id":"p","href":"/aps/2/packages/p"},"subscription":"s"},"initial_subdomain":"contoso","unknown_prop":{"x":1}}`
	a := h.do(t, &h.ctrl, "POST", "/aps/tenants/", nil, body)
	if a.status != 202 || a.header.Get("APS-Retry-Timeout") != "3" || a.header.Get("APS-Info") != "Creating Microsoft customer x.onmicrosoft.com" ||
		a.body["aps"].(map[string]any)["status"] != "aps:provisioning" {
		t.Fatalf("%d %v %s", a.status, a.header, a.raw)
	}
	if h.fake.lastTenant.GetInitialSubdomain() != "contoso" {
		t.Fatalf("body not passed: %v", h.fake.lastTenant)
	}
	md := h.fake.lastMD
	for k, want := range map[string]string{"aps-instance-id": instanceID, "aps-request-phase": "sync", "aps-transaction-id": "tx-42", "aps-controller-uri": "https://apsc.example:6308"} {
		if got := md.Get(k); len(got) != 1 || got[0] != want {
			t.Fatalf("metadata %s = %v", k, got)
		}
	}
	if len(md.Get("content-type")) > 0 && md.Get("content-type")[0] != "application/grpc" {
		t.Fatalf("unexpected forwarded header: %v", md)
	}
	a = h.do(t, &h.ctrl, "POST", "/aps/tenants", map[string]string{"APS-Request-Phase": "async"}, body)
	if a.status != 200 || a.body["state"] != "active" || a.header.Get("APS-Retry-Timeout") != "" || len(a.header.Values("Grpc-Metadata-Aps-Async-Info")) > 0 {
		t.Fatalf("%d %v %s", a.status, a.header, a.raw)
	}
}

func TestErrorsAndRouting(t *testing.T) {
	h := newHarness(t)
	wantAPSError(t, h.do(t, &h.ctrl, "POST", "/aps/tenants", nil, `{"initial_subdomain":"taken"}`), 409, apierr.DomainAlreadyTaken)
	wantAPSError(t, h.do(t, &h.ctrl, "GET", "/aps/tenants/notauuid/", nil, ""), 400, apierr.InvalidRequest)
	wantAPSError(t, h.do(t, &h.ctrl, "GET", "/aps/nosuchservice/"+tenantID, nil, ""), 404, apierr.NotFound)
	wantAPSError(t, h.do(t, &h.ctrl, "GET", "/elsewhere", nil, ""), 404, apierr.NotFound)
	wantAPSError(t, h.do(t, &h.ctrl, "POST", "/aps/tenants", nil, `{"initial_subdomain": 5`), 400, apierr.InvalidRequest)
	a := h.do(t, &h.ctrl, "DELETE", "/aps/tenants/"+tenantID+"/", nil, "")
	if a.status != 204 || a.raw != "" {
		t.Fatalf("%d %q", a.status, a.raw)
	}
}
