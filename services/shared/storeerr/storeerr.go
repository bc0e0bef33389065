// Package storeerr holds the sentinel errors every service's storage
// contract uses, so that the shared SQL plumbing can return them directly.
package storeerr

import "errors"

// Sentinels.
var (
	ErrNotFound      = errors.New("storage: not found")
	ErrAlreadyExists = errors.New("storage: already exists")
	// ErrConflict: the row changed since it was read (optimistic concurrency).
	ErrConflict = errors.New("storage: concurrent update")
)
