package apsc

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// fakeFacade is a minimal facade speaking the APS protocol, written for
// these tests: certificate checks, 202 twice then a final answer for
// tenant provisioning, and a call back into the controller.
type fakeFacade struct {
	t   *testing.T
	srv *httptest.Server

	mu        sync.Mutex
	reqs      []fakeReq
	instances map[string]*fakeInst
	jobs      map[string]int // request key -> 202 answers left
	tenants   map[string]map[string]any
	customers []string // domains created "at Microsoft"

	accepts      int    // 202 answers before the final one
	retryTimeout string // APS-Retry-Timeout of 202 answers ("" omits it)
	finalStatus  int    // final status of tenant provisioning
	available    bool   // domainAvailability answer
	callbacks    []int  // statuses of calls back into the controller
}

type fakeReq struct {
	Method, Path, RawQuery string
	Header                 http.Header
	Body                   []byte
	PeerCert               []byte
}

type fakeInst struct {
	controllerCert []byte
	self           tls.Certificate
	controllerURI  string
	appID          string
}

func newFakeFacade(t *testing.T) *fakeFacade {
	t.Helper()
	f := &fakeFacade{
		t:            t,
		instances:    map[string]*fakeInst{},
		jobs:         map[string]int{},
		tenants:      map[string]map[string]any{},
		accepts:      2,
		retryTimeout: "30",
		finalStatus:  http.StatusOK,
		available:    true,
	}
	f.srv = httptest.NewUnstartedServer(f)
	f.srv.TLS = &tls.Config{ClientAuth: tls.RequestClientCert}
	f.srv.StartTLS()
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeFacade) URL() string { return f.srv.URL + "/aps/" }

func (f *fakeFacade) CAPool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(f.srv.Certificate())
	return p
}

func (f *fakeFacade) requests() []fakeReq {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]fakeReq(nil), f.reqs...)
}

func apsErr(w http.ResponseWriter, code int, reason, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]any{"code": code, "type": reason, "error": reason, "message": msg})
}

func (f *fakeFacade) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rec := fakeReq{Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery, Header: r.Header.Clone(), Body: body}
	if len(r.TLS.PeerCertificates) > 0 {
		rec.PeerCert = r.TLS.PeerCertificates[0].Raw
	}
	f.mu.Lock()
	f.reqs = append(f.reqs, rec)
	f.mu.Unlock()

	if r.Header.Get(HeaderControllerURI) == "" || r.Header.Get(HeaderInstanceID) == "" {
		apsErr(w, 400, "InvalidRequest", "APS-Controller-URI and APS-Instance-ID are required")
		return
	}
	path := strings.Trim(strings.TrimPrefix(r.URL.Path, "/aps/"), "/")
	parts := strings.Split(path, "/")
	if r.Method == http.MethodPost && path == "app" {
		f.install(w, r, body, rec.PeerCert)
		return
	}
	f.mu.Lock()
	inst := f.instances[r.Header.Get(HeaderInstanceID)]
	f.mu.Unlock()
	switch {
	case inst == nil:
		apsErr(w, 404, "UnknownInstance", "no such instance")
		return
	case rec.PeerCert == nil:
		apsErr(w, 401, "Unauthenticated", "no client certificate")
		return
	case !bytes.Equal(rec.PeerCert, inst.controllerCert):
		apsErr(w, 403, "Unauthenticated", "not the controller certificate")
		return
	}
	switch {
	case r.Method == http.MethodPost && path == "tenants":
		f.provisionTenant(w, r, inst, body)
	case r.Method == http.MethodPost && path == "subscriptions":
		var req map[string]any
		_ = json.Unmarshal(body, &req)
		f.async(w, r, body, func() {
			req["ms_subscription_id"], req["state"] = "ms-sub-1", "active"
			writeJSON(w, 200, req)
		})
	case r.Method == http.MethodDelete && len(parts) == 2 && parts[0] == "subscriptions":
		w.WriteHeader(204)
	case r.Method == http.MethodGet && len(parts) == 2 && parts[0] == "subscriptions":
		writeJSON(w, 200, map[string]any{"licenses": map[string]any{"limit": 25, "usage": 25}})
	case r.Method == http.MethodPost && path == "domains":
		var req map[string]any
		_ = json.Unmarshal(body, &req)
		req["state"] = "unverified"
		req["verification_records"] = []any{map[string]any{"record_type": "Txt", "label": req["domain_name"], "text": "MS=ms1", "ttl": 3600}}
		writeJSON(w, 200, req)
	case r.Method == http.MethodPost && len(parts) == 3 && parts[0] == "domains" && parts[2] == "verify":
		writeJSON(w, 200, map[string]any{"state": "verified"})
	case r.Method == http.MethodPost && path == "users":
		var req map[string]any
		_ = json.Unmarshal(body, &req)
		f.async(w, r, body, func() { req["state"] = "active"; writeJSON(w, 200, req) })
	case r.Method == http.MethodGet && len(parts) == 2 && parts[0] == "tenants":
		f.mu.Lock()
		tnt, ok := f.tenants[parts[1]]
		f.mu.Unlock()
		if !ok {
			apsErr(w, 404, "NotFound", "no such tenant")
			return
		}
		writeJSON(w, 200, tnt)
	case r.Method == http.MethodPut && len(parts) == 2:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(200)
		_, _ = w.Write(body)
	case r.Method == http.MethodDelete && len(parts) == 2 && parts[0] == "tenants":
		f.mu.Lock()
		if tnt, ok := f.tenants[parts[1]]; ok {
			delete(f.tenants, parts[1])
			dom := tnt["domain_name"].(string)
			f.customers = removeString(f.customers, dom)
		}
		f.mu.Unlock()
		w.WriteHeader(204)
	case r.Method == http.MethodGet && len(parts) == 3 && parts[0] == "app" && parts[2] == "domainAvailability":
		sub := r.URL.Query().Get("subdomain")
		writeJSON(w, 200, map[string]any{"domain": sub + ".onmicrosoft.com", "available": f.available})
	case (r.Method == http.MethodPost && len(parts) == 3) || (r.Method == http.MethodDelete && len(parts) == 4):
		w.WriteHeader(204) // link / unlink
	case r.Method == http.MethodGet && len(parts) == 3 && parts[2] == "slow":
		f.async(w, r, body, func() { writeJSON(w, 200, map[string]any{"done": true}) })
	default:
		apsErr(w, 404, "NotFound", "no route "+r.Method+" "+path)
	}
}

