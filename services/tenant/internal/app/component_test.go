package app_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	apsv1 "github.com/o365gateway/gateway/gen/go/o365/aps/v1"
	tenantv1 "github.com/o365gateway/gateway/gen/go/o365/tenant/v1"
	"github.com/o365gateway/gateway/services/shared/apierr"
	"github.com/o365gateway/gateway/services/shared/audit/audittest"
	sharedconfig "github.com/o365gateway/gateway/services/shared/config"
	"github.com/o365gateway/gateway/services/shared/logging"
	"github.com/o365gateway/gateway/services/shared/mtls"
	"github.com/o365gateway/gateway/services/shared/mtls/devpki"
	"github.com/o365gateway/gateway/sim/mscloud"
	"github.com/o365gateway/gateway/sim/mscloud/mscloudtest"

	"github.com/o365gateway/gateway/services/tenant/internal/app"
	"github.com/o365gateway/gateway/services/tenant/internal/config"
)

// env is one tenant service wired to an in-process Microsoft simulator.
type env struct {
	t         *testing.T
	sim       *mscloudtest.Sim
	instances tenantv1.InstanceServiceClient
	domains   tenantv1.DomainServiceClient
	tenants   tenantv1.TenantServiceClient
	logs      *syncBuffer
	partner   mscloudtest.Partner
	addr      string
	pki       devpki.PKI
	// dbURL is the service's database, auditKeyFile its audit key.
	dbURL, auditKeyFile string
}

// meshDial is the credential of a client with name's certificate of pki.
func meshDial(t *testing.T, pki devpki.PKI, name string) grpc.DialOption {
	t.Helper()
	files, err := pki.Files(name)
	if err != nil {
		t.Fatal(err)
	}
	src, err := mtls.Load(mtls.Files(files), pki.TrustDomain, nil)
	if err != nil {
		t.Fatal(err)
	}
	return mtls.DialOption(src, "tenant")
}

// clientAs connects to the service with name's certificate.
func (e *env) clientAs(name string) tenantv1.InstanceServiceClient {
	conn, err := grpc.NewClient(e.addr, meshDial(e.t, e.pki, name))
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { conn.Close() })
	return tenantv1.NewInstanceServiceClient(conn)
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func newEnv(t *testing.T, partnerCountries ...string) *env {
	return newEnvWith(t, envOptions{}, partnerCountries...)
}

// envOptions change the service's setup.
type envOptions struct {
	// mesh runs the service with mutual TLS and authorization (the
	// development CA of dir/pki); the env's clients call as the facade.
	mesh bool
	// policy is the operator's authorization policy file's content.
	policy string
}

