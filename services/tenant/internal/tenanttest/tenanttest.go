// Package tenanttest is the set-up the tenant service's domain tests share:
// the in-process Microsoft simulator with the real Partner Center and Graph
// clients, a real SQLite store, an instance registered in it, and the
// helpers to put tenants and customers in place. It holds no fake of
// Microsoft: tests that need a precise answer wrap a real client.
package tenanttest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"log/slog"
	"math/big"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/o365gateway/gateway/services/shared/apsmd"
	"github.com/o365gateway/gateway/services/shared/clouds"
	"github.com/o365gateway/gateway/services/shared/graph"
	"github.com/o365gateway/gateway/services/shared/logging"
	"github.com/o365gateway/gateway/services/shared/msclients"
	"github.com/o365gateway/gateway/services/shared/partnercenter"
	"github.com/o365gateway/gateway/services/shared/secret"
	"github.com/o365gateway/gateway/sim/mscloud"
	"github.com/o365gateway/gateway/sim/mscloud/mscloudtest"

	"github.com/o365gateway/gateway/services/tenant/internal/instances"
	"github.com/o365gateway/gateway/services/tenant/internal/storage"
	"github.com/o365gateway/gateway/services/tenant/internal/storage/sqlite"
)

// Env is one simulator, one store and one registered instance.
type Env struct {
	T        testing.TB
	Sim      *mscloudtest.Sim
	Requests *mscloudtest.Requests
	Partner  mscloudtest.Partner
	Store    *sqlite.Store
	// URL is the store's database (another replica opens it too).
	URL       string
	Sealer    *secret.Sealer
	Endpoints clouds.Endpoints
	Factory   *msclients.Factory
	Instances *instances.Service
	// Inst is the instance registered for the partner (test partner, sales
	// countries US, CA, GB).
	Inst *storage.Instance
	Log  *slog.Logger
	Logs *Buffer
}

// Buffer is a log sink safe for concurrent writers.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) { b.mu.Lock(); defer b.mu.Unlock(); return b.b.Write(p) }

// String returns what was logged.
func (b *Buffer) String() string { b.mu.Lock(); defer b.mu.Unlock(); return b.b.String() }

// New starts a simulator with one sandbox partner of the global cloud and
// opens a store with the partner's instance in it.
func New(t testing.TB) *Env {
	t.Helper()
	reqs := &mscloudtest.Requests{}
	sim := mscloudtest.Start(t, mscloud.Options{Logger: reqs.Logger()})
	e := &Env{T: t, Sim: sim, Requests: reqs, Logs: &Buffer{}}
	e.Log = logging.New(e.Logs, "debug", "tenant")
	e.Partner = sim.RegisterPartner("global", "US", "CA", "GB", "DE")
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	var err error
	if e.Sealer, err = secret.NewSealer(key); err != nil {
		t.Fatal(err)
	}
	base, _ := clouds.Lookup("global")
	e.Endpoints = base.Override(sim.URL, sim.URL, sim.URL+"/v1.0")
	// A Retry-After above MaxRetryDelay goes back to the job at once.
	e.Factory = &msclients.Factory{Endpoints: e.Endpoints, Simulated: true, HTTP: sim.Client, Log: e.Log, MaxRetryDelay: 2 * time.Second}
	e.URL = "sqlite://" + filepath.Join(t.TempDir(), "tenant.db")
	e.Store, err = sqlite.Open(context.Background(), e.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Store.Close() })
	e.Instances = &instances.Service{Store: e.Store, Tenants: e.Store, Checker: e.Factory, Sealer: e.Sealer, Endpoints: e.Endpoints, Log: e.Log}
	e.Inst = e.AddInstance(func(in *storage.Instance) {})
	return e
}

