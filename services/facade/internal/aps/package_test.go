package aps_test

import (
	"encoding/json"
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/o365gateway/gateway/gen/openapi"
)

// TestPackageAgreesWithRoutes checks the APS package description in
// deploy/aps against the REST routes generated from the protos: every
// service has its CRUD routes, every custom operation and collection
// relation has its route, every declared property is in the resource
// message, and no route serves a service the package does not declare.
func TestPackageAgreesWithRoutes(t *testing.T) {
	root := "../../../../"
	var meta struct {
		Services []struct {
			ID     string `xml:"id,attr"`
			Schema struct {
				Path string `xml:"path,attr"`
			} `xml:"schema"`
		} `xml:"service"`
	}
	raw, err := os.ReadFile(filepath.Join(root, "deploy/aps/APP-META.xml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := xml.Unmarshal(raw, &meta); err != nil {
		t.Fatal(err)
	}
	var swagger struct {
		Paths       map[string]map[string]any `json:"paths"`
		Definitions map[string]struct {
			Properties map[string]any `json:"properties"`
		} `json:"definitions"`
	}
	if err := json.Unmarshal(openapi.Gateway, &swagger); err != nil {
		t.Fatal(err)
	}
	rules, err := os.ReadFile(filepath.Join(root, "proto/gateway/http.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	has := func(path, verb string) bool {
		_, ok := swagger.Paths[path][strings.ToLower(verb)]
		return ok
	}
	message := map[string]string{"app": "v1Instance", "tenants": "v1Tenant", "subscriptions": "v1Subscription", "users": "v1User", "domains": "v1Domain"}
	declared := map[string]bool{}
	operations := map[string]bool{} // "GET /tenants/{id}/drift"
	for _, svc := range meta.Services {
		declared[svc.ID] = true
		var schema struct {
			ID         string                    `json:"id"`
			Properties map[string]any            `json:"properties"`
			Relations  map[string]map[string]any `json:"relations"`
			Operations map[string]struct {
				Verb string `json:"verb"`
				Path string `json:"path"`
			} `json:"operations"`
		}
		b, err := os.ReadFile(filepath.Join(root, "deploy/aps", svc.Schema.Path))
		if err != nil {
			t.Fatalf("service %s: %v", svc.ID, err)
		}
		if err := json.Unmarshal(b, &schema); err != nil {
			t.Fatalf("service %s schema: %v", svc.ID, err)
		}
		for _, r := range []struct{ path, verb string }{{"/" + svc.ID, "POST"}, {"/" + svc.ID + "/{id}", "GET"},
			{"/" + svc.ID + "/{id}", "PUT"}, {"/" + svc.ID + "/{id}", "DELETE"}} {
			if !has(r.path, r.verb) {
				t.Errorf("service %s: no route %s %s", svc.ID, r.verb, r.path)
			}
		}
		for name, op := range schema.Operations {
			operations[strings.ToUpper(op.Verb)+" /"+svc.ID+"/{id}"+op.Path] = true
			if !has("/"+svc.ID+"/{id}"+op.Path, op.Verb) {
				t.Errorf("service %s: operation %s has no route %s /%s/{id}%s", svc.ID, name, op.Verb, svc.ID, op.Path)
			}
		}
		for name, rel := range schema.Relations {
			if rel["collection"] == true && !strings.Contains(string(rules), "/"+svc.ID+"/{id}/{relation="+name+"}") {
				t.Errorf("service %s: no link notification route for relation %s", svc.ID, name)
			}
		}
		def, ok := swagger.Definitions[message[svc.ID]]
		if !ok {
			t.Fatalf("service %s: no message definition", svc.ID)
		}
		for prop := range schema.Properties {
			if _, ok := def.Properties[prop]; !ok {
				t.Errorf("service %s: property %s is not in %s", svc.ID, prop, message[svc.ID])
			}
		}
	}
	// Every custom operation served is declared: APSC forwards only the
	// operations a schema declares.
	for path, verbs := range swagger.Paths {
		parts := strings.Split(strings.TrimPrefix(path, "/"), "/")
		if len(parts) != 3 || parts[1] != "{id}" || strings.HasPrefix(parts[2], "{") {
			continue
		}
		for verb := range verbs {
			if !operations[strings.ToUpper(verb)+" "+path] {
				t.Errorf("route %s %s is not a declared operation of the %s schema", strings.ToUpper(verb), path, parts[0])
			}
		}
	}
	for path := range swagger.Paths {
		svc := strings.Split(strings.TrimPrefix(path, "/"), "/")[0]
		if !declared[svc] {
			t.Errorf("route %s serves service %q, which APP-META.xml does not declare", path, svc)
		}
	}
}