func newEnvWith(t *testing.T, o envOptions, partnerCountries ...string) *env {
	t.Helper()
	sim := mscloudtest.Start(t, mscloud.Options{})
	dir := t.TempDir()
	caFile := sim.CAFile
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	cfg := &config.Config{
		ListenAddr: "127.0.0.1:0", DatabaseURL: "sqlite://" + filepath.Join(dir, "tenant.db"),
		Encryption: sharedconfig.Encryption{EncryptionKey: base64.StdEncoding.EncodeToString(key)}, UserAddr: "127.0.0.1:1", SubscriptionAddr: "127.0.0.1:1", APSCInsecureSkipVerify: true,
		Microsoft: sharedconfig.Microsoft{Cloud: "global", MSLoginURL: sim.URL + "/", MSPartnerCenterURL: sim.URL,
			MSGraphURL: sim.URL + "/v1.0", MSCAFile: caFile, MSTimeout: 10 * time.Second, MSMaxRetryDelay: 5 * time.Second},
		Jobs:          sharedconfig.Jobs{JobWorkers: 2, JobPoll: 50 * time.Millisecond, JobLease: 5 * time.Second, WorkerID: "test"},
		Mesh:          sharedconfig.Mesh{Plaintext: true, TrustDomain: "o365gw.test"},
		Audit:         sharedconfig.Audit{AuditKeyFile: audittest.KeyFile(t)},
		Observability: sharedconfig.Observability{LogLevel: "debug"},
	}
	dial := grpc.WithTransportCredentials(insecure.NewCredentials())
	var pki devpki.PKI
	if o.mesh {
		pki = devpki.PKI{Dir: filepath.Join(dir, "pki"), TrustDomain: "o365gw.test"}
		files, err := pki.Files("tenant")
		if err != nil {
			t.Fatal(err)
		}
		cfg.Mesh = sharedconfig.Mesh{MTLSCAFile: files.CA, MTLSCertFile: files.Cert, MTLSKeyFile: files.Key, TrustDomain: "o365gw.test"}
		dial = meshDial(t, pki, "facade")
	}
	if o.policy != "" {
		cfg.AuthzPolicyFile = filepath.Join(dir, "policy.json")
		if err := os.WriteFile(cfg.AuthzPolicyFile, []byte(o.policy), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	a, err := app.New(ctx, cfg, logging.New(logs, "debug", "tenant"), nil)
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = a.Serve(ctx, lis); close(done) }()
	t.Cleanup(func() { cancel(); <-done; a.Close() })
	conn, err := grpc.NewClient(lis.Addr().String(), dial)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	e := &env{t: t, sim: sim, logs: logs, addr: lis.Addr().String(), pki: pki, dbURL: cfg.DatabaseURL, auditKeyFile: cfg.AuditKeyFile,
		instances: tenantv1.NewInstanceServiceClient(conn), tenants: tenantv1.NewTenantServiceClient(conn),
		domains: tenantv1.NewDomainServiceClient(conn)}
	if len(partnerCountries) == 0 {
		partnerCountries = []string{"US", "CA", "GB", "DE"}
	}
	e.partner = sim.RegisterPartner("global", partnerCountries...)
	return e
}

func (e *env) admin(method, path string, body, out any) {
	e.t.Helper()
	e.sim.Admin(method, path, body, out)
}

// customers lists the simulator's customers of the test partner.
func (e *env) customers() []map[string]any {
	var st struct {
		Customers []map[string]any `json:"customers"`
	}
	e.sim.State(e.partner.TenantID, &st)
	return st.Customers
}

func selfSigned(t *testing.T, cn string) (certPEM, keyPEM string) {
	t.Helper()
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}))
}

type instance struct {
	id     string
	appID  string
	keyPEM string
}

func (e *env) ctx(inst instance, phase string) context.Context {
	return metadata.AppendToOutgoingContext(context.Background(), "aps-instance-id", inst.id,
		"aps-controller-uri", "https://apsc.example:6308/", "aps-request-phase", phase, "aps-transaction-id", "tx-1")
}

func (e *env) install(mutate func(*tenantv1.Instance)) (instance, error) {
	return e.installID(uuid.NewString(), mutate)
}

func (e *env) installID(id string, mutate func(*tenantv1.Instance)) (instance, error) {
	inst := instance{id: id, appID: uuid.NewString()}
	cert, key := selfSigned(e.t, "instance")
	ctrl, _ := selfSigned(e.t, "controller")
	inst.keyPEM = key
	test := true
	m := &tenantv1.Instance{
		Aps:   &apsv1.Meta{Id: inst.appID, X509: &apsv1.X509{Self: cert + key, Controller: ctrl}},
		Cloud: "global", PartnerTenantId: e.partner.TenantID, ClientId: e.partner.ClientID, ClientSecret: e.partner.ClientSecret,
		ResellerMode: "direct", SalesCountries: []string{"US", "CA", "GB"}, TestPartner: &test,
	}
	if mutate != nil {
		mutate(m)
	}
	_, err := e.instances.CreateInstance(e.ctx(inst, "sync"), &tenantv1.CreateInstanceRequest{Instance: m})
	return inst, err
}

func (e *env) mustInstall() instance {
	inst, err := e.install(nil)
	if err != nil {
		e.t.Fatal(err)
	}
	return inst
}

