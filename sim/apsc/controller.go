package apsc

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
)

// Options configure a Controller.
type Options struct {
	// FacadeURL is the endpoint base URL of the gateway, as an operator
	// enters it in the platform, e.g. https://127.0.0.1:8443/aps/.
	FacadeURL string
	// FacadeCAPool verifies the facade's server certificate. Nil skips the
	// verification (the facade's certificate is self-signed by default).
	FacadeCAPool *x509.CertPool
	// ListenAddr is where the controller's own REST API listens
	// (default 127.0.0.1:0, a free port).
	ListenAddr string
	// CADir keeps the controller's CA (EnsureAuthority), so that a
	// deployment can trust it before the controller exists; empty makes a
	// CA of its own for this controller.
	CADir string
	// MaxRetryWait caps the wait between asynchronous re-sends, whatever
	// APS-Retry-Timeout says. 0 obeys the header.
	MaxRetryWait time.Duration
	// Logger receives debug records of every exchange (never bodies, never
	// keys). Nil discards them.
	Logger *slog.Logger
	// Progress receives one human-readable line per exchange with the
	// facade. Nil discards them.
	Progress io.Writer
}

// ReceivedRequest is one request the controller's REST API received (the
// facade calling back into APSC).
type ReceivedRequest struct {
	Time       time.Time
	Method     string
	Path       string
	Query      string
	Header     http.Header
	Body       []byte
	InstanceID string // instance whose certificate was presented; "" if none matched
	Status     int    // the status the controller answered
}

// TransactionID returns the APS-Transaction-ID the caller sent.
func (r ReceivedRequest) TransactionID() string { return r.Header.Get(HeaderTransactionID) }

// Controller emulates the APS controller: it installs application
// instances on the facade, drives operations through their sync and async
// phases and serves the resource API the facade calls back into.
type Controller struct {
	opts      Options
	facadeURL *url.URL
	log       *slog.Logger
	progress  io.Writer

	ca         *authority
	controller *issued // the controller's certificate (TLS client cert towards the facade)
	server     *issued // the server certificate of the controller's own API

	client *http.Client // towards the facade, presenting the controller certificate

	mu         sync.Mutex
	progressMu sync.Mutex
	resources  map[string]map[string]any // by aps.id
	instances  map[string]string         // instance certificate DER -> instance id
	received   []ReceivedRequest
	// secrets seen (value → sent by the platform), the instances' private
	// keys (PEM) and the answers that leaked one (secrets.go).
	secrets      map[Secret]bool
	instanceKeys []string
	leaks        []string
	httpServer   *http.Server
	listener     net.Listener
	uri          string
	serveDone    chan struct{}
	startCalled  bool
}

// NewController creates the controller's CA and certificates in memory.
// Start it before installing instances.
func NewController(opts Options) (*Controller, error) {
	if opts.FacadeURL == "" {
		return nil, errors.New("apsc: Options.FacadeURL is required")
	}
	u, err := url.Parse(opts.FacadeURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("apsc: bad facade URL %q", opts.FacadeURL)
	}
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
	}
	if opts.ListenAddr == "" {
		opts.ListenAddr = "127.0.0.1:0"
	}
	c := &Controller{
		opts:      opts,
		facadeURL: u,
		log:       opts.Logger,
		progress:  opts.Progress,
		resources: map[string]map[string]any{},
		instances: map[string]string{},
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.progress == nil {
		c.progress = io.Discard
	}
	if opts.CADir != "" {
		c.ca, err = loadAuthority(opts.CADir)
	} else {
		c.ca, err = newAuthority("APS Controller CA")
	}
	if err != nil {
		return nil, err
	}
	if c.controller, err = c.ca.issue(certRequest{commonName: "APS Controller", rsa: true, client: true}); err != nil {
		return nil, err
	}
	if c.server, err = c.ca.issue(certRequest{commonName: "localhost", server: true}); err != nil {
		return nil, err
	}
	cert := c.controller.tlsCertificate()
	c.client = c.newFacadeClient(&cert)
	return c, nil
}

// newFacadeClient returns an HTTP client towards the facade presenting
// cert (none when nil).
func (c *Controller) newFacadeClient(cert *tls.Certificate) *http.Client {
	tlsConf := &tls.Config{MinVersion: tls.VersionTLS12}
	if c.opts.FacadeCAPool != nil {
		tlsConf.RootCAs = c.opts.FacadeCAPool
	} else {
		tlsConf.InsecureSkipVerify = true //nolint:gosec // the facade's certificate is self-signed by default, as with real APSC samples using curl -k
	}
	if cert != nil {
		tlsConf.Certificates = []tls.Certificate{*cert}
	}
	tr := &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:     tlsConf,
		TLSHandshakeTimeout: 10 * time.Second,
		MaxIdleConnsPerHost: 4,
		IdleConnTimeout:     30 * time.Second,
	}
	return &http.Client{Transport: tr}
}

