// Package accounts reads a platform account from the APS controller (with the
// instance certificate) when a tenant request lacks company or address data.
package accounts

import (
	"context"
	"crypto/x509"
	"fmt"
	"strings"

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
	// Roots verifies the controller's server certificate (nil: not verified).
	Roots *x509.CertPool
}

// Read maps the platform account's properties (companyName, addressPostal,
// techContact, as CloudBlue Commerce's account type names them).
func (r *Reader) Read(ctx context.Context, inst *storage.Instance, req apsmd.Request, accountID string) (storage.Company, storage.Address, error) {
	key, err := r.Sealer.Open(inst.InstanceKeySealed)
	if err != nil {
		return storage.Company{}, storage.Address{}, err
	}
	c, err := apscclient.New(inst.InstanceCertPEM, key, r.Roots)
	if err != nil {
		return storage.Company{}, storage.Address{}, err
	}
	uri := req.ControllerURI
	if uri == "" {
		uri = inst.ControllerURI
	}
	res, err := c.GetResource(ctx, uri, accountID, req.TransactionID)
	if err != nil {
		return storage.Company{}, storage.Address{}, apierr.Wrap(err, codes.FailedPrecondition, apierr.InvalidRequest,
			"company or address is missing and the account %s could not be read from the APS controller.", accountID)
	}
	str := func(m map[string]any, k string) string {
		if v, ok := m[k].(string); ok {
			return strings.TrimSpace(v)
		}
		if v, ok := m[k].(float64); ok {
			return fmt.Sprint(v)
		}
		return ""
	}
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
	company := storage.Company{Name: str(res, "companyName"), Email: str(contact, "email")}
	address := storage.Address{
		FirstName: str(contact, "givenName"), LastName: str(contact, "familyName"),
		AddressLine1: str(addr, "streetAddress"), AddressLine2: str(addr, "extendedAddress"),
		City: str(addr, "locality"), State: str(addr, "region"), PostalCode: str(addr, "postalCode"),
		Country: strings.ToUpper(str(addr, "countryName")), PhoneNumber: str(contact, "telVoice"),
	}
	return company, address, nil
}
