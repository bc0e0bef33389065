package apsc

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
)

// APS protocol header names, spelled as APSC sends them.
const (
	HeaderControllerURI = "APS-Controller-URI"
	HeaderInstanceID    = "APS-Instance-ID"
	HeaderTransactionID = "APS-Transaction-ID"
	HeaderRequestPhase  = "APS-Request-Phase"
	HeaderRetryTimeout  = "APS-Retry-Timeout"
	HeaderInfo          = "APS-Info"
)

// Values of APS-Request-Phase.
const (
	PhaseSync  = "sync"
	PhaseAsync = "async"
)

// APS type ids of the gateway's services and of the platform account.
const (
	TypeApp          = "http://o365gateway.org/aps/app/1.0"
	TypeTenant       = "http://o365gateway.org/aps/tenant/1.0"
	TypeDomain       = "http://o365gateway.org/aps/domain/1.0"
	TypeSubscription = "http://o365gateway.org/aps/subscription/1.0"
	TypeUser         = "http://o365gateway.org/aps/user/1.0"
	TypeAccount      = "http://parallels.com/aps/types/pa/account/1.2"
)

// ErrProtocol marks answers that break the APS protocol (e.g. a 202
// without APS-Retry-Timeout).
var ErrProtocol = errors.New("APS protocol violation")

// TypeFor returns the APS type id of a service of the gateway. For an
// unknown service it guesses http://o365gateway.org/aps/<singular>/1.0.
func TypeFor(svc string) string {
	switch svc {
	case "app":
		return TypeApp
	case "tenants":
		return TypeTenant
	case "domains":
		return TypeDomain
	case "subscriptions":
		return TypeSubscription
	case "users":
		return TypeUser
	}
	return "http://o365gateway.org/aps/" + strings.TrimSuffix(svc, "s") + "/1.0"
}

// Instance is an application instance installed on the facade.
type Instance struct {
	// InstanceID is sent as APS-Instance-ID.
	InstanceID string
	// AppID is the aps.id of the instance's root app resource (a different
	// UUID than InstanceID).
	AppID string
	// SubscriptionID and PackageID are the platform ids put into
	// aps.subscription and aps.package of provisioned resources.
	SubscriptionID string
	PackageID      string
	// CertPEM and KeyPEM are the instance certificate and its RSA private
	// key (PKCS#1), as sent in aps.x509.self. KeyPEM is a secret.
	CertPEM []byte
	KeyPEM  []byte
	// Settings are the global settings sent at installation.
	Settings map[string]any
	// Representation is the app resource as the facade last returned it.
	Representation map[string]any
	// Result is the installation's exchange with the facade.
	Result *Result

	cert tls.Certificate
}

// TLSCertificate is the instance certificate with its key: what the
// facade presents when it calls back into the controller.
func (i *Instance) TLSCertificate() tls.Certificate { return i.cert }

// LogValue keeps the private key out of logs.
func (i *Instance) LogValue() slog.Value {
	return slog.GroupValue(slog.String("instance_id", i.InstanceID), slog.String("app_id", i.AppID))
}

// String keeps the private key out of fmt output.
func (i *Instance) String() string {
	return fmt.Sprintf("instance %s (app %s)", i.InstanceID, i.AppID)
}

// Step is one HTTP exchange with the facade.
type Step struct {
	Phase         string // sync or async (the APS-Request-Phase sent)
	Method        string
	Path          string // relative to the facade base, with the query
	TransactionID string
	Status        int
	Info          string        // APS-Info answered
	RetryTimeout  string        // APS-Retry-Timeout answered, raw
	Waited        time.Duration // how long the controller waited before the next re-send
	Duration      time.Duration // how long the exchange took
}

// Result is the outcome of one operation: the last answer and every
// exchange that led to it.
type Result struct {
	// ResourceID is the aps.id the operation was about, when there is one.
	ResourceID string
	Status     int
	Body       []byte
	Header     http.Header
	Trace      []Step
}

// Success tells whether the final answer is a success (2xx other than 202).
func (r *Result) Success() bool {
	return r != nil && r.Status >= 200 && r.Status < 300 && r.Status != http.StatusAccepted
}

