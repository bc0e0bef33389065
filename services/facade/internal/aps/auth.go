package aps

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	tenantv1 "github.com/o365gateway/gateway/gen/go/o365/tenant/v1"
	"github.com/o365gateway/gateway/services/shared/apsmd"
)

// ErrUnknownInstance: no instance is registered under the APS-Instance-ID.
var ErrUnknownInstance = errors.New("unknown instance")

// ControllerCerts looks up the stored controller certificate of an instance.
type ControllerCerts interface {
	// ControllerCert returns the DER certificate, or ErrUnknownInstance.
	ControllerCert(ctx context.Context, instanceID string) ([]byte, error)
	// Forget drops what is cached of an instance (this replica has just
	// registered or removed it).
	Forget(instanceID string)
}

// NegativeTTL bounds how long an unknown instance id is remembered as
// unknown: a flood of requests for made-up ids costs the tenant service
// little, and an instance another facade replica registers is seen within
// this time at most.
const NegativeTTL = 2 * time.Second

// TenantServiceCerts asks the tenant service (which owns instances), caching
// answers for a while (TTL; unknown ids for NegativeTTL at most).
type TenantServiceCerts struct {
	Client tenantv1.InstanceServiceClient
	TTL    time.Duration

	mu    sync.Mutex
	cache map[string]certEntry
}

type certEntry struct {
	der []byte // nil: the instance was unknown
	at  time.Time
}

// Forget implements ControllerCerts.
func (c *TenantServiceCerts) Forget(instanceID string) {
	c.mu.Lock()
	delete(c.cache, instanceID)
	c.mu.Unlock()
}

// maxCached bounds the cache: past it, expired entries are swept, and
// unknown ids are no longer remembered.
const maxCached = 10000

func (c *TenantServiceCerts) store(instanceID string, der []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cache == nil {
		c.cache = map[string]certEntry{}
	}
	if len(c.cache) >= maxCached {
		for id, e := range c.cache {
			if age := time.Since(e.at); (e.der == nil && age >= NegativeTTL) || age >= c.TTL {
				delete(c.cache, id)
			}
		}
		if len(c.cache) >= maxCached && der == nil {
			return
		}
	}
	c.cache[instanceID] = certEntry{der: der, at: time.Now()}
}

// ControllerCert implements ControllerCerts.
func (c *TenantServiceCerts) ControllerCert(ctx context.Context, instanceID string) ([]byte, error) {
	if !apsmd.IsID(instanceID) {
		return nil, ErrUnknownInstance // APS instance ids are UUIDs: no lookup, nothing cached
	}
	c.mu.Lock()
	if e, ok := c.cache[instanceID]; ok {
		switch age := time.Since(e.at); {
		case e.der != nil && age < c.TTL:
			c.mu.Unlock()
			return e.der, nil
		case e.der == nil && age < min(c.TTL, NegativeTTL):
			c.mu.Unlock()
			return nil, ErrUnknownInstance
		}
	}
	c.mu.Unlock()
	resp, err := c.Client.GetInstanceAuth(ctx, &tenantv1.GetInstanceAuthRequest{InstanceId: instanceID})
	if status.Code(err) == codes.NotFound {
		c.store(instanceID, nil)
		return nil, ErrUnknownInstance
	}
	if err != nil {
		return nil, err
	}
	der, err := certDER(resp.GetControllerCertificatePem())
	if err != nil {
		return nil, err
	}
	c.store(instanceID, der)
	return der, nil
}

func certDER(pemText string) ([]byte, error) {
	block, _ := pem.Decode([]byte(pemText))
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, errors.New("no PEM certificate")
	}
	return block.Bytes, nil
}

// controllerFromBody extracts aps.x509.controller of an instance-creation
// body. Keys must match exactly: encoding/json matches them regardless of
// case (a later "Controller" would win) while the services' protojson reads
// only "controller", so a body with a case variant of one of these keys is
// refused rather than read two ways.
func controllerFromBody(body []byte) ([]byte, error) {
	raw := json.RawMessage(body)
	for _, key := range []string{"aps", "x509", "controller"} {
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(raw, &obj); err != nil {
			return nil, errors.New("the body is not valid JSON")
		}
		raw = nil
		for k, v := range obj {
			switch {
			case k == key:
				raw = v
			case strings.EqualFold(k, key):
				return nil, fmt.Errorf("the body names %q: property names are case-sensitive", k)
			}
		}
		if raw == nil {
			return nil, errors.New("aps.x509.controller is missing")
		}
	}
	var pemText string
	if err := json.Unmarshal(raw, &pemText); err != nil || pemText == "" {
		return nil, errors.New("aps.x509.controller is missing")
	}
	return certDER(pemText)
}

// chainsTo verifies a client certificate against a controller CA pool.
func chainsTo(der []byte, roots *x509.CertPool) bool {
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return false
	}
	_, err = cert.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	return err == nil
}

func sameCert(a, b []byte) bool { return len(a) > 0 && bytes.Equal(a, b) }
