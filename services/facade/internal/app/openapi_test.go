package app

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"os"
	"strings"
	"testing"

	"github.com/o365gateway/gateway/gen/openapi"
)

type swaggerDoc struct {
	Swagger string `json:"swagger"`
	Info    struct {
		Title, Version string
	} `json:"info"`
	BasePath    string `json:"basePath"`
	Definitions map[string]struct {
		Properties map[string]any `json:"properties"`
	} `json:"definitions"`
	Paths map[string]map[string]struct {
		Responses map[string]struct {
			Schema  map[string]any `json:"schema"`
			Headers map[string]any `json:"headers"`
		} `json:"responses"`
	} `json:"paths"`
}

// The description names the API and its version (the APS package's), the
// base path, the APS error body as every operation's default answer, and the
// 202 answers of the asynchronous operations with their APS headers.
func TestOpenAPIDescription(t *testing.T) {
	var doc swaggerDoc
	if err := json.Unmarshal(openapi.Gateway, &doc); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile("../../../../deploy/aps/APP-META.xml")
	if err != nil {
		t.Fatal(err)
	}
	var meta struct {
		Version string `xml:"version"`
	}
	if err := xml.Unmarshal(raw, &meta); err != nil {
		t.Fatal(err)
	}
	if doc.Swagger != "2.0" || doc.Info.Title == "" || strings.Contains(doc.Info.Title, ".proto") || doc.Info.Version != meta.Version {
		t.Errorf("swagger %q, title %q, version %q (the package is %s)", doc.Swagger, doc.Info.Title, doc.Info.Version, meta.Version)
	}
	if doc.BasePath != "/aps" {
		t.Errorf("basePath %q, want /aps (FACADE_BASE_PATH's default)", doc.BasePath)
	}
	const errorRef = "#/definitions/v1Error"
	for _, p := range []string{"code", "type", "error", "message"} {
		if _, ok := doc.Definitions["v1Error"].Properties[p]; !ok {
			t.Errorf("the error definition lacks %s", p)
		}
	}
	async := map[string]bool{}
	for _, svc := range []string{"/tenants", "/subscriptions", "/users"} {
		async["post "+svc] = true
		async["put "+svc+"/{id}"] = true
		async["delete "+svc+"/{id}"] = true
	}
	accepted := 0
	for path, ops := range doc.Paths {
		for method, op := range ops {
			name := method + " " + path
			if ref := op.Responses["default"].Schema["$ref"]; ref != errorRef {
				t.Errorf("%s: the default answer is %v, want %s", name, ref, errorRef)
			}
			a, ok := op.Responses["202"]
			if !ok {
				if async[name] {
					t.Errorf("%s: no 202 answer", name)
				}
				continue
			}
			accepted++
			for _, h := range []string{"APS-Info", "APS-Retry-Timeout"} {
				found := false
				for k := range a.Headers {
					found = found || strings.EqualFold(k, h)
				}
				if !found {
					t.Errorf("%s: the 202 answer lacks the %s header", name, h)
				}
			}
			if a.Schema["$ref"] == nil {
				t.Errorf("%s: the 202 answer has no body schema", name)
			}
		}
	}
	if accepted < len(async) {
		t.Errorf("%d operations answer 202, want at least %d", accepted, len(async))
	}
}

// The facade serves the description with its own base path.
func TestOpenAPIDescriptionBasePath(t *testing.T) {
	for base, want := range map[string]string{"/aps": "/aps", "/gateway/aps": "/gateway/aps", "": "/"} {
		b, err := openAPIDescription(base)
		if err != nil {
			t.Fatal(err)
		}
		var doc swaggerDoc
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Fatal(err)
		}
		if doc.BasePath != want || len(doc.Paths) == 0 || doc.Info.Title == "" {
			t.Errorf("base path %q: basePath %q, %d paths", base, doc.BasePath, len(doc.Paths))
		}
		if base == "/aps" && !bytes.Equal(b, openapi.Gateway) {
			t.Error("the default base path changed the description")
		}
	}
}