// Decode unmarshals the final body into v.
func (r *Result) Decode(v any) error {
	if len(bytes.TrimSpace(r.Body)) == 0 {
		return errors.New("apsc: empty body")
	}
	return json.Unmarshal(r.Body, v)
}

// JSON returns the final body as a JSON object.
func (r *Result) JSON() (map[string]any, error) {
	var m map[string]any
	if err := r.Decode(&m); err != nil {
		return nil, err
	}
	return m, nil
}

// APSError is the gateway's error body.
type APSError struct {
	Code    int    `json:"code"`
	Type    string `json:"type"`
	Reason  string `json:"error"`
	Message string `json:"message"`
}

// APSError returns the final body as an APS error body, or nil when it is
// not one.
func (r *Result) APSError() *APSError {
	if r == nil || r.Status < 400 {
		return nil
	}
	var e APSError
	if json.Unmarshal(r.Body, &e) != nil || (e.Type == "" && e.Reason == "" && e.Message == "") {
		return nil
	}
	return &e
}

// StatusError is returned by Install and Uninstall when the facade's final
// answer is not a success.
type StatusError struct {
	Op     string
	Result *Result
}

func (e *StatusError) Error() string {
	msg := fmt.Sprintf("apsc: %s answered %d %s", e.Op, e.Result.Status, http.StatusText(e.Result.Status))
	if ae := e.Result.APSError(); ae != nil {
		msg += ": " + ae.Message
	}
	return msg
}

// CallOption changes one call to the facade.
type CallOption func(*callConfig)

type callConfig struct {
	certSet    bool
	cert       *tls.Certificate // nil with certSet: no client certificate
	set        [][2]string
	del        []string
	txID       string
	instanceID string
	appID      string
}

// WithClientCert presents cert instead of the controller certificate.
func WithClientCert(cert tls.Certificate) CallOption {
	return func(c *callConfig) { c.certSet, c.cert = true, &cert }
}

// WithoutClientCert presents no client certificate.
func WithoutClientCert() CallOption {
	return func(c *callConfig) { c.certSet, c.cert = true, nil }
}

// WithHeader sets a request header (replacing the controller's value).
func WithHeader(key, value string) CallOption {
	return func(c *callConfig) { c.set = append(c.set, [2]string{key, value}) }
}

// WithoutHeader removes a header the controller would send.
func WithoutHeader(key string) CallOption {
	return func(c *callConfig) { c.del = append(c.del, key) }
}

// WithTransactionID uses id as APS-Transaction-ID instead of a new one.
func WithTransactionID(id string) CallOption {
	return func(c *callConfig) { c.txID = id }
}

// WithInstanceID makes Install use id as APS-Instance-ID (e.g. to install
// the same instance twice). Install only.
func WithInstanceID(id string) CallOption {
	return func(c *callConfig) { c.instanceID = id }
}

// WithAppID makes Install use id as the app resource's aps.id. Install only.
func WithAppID(id string) CallOption {
	return func(c *callConfig) { c.appID = id }
}

func newCallConfig(opts []CallOption) *callConfig {
	cfg := &callConfig{}
	for _, o := range opts {
		o(cfg)
	}
	return cfg
}

// setHeader sets key in h with exactly that spelling, dropping any other
// spelling of it.
func setHeader(h http.Header, key, value string) {
	delHeader(h, key)
	h[key] = []string{value}
}

// getHeader reads key in h whatever its spelling.
func getHeader(h http.Header, key string) string {
	for k, v := range h {
		if strings.EqualFold(k, key) && len(v) > 0 {
			return v[0]
		}
	}
	return ""
}

func delHeader(h http.Header, key string) {
	for k := range h {
		if strings.EqualFold(k, key) {
			delete(h, k)
		}
	}
}

