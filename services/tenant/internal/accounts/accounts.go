// Package accounts reads a platform account from the APS controller (with the
// instance certificate) when a tenant request lacks company or address data.
package accounts

import (
	"context"
	"crypto/x509"
	"errors"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"unicode"

	"google.golang.org/grpc/codes"

	"github.com/o365gateway/gateway/services/shared/apierr"
	"github.com/o365gateway/gateway/services/shared/apscclient"
	"github.com/o365gateway/gateway/services/shared/apsmd"
	"github.com/o365gateway/gateway/services/shared/secret"

	"github.com/o365gateway/gateway/services/tenant/internal/storage"
)

// Reader implements tenants.Accounts.
type Reader struct {
	Sealer *secret.Sealer
	// Roots verifies the controller's server certificate (nil: not
	// verified, only with TENANT_APSC_INSECURE_SKIP_VERIFY).
	Roots *x509.CertPool

	mu sync.Mutex
	// clients are the pooled clients by instance, rebuilt when the
	// instance's certificate changes.
	clients map[string]pooled
}

type pooled struct {
	certPEM string
	client  *apscclient.Client
}

// client returns the instance's pooled client (one transport, and so one
// set of kept-alive connections, per instance).
func (r *Reader) client(inst *storage.Instance) (*apscclient.Client, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if p, ok := r.clients[inst.InstanceID]; ok && p.certPEM == inst.InstanceCertPEM {
		return p.client, nil
	}
	key, err := r.Sealer.Open(inst.InstanceKeySealed, inst.SealedAt(storage.SealedInstanceKey))
	if err != nil {
		return nil, err
	}
	c, err := apscclient.New(inst.InstanceCertPEM, key, r.Roots)
	if err != nil {
		return nil, err
	}
	if r.clients == nil {
		r.clients = map[string]pooled{}
	}
	r.clients[inst.InstanceID] = pooled{certPEM: inst.InstanceCertPEM, client: c}
	return c, nil
}

// SameController tells whether uri names the controller registered with
// the instance: the same scheme, host and port (paths may differ).
func SameController(uri, registered string) bool {
	a, errA := url.Parse(strings.TrimSpace(uri))
	b, errB := url.Parse(strings.TrimSpace(registered))
	if errA != nil || errB != nil || a.Host == "" || b.Host == "" {
		return false
	}
	port := func(u *url.URL) string {
		if p := u.Port(); p != "" {
			return p
		}
		return "443"
	}
	return strings.EqualFold(a.Scheme, b.Scheme) && strings.EqualFold(a.Hostname(), b.Hostname()) && port(a) == port(b)
}

// Read maps the platform account's properties (companyName, addressPostal,
// techContact, as CloudBlue Commerce's account type names them).
func (r *Reader) Read(ctx context.Context, inst *storage.Instance, req apsmd.Request, accountID string) (storage.Company, storage.Address, error) {
	// The instance's key is presented only to the controller it was
	// registered by, whatever a request's header says.
	uri := inst.ControllerURI
	if req.ControllerURI != "" && !SameController(req.ControllerURI, inst.ControllerURI) {
		return storage.Company{}, storage.Address{}, apierr.New(codes.InvalidArgument, apierr.InvalidRequest,
			"APS-Controller-URI %s is not the controller this instance was registered by; the account %s was not read.", req.ControllerURI, accountID)
	}
	c, err := r.client(inst)
	if err != nil {
		return storage.Company{}, storage.Address{}, err
	}
	res, err := c.GetResource(ctx, uri, accountID, req.TransactionID)
	if err != nil {
		return storage.Company{}, storage.Address{}, apierr.Wrap(err, codes.FailedPrecondition, apierr.InvalidRequest,
			"company or address is missing and the account %s could not be read from the APS controller.", accountID)
	}
	company, address := fromAccount(res)
	return company, address, nil
}

// fromAccount maps the properties of a platform account (companyName,
// addressPostal, techContact or adminContact, as CloudBlue Commerce's
// account type names them) to a company and an address.
func fromAccount(res map[string]any) (storage.Company, storage.Address) {
	obj := func(k string) map[string]any {
		if v, ok := res[k].(map[string]any); ok {
			return v
		}
		return map[string]any{}
	}
	addr, contact := obj("addressPostal"), obj("techContact")
	if len(contact) == 0 {
		contact = obj("adminContact")
	}
	company := storage.Company{Name: text(res["companyName"]), Email: text(contact["email"])}
	line1, line2 := street(addr["streetAddress"], text(addr["extendedAddress"]))
	address := storage.Address{
		FirstName: text(contact["givenName"]), LastName: text(contact["familyName"]),
		AddressLine1: line1, AddressLine2: line2,
		City: text(addr["locality"]), State: text(addr["region"]), PostalCode: text(addr["postalCode"]),
		Country: strings.ToUpper(text(addr["countryName"])), PhoneNumber: text(contact["telVoice"]),
	}
	// A ZIP code given as a JSON number lost its leading zeros (02134 → 2134).
	if _, isNumber := addr["postalCode"].(float64); isNumber && address.Country == "US" && len(address.PostalCode) < 5 &&
		address.PostalCode != "" && !strings.ContainsFunc(address.PostalCode, func(r rune) bool { return r < '0' || r > '9' }) {
		address.PostalCode = strings.Repeat("0", 5-len(address.PostalCode)) + address.PostalCode
	}
	// The phone number stays in the platform's format (1#425#5550100#): the
	// tenant service turns it into Microsoft's once it has the country's
	// rules. A contact without one borrows the admin's or the billing
	// contact's.
	for _, k := range []string{"adminContact", "billingContact"} {
		if address.PhoneNumber == "" {
			address.PhoneNumber = text(obj(k)["telVoice"])
		}
	}
	return company, address
}

// street splits a multi-line streetAddress: its first line is the first
// address line, the further lines go before extendedAddress in the second.
func street(v any, extended string) (string, string) {
	s, ok := v.(string)
	if !ok {
		return text(v), extended
	}
	var lines []string
	for _, l := range strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == '\r' }) {
		if l = text(l); l != "" {
			lines = append(lines, l)
		}
	}
	if len(lines) == 0 {
		return "", extended
	}
	if extended != "" {
		lines = append(lines, extended)
	}
	return lines[0], strings.Join(lines[1:], ", ")
}

// text is a property's value as text: a string trimmed, its control
// characters (which Partner Center refuses and PostgreSQL cannot store, as
// NUL) turned into spaces; a number in plain decimal, as postal codes and
// phone numbers may come (4255550100, not 4.2555501e+09); anything else
// empty.
func text(v any) string {
	switch v := v.(type) {
	case string:
		return strings.TrimSpace(strings.Map(func(r rune) rune {
			if unicode.IsControl(r) {
				return ' '
			}
			return r
		}, v))
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	return ""
}

// Register registers a resource the gateway adopted at Microsoft in the
// instance's controller (apscclient.CreateResource); ErrExists means done.
// A registration is a job that runs after the platform's task that led to
// the adoption has been answered, possibly hours later after retries: it
// joins no transaction (APS-Transaction-ID makes the controller run a call
// inside that task's transaction, which may be closed by then, or roll the
// resource back with it). Its log lines name the task's transaction
// (jobs.Propagator).
func (r *Reader) Register(ctx context.Context, inst *storage.Instance, body map[string]any) error {
	c, err := r.client(inst)
	if err != nil {
		return err
	}
	err = c.CreateResource(ctx, inst.ControllerURI, body, "")
	if errors.Is(err, apscclient.ErrExists) {
		return nil
	}
	return err
}