func newTenant(sub string) *tenantv1.Tenant {
	return &tenantv1.Tenant{
		Aps:              &apsv1.Meta{Id: uuid.NewString()},
		InitialSubdomain: sub,
		Company:          &tenantv1.Company{Name: "Contoso Ltd", Email: "admin@contoso.example", Culture: "en-US", Language: "en"},
		Address: &tenantv1.Address{FirstName: "Ann", LastName: "Lee", AddressLine1: "1 Microsoft Way", City: "Redmond",
			State: "WA", PostalCode: "98052", Country: "US", PhoneNumber: "4255550100"},
		Mca: &tenantv1.Mca{FirstName: "Ann", LastName: "Lee", Email: "ann@contoso.example", DateAgreed: "2026-11-20T10:00:00Z"},
	}
}

func subdomain() string { return "t" + strings.ReplaceAll(uuid.NewString(), "-", "")[:20] }

// provision drives a provisioning as APSC does: sync, then async re-sends.
func (e *env) provision(inst instance, tn *tenantv1.Tenant) (*tenantv1.Tenant, error) {
	var hdr metadata.MD
	resp, err := e.tenants.ProvisionTenant(e.ctx(inst, "sync"), &tenantv1.ProvisionTenantRequest{Tenant: tn}, grpc.Header(&hdr))
	if err != nil {
		return nil, err
	}
	if len(hdr.Get("aps-async-info")) == 0 {
		return resp.GetTenant(), nil
	}
	if resp.GetTenant().GetAps().GetStatus() != "aps:provisioning" {
		e.t.Fatalf("202 representation status %q", resp.GetTenant().GetAps().GetStatus())
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
		hdr = nil
		resp, err = e.tenants.ProvisionTenant(e.ctx(inst, "async"), &tenantv1.ProvisionTenantRequest{Tenant: tn}, grpc.Header(&hdr))
		if err != nil {
			return nil, err
		}
		if len(hdr.Get("aps-async-info")) == 0 {
			return resp.GetTenant(), nil
		}
	}
	e.t.Fatal("provisioning did not finish")
	return nil, nil
}

func reason(t *testing.T, err error) *apierr.Error {
	t.Helper()
	if err == nil {
		t.Fatal("expected an error")
	}
	st, _ := status.FromError(err)
	return apierr.FromStatus(st)
}

func TestProvisionCreatesExactlyOneCustomer(t *testing.T) {
	e := newEnv(t)
	inst := e.mustInstall()
	tn := newTenant(subdomain())
	got, err := e.provision(inst, tn)
	if err != nil {
		t.Fatal(err)
	}
	if got.GetState() != "active" || got.GetMsCustomerId() == "" || got.GetDomainName() != tn.InitialSubdomain+".onmicrosoft.com" ||
		got.GetAdminLogin() == "" || got.GetAdminPassword() == "" || got.GetAps().GetStatus() != "aps:ready" {
		t.Fatalf("got %v", got)
	}
	cs := e.customers()
	if len(cs) != 1 || cs[0]["id"] != got.GetMsCustomerId() || cs[0]["mca_attested"] != true {
		t.Fatalf("simulator customers: %v", cs)
	}
	// A re-sent provision answers the same tenant, with the password again
	// (the platform may have lost the completing answer); a read never has it.
	again, err := e.provision(inst, tn)
	if err != nil || again.GetMsCustomerId() != got.GetMsCustomerId() || again.GetAdminPassword() != got.GetAdminPassword() {
		t.Fatalf("re-send: %v %v", again, err)
	}
	read, err := e.tenants.GetTenant(e.ctx(inst, "sync"), &tenantv1.GetTenantRequest{Id: tn.GetAps().GetId()})
	if err != nil || read.GetTenant().GetAdminPassword() != "" {
		t.Fatalf("a read returned the password: %v %v", read, err)
	}
	if n := len(e.customers()); n != 1 {
		t.Fatalf("%d customers after re-send", n)
	}
	// Secrets never reach the logs.
	for _, s := range []string{e.partner.ClientSecret, got.GetAdminPassword(), strings.Split(inst.keyPEM, "\n")[1]} {
		if strings.Contains(e.logs.String(), s) {
			t.Fatalf("secret %q... leaked to the logs", s[:6])
		}
	}
	if !strings.Contains(e.logs.String(), `"ms_correlation_id"`) || !strings.Contains(e.logs.String(), `"instance_id":"`+inst.id) {
		t.Fatal("logs lack correlation or instance ids")
	}
}