// Install creates an application instance: a new instance certificate and
// key signed by the controller's CA, POST /app with the settings and the
// certificates in aps.x509, then the async protocol until a final answer.
// A final answer that is not a success returns the Instance (with Result)
// and a *StatusError.
func (c *Controller) Install(ctx context.Context, settings map[string]any, opts ...CallOption) (*Instance, error) {
	if c.ControllerURI() == "" {
		return nil, errors.New("apsc: Start the controller before installing an instance")
	}
	cfg := newCallConfig(opts)
	inst := &Instance{
		InstanceID:     cfg.instanceID,
		AppID:          cfg.appID,
		SubscriptionID: uuid.NewString(),
		PackageID:      uuid.NewString(),
		Settings:       deepCopyMap(settings),
	}
	if inst.InstanceID == "" {
		inst.InstanceID = uuid.NewString()
	}
	if inst.AppID == "" {
		inst.AppID = uuid.NewString()
	}
	is, err := c.ca.issue(certRequest{commonName: "APS application instance " + inst.InstanceID, rsa: true, client: true})
	if err != nil {
		return nil, err
	}
	inst.CertPEM, inst.KeyPEM, inst.cert = is.certPEM, is.keyPEM, is.tlsCertificate()
	c.mu.Lock()
	c.instanceKeys = append(c.instanceKeys, string(is.keyPEM))
	c.mu.Unlock()

	body := deepCopyMap(settings)
	aps := map[string]any{
		"id":     inst.AppID,
		"type":   TypeApp,
		"status": "aps:provisioning",
		"x509": map[string]any{
			"self":       string(inst.CertPEM) + string(inst.KeyPEM),
			"controller": string(c.controller.certPEM),
		},
	}
	addNoise(aps, inst, TypeApp, false)
	body["aps"] = aps
	raw, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("apsc: encode settings: %w", err)
	}

	// The facade may call back during the installation: accept the
	// instance certificate from now on, and forget it if the install fails.
	c.registerInstance(inst.cert.Leaf.Raw, inst.InstanceID)
	res, err := c.run(ctx, inst, cfg, http.MethodPost, "/app", raw)
	res.ResourceID = inst.AppID
	inst.Result = res
	if err != nil {
		c.unregisterInstance(inst.cert.Leaf.Raw)
		return inst, err
	}
	if !res.Success() {
		c.unregisterInstance(inst.cert.Leaf.Raw)
		return inst, &StatusError{Op: "POST /app", Result: res}
	}
	rep, _ := res.JSON()
	inst.Representation = rep
	stored := deepCopyMap(settings)
	mergeInto(stored, rep)
	c.putResource(inst.AppID, TypeApp, stored)
	c.log.Debug("apsc: instance installed", "instance", inst)
	return inst, nil
}

// Uninstall deletes the instance (DELETE /app/{appID}); on success the
// controller stops accepting its certificate.
func (c *Controller) Uninstall(ctx context.Context, inst *Instance, opts ...CallOption) (*Result, error) {
	res, err := c.Unprovision(ctx, inst, "app", inst.AppID, opts...)
	if err != nil {
		return res, err
	}
	if !res.Success() {
		return res, &StatusError{Op: "DELETE /app/" + inst.AppID, Result: res}
	}
	c.unregisterInstance(inst.cert.Leaf.Raw)
	return res, nil
}

// addNoise adds the platform fields APSC puts in every resource's aps
// section, unless the caller set them.
func addNoise(aps map[string]any, inst *Instance, typ string, withSubscription bool) {
	setDefault := func(k string, v any) {
		if _, ok := aps[k]; !ok {
			aps[k] = v
		}
	}
	if id, ok := aps["id"].(string); ok {
		setDefault("href", "/aps/2/resources/"+id)
	}
	setDefault("revision", 1)
	setDefault("modified", time.Now().UTC().Format(time.RFC3339))
	if withSubscription {
		setDefault("subscription", inst.SubscriptionID)
	}
	setDefault("schema", "/aps/2/types/"+uuid.NewSHA1(uuid.NameSpaceURL, []byte(typ)).String()+"/schema")
	setDefault("package", map[string]any{"id": inst.PackageID, "href": "/aps/2/packages/" + inst.PackageID})
}

