package mscloud

import (
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
)

// Request bodies of Partner Center and Graph: read whole, bounded and
// decompressed before any part's lock is taken.

// bodyError is a request body the simulator does not read: too large (413),
// in a content coding it does not know (415), or not decodable (400).
type bodyError struct {
	status int
	msg    string
}

func (e *bodyError) Error() string { return e.msg }

// bodyProblem returns the status and message of a body error.
func bodyProblem(err error) (int, string) {
	var be *bodyError
	if errors.As(err, &be) {
		return be.status, be.msg
	}
	return http.StatusBadRequest, "The request body could not be read."
}

var errBodyTooLarge = &bodyError{http.StatusRequestEntityTooLarge, "The request body is too large."}

// readBody reads r's body, at most maxRequestBodyBytes of it as sent and,
// when it is compressed (Content-Encoding gzip or deflate, as Microsoft's
// SDKs send it: msgraph-sdk-go gzips every request body), at most
// maxRequestBodyBytes decompressed, so a small compressed body cannot
// expand without bound. Codings (at most two) are undone in reverse order
// of the header; identity is ignored; any other coding is a 415, on which
// the SDKs resend the body uncompressed.
func readBody(r *http.Request) ([]byte, error) {
	if r.Body == nil {
		return nil, nil
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, maxRequestBodyBytes+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxRequestBodyBytes {
		return nil, errBodyTooLarge
	}
	var codings []string
	for _, v := range r.Header.Values("Content-Encoding") {
		for _, c := range strings.Split(v, ",") {
			if c = strings.ToLower(strings.TrimSpace(c)); c != "" && c != "identity" {
				codings = append(codings, c)
			}
		}
	}
	if len(codings) > 2 {
		// Each coding may expand the body to the limit again: a long
		// list would cost as much work as it lists codings.
		return nil, &bodyError{http.StatusUnsupportedMediaType, "More than two content encodings are not supported."}
	}
	for i := len(codings) - 1; i >= 0; i-- {
		var zr io.ReadCloser
		switch codings[i] {
		case "gzip", "x-gzip":
			zr, err = gzip.NewReader(bytes.NewReader(b))
		case "deflate":
			zr, err = zlib.NewReader(bytes.NewReader(b))
		default:
			return nil, &bodyError{http.StatusUnsupportedMediaType, "The content encoding " + codings[i] + " is not supported."}
		}
		if err != nil {
			return nil, &bodyError{http.StatusBadRequest, "The request body is not valid " + codings[i] + " data."}
		}
		b, err = io.ReadAll(io.LimitReader(zr, maxRequestBodyBytes+1))
		zr.Close()
		switch {
		case len(b) > maxRequestBodyBytes:
			return nil, errBodyTooLarge
		case err != nil:
			return nil, &bodyError{http.StatusBadRequest, "The request body is not valid " + codings[i] + " data."}
		}
	}
	return b, nil
}

// bufferBody reads r's body into memory (so that it survives the client
// going away, for delay_commit), decompressed, and puts it back as r.Body
// without its Content-Encoding.
func bufferBody(r *http.Request) error {
	b, err := readBody(r)
	if err != nil {
		return err
	}
	r.Body = io.NopCloser(bytes.NewReader(b))
	r.Header.Del("Content-Encoding")
	r.ContentLength = int64(len(b))
	return nil
}

// decodeJSON reads a JSON body into v. Field names match case-insensitively,
// so PascalCase and camelCase bodies both work.
func decodeJSON(r *http.Request, v any) error {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return errors.New("the request body is empty")
	}
	return json.Unmarshal(b, v)
}
