// Package apscclient calls back into the APS controller (APSC) as an
// application instance: TLS client certificate = the instance certificate and
// key received at instance creation, base URL = the request's
// APS-Controller-URI, APS-Transaction-ID passed through.
package apscclient

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/o365gateway/gateway/services/shared/tracing"

	"github.com/o365gateway/gateway/services/shared/secret"
)

// Client talks to one controller as one instance.
type Client struct {
	http *http.Client
}

// New builds a client from the instance certificate and private key (PEM).
// roots verifies the controller's server certificate; nil skips verification
// (APSC commonly uses a self-signed server certificate).
func New(certPEM string, keyPEM secret.String, roots *x509.CertPool) (*Client, error) {
	cert, err := tls.X509KeyPair([]byte(certPEM), []byte(keyPEM.Reveal()))
	if err != nil {
		return nil, fmt.Errorf("instance certificate and key do not form a pair")
	}
	tlsCfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if roots != nil {
		tlsCfg.RootCAs = roots
	} else {
		tlsCfg.InsecureSkipVerify = true //nolint:gosec // documented: APSC servers are usually self-signed; set the APSC CA to verify.
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tlsCfg
	// No redirect is followed: the instance's certificate is presented to
	// the registered controller only, and account data read from it alone.
	return &Client{http: &http.Client{Transport: tracing.HTTPTransport(tr), Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}, nil
}

// Error is a refusal by the controller.
type Error struct {
	Status  int
	Kind    string
	Message string
}

func (e *Error) Error() string {
	return fmt.Sprintf("APS controller answered HTTP %d %s: %s", e.Status, e.Kind, e.Message)
}

// GetResource reads /aps/2/resources/{id} as raw JSON properties.
func (c *Client) GetResource(ctx context.Context, controllerURI, id, transactionID string) (map[string]any, error) {
	base, err := url.Parse(strings.TrimRight(controllerURI, "/") + "/")
	if err != nil || base.Scheme != "https" {
		return nil, fmt.Errorf("APS-Controller-URI %q is not an https URL", controllerURI)
	}
	u := base.JoinPath("aps/2/resources", id)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	if transactionID != "" {
		req.Header.Set("APS-Transaction-ID", transactionID)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("call APS controller: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error   string `json:"error"`
			Message string `json:"message"`
		}
		_ = json.Unmarshal(body, &e)
		return nil, &Error{Status: resp.StatusCode, Kind: e.Error, Message: e.Message}
	}
	var out map[string]any
	if err := json.Unmarshal(body, &out); err != nil {
		return nil, fmt.Errorf("APS controller answered invalid JSON: %w", err)
	}
	return out, nil
}

// ErrExists is the controller's refusal of a resource id it already holds.
var ErrExists = errors.New("the APS controller already holds this resource")

// CreateResource registers a resource the application created on its side
// (POST /aps/2/resources): body carries aps.type, aps.id and the
// properties. A 409 answers ErrExists: a registration repeated after a
// lost answer is already done.
func (c *Client) CreateResource(ctx context.Context, controllerURI string, body map[string]any, transactionID string) error {
	base, err := url.Parse(strings.TrimRight(controllerURI, "/") + "/")
	if err != nil || base.Scheme != "https" {
		return fmt.Errorf("APS-Controller-URI %q is not an https URL", controllerURI)
	}
	payload, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base.JoinPath("aps/2/resources").String(), bytes.NewReader(payload))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	if transactionID != "" {
		req.Header.Set("APS-Transaction-ID", transactionID)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("call APS controller: %w", err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	switch {
	case resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusCreated:
		return nil
	case resp.StatusCode == http.StatusConflict:
		return ErrExists
	}
	var e struct {
		Error   string `json:"error"`
		Message string `json:"message"`
	}
	_ = json.Unmarshal(data, &e)
	return &Error{Status: resp.StatusCode, Kind: e.Error, Message: e.Message}
}