// prepareResource copies resource and fills its aps section.
func prepareResource(inst *Instance, svc, id, status string, resource map[string]any) (map[string]any, string) {
	body := deepCopyMap(resource)
	aps, _ := body["aps"].(map[string]any)
	if aps == nil {
		aps = map[string]any{}
	}
	if id != "" {
		aps["id"] = id
	} else if s, _ := aps["id"].(string); s != "" {
		id = s
	} else {
		id = uuid.NewString()
		aps["id"] = id
	}
	typ, _ := aps["type"].(string)
	if typ == "" {
		typ = TypeFor(svc)
		aps["type"] = typ
	}
	if _, ok := aps["status"]; !ok {
		aps["status"] = status
	}
	addNoise(aps, inst, typ, svc != "app")
	body["aps"] = aps
	return body, id
}

// Provision sends POST /{svc} with resource, whose aps section gets an id
// (when absent), the service's type, aps:provisioning and the platform's
// noise fields, then follows the async protocol.
func (c *Controller) Provision(ctx context.Context, inst *Instance, svc string, resource map[string]any, opts ...CallOption) (*Result, error) {
	body, id := prepareResource(inst, svc, "", "aps:provisioning", resource)
	raw, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("apsc: encode resource: %w", err)
	}
	res, err := c.run(ctx, inst, newCallConfig(opts), http.MethodPost, "/"+svc, raw)
	res.ResourceID = id
	if err == nil && res.Success() {
		c.remember(id, TypeFor(svc), body, res)
	}
	return res, err
}

// Retrieve sends GET /{svc}/{id}.
func (c *Controller) Retrieve(ctx context.Context, inst *Instance, svc, id string, opts ...CallOption) (*Result, error) {
	res, err := c.run(ctx, inst, newCallConfig(opts), http.MethodGet, "/"+svc+"/"+id, nil)
	res.ResourceID = id
	if err == nil && res.Status == http.StatusOK {
		c.remember(id, TypeFor(svc), nil, res)
	}
	return res, err
}

// Configure sends PUT /{svc}/{id} with the new representation.
func (c *Controller) Configure(ctx context.Context, inst *Instance, svc, id string, resource map[string]any, opts ...CallOption) (*Result, error) {
	body, _ := prepareResource(inst, svc, id, "aps:configuring", resource)
	raw, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("apsc: encode resource: %w", err)
	}
	res, err := c.run(ctx, inst, newCallConfig(opts), http.MethodPut, "/"+svc+"/"+id, raw)
	res.ResourceID = id
	if err == nil && res.Success() {
		c.remember(id, TypeFor(svc), body, res)
	}
	return res, err
}

// Unprovision sends DELETE /{svc}/{id}.
func (c *Controller) Unprovision(ctx context.Context, inst *Instance, svc, id string, opts ...CallOption) (*Result, error) {
	res, err := c.run(ctx, inst, newCallConfig(opts), http.MethodDelete, "/"+svc+"/"+id, nil)
	res.ResourceID = id
	if err == nil && res.Success() {
		c.deleteResource(id)
	}
	return res, err
}

// Link notifies the facade that the resource otherID (of type otherType)
// was linked to {svc}/{id} through relation: POST /{svc}/{id}/{relation}.
func (c *Controller) Link(ctx context.Context, inst *Instance, svc, id, relation, otherID, otherType string, opts ...CallOption) (*Result, error) {
	raw, _ := json.Marshal(map[string]any{"aps": map[string]any{"id": otherID, "type": otherType}})
	res, err := c.run(ctx, inst, newCallConfig(opts), http.MethodPost, "/"+svc+"/"+id+"/"+relation, raw)
	res.ResourceID = id
	return res, err
}

// Unlink notifies the facade that otherID was unlinked:
// DELETE /{svc}/{id}/{relation}/{otherID}.
func (c *Controller) Unlink(ctx context.Context, inst *Instance, svc, id, relation, otherID string, opts ...CallOption) (*Result, error) {
	res, err := c.run(ctx, inst, newCallConfig(opts), http.MethodDelete, "/"+svc+"/"+id+"/"+relation+"/"+otherID, nil)
	res.ResourceID = id
	return res, err
}

