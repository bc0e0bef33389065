package aps_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	tenantv1 "github.com/o365gateway/gateway/gen/go/o365/tenant/v1"
	"github.com/o365gateway/gateway/services/shared/apierr"
	"github.com/o365gateway/gateway/services/shared/apsmd"

	"github.com/o365gateway/gateway/services/facade/internal/aps"
	"github.com/o365gateway/gateway/services/facade/internal/gateway"
)

// FuzzHandler sends arbitrary requests (method, request target, extra
// header lines, body) through the APS layer and the real grpc-gateway
// routes to services that accept everything. Whatever the input: no panic,
// never a 5xx, and every 4xx is an APS error body. flags: bits 0-1 choose
// the client certificate (controller, another, none), bit 2 leaves out the
// default APS headers. In the body, $CONTROLLER and $OTHER stand for the
// PEM (as a JSON string) of the controller's and the other certificate.
func FuzzHandler(f *testing.F) {
	tenant := "/aps/tenants/" + tenantID
	creation := `{"aps":{"id":"6f0c1a52-0000-4000-8000-0000000000bb","x509":{"self":"x","controller":$CONTROLLER}},"cloud":"global"}`
	for _, s := range []struct {
		method, target, headers, body string
		flags                         byte
	}{
		{"GET", tenant, "", "", 0},
		{"GET", "/aps/domains/%c0%ae", "", "", 0},
		{"GET", "/aps/app/" + instanceID + "/domainAvailability?subdomain=contoso", "", "", 0},
		{"POST", "/aps/tenants/", "", `{"aps":{"id":"` + tenantID + `"},"initial_subdomain":"accept","unknown":{"x":[1,null]}}`, 0},
		{"POST", "/aps/tenants", "APS-Request-Phase: async", `{"initial_subdomain":"refuse"}`, 0},
		{"PUT", tenant, "Content-Type: application/json; charset=utf-8", `{"company":{"name":"Contoso \u00e9"}}`, 0},
		{"DELETE", tenant + "/users/" + tenantID, "", "", 0},
		{"POST", tenant + "/synchronize?force=true&x=%zz", "", "", 0},
		{"POST", "/aps/app", "", creation, 0},
		{"POST", "/aps/app/", "APS-Instance-ID: 6f0c1a52-0000-4000-8000-0000000000cc", creation, 0},
		{"POST", "/aps/app", "", strings.Replace(creation, "$CONTROLLER", "$OTHER", 1), 1},
		{"POST", "/aps/app", "", `{"aps":{"x509":{"controller":"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"}}}`, 0},
		{"POST", "/aps/app/" + instanceID + "/upgrade", "Content-Type: application/x-www-form-urlencoded", "version=1.0&x=%ff", 0},
		{"POST", "/aps/subscriptions/conflict/upgrade", "Content-Type: application/json", `{}`, 0},
		{"GET", tenant, "Grpc-Timeout: 1n\nAuthorization: Bearer x", "", 0},
		{"GET", tenant, "APS-Transaction-ID: \xc3\xa9", "", 0},
		{"GET", "/elsewhere", "", "", 2},
		{"PATCH", tenant, "X-HTTP-Method-Override: GET", "", 4},
	} {
		f.Add(s.method, s.target, s.headers, []byte(s.body), s.flags)
	}
	fz := newFuzzHarness(f)
	f.Fuzz(func(t *testing.T, method, target, headers string, body []byte, flags byte) {
		r, ok := fz.request(method, target, headers, body, flags)
		if !ok {
			return // net/http would not hand this request to a handler
		}
		w := httptest.NewRecorder()
		fz.handler.ServeHTTP(w, r)
		checkAnswer(t, w)
	})
}

