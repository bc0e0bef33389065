// Package mtls gives every process of a deployment its identity and checks
// its peers': mutual TLS between the facade, the services and the operator's
// tools, with certificates issued by the deployment's CA.
//
// An identity is a SPIFFE ID, spiffe://<trust domain>/<name>, carried as
// the one URI SAN of a certificate ("spiffe://o365gw.local/facade",
// ".../tenant", ".../tool/alice"). A server accepts any client whose
// certificate chains to the CA and names an identity of the trust domain;
// what that identity may do is the authorization policy's business
// (package authz). A client accepts a server only if its certificate chains
// to the CA and names the identity it expects (the service it dials), so
// that host names and pod addresses do not matter.
//
// Certificates, keys and the CA are read from files and read again when
// they change, without a restart (cert-manager or a CSI driver rotates
// them in place).
package mtls

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/peer"

	"github.com/o365gateway/gateway/services/shared/config"
)

// Files name a process's certificate, key and the deployment CA.
type Files struct {
	CA, Cert, Key string
}

// Source holds the current certificate and CA pool of a process, re-read
// from its files when they change (checked at most every Recheck).
type Source struct {
	files       Files
	trustDomain string
	log         *slog.Logger
	// Recheck is how often the files' modification times are looked at.
	Recheck time.Duration

	mu      sync.Mutex
	checked time.Time
	stamp   string
	cert    *tls.Certificate
	pool    *x509.CertPool
	self    string
	// local is LocalPeer's answer for the certificate localOf.
	local   *peer.Peer
	localOf *tls.Certificate
	// accepted caches CheckLocal's last verdict: the certificate it
	// verified, against which pool, its identity.
	accepted struct {
		cert *x509.Certificate
		pool *x509.CertPool
		id   string
	}
}

// Load reads the files once; the Source reloads them later by itself. A
// certificate without an identity of trustDomain is refused.
func Load(files Files, trustDomain string, log *slog.Logger) (*Source, error) {
	if log == nil {
		log = slog.Default()
	}
	s := &Source{files: files, trustDomain: trustDomain, log: log, Recheck: 2 * time.Second}
	if err := s.reload(); err != nil {
		return nil, err
	}
	return s, nil
}

// Self is the process's own identity.
func (s *Source) Self() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.self
}

// stampOf is the files' sizes and modification times.
func (s *Source) stampOf() string {
	var b strings.Builder
	for _, f := range []string{s.files.CA, s.files.Cert, s.files.Key} {
		if st, err := os.Stat(f); err == nil {
			fmt.Fprintf(&b, "%d/%d;", st.Size(), st.ModTime().UnixNano())
		} else {
			b.WriteString("missing;")
		}
	}
	return b.String()
}