// Start serves the controller's REST API over HTTPS in the background until
// ctx is done or Close is called.
func (c *Controller) Start(ctx context.Context) error {
	c.mu.Lock()
	if c.startCalled {
		c.mu.Unlock()
		return errors.New("apsc: controller already started")
	}
	c.startCalled = true
	c.mu.Unlock()

	ln, err := net.Listen("tcp", c.opts.ListenAddr)
	if err != nil {
		return fmt.Errorf("apsc: listen on %s: %w", c.opts.ListenAddr, err)
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(c.serveAPI),
		TLSConfig: &tls.Config{
			MinVersion:   tls.VersionTLS12,
			Certificates: []tls.Certificate{c.server.tlsCertificate()},
			// Ask for a certificate but check it in the handler, so a
			// missing or wrong one gets APSC's JSON error, not a handshake failure.
			ClientAuth: tls.RequestClientCert,
		},
		// Slow or oversized requests cannot hold the listener; every answer
		// of the controller API is immediate.
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(c.log.Handler(), slog.LevelDebug),
	}
	done := make(chan struct{})
	c.mu.Lock()
	c.httpServer = srv
	c.listener = ln
	c.uri = "https://" + ln.Addr().String() + "/"
	c.serveDone = done
	c.mu.Unlock()

	go func() {
		defer close(done)
		if err := srv.ServeTLS(ln, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
			c.log.Error("apsc: controller API stopped", "err", err)
		}
	}()
	go func() {
		select {
		case <-ctx.Done():
			_ = c.Close()
		case <-done:
		}
	}()
	c.log.Debug("apsc: controller API listening", "uri", c.uri)
	return nil
}

// Close stops the controller's REST API and drops idle connections to the
// facade.
func (c *Controller) Close() error {
	c.mu.Lock()
	srv, done := c.httpServer, c.serveDone
	c.httpServer = nil // Close is idempotent
	c.mu.Unlock()
	c.client.CloseIdleConnections()
	if srv == nil {
		if done != nil {
			<-done
		}
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := srv.Shutdown(ctx)
	<-done
	return err
}

// ControllerURI is the controller's own URL (sent as APS-Controller-URI),
// e.g. https://127.0.0.1:40123/. Empty before Start.
func (c *Controller) ControllerURI() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.uri
}

// FacadeURL is the facade base URL, always ending in a slash.
func (c *Controller) FacadeURL() string { return c.facadeURL.String() }

// CACertPEM is the PEM of the CA that signed every certificate of the
// controller: its server certificate, the controller certificate and the
// instance certificates.
func (c *Controller) CACertPEM() []byte { return append([]byte(nil), c.ca.pem...) }

// ControllerCertPEM is the controller certificate sent as aps.x509.controller
// and presented as TLS client certificate to the facade.
func (c *Controller) ControllerCertPEM() []byte { return append([]byte(nil), c.controller.certPEM...) }

// ControllerCertificate is the controller certificate with its key.
func (c *Controller) ControllerCertificate() tls.Certificate { return c.controller.tlsCertificate() }

// IssueClientCert issues another client certificate signed by the
// controller's CA: one that chains to the same CA but is not the controller
// certificate (for tests expecting 403).
func (c *Controller) IssueClientCert(commonName string) (tls.Certificate, error) {
	is, err := c.ca.issue(certRequest{commonName: commonName, client: true})
	if err != nil {
		return tls.Certificate{}, err
	}
	return is.tlsCertificate(), nil
}

// AddResource stores a resource in the controller and returns its new
// aps.id. The facade can then read it with GET /aps/2/resources/{id}.
func (c *Controller) AddResource(typ string, props map[string]any) string {
	id := uuid.NewString()
	c.putResource(id, typ, props)
	return id
}

// putResource stores (replaces) a resource with the given id.
func (c *Controller) putResource(id, typ string, props map[string]any) {
	res := newResource(id, typ, props)
	c.mu.Lock()
	c.resources[id] = res
	c.mu.Unlock()
}