// AddInstance stores an instance of the partner (changed by mutate first).
func (e *Env) AddInstance(mutate func(*storage.Instance)) *storage.Instance {
	e.T.Helper()
	in := &storage.Instance{InstanceID: uuid.NewString(), AppID: uuid.NewString(), ControllerURI: "https://apsc.example:6308/",
		Cloud: "global", PartnerTenantID: e.Partner.TenantID, ClientID: e.Partner.ClientID,
		ResellerMode: "direct", SalesCountries: []string{"US", "CA", "GB"}, TestPartner: true}
	mutate(in)
	if in.ClientSecretSealed == "" && in.RefreshTokenSealed == "" {
		sealed, err := e.Sealer.Seal(secret.New(e.Partner.ClientSecret), in.SealedAt(storage.SealedClientSecret))
		if err != nil {
			e.T.Fatal(err)
		}
		in.ClientSecretSealed = sealed
	}
	if err := e.Store.CreateInstance(context.Background(), in); err != nil {
		e.T.Fatal(err)
	}
	return in
}

// Request is an APS request for the instance in a phase ("sync", "async" or "").
func (e *Env) Request(phase string) apsmd.Request {
	return apsmd.Request{InstanceID: e.Inst.InstanceID, ControllerURI: e.Inst.ControllerURI, Phase: phase, TransactionID: "tx-1"}
}

// PartnerCenter is the real Partner Center client of an instance.
func (e *Env) PartnerCenter(in *storage.Instance) (*partnercenter.Client, error) {
	c, err := e.Instances.Credentials(in)
	if err != nil {
		return nil, err
	}
	return e.Factory.PartnerCenter(c)
}

// Graph is the real Graph client of a customer tenant of an instance.
func (e *Env) Graph(in *storage.Instance, customerTenantID string) (*graph.Client, error) {
	c, err := e.Instances.Credentials(in)
	if err != nil {
		return nil, err
	}
	return e.Factory.Graph(c, customerTenantID)
}

// Customer is a customer as the simulator's state lists it.
type Customer struct {
	ID          string `json:"id"`
	Domain      string `json:"domain"`
	CompanyName string `json:"company_name"`
	MCAAttested bool   `json:"mca_attested"`
}

// Customers lists the partner's customers at the simulator.
func (e *Env) Customers() []Customer {
	e.T.Helper()
	var st struct {
		Customers []Customer `json:"customers"`
	}
	e.Sim.State(e.Partner.TenantID, &st)
	return st.Customers
}

// AddCustomer creates a customer of a partner outside the platform (as in
// the Partner Center portal) and returns its id.
func (e *Env) AddCustomer(partnerTenantID, subdomain string) string {
	e.T.Helper()
	var c struct {
		ID string `json:"id"`
	}
	e.Sim.Admin("POST", "/_sim/partners/"+partnerTenantID+"/customers", map[string]any{"domain": subdomain, "country": "US"}, &c)
	return c.ID
}

// Fault injects a simulator fault (see mscloud's doc) and returns its id.
func (e *Env) Fault(f map[string]any) string {
	e.T.Helper()
	var out struct {
		ID string `json:"id"`
	}
	e.Sim.Admin("POST", "/_sim/faults", f, &out)
	return out.ID
}

// ActiveTenant stores an active tenant of the instance bound to a new
// customer at the simulator (created outside the platform) and returns it.
func (e *Env) ActiveTenant() *storage.Tenant {
	e.T.Helper()
	sub := Subdomain()
	t := &storage.Tenant{ID: uuid.NewString(), InstanceID: e.Inst.InstanceID, InitialSubdomain: sub,
		InitialDomain: e.Endpoints.InitialDomain(sub), MSCustomerID: e.AddCustomer(e.Partner.TenantID, sub),
		State: storage.StateActive, MCAAttested: true,
		Company: storage.Company{Name: "Contoso", Email: "a@contoso.example", Culture: "en-US", Language: "en"},
		Address: storage.Address{FirstName: "A", LastName: "B", AddressLine1: "1 Microsoft Way", City: "Redmond", State: "WA",
			PostalCode: "98052", Country: "US"}}
	if err := e.Store.CreateTenant(context.Background(), t, nil); err != nil {
		e.T.Fatal(err)
	}
	return t
}

// Subdomain is a fresh initial subdomain.
func Subdomain() string { return "t" + strings.ReplaceAll(uuid.NewString(), "-", "")[:20] }

// SelfSigned returns a fresh self-signed certificate and its key (PEM).
func SelfSigned(t testing.TB, cn string) (certPEM, keyPEM string) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}))
}
