// Package secret keeps secrets out of logs and encrypts them at rest.
//
// String wraps a secret value so that printing, logging (slog) or JSON-encoding
// it shows "[REDACTED]"; only Reveal returns the value.
//
// Sealer encrypts values with AES-256-GCM before they are stored. It holds a
// keyring: one key given alone (its id is DefaultKeyID), or the key files of
// a directory that an external secret store fills (ReadKeyDir), one of which
// is active. The active key seals; every key opens what it sealed. A sealed
// value names its key and is bound to its Place, the row and column that
// store it (the associated data), so that a copy in another row or column
// does not open:
//
//	v2.<key id>.<base64url of nonce, ciphertext and tag>
//
// Values of the first format ("v1:<base64>": no key id, no place) still open,
// under whichever configured key authenticates them. They, and values under
// another key than the active one, are stale: each service's Rekeyer seals
// them again under the active key, which is how a key is rotated without
// downtime.
package secret

import "log/slog"

const redacted = "[REDACTED]"

// String is a secret value that never prints itself.
type String struct{ v string }

// New wraps a secret.
func New(v string) String { return String{v: v} }

// Reveal returns the secret value.
func (s String) Reveal() string { return s.v }

// Empty tells whether no secret is held.
func (s String) Empty() bool { return s.v == "" }

// String implements fmt.Stringer with a redacted value.
func (s String) String() string { return redacted }

// GoString implements fmt.GoStringer with a redacted value.
func (s String) GoString() string { return redacted }

// LogValue implements slog.LogValuer with a redacted value.
func (s String) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalJSON encodes a redacted value.
func (s String) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }
