package mscloud

import (
	"bytes"
	"encoding/json"
	"net/http"

	"github.com/google/uuid"
)

// Graph answers and request bodies: error and JSON answers in Graph's
// shape, OData context URLs, JSON object bodies.

// gerr is a Graph error answer for the call.
func (s *graphService) gerr(c *apiCall, status int, code, msg string) *response {
	return graphError(status, code, msg, c.requestID, c.clientRequestID, s.clock.Now())
}

func (s *graphService) badRequest(c *apiCall, msg string) *response {
	return s.gerr(c, http.StatusBadRequest, "Request_BadRequest", msg)
}

func (s *graphService) notFound(c *apiCall, id string) *response {
	return s.gerr(c, http.StatusNotFound, "Request_ResourceNotFound",
		"Resource '"+id+"' does not exist or one of its queried reference-property objects are not present.")
}

// graphJSON is a 2xx Graph answer with a JSON body.
func graphJSON(status int, v any) *response {
	r := jsonResponse(status, v)
	r.header.Set("Content-Type", "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8")
	r.header.Set("OData-Version", "4.0")
	return r
}

// odataContext is the @odata.context of the answer, e.g.
// https://host/v1.0/$metadata#users/$entity.
func odataContext(r *http.Request, fragment string) string {
	return baseURL(r) + "/v1.0/$metadata#" + fragment
}

// errBadJSON is Graph's answer to a body that is not a JSON object.
const msgBadJSON = "Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format."

// decodeObject reads a JSON object body; keys keep their case.
func decodeObject(r *http.Request) (map[string]json.RawMessage, bool) {
	var m map[string]json.RawMessage
	if err := decodeJSON(r, &m); err != nil || m == nil {
		return nil, false
	}
	return m, true
}

func isJSONNull(raw json.RawMessage) bool { return bytes.Equal(bytes.TrimSpace(raw), []byte("null")) }

// jsonString decodes a JSON string into out.
func jsonString(raw json.RawMessage, out *string) bool {
	return json.Unmarshal(raw, out) == nil && !isJSONNull(raw)
}

// uuidFromName is a stable GUID derived from name.
func uuidFromName(name string) string {
	return uuid.NewSHA1(uuid.NameSpaceURL, []byte("mscloud-sim:"+name)).String()
}