func (s *Source) reload() error {
	stamp := s.stampOf()
	caPEM, err := os.ReadFile(s.files.CA)
	if err != nil {
		return fmt.Errorf("mtls: CA file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return fmt.Errorf("mtls: no certificate in the CA file %s", s.files.CA)
	}
	cert, err := tls.LoadX509KeyPair(s.files.Cert, s.files.Key)
	if err != nil {
		// The message of crypto/tls names files and PEM problems, never key bytes.
		return fmt.Errorf("mtls: certificate and key: %w", err)
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		return fmt.Errorf("mtls: certificate: %w", err)
	}
	self, err := IdentityOf(leaf, s.trustDomain)
	if err != nil {
		return fmt.Errorf("mtls: own certificate: %w", err)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		return fmt.Errorf("mtls: own certificate does not chain to the CA: %w", err)
	}
	cert.Leaf = leaf
	s.cert, s.pool, s.self, s.stamp = &cert, pool, self, stamp
	return nil
}

// current returns the certificate and pool, reloading them when the files
// changed. A reload that fails keeps the previous ones (a rotation caught
// half-written is retried at the next check) and logs why.
func (s *Source) current() (*tls.Certificate, *x509.CertPool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if time.Since(s.checked) >= s.Recheck {
		s.checked = time.Now()
		if stamp := s.stampOf(); stamp != s.stamp {
			old := s.self
			if err := s.reload(); err != nil {
				s.log.Warn("mutual TLS: new certificate files not loaded; keeping the previous ones", "error", err)
			} else {
				s.log.Info("mutual TLS: certificate files reloaded", "identity", s.self, "previous", old,
					"not_after", s.cert.Leaf.NotAfter)
			}
		}
	}
	return s.cert, s.pool
}

// LocalPeer is the process itself as the caller of an in-process call
// (grpcserver.Server.Local): the peer a server would see at the other end of
// a mutual TLS connection from this process, with its current certificate
// (which chains to the deployment's CA, checked when it was loaded), so that
// the authorization policy and the audit log treat the call as they treat
// the same call over the network.
func (s *Source) LocalPeer() *peer.Peer {
	cert, _ := s.current()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.localOf != cert {
		s.localOf = cert
		s.local = &peer.Peer{Addr: inProcess{}, AuthInfo: credentials.TLSInfo{
			State: tls.ConnectionState{Version: tls.VersionTLS13, HandshakeComplete: true,
				PeerCertificates: []*x509.Certificate{cert.Leaf}},
			CommonAuthInfo: credentials.CommonAuthInfo{SecurityLevel: credentials.PrivacyAndIntegrity},
		}}
	}
	return s.local
}

// CheckLocal verifies the certificate of an in-process caller (LocalPeer of
// another Source of the same process) as this process's TLS server checks
// a client's: chained to this process's current CA pool, valid now, for
// client authentication, naming an identity of the trust domain. It
// returns that identity. The chain is verified once per certificate and
// pool; the validity period at every call.
func (s *Source) CheckLocal(p *peer.Peer) (string, error) {
	if p == nil {
		return "", errors.New("no certificate")
	}
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(info.State.PeerCertificates) == 0 {
		return "", errors.New("no certificate")
	}
	leaf := info.State.PeerCertificates[0]
	if now := time.Now(); now.Before(leaf.NotBefore) || now.After(leaf.NotAfter) {
		return "", fmt.Errorf("the certificate is not valid now (%s to %s)", leaf.NotBefore.Format(time.RFC3339), leaf.NotAfter.Format(time.RFC3339))
	}
	_, pool := s.current()
	s.mu.Lock()
	if s.accepted.cert == leaf && s.accepted.pool == pool {
		id := s.accepted.id
		s.mu.Unlock()
		return id, nil
	}
	s.mu.Unlock()
	id, err := s.verify([][]byte{leaf.Raw}, x509.ExtKeyUsageClientAuth)
	if err != nil {
		return "", err
	}
	s.mu.Lock()
	s.accepted.cert, s.accepted.pool, s.accepted.id = leaf, pool, id
	s.mu.Unlock()
	return id, nil
}

// inProcess is the address of an in-process peer.
type inProcess struct{}

func (inProcess) Network() string { return "inproc" }
func (inProcess) String() string  { return "in-process" }

// IdentityOf returns the SPIFFE ID of a certificate: its one URI SAN, of
// scheme spiffe, in trustDomain, with a path.
func IdentityOf(cert *x509.Certificate, trustDomain string) (string, error) {
	if len(cert.URIs) != 1 {
		return "", fmt.Errorf("the certificate must carry exactly one URI SAN (a SPIFFE ID), it has %d", len(cert.URIs))
	}
	u := cert.URIs[0]
	if u.Scheme != "spiffe" || !strings.EqualFold(u.Host, trustDomain) || len(u.Path) < 2 || u.RawQuery != "" || u.Fragment != "" ||
		u.User != nil || u.Port() != "" || u.RawPath != "" || strings.Contains(u.String(), "%") || !cleanPath(u.Path) {
		return "", fmt.Errorf("the certificate's identity %q is not a SPIFFE ID of the trust domain %q", u.String(), trustDomain)
	}
	return ID(trustDomain, strings.TrimPrefix(u.Path, "/")), nil
}

// cleanPath tells whether a SPIFFE ID's path has only non-empty segments
// other than . and .. (the SPIFFE ID rules).
func cleanPath(p string) bool {
	for _, seg := range strings.Split(strings.TrimPrefix(p, "/"), "/") {
		if seg == "" || seg == "." || seg == ".." {
			return false
		}
	}
	return true
}

// ID is the SPIFFE ID of name in trustDomain.
func ID(trustDomain, name string) string {
	return (&url.URL{Scheme: "spiffe", Host: strings.ToLower(trustDomain), Path: "/" + name}).String()
}

// verify checks a peer's chain against the current pool for usage and
// returns its identity.
func (s *Source) verify(rawCerts [][]byte, usage x509.ExtKeyUsage) (string, error) {
	if len(rawCerts) == 0 {
		return "", errors.New("no certificate")
	}
	certs := make([]*x509.Certificate, 0, len(rawCerts))
	for _, raw := range rawCerts {
		c, err := x509.ParseCertificate(raw)
		if err != nil {
			return "", fmt.Errorf("bad certificate: %w", err)
		}
		certs = append(certs, c)
	}
	_, pool := s.current()
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	if _, err := certs[0].Verify(x509.VerifyOptions{Roots: pool, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{usage}}); err != nil {
		return "", err
	}
	return IdentityOf(certs[0], s.trustDomain)
}

// ServerConfig is the TLS configuration of a server: TLS 1.3, a client
// certificate from the deployment CA required.
func (s *Source) ServerConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		ClientAuth: tls.RequireAnyClientCert,
		// A resumed session skips VerifyPeerCertificate: no tickets, so
		// that every connection proves a certificate of the current CA.
		SessionTicketsDisabled: true,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			cert, _ := s.current()
			return cert, nil
		},
		// The chain is verified here, against the pool of the moment,
		// rather than with ClientCAs fixed at start.
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			_, err := s.verify(raw, x509.ExtKeyUsageClientAuth)
			return err
		},
	}
}