// checkAnswer: no 5xx; a 4xx is exactly an APS error body naming its
// status, with a reason and a message that is not gRPC's.
func checkAnswer(t *testing.T, w *httptest.ResponseRecorder) {
	t.Helper()
	if w.Code >= 500 {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	if w.Code < 400 {
		return
	}
	if !strings.HasPrefix(w.Header().Get("Content-Type"), "application/json") {
		t.Fatalf("status %d with Content-Type %q", w.Code, w.Header().Get("Content-Type"))
	}
	var e aps.ErrorBody
	dec := json.NewDecoder(w.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil || dec.More() {
		t.Fatalf("status %d: not an APS error body (%v): %s", w.Code, err, w.Body)
	}
	if e.Code != w.Code || e.Type == "" || e.Error != e.Type || e.Message == "" {
		t.Fatalf("status %d: incomplete APS error %+v", w.Code, e)
	}
	if strings.Contains(e.Message, "grpc") || strings.Contains(e.Message, "rpc error") {
		t.Fatalf("status %d: internal message %q", w.Code, e.Message)
	}
}

type fuzzHarness struct {
	handler           http.Handler
	ctrl, other       *x509.Certificate
	ctrlPEM, otherPEM []byte // as JSON strings
}

// newFuzzHarness serves the APS layer over the real gateway routes, with
// every service answered by acceptAll over an in-memory connection.
func newFuzzHarness(tb testing.TB) *fuzzHarness {
	ctrl, ctrlPEM := newCert(tb, "controller")
	other, otherPEM := newCert(tb, "intruder")
	lis := bufconn.Listen(1 << 20)
	gs := grpc.NewServer(grpc.UnknownServiceHandler(acceptAll(ctrlPEM)))
	go func() { _ = gs.Serve(lis) }()
	tb.Cleanup(gs.Stop)
	conn, err := grpc.NewClient("passthrough:///services", grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { conn.Close() })
	rest, err := gateway.New(context.Background(), gateway.Upstreams{Tenant: conn, Subscription: conn, User: conn}, aps.MuxOptions(time.Second)...)
	if err != nil {
		tb.Fatal(err)
	}
	ctrlCert, _ := x509.ParseCertificate(ctrl.Certificate[0])
	otherCert, _ := x509.ParseCertificate(other.Certificate[0])
	roots := x509.NewCertPool()
	roots.AddCert(ctrlCert)
	h := aps.Handler(rest, aps.Options{BasePath: "/aps", ControllerCA: roots, MaxBody: 64 << 10,
		Log:   slog.New(slog.DiscardHandler),
		Certs: &aps.TenantServiceCerts{Client: tenantv1.NewInstanceServiceClient(conn), TTL: time.Minute}})
	return &fuzzHarness{handler: h, ctrl: ctrlCert, other: otherCert, ctrlPEM: []byte(jsonString(ctrlPEM)), otherPEM: []byte(jsonString(otherPEM))}
}

// request builds the request net/http's server would read from the wire.
func (fz *fuzzHarness) request(method, target, headers string, body []byte, flags byte) (*http.Request, bool) {
	body = bytes.ReplaceAll(body, []byte("$CONTROLLER"), fz.ctrlPEM)
	body = bytes.ReplaceAll(body, []byte("$OTHER"), fz.otherPEM)
	var raw bytes.Buffer
	raw.WriteString(method + " " + target + " HTTP/1.1\r\nHost: facade.test\r\n")
	if flags&4 == 0 {
		raw.WriteString("APS-Instance-ID: " + instanceID + "\r\nAPS-Controller-URI: https://apsc.test:6308/\r\n" +
			"APS-Request-Phase: sync\r\nAPS-Transaction-ID: tx-1\r\n")
	}
	for _, line := range strings.Split(headers, "\n") {
		if line = strings.TrimRight(line, "\r"); line != "" {
			raw.WriteString(line + "\r\n")
		}
	}
	raw.WriteString("Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n")
	raw.Write(body)
	r, err := http.ReadRequest(bufio.NewReader(&raw))
	if err != nil || r.Header.Get("Transfer-Encoding") != "" {
		return nil, false
	}
	r.RemoteAddr = "192.0.2.1:40000"
	switch flags & 3 {
	case 0, 3:
		r.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{fz.ctrl}}
	case 1:
		r.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{fz.other}}
	case 2:
		r.TLS = &tls.ConnectionState{}
	}
	return r, true
}

// acceptAll answers every method of every service the way a service that
// accepts everything would: the instance look-up knows instanceID; a
// request mentioning "refuse" or "conflict" is refused with the gateway's
// reasons, one mentioning "accept" in the sync phase runs as a job (202);
// any other gets a response whose first message field is set.
func acceptAll(controllerPEM string) grpc.StreamHandler {
	return func(_ any, stream grpc.ServerStream) error {
		name, _ := grpc.MethodFromServerStream(stream)
		desc, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(strings.ReplaceAll(strings.TrimPrefix(name, "/"), "/", ".")))
		md, ok := desc.(protoreflect.MethodDescriptor)
		if err != nil || !ok {
			return apierr.ToStatus(apierr.New(codes.Unimplemented, apierr.Internal, "no method %s", name))
		}
		in, err := protoregistry.GlobalTypes.FindMessageByName(md.Input().FullName())
		if err != nil {
			return err
		}
		req := in.New().Interface()
		if err := stream.RecvMsg(req); err != nil {
			return err
		}
		out, err := protoregistry.GlobalTypes.FindMessageByName(md.Output().FullName())
		if err != nil {
			return err
		}
		resp := out.New()
		if auth, ok := req.(*tenantv1.GetInstanceAuthRequest); ok {
			if auth.GetInstanceId() != instanceID {
				return apierr.ToStatus(apierr.New(codes.NotFound, apierr.UnknownInstance, "unknown"))
			}
			return stream.SendMsg(&tenantv1.GetInstanceAuthResponse{ControllerCertificatePem: controllerPEM, Cloud: "global"})
		}
		wire, _ := proto.Marshal(req)
		switch {
		case bytes.Contains(wire, []byte("refuse")):
			return apierr.ToStatus(apierr.Invalid("Refused by the fake service."))
		case bytes.Contains(wire, []byte("conflict")):
			return apierr.ToStatus(apierr.New(codes.AlreadyExists, apierr.Conflict, "Conflict in the fake service."))
		case bytes.Contains(wire, []byte("accept")) && !apsmd.FromContext(stream.Context()).Async():
			if err := stream.SetHeader(metadata.Pairs(apsmd.AsyncInfo, "Working")); err != nil {
				return err
			}
		}
		if fields := resp.Descriptor().Fields(); fields.Len() > 0 && fields.Get(0).Message() != nil {
			resp.Set(fields.Get(0), resp.NewField(fields.Get(0)))
		}
		return stream.SendMsg(resp.Interface())
	}
}
