package devstack

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"flag"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The test binary doubles as fake mscloud, tenant and facade binaries:
// linked into a bin directory under those names, it plays the process its
// name says instead of running the tests.
func TestMain(m *testing.M) {
	switch filepath.Base(os.Args[0]) {
	case MSCloud:
		fakeMSCloud()
	case Tenant:
		fakeTenant()
	case Subscription:
		fakeGRPCService("SUBSCRIPTION_")
	case User:
		fakeGRPCService("USER_")
	case Facade:
		fakeFacade()
	default:
		// Fake binaries built with -race would sleep 1s at exit.
		os.Setenv("GORACE", "atexit_sleep_ms=0")
		os.Exit(m.Run())
	}
}

// fakeBinDir returns a directory holding the fake binaries.
func fakeBinDir(t *testing.T) string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, name := range append(Processes, AllInOne) {
		if err := os.Symlink(self, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
	os.Exit(3)
}

// printEnv prints the variables with prefix, sorted, one per line.
func printEnv(prefix string) {
	var vs []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, prefix) {
			vs = append(vs, kv)
		}
	}
	sort.Strings(vs)
	for _, kv := range vs {
		fmt.Println("env " + kv)
	}
}

func selfSigned() (tls.Certificate, []byte) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "fake"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		fail("cert: %v", err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key},
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func serveTLSWith(addr string, h http.Handler, cert tls.Certificate) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fail("listen %s: %v", addr, err)
	}
	srv := &http.Server{Handler: h, TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}}}
	go exitOnTerm()
	if err := srv.ServeTLS(ln, "", ""); err != nil {
		fail("serve: %v", err)
	}
}

func exitOnTerm() {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGTERM)
	<-ch
	fmt.Println("stopping")
	os.Exit(0)
}

func fakeMSCloud() {
	fs := flag.NewFlagSet("mscloud", flag.ExitOnError)
	addr := fs.String("addr", "", "")
	caOut := fs.String("ca-out", "", "")
	tlsDir := fs.String("tls-dir", "", "")
	_ = fs.Parse(os.Args[1:])
	fmt.Printf("args addr=%s ca-out=%s tls-dir=%s\n", *addr, *caOut, *tlsDir)
	cert, caPEM := selfSigned()
	if err := os.WriteFile(*caOut, caPEM, 0o644); err != nil {
		fail("write CA: %v", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /_sim/", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "{}") })
	mux.HandleFunc("POST /_sim/partners", func(w http.ResponseWriter, r *http.Request) {
		var req map[string]any
		_ = json.NewDecoder(r.Body).Decode(&req)
		_ = json.NewEncoder(w).Encode(map[string]any{
			"tenant_id": "tid-" + fmt.Sprint(req["cloud"]), "client_id": "cid", "client_secret": "csecret",
		})
	})
	serveTLSWith(*addr, mux, cert)
}

// fakeGRPCService listens and reports ready like the subscription and user services.
func fakeGRPCService(prefix string) {
	printEnv(prefix)
	if os.Getenv(prefix+"TENANT_ADDR") == "" {
		fail("no %sTENANT_ADDR", prefix)
	}
	ln, err := net.Listen("tcp", os.Getenv(prefix+"LISTEN_ADDR"))
	if err != nil {
		fail("listen: %v", err)
	}
	go exitOnTerm()
	fmt.Fprintf(os.Stderr, `{"level":"INFO","msg":"serving","addr":%q}`+"\n", ln.Addr().String())
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		c.Close()
	}
}

func fakeTenant() {
	printEnv("TENANT_")
	if os.Getenv("FAKE_EXIT") != "" {
		fail("boom: configured to fail")
	}
	if !strings.HasPrefix(os.Getenv("TENANT_DATABASE_URL"), "sqlite:///") {
		fail("bad TENANT_DATABASE_URL")
	}
	raw, err := os.ReadFile(os.Getenv("TENANT_ENCRYPTION_KEY_FILE"))
	if err != nil {
		fail("key: %v", err)
	}
	if key, err := base64.StdEncoding.DecodeString(string(raw)); err != nil || len(key) != 32 {
		fail("key is not 32 bytes of base64: %v", err)
	}
	if _, err := os.Stat(os.Getenv("TENANT_MS_CA_FILE")); err != nil {
		fail("simulator CA: %v", err)
	}
	ln, err := net.Listen("tcp", os.Getenv("TENANT_LISTEN_ADDR"))
	if err != nil {
		fail("listen: %v", err)
	}
	go exitOnTerm()
	if os.Getenv("FAKE_NEVER_READY") == "" {
		// Partial writes: the ready line must be recognised across them.
		fmt.Fprint(os.Stderr, `{"time":"2026-01-01T00:00:00Z","level":"INFO","msg":"ser`)
		time.Sleep(50 * time.Millisecond)
		fmt.Fprintf(os.Stderr, `ving","addr":%q}`+"\n", ln.Addr().String())
	}
	for {
		c, err := ln.Accept()
		if err != nil {
			fail("accept: %v", err)
		}
		c.Close()
	}
}

func fakeFacade() {
	printEnv("FACADE_")
	cert, caPEM := selfSigned()
	if err := os.WriteFile(filepath.Join(os.Getenv("FACADE_TLS_DIR"), "ca.pem"), caPEM, 0o644); err != nil {
		fail("write ca.pem: %v", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "ok") })
	serveTLSWith(os.Getenv("FACADE_LISTEN_ADDR"), mux, cert)
}
