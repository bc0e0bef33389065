package app

import (
	"encoding/json"
	"fmt"

	"github.com/o365gateway/gateway/gen/openapi"
)

// openAPIDescription is the OpenAPI description the facade serves at
// /openapi.json: the generated one (gen/openapi), whose basePath is the
// default /aps, with the configured base path ("" for the root) instead.
func openAPIDescription(basePath string) ([]byte, error) {
	if basePath == "" {
		basePath = "/"
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(openapi.Gateway, &doc); err != nil {
		return nil, fmt.Errorf("openapi description: %w", err)
	}
	var current string
	if err := json.Unmarshal(doc["basePath"], &current); err == nil && current == basePath {
		return openapi.Gateway, nil
	}
	doc["basePath"], _ = json.Marshal(basePath)
	return json.MarshalIndent(doc, "", "  ")
}
