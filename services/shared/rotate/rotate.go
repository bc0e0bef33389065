// Package rotate is a file that never grows past a size cap: when a write
// would take it past the cap, the file is renamed aside (path.1, the older
// one dropped) and a new one started. The development stack writes its
// logs and trace files through it, so a long `make run` under load keeps a
// bounded footprint.
package rotate

import (
	"fmt"
	"os"
	"sync"
)

// File is an append-only file of at most MaxBytes, plus one rotated copy.
type File struct {
	Path     string
	MaxBytes int64

	mu   sync.Mutex
	f    *os.File
	size int64
}

// Open opens (appending) or creates path with the cap maxBytes (at least
// 1 MiB).
func Open(path string, maxBytes int64) (*File, error) {
	if maxBytes < 1<<20 {
		maxBytes = 1 << 20
	}
	r := &File{Path: path, MaxBytes: maxBytes}
	if err := r.open(); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *File) open() error {
	f, err := os.OpenFile(r.Path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return err
	}
	r.f, r.size = f, st.Size()
	return nil
}

// Write appends p, rotating first when p would take the file past the cap.
func (r *File) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.f == nil {
		return 0, os.ErrClosed
	}
	if r.size > 0 && r.size+int64(len(p)) > r.MaxBytes {
		if err := r.rotate(); err != nil {
			return 0, err
		}
	}
	n, err := r.f.Write(p)
	r.size += int64(n)
	return n, err
}

// rotate moves the file aside as path.1 and starts a new one.
func (r *File) rotate() error {
	if err := r.f.Close(); err != nil {
		return err
	}
	r.f = nil
	if err := os.Rename(r.Path, r.Path+".1"); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("rotate %s: %w", r.Path, err)
	}
	return r.open()
}

// Close closes the file.
func (r *File) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.f == nil {
		return nil
	}
	err := r.f.Close()
	r.f = nil
	return err
}