// newResource builds a stored resource: props plus an aps section.
func newResource(id, typ string, props map[string]any) map[string]any {
	res := deepCopyMap(props)
	delete(res, "aps")
	res["aps"] = map[string]any{
		"id":       id,
		"type":     typ,
		"status":   "aps:ready",
		"href":     "/aps/2/resources/" + id,
		"revision": 1,
		"modified": time.Now().UTC().Format(time.RFC3339),
	}
	return res
}

// mergeResource merges props (without their aps section) into a stored
// resource, creating it with typ when it does not exist yet.
func (c *Controller) mergeResource(id, typ string, props map[string]any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	res, ok := c.resources[id]
	if !ok {
		c.resources[id] = newResource(id, typ, props)
		return
	}
	p := deepCopyMap(props)
	delete(p, "aps")
	mergeInto(res, p)
	bumpRevision(res)
}

func (c *Controller) deleteResource(id string) {
	c.mu.Lock()
	delete(c.resources, id)
	c.mu.Unlock()
}

// Resource returns a copy of a stored resource.
func (c *Controller) Resource(id string) (map[string]any, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	res, ok := c.resources[id]
	if !ok {
		return nil, false
	}
	return deepCopyMap(res), true
}

// Requests returns a copy of the log of requests the controller's REST API
// received, oldest first.
func (c *Controller) Requests() []ReceivedRequest {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]ReceivedRequest, len(c.received))
	for i, r := range c.received {
		r.Header = r.Header.Clone()
		r.Body = append([]byte(nil), r.Body...)
		out[i] = r
	}
	return out
}

func (c *Controller) registerInstance(certDER []byte, instanceID string) {
	c.mu.Lock()
	c.instances[string(certDER)] = instanceID
	c.mu.Unlock()
}

func (c *Controller) unregisterInstance(certDER []byte) {
	c.mu.Lock()
	delete(c.instances, string(certDER))
	c.mu.Unlock()
}

// apscError writes APSC's error body.
func apscError(w http.ResponseWriter, status int, kind, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": kind, "message": msg})
}

const resourcesPrefix = "/aps/2/resources/"

// maxAPIBody bounds the request bodies of the controller API.
const maxAPIBody = 1 << 20

// serveAPI is the controller's REST API subset: GET and PUT of
// /aps/2/resources/{id}, for callers presenting an installed instance
// certificate.
func (c *Controller) serveAPI(w http.ResponseWriter, r *http.Request) {
	body, readErr := io.ReadAll(http.MaxBytesReader(w, r.Body, maxAPIBody))
	rec := ReceivedRequest{
		Time:   time.Now(),
		Method: r.Method,
		Path:   r.URL.Path,
		Query:  r.URL.RawQuery,
		Header: r.Header.Clone(),
		Body:   body,
	}
	sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
	defer func() {
		rec.Status = sw.status
		c.mu.Lock()
		c.received = append(c.received, rec)
		c.mu.Unlock()
		c.log.Debug("apsc: controller API request", "method", rec.Method, "path", rec.Path,
			"instance_id", rec.InstanceID, "transaction_id", rec.TransactionID(), "status", rec.Status)
	}()

	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(readErr, &tooLarge):
		apscError(sw, http.StatusRequestEntityTooLarge, "APS::Util::Exception",
			fmt.Sprintf("The request body is larger than the emulator accepts (%d bytes).", maxAPIBody))
		return
	case readErr != nil:
		apscError(sw, http.StatusBadRequest, "APS::Util::Exception", "The request body could not be read.")
		return
	}
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		apscError(sw, http.StatusUnauthorized, "APS::Util::AccessViolation",
			"No client certificate presented: call the APS controller with the application instance certificate.")
		return
	}
	c.mu.Lock()
	instanceID, ok := c.instances[string(r.TLS.PeerCertificates[0].Raw)]
	c.mu.Unlock()
	if !ok {
		apscError(sw, http.StatusForbidden, "APS::Util::AccessViolation",
			"The client certificate is not the certificate of an installed application instance.")
		return
	}
	rec.InstanceID = instanceID

	if r.Method == http.MethodPost && strings.TrimSuffix(r.URL.Path, "/")+"/" == resourcesPrefix {
		c.registerResource(sw, instanceID, body)
		return
	}
	rest, found := strings.CutPrefix(r.URL.Path, resourcesPrefix)
	id := strings.TrimSuffix(rest, "/")
	if !found || id == "" || strings.Contains(id, "/") {
		apscError(sw, http.StatusNotFound, "APS::Util::Exception",
			fmt.Sprintf("The emulator serves only %s{id}; %s is not served.", resourcesPrefix, r.URL.Path))
		return
	}
	switch r.Method {
	case http.MethodGet:
		res, ok := c.Resource(id)
		if !ok {
			apscError(sw, http.StatusNotFound, "APS::Util::Exception", fmt.Sprintf("Resource %s not found.", id))
			return
		}
		writeJSON(sw, http.StatusOK, res)
	case http.MethodPut:
		var props map[string]any
		if err := json.Unmarshal(body, &props); err != nil || props == nil {
			apscError(sw, http.StatusBadRequest, "APS::Util::Exception", "The body must be a JSON object.")
			return
		}
		if _, ok := c.Resource(id); !ok {
			apscError(sw, http.StatusNotFound, "APS::Util::Exception", fmt.Sprintf("Resource %s not found.", id))
			return
		}
		delete(props, "aps")
		c.mergeResource(id, "", props)
		res, _ := c.Resource(id)
		writeJSON(sw, http.StatusOK, res)
	default:
		sw.Header().Set("Allow", "GET, PUT")
		apscError(sw, http.StatusMethodNotAllowed, "APS::Util::Exception",
			fmt.Sprintf("Method %s is not supported by the emulator on %s.", r.Method, r.URL.Path))
	}
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// deepCopyMap copies a JSON-like value tree.
func deepCopyMap(m map[string]any) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = deepCopyValue(v)
	}
	return out
}

