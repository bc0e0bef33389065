// Package instances holds the rules of APS application instances: what an
// instance-creation request must carry, the one-cloud rule, and how secrets
// are sealed before they are stored.
package instances

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"google.golang.org/grpc/codes"

	"github.com/o365gateway/gateway/services/shared/apierr"
	"github.com/o365gateway/gateway/services/shared/apsmd"
	"github.com/o365gateway/gateway/services/shared/clouds"
	"github.com/o365gateway/gateway/services/shared/gdap"
	"github.com/o365gateway/gateway/services/shared/jobs"
	"github.com/o365gateway/gateway/services/shared/msauth"
	"github.com/o365gateway/gateway/services/shared/msclients"
	"github.com/o365gateway/gateway/services/shared/mserr"
	"github.com/o365gateway/gateway/services/shared/secret"

	"github.com/o365gateway/gateway/services/tenant/internal/storage"
)

// Input is an instance representation as APSC sends it.
type Input struct {
	AppID                string
	Cloud                string
	PartnerTenantID      string
	ClientID             string
	ClientSecret         secret.String
	RefreshToken         secret.String
	ResellerMode         string
	IndirectResellerMPN  string
	SalesCountries       []string
	TestPartner          bool
	DefaultUsageLocation string
	X509Self             secret.String
	X509Controller       string
	// Settings of package 1.1: nil and empty mean the defaults.
	RegisterAdopted *bool
	GDAPRoles       []string
}

// CredentialChecker proves that Microsoft accepts an instance's credentials
// (answering the refresh token to store, since redeeming one spends it),
// forgets the clients built with old ones, and issues access tokens
// (*msclients.Factory).
type CredentialChecker interface {
	CheckCredentials(ctx context.Context, c msclients.Credentials) (secret.String, error)
	Forget(instanceID string)
	AccessToken(ctx context.Context, c msclients.Credentials, tenantID string, audience msclients.Audience) (azcore.AccessToken, error)
}

// Service implements the instance operations.
type Service struct {
	Store     storage.InstanceStore
	Tenants   storage.TenantStore
	Checker   CredentialChecker
	Sealer    *secret.Sealer
	Endpoints clouds.Endpoints
	Log       *slog.Logger
}

var (
	countryRe = regexp.MustCompile(`^[A-Z]{2}$`)
	// ErrUnknown is returned for an unknown instance.
	errUnknown = apierr.New(codes.NotFound, apierr.UnknownInstance, "No application instance is registered under this APS-Instance-ID.")
)

// IsUUID tells whether s is a canonical UUID.
func IsUUID(s string) bool { return apsmd.IsID(s) }

// Create registers an instance. A repeated creation of the same instance
// answers the stored one.
func (s *Service) Create(ctx context.Context, req apsmd.Request, in Input) (*storage.Instance, error) {
	if !IsUUID(req.InstanceID) {
		return nil, apierr.Invalid("APS-Instance-ID must be a UUID.")
	}
	if existing, err := s.Store.GetInstance(ctx, req.InstanceID); err == nil {
		return existing, nil
	} else if !errors.Is(err, storage.ErrNotFound) {
		return nil, err
	}
	inst := &storage.Instance{InstanceID: req.InstanceID, ControllerURI: req.ControllerURI, PackageVersion: PackageVersion}
	if err := s.apply(inst, in, true); err != nil {
		return nil, err
	}
	if err := s.check(ctx, inst); err != nil {
		return nil, err
	}
	if err := s.Store.CreateInstance(ctx, inst); err != nil {
		if errors.Is(err, storage.ErrAlreadyExists) {
			return s.Store.GetInstance(ctx, req.InstanceID)
		}
		return nil, err
	}
	s.Log.InfoContext(ctx, "instance created", "app_id", inst.AppID, "cloud", inst.Cloud, "test_partner", inst.TestPartner)
	return inst, nil
}

// check proves the credentials of inst and keeps the refresh token the
// check rotated.
func (s *Service) check(ctx context.Context, inst *storage.Instance) error {
	c, err := s.Credentials(inst)
	if err != nil {
		return err
	}
	next, err := s.Checker.CheckCredentials(ctx, c)
	if err == nil && !next.Empty() && next.Reveal() != c.RefreshToken.Reveal() {
		if inst.RefreshTokenSealed, err = s.Sealer.Seal(next, inst.SealedAt(storage.SealedRefreshToken)); err != nil {
			return err
		}
	}
	if err != nil {
		s.Log.WarnContext(ctx, "partner credentials refused", "cause", err.Error())
		if dead := mserr.Credentials(err); dead != nil && dead.Reason == apierr.CredentialsExpired {
			return dead // names which credential, and Entra's code
		}
		return apierr.Wrap(err, codes.InvalidArgument, apierr.InvalidRequest,
			"Microsoft refused the partner credentials (partner_tenant_id %s, client_id %s): check them and the application's consent.",
			inst.PartnerTenantID, inst.ClientID)
	}
	return nil
}