// ClientConfig is the TLS configuration of a client of the service whose
// identity is want (a SPIFFE ID): the server must prove exactly it.
func (s *Source) ClientConfig(want string) *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			cert, _ := s.current()
			return cert, nil
		},
		// Host names are not what identifies a service here (pods come and
		// go): the chain and the SPIFFE ID are checked below instead.
		InsecureSkipVerify: true, //nolint:gosec // verified in VerifyPeerCertificate
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			got, err := s.verify(raw, x509.ExtKeyUsageServerAuth)
			if err != nil {
				return err
			}
			if got != want {
				return fmt.Errorf("the server is %s, not %s", got, want)
			}
			return nil
		},
	}
}

// ServerOption is the gRPC server option of s; nil s serves plaintext.
func ServerOption(s *Source) grpc.ServerOption {
	if s == nil {
		return grpc.Creds(insecure.NewCredentials())
	}
	return grpc.Creds(credentials.NewTLS(s.ServerConfig()))
}

// DialOption is the gRPC dial option of a client of the service name
// ("tenant"); nil s dials plaintext.
func DialOption(s *Source, name string) grpc.DialOption {
	if s == nil {
		return grpc.WithTransportCredentials(insecure.NewCredentials())
	}
	return grpc.WithTransportCredentials(credentials.NewTLS(s.ClientConfig(ID(s.trustDomain, name))))
}

// Peer returns the identity of the caller of a gRPC call ("" and false
// for a plaintext caller, which only a plaintext server has).
func Peer(ctx context.Context, trustDomain string) (string, bool) {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return "", false
	}
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(info.State.PeerCertificates) == 0 {
		return "", false
	}
	id, err := IdentityOf(info.State.PeerCertificates[0], trustDomain)
	return id, err == nil
}

// Open returns the Source of a process's mesh settings, nil when they ask
// for plaintext (logged as an error: a test setting).
func Open(m config.Mesh, log *slog.Logger) (*Source, error) {
	if m.Plaintext {
		log.Error("INSECURE_PLAINTEXT: gRPC runs without TLS, caller identities or authorization; never do this outside a test")
		return nil, nil
	}
	return Load(Files{CA: m.MTLSCAFile, Cert: m.MTLSCertFile, Key: m.MTLSKeyFile}, m.TrustDomain, log)
}