func TestRefusalsChangeNothingAtMicrosoft(t *testing.T) {
	e := newEnv(t)
	inst := e.mustInstall()
	taken := newTenant(subdomain())
	if _, err := e.provision(inst, taken); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		mutate func(*tenantv1.Tenant)
		reason string
		http   int
	}{
		{"country outside sales countries", func(tn *tenantv1.Tenant) {
			tn.Address = &tenantv1.Address{FirstName: "A", LastName: "B", AddressLine1: "1 Rue", City: "Berlin", PostalCode: "10115", Country: "DE"}
		}, apierr.CustomerCountryNotSupported, 400},
		{"taken subdomain", func(tn *tenantv1.Tenant) { tn.InitialSubdomain = taken.InitialSubdomain }, apierr.DomainAlreadyTaken, 409},
		{"bad postal code", func(tn *tenantv1.Tenant) { tn.Address.PostalCode = "ABCDE" }, apierr.InvalidAddress, 400},
		{"street without number", func(tn *tenantv1.Tenant) { tn.Address.AddressLine1 = "Microsoft Way" }, apierr.InvalidAddress, 400},
		{"unknown state", func(tn *tenantv1.Tenant) { tn.Address.State = "Dubai" }, apierr.InvalidAddress, 400},
		{"bad subdomain", func(tn *tenantv1.Tenant) { tn.InitialSubdomain = "not-valid.x" }, apierr.InvalidRequest, 400},
		{"missing company", func(tn *tenantv1.Tenant) { tn.Company = nil }, apierr.InvalidRequest, 400},
		{"bad id", func(tn *tenantv1.Tenant) { tn.Aps.Id = "42" }, apierr.InvalidRequest, 400},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tn := newTenant(subdomain())
			c.mutate(tn)
			_, err := e.provision(inst, tn)
			r := reason(t, err)
			if r.Reason != c.reason || r.HTTPStatus() != c.http {
				t.Fatalf("got %s %d: %s", r.Reason, r.HTTPStatus(), r.Message)
			}
			if c.reason == apierr.CustomerCountryNotSupported && r.Message != apierr.CountryNotSupportedMessage {
				t.Fatalf("message %q", r.Message)
			}
		})
	}
	if n := len(e.customers()); n != 1 {
		t.Fatalf("%d customers at the simulator, want 1", n)
	}
}

func TestMicrosoftRefusesCountry(t *testing.T) {
	e := newEnv(t, "US") // the partner may only sell in the US
	inst := e.mustInstall()
	tn := newTenant(subdomain())
	tn.Address = &tenantv1.Address{FirstName: "A", LastName: "B", AddressLine1: "10 Downing Street", City: "London",
		PostalCode: "SW1A 2AA", Country: "GB", PhoneNumber: "2071234567"}
	tn.Company.Culture = "en-GB"
	_, err := e.provision(inst, tn)
	r := reason(t, err)
	if r.Reason != apierr.CustomerCountryNotSupported || r.HTTPStatus() != 500 || r.Message != apierr.CountryNotSupportedMessage {
		t.Fatalf("got %+v %d", r, r.HTTPStatus())
	}
	if n := len(e.customers()); n != 0 {
		t.Fatalf("%d customers", n)
	}
	got, err := e.tenants.GetTenant(e.ctx(inst, ""), &tenantv1.GetTenantRequest{Id: tn.Aps.Id})
	if err != nil || got.GetTenant().GetState() != "failed" {
		t.Fatalf("%v %v", got, err)
	}
}

