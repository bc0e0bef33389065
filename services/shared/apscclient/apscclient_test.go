package apscclient_test

import (
	"context"
	"crypto/tls"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"sync/atomic"
	"testing"

	"github.com/o365gateway/gateway/services/shared/apscclient"
	"github.com/o365gateway/gateway/services/shared/mtls/devpki"
	"github.com/o365gateway/gateway/services/shared/secret"
)

// A controller that answers with a redirect does not send the client (and
// so the instance's certificate) anywhere else.
func TestRedirectsAreNotFollowed(t *testing.T) {
	var elsewhere atomic.Int32
	other := httptest.NewTLSServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { elsewhere.Add(1) }))
	defer other.Close()
	ctrl := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+r.URL.Path, http.StatusFound)
	}))
	defer ctrl.Close()
	files, err := devpki.PKI{Dir: t.TempDir(), TrustDomain: "o365gw.test"}.Files("instance")
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.LoadX509KeyPair(files.Cert, files.Key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: pair.Certificate[0]}))
	keyPEM, err := os.ReadFile(files.Key)
	if err != nil {
		t.Fatal(err)
	}
	roots := ctrl.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
	roots.AddCert(other.Certificate())
	c, err := apscclient.New(certPEM, secret.New(string(keyPEM)), roots)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetResource(context.Background(), ctrl.URL+"/", "acc-1", "tx-1"); err == nil {
		t.Fatal("a redirect was taken for the resource")
	}
	if elsewhere.Load() != 0 {
		t.Fatal("the redirect was followed to another host")
	}
}