func removeString(s []string, v string) []string {
	out := s[:0]
	for _, e := range s {
		if e != v {
			out = append(out, e)
		}
	}
	return out
}

func (f *fakeFacade) install(w http.ResponseWriter, r *http.Request, body, peer []byte) {
	var req struct {
		APS struct {
			ID   string `json:"id"`
			X509 struct {
				Self       string `json:"self"`
				Controller string `json:"controller"`
			} `json:"x509"`
		} `json:"aps"`
		Cloud string `json:"cloud"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		apsErr(w, 400, "InvalidRequest", "bad JSON")
		return
	}
	self, err := SplitSelfPEM(req.APS.X509.Self)
	if err != nil {
		apsErr(w, 400, "InvalidRequest", err.Error())
		return
	}
	blk, _ := pem.Decode([]byte(req.APS.X509.Controller))
	switch {
	case peer == nil:
		apsErr(w, 401, "Unauthenticated", "no client certificate")
		return
	case blk == nil || !bytes.Equal(blk.Bytes, peer):
		apsErr(w, 403, "Unauthenticated", "client certificate is not aps.x509.controller")
		return
	case req.Cloud != "" && req.Cloud != "global":
		apsErr(w, 400, "WrongCloud", "this deployment serves the global cloud")
		return
	}
	f.mu.Lock()
	f.instances[r.Header.Get(HeaderInstanceID)] = &fakeInst{
		controllerCert: peer, self: self, controllerURI: r.Header.Get(HeaderControllerURI), appID: req.APS.ID,
	}
	f.mu.Unlock()
	writeJSON(w, 201, map[string]any{"aps": map[string]any{"id": req.APS.ID, "type": TypeApp, "status": "aps:ready"}, "cloud": req.Cloud})
}

// async answers 202 f.accepts times for one request (keyed by method, path
// and body), then calls final.
func (f *fakeFacade) async(w http.ResponseWriter, r *http.Request, body []byte, final func()) {
	sum := sha256.Sum256(body)
	key := r.Method + " " + r.URL.Path + " " + hex.EncodeToString(sum[:])
	f.mu.Lock()
	left, known := f.jobs[key]
	if !known {
		left = f.accepts
	}
	if left > 0 {
		f.jobs[key] = left - 1
	}
	f.mu.Unlock()
	if left > 0 {
		if f.retryTimeout != "" {
			w.Header().Set(HeaderRetryTimeout, f.retryTimeout)
		}
		w.Header().Set(HeaderInfo, "Creating Microsoft customer")
		writeJSON(w, 202, map[string]any{"aps": map[string]any{"status": "aps:provisioning"}})
		return
	}
	final()
}

func (f *fakeFacade) provisionTenant(w http.ResponseWriter, r *http.Request, inst *fakeInst, body []byte) {
	var req map[string]any
	if err := json.Unmarshal(body, &req); err != nil {
		apsErr(w, 400, "InvalidRequest", "bad JSON")
		return
	}
	f.async(w, r, body, func() {
		if f.finalStatus != http.StatusOK {
			apsErr(w, f.finalStatus, "CustomerCountryNotSupported", "Customer Country is currently not Supported")
			return
		}
		aps := req["aps"].(map[string]any)
		id := aps["id"].(string)
		company := ""
		if acc, ok := req["account"].(map[string]any); ok {
			accID := acc["aps"].(map[string]any)["id"].(string)
			got, status := f.callBack(inst, accID, r.Header.Get(HeaderTransactionID))
			f.mu.Lock()
			f.callbacks = append(f.callbacks, status)
			f.mu.Unlock()
			company, _ = got["companyName"].(string)
		}
		domain := req["initial_subdomain"].(string) + ".onmicrosoft.com"
		tnt := map[string]any{
			"aps":            map[string]any{"id": id, "type": TypeTenant, "status": "aps:ready"},
			"domain_name":    domain,
			"state":          "active",
			"ms_customer_id": "c-" + id[:8],
			"company_name":   company,
		}
		f.mu.Lock()
		f.tenants[id] = tnt
		f.customers = append(f.customers, domain)
		f.mu.Unlock()
		writeJSON(w, 200, tnt)
	})
}

// callBack reads a resource from the controller the way a facade does:
// with the instance certificate as client certificate.
func (f *fakeFacade) callBack(inst *fakeInst, id, txID string) (map[string]any, int) {
	cl := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{
		Certificates:       []tls.Certificate{inst.self},
		InsecureSkipVerify: true, //nolint:gosec // test
	}}}
	defer cl.CloseIdleConnections()
	req, _ := http.NewRequest(http.MethodGet, strings.TrimSuffix(inst.controllerURI, "/")+"/aps/2/resources/"+id, nil)
	req.Header.Set(HeaderTransactionID, txID)
	resp, err := cl.Do(req)
	if err != nil {
		f.t.Errorf("call back into the controller: %v", err)
		return nil, 0
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return m, resp.StatusCode
}

// fakeSim serves the simulator admin calls the demo uses.
type fakeSim struct {
	srv    *httptest.Server
	facade *fakeFacade
}

func newFakeSim(t *testing.T, f *fakeFacade) *fakeSim {
	s := &fakeSim{facade: f}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /_sim/partners", func(w http.ResponseWriter, r *http.Request) {
		var req PartnerRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Cloud != "global" || !req.Sandbox {
			http.Error(w, "bad partner request", 400)
			return
		}
		writeJSON(w, 201, map[string]any{"tenant_id": "11111111-2222-3333-4444-555555555555",
			"client_id": "cid", "client_secret": "s3cret-value", "refresh_token": "rt"})
	})
	mux.HandleFunc("POST /_sim/dns", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, map[string]any{}) })
	mux.HandleFunc("GET /_sim/state", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		var cs []any
		for i, d := range f.customers {
			cs = append(cs, map[string]any{"id": fmt.Sprint(i), "domain": d})
		}
		f.mu.Unlock()
		if cs == nil {
			cs = []any{}
		}
		writeJSON(w, 200, map[string]any{"partners": []any{
			map[string]any{"tenant_id": "someone-else", "customers": []any{}},
			map[string]any{"tenant_id": "11111111-2222-3333-4444-555555555555", "customers": cs},
		}})
	})
	s.srv = httptest.NewTLSServer(mux)
	t.Cleanup(s.srv.Close)
	return s
}

func (s *fakeSim) caPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.srv.Certificate().Raw})
}
