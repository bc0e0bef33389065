package audit

import "strings"

// maxID is the longest value an entry keeps of a caller-supplied id (an
// account hierarchy is a list of them).
const maxID = 512

// NotAnID replaces a caller-supplied value that is not an id. It holds
// no space (lists of ids are stored space-separated) and cannot be an id.
const NotAnID = "(not-an-id)"

// SafeID returns s when it looks like an id (a UUID, a SPIFFE ID, a job
// kind, a list of account ids: letters, digits and - _ . : / , = only, at
// most 512 bytes), NotAnID otherwise. A caller could put anything in a
// header or an id field (a name, an e-mail address); an entry carries ids
// only, so every caller-supplied value goes through SafeID.
func SafeID(s string) string {
	if s == "" {
		return ""
	}
	if len(s) > maxID {
		return NotAnID
	}
	for _, c := range s {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.ContainsRune("-_.:/,=", c):
		default:
			return NotAnID
		}
	}
	return s
}