// apply validates in and copies it onto inst; create demands credentials and x509.
func (s *Service) apply(inst *storage.Instance, in Input, create bool) error {
	var problems []string
	if !IsUUID(in.AppID) {
		problems = append(problems, "aps.id must be a UUID")
	}
	cloud := strings.ToLower(strings.TrimSpace(in.Cloud))
	if cloud == "" {
		cloud = string(s.Endpoints.Cloud)
	}
	if _, err := clouds.Lookup(cloud); err != nil {
		problems = append(problems, "cloud must be global, china or usgov")
	} else if cloud != string(s.Endpoints.Cloud) {
		return apierr.New(codes.InvalidArgument, apierr.WrongCloud,
			"This gateway deployment serves the %s cloud; the instance is for %s. Register it with the %s deployment.", s.Endpoints.Cloud, cloud, cloud)
	}
	if !IsUUID(in.PartnerTenantID) {
		problems = append(problems, "partner_tenant_id must be the partner's tenant GUID")
	}
	if strings.TrimSpace(in.ClientID) == "" {
		problems = append(problems, "client_id is required")
	}
	if create && in.ClientSecret.Empty() && in.RefreshToken.Empty() {
		problems = append(problems, "client_secret or refresh_token is required")
	}
	mode := strings.ToLower(in.ResellerMode)
	if mode == "" {
		mode = "direct"
	}
	if mode != "direct" && mode != "indirect" {
		problems = append(problems, "reseller_mode must be direct or indirect")
	}
	if mode == "indirect" && strings.TrimSpace(in.IndirectResellerMPN) == "" {
		problems = append(problems, "indirect_reseller_mpn_id is required in indirect mode")
	}
	var countries []string
	for _, c := range in.SalesCountries {
		c = strings.ToUpper(strings.TrimSpace(c))
		if !countryRe.MatchString(c) {
			problems = append(problems, "sales_countries must hold ISO 3166 alpha-2 codes")
			break
		}
		countries = append(countries, c)
	}
	loc := strings.ToUpper(strings.TrimSpace(in.DefaultUsageLocation))
	if loc != "" && !countryRe.MatchString(loc) {
		problems = append(problems, "default_usage_location must be an ISO 3166 alpha-2 code")
	}
	if create {
		certPEM, keyPEM, err := splitSelf(in.X509Self.Reveal())
		if err != nil {
			problems = append(problems, err.Error())
		} else {
			inst.InstanceCertPEM = certPEM
			sealed, err := s.Sealer.Seal(secret.New(keyPEM), inst.SealedAt(storage.SealedInstanceKey))
			if err != nil {
				return err
			}
			inst.InstanceKeySealed = sealed
		}
		if _, err := ParseCertificate(in.X509Controller); err != nil {
			problems = append(problems, "aps.x509.controller must hold the controller certificate (PEM)")
		}
		inst.ControllerCertPEM = in.X509Controller
	}
	var roles []string
	if len(in.GDAPRoles) > 0 {
		valid, err := gdap.Validate(in.GDAPRoles)
		if err != nil {
			problems = append(problems, apierr.From(err).Message)
		}
		roles = valid
	}
	if len(problems) > 0 {
		return apierr.Invalid("Invalid application instance: %s.", strings.Join(problems, "; "))
	}
	inst.Settings = storage.Settings{RegisterAdopted: in.RegisterAdopted, GDAPRoles: roles}
	inst.AppID = in.AppID
	inst.Cloud = cloud
	inst.PartnerTenantID = in.PartnerTenantID
	inst.ClientID = strings.TrimSpace(in.ClientID)
	inst.ResellerMode = mode
	inst.IndirectResellerMPN = strings.TrimSpace(in.IndirectResellerMPN)
	inst.SalesCountries = countries
	inst.TestPartner = in.TestPartner
	inst.DefaultUsageLocation = loc
	if !in.ClientSecret.Empty() {
		sealed, err := s.Sealer.Seal(in.ClientSecret, inst.SealedAt(storage.SealedClientSecret))
		if err != nil {
			return err
		}
		inst.ClientSecretSealed = sealed
	}
	if !in.RefreshToken.Empty() {
		sealed, err := s.Sealer.Seal(in.RefreshToken, inst.SealedAt(storage.SealedRefreshToken))
		if err != nil {
			return err
		}
		inst.RefreshTokenSealed = sealed
	}
	return nil
}