func deepCopyValue(v any) any {
	switch t := v.(type) {
	case map[string]any:
		return deepCopyMap(t)
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = deepCopyValue(e)
		}
		return out
	case []string:
		return append([]string(nil), t...)
	default:
		return v
	}
}

// mergeInto merges src into dst: nested objects merge, anything else
// replaces.
func mergeInto(dst, src map[string]any) {
	for k, v := range src {
		if sm, ok := v.(map[string]any); ok {
			if dm, ok := dst[k].(map[string]any); ok {
				mergeInto(dm, sm)
				continue
			}
		}
		dst[k] = deepCopyValue(v)
	}
}

func bumpRevision(res map[string]any) {
	aps, ok := res["aps"].(map[string]any)
	if !ok {
		return
	}
	switch n := aps["revision"].(type) {
	case int:
		aps["revision"] = n + 1
	case float64:
		aps["revision"] = n + 1
	}
	aps["modified"] = time.Now().UTC().Format(time.RFC3339)
}

// registerResource answers POST /aps/2/resources: an application registers
// a resource it created on its side (what the gateway adopted at Microsoft).
// The body names aps.type and may propose aps.id (a UUID); an id already
// held answers 409, as APSC refuses a duplicate. The resource records the
// instance that registered it.
func (c *Controller) registerResource(w http.ResponseWriter, instanceID string, body []byte) {
	var props map[string]any
	if err := json.Unmarshal(body, &props); err != nil || props == nil {
		apscError(w, http.StatusBadRequest, "APS::Util::Exception", "The body must be a JSON object.")
		return
	}
	meta, _ := props["aps"].(map[string]any)
	typ, _ := meta["type"].(string)
	if typ == "" {
		apscError(w, http.StatusBadRequest, "APS::Util::Exception", "aps.type is required to create a resource.")
		return
	}
	id, _ := meta["id"].(string)
	if id == "" {
		id = uuid.NewString()
	} else if _, err := uuid.Parse(id); err != nil {
		apscError(w, http.StatusBadRequest, "APS::Util::Exception", fmt.Sprintf("aps.id %q is not a UUID.", id))
		return
	}
	c.mu.Lock()
	_, exists := c.resources[id]
	if !exists {
		res := newResource(id, typ, props)
		res["aps"].(map[string]any)["registered_by"] = instanceID
		c.resources[id] = res
	}
	c.mu.Unlock()
	if exists {
		apscError(w, http.StatusConflict, "APS::Util::Exception", fmt.Sprintf("Resource %s already exists.", id))
		return
	}
	res, _ := c.Resource(id)
	writeJSON(w, http.StatusCreated, res)
}

// Registered returns copies of the resources an instance registered
// (POST /aps/2/resources), in no particular order.
func (c *Controller) Registered(instanceID string) []map[string]any {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []map[string]any
	for _, res := range c.resources {
		if meta, _ := res["aps"].(map[string]any); meta["registered_by"] == instanceID {
			out = append(out, deepCopyMap(res))
		}
	}
	return out
}
