// Package rowcache spares a store decoding the JSON columns of a row it
// reads again unchanged. A row's JSON text is compared with the text last
// decoded for the same key; when it is the same, a deep copy of the value
// decoded then is returned instead of decoding again. The comparison is of
// the text itself, not of a version column, so that no write path, replica
// or tool that changes a row without bumping its version can make a reader
// see stale data. Every caller gets its own copy: a caller that changes
// what it read (to write it back) changes nothing in the cache.
package rowcache

import (
	"fmt"
	"reflect"
	"slices"
	"sync"
	"time"
)

// Cache holds the decoded JSON of up to Max rows (default 1024), by key.
// The zero Cache is ready to use.
type Cache[T any] struct {
	// Max bounds the rows kept; past it an arbitrary row is forgotten.
	Max int
	// MaxRowBytes: a row whose JSON is longer (all columns together) is
	// decoded at every read and not kept (default 8 KiB), so that the
	// cache stays within Max × MaxRowBytes of text and its values.
	MaxRowBytes int

	mu   sync.Mutex
	rows map[string]entry[T]
	// unfit says why T cannot be deep-copied (checked once).
	check sync.Once
	unfit error
}

type entry[T any] struct {
	raw []string
	v   T
}

// Defaults of a Cache's bounds.
const (
	DefaultMax         = 1024
	DefaultMaxRowBytes = 8 << 10
)

// Decode returns what decode makes of raw (the row's JSON columns), read
// under key: a copy of the value cached for key when raw is the text it was
// decoded from, otherwise decode's value, then cached. An error of decode
// is returned as is and caches nothing.
//
// T must be copyable by Clone (no unexported field that holds references,
// but for time.Time's; no channel or function): a T that is not is
// refused with an error at every call, so that the first test reading
// such a row fails.
func (c *Cache[T]) Decode(key string, raw []string, decode func() (T, error)) (T, error) {
	c.check.Do(func() { c.unfit = Cloneable(reflect.TypeFor[T]()) })
	if c.unfit != nil {
		var zero T
		return zero, c.unfit
	}
	size := 0
	for _, r := range raw {
		size += len(r)
	}
	limit := c.MaxRowBytes
	if limit <= 0 {
		limit = DefaultMaxRowBytes
	}
	if size > limit {
		return decode()
	}
	c.mu.Lock()
	e, ok := c.rows[key]
	c.mu.Unlock()
	if ok && slices.Equal(e.raw, raw) {
		return Clone(e.v), nil
	}
	v, err := decode()
	if err != nil {
		return v, err
	}
	kept := entry[T]{raw: slices.Clone(raw), v: Clone(v)}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.rows == nil {
		c.rows = map[string]entry[T]{}
	}
	most := c.Max
	if most <= 0 {
		most = DefaultMax
	}
	if _, present := c.rows[key]; !present && len(c.rows) >= most {
		for k := range c.rows { // Go's map order: an arbitrary row
			delete(c.rows, k)
			break
		}
	}
	c.rows[key] = kept
	return v, nil
}

// Len is the number of rows cached.
func (c *Cache[T]) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.rows)
}

// Clone returns a deep copy of v: pointers, slices, maps and interfaces
// reachable through exported fields are copied, so that no change to the
// copy reaches v. Unexported fields are copied as they are (like the
// location of a time.Time, which is immutable); map keys are shared (they
// are values).
func Clone[T any](v T) T {
	src := reflect.ValueOf(&v).Elem()
	dst := reflect.New(src.Type()).Elem()
	deep(dst, src)
	return dst.Interface().(T)
}

// Cloneable tells why Clone could not copy values of type t without
// sharing memory with them: nil when it can.
func Cloneable(t reflect.Type) error {
	return cloneable(t, t.String(), map[reflect.Type]bool{})
}

var timeType = reflect.TypeFor[time.Time]()

func cloneable(t reflect.Type, path string, seen map[reflect.Type]bool) error {
	if seen[t] {
		return nil
	}
	seen[t] = true
	switch t.Kind() {
	case reflect.Chan, reflect.Func, reflect.UnsafePointer:
		return fmt.Errorf("rowcache: %s (%s) cannot be copied", path, t.Kind())
	case reflect.Pointer, reflect.Slice, reflect.Array:
		return cloneable(t.Elem(), path+"[]", seen)
	case reflect.Map:
		if err := cloneable(t.Key(), path+"{key}", seen); err != nil {
			return err
		}
		return cloneable(t.Elem(), path+"{}", seen)
	case reflect.Struct:
		if t == timeType {
			return nil // its location is shared, and immutable
		}
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				if holdsReferences(f.Type.Kind()) || f.Type.Kind() == reflect.Chan || f.Type.Kind() == reflect.Func {
					return fmt.Errorf("rowcache: %s.%s is unexported and would be shared by copies", path, f.Name)
				}
				continue
			}
			if err := cloneable(f.Type, path+"."+f.Name, seen); err != nil {
				return err
			}
		}
	}
	return nil
}

// deep copies src into dst, a settable value of the same type.
func deep(dst, src reflect.Value) {
	switch src.Kind() {
	case reflect.Pointer:
		if src.IsNil() {
			return
		}
		p := reflect.New(src.Type().Elem())
		deep(p.Elem(), src.Elem())
		dst.Set(p)
	case reflect.Struct:
		dst.Set(src)
		for i := range src.NumField() {
			if f := dst.Field(i); f.CanSet() && holdsReferences(f.Kind()) {
				deep(f, src.Field(i))
			}
		}
	case reflect.Slice:
		if src.IsNil() {
			return
		}
		s := reflect.MakeSlice(src.Type(), src.Len(), src.Len())
		for i := range src.Len() {
			deep(s.Index(i), src.Index(i))
		}
		dst.Set(s)
	case reflect.Array:
		for i := range src.Len() {
			deep(dst.Index(i), src.Index(i))
		}
	case reflect.Map:
		if src.IsNil() {
			return
		}
		m := reflect.MakeMapWithSize(src.Type(), src.Len())
		for it := src.MapRange(); it.Next(); {
			v := reflect.New(src.Type().Elem()).Elem()
			deep(v, it.Value())
			m.SetMapIndex(it.Key(), v)
		}
		dst.Set(m)
	case reflect.Interface:
		if src.IsNil() {
			return
		}
		v := reflect.New(src.Elem().Type()).Elem()
		deep(v, src.Elem())
		dst.Set(v)
	default:
		dst.Set(src)
	}
}

// holdsReferences tells whether a value of kind k may reach shared memory
// (a struct's plain fields are copied with the struct).
func holdsReferences(k reflect.Kind) bool {
	switch k {
	case reflect.Pointer, reflect.Struct, reflect.Slice, reflect.Array, reflect.Map, reflect.Interface:
		return true
	}
	return false
}