// splitSelf splits aps.x509.self into the certificate and its private key and
// checks that they belong together.
func splitSelf(self string) (string, string, error) {
	var certs, keys []byte
	rest := []byte(self)
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		switch {
		case block.Type == "CERTIFICATE":
			certs = append(certs, pem.EncodeToMemory(block)...)
		case strings.HasSuffix(block.Type, "PRIVATE KEY"):
			keys = append(keys, pem.EncodeToMemory(block)...)
		}
	}
	if len(certs) == 0 || len(keys) == 0 {
		return "", "", errors.New("aps.x509.self must hold the instance certificate followed by its private key (PEM)")
	}
	if _, err := tls.X509KeyPair(certs, keys); err != nil {
		return "", "", errors.New("the certificate and private key in aps.x509.self do not match")
	}
	return string(certs), string(keys), nil
}

// ParseCertificate parses the first certificate of a PEM text.
func ParseCertificate(pemText string) (*x509.Certificate, error) {
	block, _ := pem.Decode([]byte(pemText))
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, errors.New("no PEM certificate")
	}
	return x509.ParseCertificate(block.Bytes)
}

// Get returns the instance named by the request, checking the app resource id.
func (s *Service) Get(ctx context.Context, req apsmd.Request, appID string) (*storage.Instance, error) {
	inst, err := s.Load(ctx, req.InstanceID)
	if err != nil {
		return nil, err
	}
	if appID != "" && appID != inst.AppID {
		if !IsUUID(appID) {
			return nil, apierr.Invalid("The resource id %q is not a UUID.", appID)
		}
		return nil, apierr.New(codes.NotFound, apierr.NotFound, "The application resource %s does not belong to this instance.", appID)
	}
	return inst, nil
}

// Load returns an instance by its APS-Instance-ID.
func (s *Service) Load(ctx context.Context, instanceID string) (*storage.Instance, error) {
	inst, err := s.Store.GetInstance(ctx, instanceID)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, errUnknown
	}
	return inst, err
}

// Configure replaces the settings; secrets left empty keep the stored ones.
// It holds the instance's lock, so that a refresh token another replica
// rotates meanwhile is not overwritten with the spent one.
func (s *Service) Configure(ctx context.Context, req apsmd.Request, appID string, in Input) (*storage.Instance, error) {
	unlock, err := s.Store.LockInstance(ctx, req.InstanceID)
	if err != nil {
		return nil, err
	}
	defer unlock()
	inst, err := s.Get(ctx, req, appID)
	if err != nil {
		return nil, err
	}
	in.AppID = inst.AppID
	before := *inst
	if err := s.apply(inst, in, false); err != nil {
		return nil, err
	}
	if inst.ClientID != before.ClientID || inst.PartnerTenantID != before.PartnerTenantID || !in.ClientSecret.Empty() || !in.RefreshToken.Empty() {
		if err := s.check(ctx, inst); err != nil {
			return nil, err
		}
	}
	if err := s.Store.UpdateInstance(ctx, inst); err != nil {
		return nil, err
	}
	s.Checker.Forget(inst.InstanceID)
	return inst, nil
}

// Delete removes an instance that has no tenants left.
func (s *Service) Delete(ctx context.Context, req apsmd.Request, appID string) error {
	inst, err := s.Get(ctx, req, appID)
	if err != nil {
		if e := apierr.From(err); e.Reason == apierr.UnknownInstance {
			return nil // already gone
		}
		return err
	}
	n, err := s.Tenants.CountTenants(ctx, inst.InstanceID)
	if err != nil {
		return err
	}
	if n > 0 {
		return apierr.New(codes.FailedPrecondition, apierr.Conflict, "The instance still has %d tenants; unprovision them first.", n)
	}
	if err := s.Store.DeleteInstance(ctx, inst.InstanceID); err != nil && !errors.Is(err, storage.ErrNotFound) {
		return err
	}
	s.Checker.Forget(inst.InstanceID)
	return nil
}

// PackageVersion is the version of the APS package in deploy/aps that this
// gateway serves. Version 1.1 added register_adopted, gdap_roles, the
// tenant's gdap and the operations health and customers.
const PackageVersion = "1.1"

