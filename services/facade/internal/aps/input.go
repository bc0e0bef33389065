package aps

import (
	"bytes"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"unicode/utf8"

	"github.com/o365gateway/gateway/services/shared/apsmd"
)

// Hostile input: what a request may carry before it reaches grpc-gateway.
// Every string of a request ends up in a protobuf string field or in gRPC
// metadata, and gRPC refuses to send invalid UTF-8 (a 500 with the marshalling
// error) and silently drops metadata that is not printable ASCII. The APS
// layer refuses such requests itself with a 4xx that says what is wrong.

// apsHeaders are the display names of the forwarded APS headers (apsmd.Forwarded).
var apsHeaders = map[string]string{
	apsmd.InstanceID: "APS-Instance-ID", apsmd.ControllerURI: "APS-Controller-URI",
	apsmd.RequestPhase: "APS-Request-Phase", apsmd.TransactionID: "APS-Transaction-ID",
	apsmd.IdentityID: "APS-Identity-ID", apsmd.ActorID: "APS-Actor-ID",
	apsmd.AccountHierarchy: "APS-Account-Hierarchy",
}

// dropInternalHeaders removes the headers grpc-gateway would act on besides
// the APS ones: Grpc-Timeout sets the deadline of the service call (a caller
// could make every call time out) and Authorization is passed on to the
// services as metadata. Neither is part of the APS protocol.
func dropInternalHeaders(r *http.Request) {
	r.Header.Del("Grpc-Timeout")
	r.Header.Del("Authorization")
}

// checkRequestLine refuses a path or query that is not UTF-8 and APS
// headers that gRPC metadata cannot carry.
func checkRequestLine(r *http.Request) *refusal {
	if !utf8.ValidString(r.URL.Path) {
		return invalid("The request path is not valid UTF-8.")
	}
	// A malformed query is left to grpc-gateway, which refuses it on the
	// routes that read one; what it would read must be UTF-8.
	query, _ := url.ParseQuery(r.URL.RawQuery)
	if name, bad := invalidValues(query); bad {
		return invalid("The query parameter %s is not valid UTF-8.", name)
	}
	for _, key := range apsmd.Forwarded {
		name, ok := apsHeaders[key]
		if !ok {
			name = http.CanonicalHeaderKey(key)
		}
		for _, v := range r.Header.Values(key) {
			if !printableASCII(v) {
				return invalid("The %s header must be printable ASCII text.", name)
			}
		}
	}
	return nil
}

// readBody reads the whole body (at most limit bytes, else a 413), checks
// that it is UTF-8 text (also what a form body encodes), and puts it back
// for grpc-gateway.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, *refusal) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return nil, tooLarge(limit)
	case err != nil:
		return nil, invalid("The request body could not be read.")
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	if !utf8.Valid(body) {
		return nil, invalid("The request body is not valid UTF-8.")
	}
	if isForm(r) {
		form, _ := url.ParseQuery(string(body))
		if name, bad := invalidValues(form); bad {
			return nil, invalid("The form field %s is not valid UTF-8.", name)
		}
	}
	return body, nil
}

// isForm tells whether net/http's ParseForm would read r's body.
func isForm(r *http.Request) bool {
	switch r.Method {
	case http.MethodPost, http.MethodPut, http.MethodPatch:
	default:
		return false
	}
	ct, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return err == nil && ct == "application/x-www-form-urlencoded"
}

// invalidValues finds a name or value that is not UTF-8; it returns the
// name, quoted so that it prints.
func invalidValues(v url.Values) (string, bool) {
	for name, values := range v {
		if !utf8.ValidString(name) {
			return strconv.Quote(name), true
		}
		for _, s := range values {
			if !utf8.ValidString(s) {
				return strconv.Quote(name), true
			}
		}
	}
	return "", false
}

// printableASCII is what gRPC metadata can carry (0x20 to 0x7E).
func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}