func TestErrorAfterCommitCreatesOneCustomer(t *testing.T) {
	for _, replay := range []bool{true, false} {
		t.Run(fmt.Sprintf("replay=%v", replay), func(t *testing.T) {
			e := newEnv(t)
			inst := e.mustInstall()
			e.admin("POST", "/_sim/settings", map[string]any{"request_id_replay": replay}, nil)
			e.admin("POST", "/_sim/faults", map[string]any{"api": "partnercenter", "method": "POST", "path": "/v1/customers",
				"mode": "error_after_commit", "status": 500, "count": 1}, nil)
			tn := newTenant(subdomain())
			tn.Mca = nil
			got, err := e.provision(inst, tn)
			if err != nil {
				t.Fatal(err)
			}
			cs := e.customers()
			if got.GetState() != "active" || len(cs) != 1 || cs[0]["id"] != got.GetMsCustomerId() {
				t.Fatalf("tenant %v, customers %v", got, cs)
			}
		})
	}
}

func TestInstanceRules(t *testing.T) {
	e := newEnv(t)
	_, err := e.install(func(m *tenantv1.Instance) { m.Cloud = "china" })
	if r := reason(t, err); r.Reason != apierr.WrongCloud || r.HTTPStatus() != 400 {
		t.Fatalf("%+v", r)
	}
	_, err = e.install(func(m *tenantv1.Instance) { m.ClientSecret = "wrong" })
	if r := reason(t, err); r.Reason != apierr.InvalidRequest || strings.Contains(r.Message, "wrong") {
		t.Fatalf("%+v", r)
	}
	_, err = e.install(func(m *tenantv1.Instance) { m.Aps.X509.Self = "garbage" })
	if r := reason(t, err); r.Reason != apierr.InvalidRequest {
		t.Fatalf("%+v", r)
	}
	inst := e.mustInstall()
	got, err := e.instances.GetInstance(e.ctx(inst, ""), &tenantv1.GetInstanceRequest{Id: inst.appID})
	if err != nil || got.GetInstance().GetClientSecret() != "" || got.GetInstance().GetPartnerTenantId() != e.partner.TenantID {
		t.Fatalf("%v %v", got, err)
	}
	auth, err := e.instances.GetInstanceAuth(context.Background(), &tenantv1.GetInstanceAuthRequest{InstanceId: inst.id})
	if err != nil || !strings.Contains(auth.GetControllerCertificatePem(), "BEGIN CERTIFICATE") {
		t.Fatalf("%v %v", auth, err)
	}
	sub := subdomain()
	av, err := e.instances.CheckDomainAvailability(e.ctx(inst, ""), &tenantv1.CheckDomainAvailabilityRequest{Id: inst.appID, Subdomain: sub})
	if err != nil || !av.GetAvailable() || av.GetDomain() != sub+".onmicrosoft.com" {
		t.Fatalf("%v %v", av, err)
	}
	av, err = e.instances.CheckDomainAvailability(e.ctx(inst, ""), &tenantv1.CheckDomainAvailabilityRequest{Id: inst.appID, Subdomain: "contoso"})
	if err != nil || av.GetAvailable() {
		t.Fatalf("reserved domain reported free: %v %v", av, err)
	}
}