// Operation calls a custom operation, e.g. GET /app/{id}/domainAvailability
// with query subdomain=x, following the async protocol. body is sent as
// JSON; []byte, json.RawMessage and string are sent as they are; nil sends
// no body.
func (c *Controller) Operation(ctx context.Context, inst *Instance, method, path string, query url.Values, body any, opts ...CallOption) (*Result, error) {
	var raw []byte
	switch b := body.(type) {
	case nil:
	case []byte:
		raw = b
	case json.RawMessage:
		raw = b
	case string:
		raw = []byte(b)
	default:
		var err error
		if raw, err = json.Marshal(b); err != nil {
			return nil, fmt.Errorf("apsc: encode body: %w", err)
		}
	}
	if len(query) > 0 {
		path += "?" + query.Encode()
	}
	return c.run(ctx, inst, newCallConfig(opts), method, path, raw)
}

// Raw sends a single request, with no async loop: path is relative to the
// facade base (kept as given, trailing slash and query included). The
// controller's headers (APS-Controller-URI, APS-Instance-ID when inst is
// not nil, a new APS-Transaction-ID, APS-Request-Phase: sync, Content-Type)
// are sent unless headers overrides them; a key in headers with no values
// removes that header.
func (c *Controller) Raw(ctx context.Context, inst *Instance, method, path string, headers http.Header, body []byte, opts ...CallOption) (*Result, error) {
	cfg := newCallConfig(opts)
	for k, vs := range headers {
		if len(vs) == 0 {
			cfg.del = append(cfg.del, k)
			continue
		}
		cfg.set = append(cfg.set, [2]string{k, vs[0]})
	}
	txID := cfg.txID
	if txID == "" {
		txID = uuid.NewString()
	}
	res := &Result{}
	_, err := c.exchange(ctx, inst, cfg, res, method, path, body, PhaseSync, txID)
	return res, err
}

// run performs an operation the way APSC does: a sync call, then async
// re-sends of the same request while the facade answers 202.
func (c *Controller) run(ctx context.Context, inst *Instance, cfg *callConfig, method, path string, body []byte) (*Result, error) {
	txID := cfg.txID
	if txID == "" {
		txID = uuid.NewString()
	}
	res := &Result{}
	phase := PhaseSync
	for {
		step, err := c.exchange(ctx, inst, cfg, res, method, path, body, phase, txID)
		if err != nil {
			return res, err
		}
		if res.Status != http.StatusAccepted {
			return res, nil
		}
		if step.RetryTimeout == "" {
			return res, fmt.Errorf("apsc: %s %s answered 202 without APS-Retry-Timeout: %w", method, step.Path, ErrProtocol)
		}
		secs, perr := strconv.Atoi(strings.TrimSpace(step.RetryTimeout))
		if perr != nil || secs < 0 {
			return res, fmt.Errorf("apsc: %s %s answered 202 with APS-Retry-Timeout %q: %w",
				method, step.Path, step.RetryTimeout, ErrProtocol)
		}
		wait := time.Duration(secs) * time.Second
		if c.opts.MaxRetryWait > 0 && wait > c.opts.MaxRetryWait {
			wait = c.opts.MaxRetryWait
		}
		res.Trace[len(res.Trace)-1].Waited = wait
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return res, fmt.Errorf("apsc: gave up on %s %s after %d exchanges: %w", method, step.Path, len(res.Trace), ctx.Err())
		case <-t.C:
		}
		phase = PhaseAsync
	}
}