// Upgrade brings an instance installed with an older package forward:
// the settings added since take their defaults (register_adopted true, the
// default gdap_roles: an absent setting means its default), and the
// periodic check requests the GDAP relationships its tenants lack.
// version is the version upgraded from.
func (s *Service) Upgrade(ctx context.Context, req apsmd.Request, appID, version string) (*storage.Instance, error) {
	unlock, err := s.Store.LockInstance(ctx, req.InstanceID)
	if err != nil {
		return nil, err
	}
	defer unlock()
	inst, err := s.Get(ctx, req, appID)
	if err != nil {
		return nil, err
	}
	if len(version) > 32 {
		return nil, apierr.Invalid("version %q is not a package version.", version[:32])
	}
	s.Log.InfoContext(ctx, "instance upgraded", "from_version", version, "to_version", PackageVersion)
	inst.PackageVersion = PackageVersion
	if err := s.Store.UpdateInstance(ctx, inst); err != nil {
		return nil, err
	}
	return inst, nil
}

// Tokens is the store of an instance's refresh token
// (msclients.Factory.Tokens): every redemption holds the instance's lock,
// starts from the token stored last, and stores the rotated one before the
// lock is released, whichever replica redeems.
func (s *Service) Tokens(c msclients.Credentials) msauth.TokenStore {
	return tokenStore{s: s, instanceID: c.InstanceID}
}

type tokenStore struct {
	s          *Service
	instanceID string
}

func (t tokenStore) Redeem(ctx context.Context, redeem func(secret.String) (secret.String, error)) error {
	unlock, err := t.s.Store.LockInstance(ctx, t.instanceID)
	if err != nil {
		return err
	}
	defer unlock()
	in, err := t.s.Store.GetInstance(ctx, t.instanceID)
	if err != nil {
		return err
	}
	current, err := t.s.Sealer.Open(in.RefreshTokenSealed, in.SealedAt(storage.SealedRefreshToken))
	if err != nil {
		return err
	}
	next, err := redeem(current)
	if err != nil || next.Empty() || next.Reveal() == current.Reveal() {
		return err
	}
	if in.RefreshTokenSealed, err = t.s.Sealer.Seal(next, in.SealedAt(storage.SealedRefreshToken)); err != nil {
		return err
	}
	// Entra has spent the current token: the rotated one must be stored
	// even if the caller gave up meanwhile (its own context), so the write
	// gets a context of its own and a few tries. Not a job's write: the
	// fencing of the job that needed the token does not apply.
	sctx, cancel := context.WithTimeout(jobs.Unfenced(context.WithoutCancel(ctx)), 30*time.Second)
	defer cancel()
	for try := 1; ; try++ {
		err = t.s.Store.UpdateInstance(sctx, in)
		if err == nil || try == 3 || sctx.Err() != nil {
			break
		}
		time.Sleep(time.Duration(try) * 200 * time.Millisecond)
	}
	if err != nil {
		t.s.Log.ErrorContext(ctx, "the rotated refresh token could not be stored; the instance needs a new one", "cause", err.Error())
		return fmt.Errorf("store the rotated refresh token: %w", err)
	}
	return nil
}

// AccessToken issues an access token of the instance's application for
// audience, issued by tenantID ("" for the partner's tenant).
func (s *Service) AccessToken(ctx context.Context, instanceID, tenantID string, audience msclients.Audience) (azcore.AccessToken, error) {
	if tenantID != "" && !IsUUID(tenantID) {
		return azcore.AccessToken{}, apierr.Invalid("tenant_id must be a tenant GUID.")
	}
	in, err := s.Load(ctx, instanceID)
	if err != nil {
		return azcore.AccessToken{}, err
	}
	c, err := s.Credentials(in)
	if err != nil {
		return azcore.AccessToken{}, err
	}
	tok, err := s.Checker.AccessToken(ctx, c, tenantID, audience)
	if err != nil {
		s.Log.WarnContext(ctx, "access token refused", "tenant_id", tenantID, "cause", err.Error())
		if dead := mserr.Credentials(err); dead != nil {
			return azcore.AccessToken{}, dead
		}
		return azcore.AccessToken{}, apierr.Wrap(err, codes.Unavailable, apierr.MicrosoftUnavailable,
			"Microsoft refused an access token for the instance's application: check its credentials and consent.")
	}
	return tok, nil
}

// Credentials opens an instance's sealed client secret and refresh token:
// what its Microsoft clients (msclients.Factory) are built with.
func (s *Service) Credentials(in *storage.Instance) (msclients.Credentials, error) {
	cs, err := s.Sealer.Open(in.ClientSecretSealed, in.SealedAt(storage.SealedClientSecret))
	if err != nil {
		return msclients.Credentials{}, err
	}
	rt, err := s.Sealer.Open(in.RefreshTokenSealed, in.SealedAt(storage.SealedRefreshToken))
	if err != nil {
		return msclients.Credentials{}, err
	}
	return msclients.Credentials{InstanceID: in.InstanceID, PartnerTenantID: in.PartnerTenantID, ClientID: in.ClientID,
		ClientSecret: cs, RefreshToken: rt}, nil
}