func TestUnprovisionDeletesSandboxCustomer(t *testing.T) {
	e := newEnv(t)
	inst := e.mustInstall()
	tn := newTenant(subdomain())
	if _, err := e.provision(inst, tn); err != nil {
		t.Fatal(err)
	}
	var hdr metadata.MD
	if _, err := e.tenants.UnprovisionTenant(e.ctx(inst, "sync"), &tenantv1.UnprovisionTenantRequest{Id: tn.Aps.Id}, grpc.Header(&hdr)); err != nil {
		t.Fatal(err)
	}
	if len(hdr.Get("aps-async-info")) == 0 {
		t.Fatal("test-partner unprovision should run as a job")
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		hdr = nil
		resp, err := e.tenants.UnprovisionTenant(e.ctx(inst, "async"), &tenantv1.UnprovisionTenantRequest{Id: tn.Aps.Id}, grpc.Header(&hdr))
		if err != nil {
			t.Fatal(err)
		}
		if len(hdr.Get("aps-async-info")) == 0 {
			if resp.GetTenant() != nil {
				t.Fatalf("done unprovision answered %v", resp)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("unprovision did not finish")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if n := len(e.customers()); n != 0 {
		t.Fatalf("%d customers left", n)
	}
}

func TestLongRetryAfterReschedulesTheJob(t *testing.T) {
	e := newEnv(t)
	inst := e.mustInstall()
	e.admin("POST", "/_sim/faults", map[string]any{"api": "partnercenter", "method": "POST", "path": "/v1/customers",
		"mode": "throttle", "retry_after_seconds": 6, "count": 1}, nil)
	tn := newTenant(subdomain())
	start := time.Now()
	got, err := e.provision(inst, tn)
	if err != nil {
		t.Fatal(err)
	}
	if got.GetState() != "active" || len(e.customers()) != 1 {
		t.Fatalf("%v, %d customers", got, len(e.customers()))
	}
	if !strings.Contains(e.logs.String(), `"msg":"job snoozed"`) || time.Since(start) < 5*time.Second {
		t.Fatal("the 429 was not handed to the job queue")
	}
}

func TestCustomDomainVerification(t *testing.T) {
	e := newEnv(t)
	inst := e.mustInstall()
	tn := newTenant(subdomain())
	if _, err := e.provision(inst, tn); err != nil {
		t.Fatal(err)
	}
	d := &tenantv1.Domain{Aps: &apsv1.Meta{Id: uuid.NewString()}, Tenant: &apsv1.Link{Aps: &apsv1.Ref{Id: tn.Aps.Id}}, DomainName: "Fabrikam.example."}
	got, err := e.domains.ProvisionDomain(e.ctx(inst, "sync"), &tenantv1.ProvisionDomainRequest{Domain: d})
	if err != nil {
		t.Fatal(err)
	}
	dm := got.GetDomain()
	var txt string
	for _, r := range dm.GetVerificationRecords() {
		if r.GetRecordType() == "Txt" {
			txt = r.GetText()
		}
	}
	if dm.GetState() != "unverified" || dm.GetDomainName() != "fabrikam.example" || !strings.HasPrefix(txt, "MS=") {
		t.Fatalf("%v", dm)
	}
	// Re-sent: the same domain, nothing new.
	if again, err := e.domains.ProvisionDomain(e.ctx(inst, "sync"), &tenantv1.ProvisionDomainRequest{Domain: d}); err != nil || again.GetDomain().GetState() != "unverified" {
		t.Fatalf("%v %v", again, err)
	}
	_, err = e.domains.VerifyDomain(e.ctx(inst, "sync"), &tenantv1.VerifyDomainRequest{Id: d.Aps.Id})
	if r := reason(t, err); r.Reason != apierr.DomainNotVerified || r.HTTPStatus() != 400 || !strings.Contains(r.Message, txt) {
		t.Fatalf("%+v", r)
	}
	e.admin("POST", "/_sim/dns", map[string]any{"domain": "fabrikam.example", "txt": txt}, nil)
	v, err := e.domains.VerifyDomain(e.ctx(inst, "sync"), &tenantv1.VerifyDomainRequest{Id: d.Aps.Id})
	if err != nil || v.GetDomain().GetState() != "verified" {
		t.Fatalf("%v %v", v, err)
	}
	if _, err := e.domains.UnprovisionDomain(e.ctx(inst, "sync"), &tenantv1.UnprovisionDomainRequest{Id: d.Aps.Id}); err != nil {
		t.Fatal(err)
	}
	_, err = e.domains.GetDomain(e.ctx(inst, ""), &tenantv1.GetDomainRequest{Id: d.Aps.Id})
	if r := reason(t, err); r.Reason != apierr.NotFound {
		t.Fatalf("%+v", r)
	}
	bad := &tenantv1.Domain{Aps: &apsv1.Meta{Id: uuid.NewString()}, Tenant: &apsv1.Link{Aps: &apsv1.Ref{Id: tn.Aps.Id}}, DomainName: "not a domain"}
	_, err = e.domains.ProvisionDomain(e.ctx(inst, "sync"), &tenantv1.ProvisionDomainRequest{Domain: bad})
	if r := reason(t, err); r.Reason != apierr.InvalidRequest {
		t.Fatalf("%+v", r)
	}
}

// TestToolLimitedToOneInstance: with mutual TLS and the operator's policy,
// a tool certificate allowed instance A reads and changes A but can neither
// read nor change instance B, not even by naming A in the metadata and B in
// the request; a tool the policy does not name gets nothing; the facade's
// identity gets no access token; the subscription service's does.
func TestToolLimitedToOneInstance(t *testing.T) {
	a, b := uuid.NewString(), uuid.NewString()
	e := newEnvWith(t, envOptions{mesh: true,
		policy: `{"rules":[{"identity":"tool/alice","methods":["/o365.tenant.v1.InstanceService/*"],"instances":["` + a + `"]}]}`})
	instA, err := e.installID(a, nil)
	if err != nil {
		t.Fatal(err)
	}
	instB, err := e.installID(b, nil)
	if err != nil {
		t.Fatal(err)
	}
	alice := e.clientAs("tool/alice")
	denied := func(what string, err error) {
		t.Helper()
		if status.Code(err) != codes.PermissionDenied {
			t.Errorf("%s: %v, want PermissionDenied", what, err)
		}
	}
	if _, err := alice.GetInstance(e.ctx(instA, ""), &tenantv1.GetInstanceRequest{Id: instA.appID}); err != nil {
		t.Fatalf("alice reads A: %v", err)
	}
	if _, err := alice.UpgradeInstance(e.ctx(instA, ""), &tenantv1.UpgradeInstanceRequest{Id: instA.appID, Version: "1.0"}); err != nil {
		t.Fatalf("alice changes A: %v", err)
	}
	_, err = alice.GetInstance(e.ctx(instB, ""), &tenantv1.GetInstanceRequest{Id: instB.appID})
	denied("alice reads B", err)
	_, err = alice.UpgradeInstance(e.ctx(instB, ""), &tenantv1.UpgradeInstanceRequest{Id: instB.appID, Version: "1.0"})
	denied("alice changes B", err)
	_, err = alice.ResolveInstance(e.ctx(instA, ""), &tenantv1.ResolveInstanceRequest{InstanceId: b})
	denied("alice names A in the metadata and B in the request", err)
	_, err = alice.GetInstance(context.Background(), &tenantv1.GetInstanceRequest{Id: instA.appID})
	denied("alice names no instance", err)
	_, err = e.clientAs("tool/mallory").GetInstance(e.ctx(instA, ""), &tenantv1.GetInstanceRequest{Id: instA.appID})
	denied("a tool the policy does not name", err)
	_, err = e.instances.IssueAccessToken(e.ctx(instA, ""), &tenantv1.IssueAccessTokenRequest{InstanceId: a,
		Audience: tenantv1.Audience_AUDIENCE_PARTNER_CENTER})
	denied("the facade asks for an access token", err)
	tok, err := e.clientAs("subscription").IssueAccessToken(e.ctx(instA, ""), &tenantv1.IssueAccessTokenRequest{InstanceId: a,
		Audience: tenantv1.Audience_AUDIENCE_PARTNER_CENTER})
	if err != nil || tok.GetAccessToken() == "" {
		t.Fatalf("the subscription service gets no access token: %v", err)
	}
	if !strings.Contains(e.logs.String(), `"caller":"spiffe://o365gw.test/tool/alice"`) ||
		!strings.Contains(e.logs.String(), "call refused by the authorization policy") {
		t.Error("the refusals and their caller are not logged")
	}
}