// exchange sends one request and records it in res.
func (c *Controller) exchange(ctx context.Context, inst *Instance, cfg *callConfig, res *Result, method, path string, body []byte, phase, txID string) (Step, error) {
	relPath, rawQuery, _ := strings.Cut(path, "?")
	u := *c.facadeURL
	u.Path = c.facadeURL.Path + strings.TrimPrefix(relPath, "/")
	u.RawPath = ""
	u.RawQuery = rawQuery
	display := "/" + strings.TrimPrefix(relPath, "/")
	if rawQuery != "" {
		display += "?" + rawQuery
	}

	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return Step{}, fmt.Errorf("apsc: build request %s %s: %w", method, display, err)
	}
	setHeader(req.Header, HeaderControllerURI, c.ControllerURI())
	if inst != nil {
		setHeader(req.Header, HeaderInstanceID, inst.InstanceID)
	}
	setHeader(req.Header, HeaderTransactionID, txID)
	setHeader(req.Header, HeaderRequestPhase, phase)
	setHeader(req.Header, "Accept", "application/json")
	setHeader(req.Header, "User-Agent", "o365gateway-apsc-emulator/1.0")
	if body != nil {
		setHeader(req.Header, "Content-Type", "application/json")
	}
	for _, kv := range cfg.set {
		setHeader(req.Header, kv[0], kv[1])
	}
	for _, k := range cfg.del {
		delHeader(req.Header, k)
	}
	phase = getHeader(req.Header, HeaderRequestPhase)

	client := c.client
	if cfg.certSet {
		client = c.newFacadeClient(cfg.cert)
		defer client.CloseIdleConnections()
	}
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		c.printProgress("→ %s %s (%s) … failed: %v\n", method, display, phase, err)
		return Step{}, fmt.Errorf("apsc: %s %s (%s): %w", method, display, phase, err)
	}
	respBody, err := io.ReadAll(io.LimitReader(resp.Body, 10<<20))
	resp.Body.Close()
	if err != nil {
		return Step{}, fmt.Errorf("apsc: read answer to %s %s: %w", method, display, err)
	}
	step := Step{
		Phase:         phase,
		Method:        method,
		Path:          display,
		TransactionID: txID,
		Status:        resp.StatusCode,
		Info:          resp.Header.Get(HeaderInfo),
		RetryTimeout:  resp.Header.Get(HeaderRetryTimeout),
		Duration:      time.Since(start),
	}
	res.Status, res.Body, res.Header = resp.StatusCode, respBody, resp.Header
	res.Trace = append(res.Trace, step)
	c.noteSecrets(body, true)
	c.checkAnswer(method, display, respBody)
	c.noteSecrets(respBody, false)
	c.log.Debug("apsc: exchange", "method", method, "path", display, "phase", phase,
		"transaction_id", txID, "status", step.Status, "aps_info", step.Info,
		"retry_timeout", step.RetryTimeout, "duration", step.Duration)
	c.printProgress("%s\n", c.progressLine(step, res))
	return step, nil
}

// progressLine renders one exchange for a person.
func (c *Controller) progressLine(s Step, res *Result) string {
	var b strings.Builder
	fmt.Fprintf(&b, "→ %s %s (%s) … %d %s", s.Method, s.Path, s.Phase, s.Status, http.StatusText(s.Status))
	switch {
	case s.Status == http.StatusAccepted:
		if s.Info != "" {
			b.WriteString(": " + s.Info)
		}
		if s.RetryTimeout == "" {
			b.WriteString(" (no APS-Retry-Timeout!)")
			break
		}
		secs, err := strconv.Atoi(strings.TrimSpace(s.RetryTimeout))
		if err != nil {
			fmt.Fprintf(&b, " (bad APS-Retry-Timeout %q)", s.RetryTimeout)
			break
		}
		fmt.Fprintf(&b, " (retry in %ds", secs)
		if max := c.opts.MaxRetryWait; max > 0 && time.Duration(secs)*time.Second > max {
			fmt.Fprintf(&b, ", waiting %s", max)
		}
		b.WriteString(")")
	case s.Status >= 400:
		if ae := res.APSError(); ae != nil {
			reason := ae.Reason
			if reason == "" {
				reason = ae.Type
			}
			fmt.Fprintf(&b, ": %s: %s", reason, ae.Message)
		}
	}
	return b.String()
}

func (c *Controller) printProgress(format string, args ...any) {
	c.progressMu.Lock()
	defer c.progressMu.Unlock()
	fmt.Fprintf(c.progress, format, args...)
}

// remember stores what APSC would keep of a resource after a successful
// operation: the body it sent, merged with the representation returned.
func (c *Controller) remember(id, typ string, sent map[string]any, res *Result) {
	props := deepCopyMap(sent)
	if rep, err := res.JSON(); err == nil {
		mergeInto(props, rep)
	}
	c.mergeResource(id, typ, props)
}
