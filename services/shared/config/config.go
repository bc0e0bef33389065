// Package config loads a service's typed configuration from the environment.
//
// A service declares one struct whose fields carry `env` (the variable name
// without the service prefix), `default` and `help` tags; Load fills it from
// PREFIX_NAME variables, falling back to the defaults, and Describe lists every
// key for documentation (the README's configuration table is generated from it).
// Supported field types: string, bool, int, float64, time.Duration and
// []string (comma separated). Validation is the struct's own Validate method.
package config

import (
	"fmt"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// Validator is implemented by configuration structs.
type Validator interface {
	Validate() error
}

// Key documents one configuration variable.
type Key struct {
	Env     string
	Default string
	Help    string
}

// Load fills dst (a pointer to a struct) from the environment and validates it.
func Load(prefix string, dst any) error {
	return LoadFrom(prefix, dst, os.LookupEnv)
}

// LoadFrom is Load with an explicit lookup function (for tests).
func LoadFrom(prefix string, dst any, lookup func(string) (string, bool)) error {
	v := reflect.ValueOf(dst)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return fmt.Errorf("config: dst must be a pointer to a struct")
	}
	if err := fill(prefix, v.Elem(), lookup); err != nil {
		return err
	}
	if val, ok := dst.(Validator); ok {
		if err := val.Validate(); err != nil {
			return fmt.Errorf("config: %w", err)
		}
	}
	return nil
}

func fill(prefix string, v reflect.Value, lookup func(string) (string, bool)) error {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		fv := v.Field(i)
		if f.Type.Kind() == reflect.Struct && f.Type != reflect.TypeOf(time.Duration(0)) {
			if err := fill(prefix, fv, lookup); err != nil {
				return err
			}
			continue
		}
		name, ok := f.Tag.Lookup("env")
		if !ok {
			continue
		}
		full := prefix + "_" + name
		raw, set := lookup(full)
		if !set || raw == "" {
			raw = f.Tag.Get("default")
		}
		if err := setValue(fv, raw); err != nil {
			return fmt.Errorf("config: %s: %w", full, err)
		}
	}
	return nil
}

func setValue(fv reflect.Value, raw string) error {
	switch fv.Interface().(type) {
	case time.Duration:
		if raw == "" {
			fv.SetInt(0)
			return nil
		}
		d, err := time.ParseDuration(raw)
		if err != nil {
			return fmt.Errorf("not a duration (e.g. 30s, 5m): %q", raw)
		}
		fv.SetInt(int64(d))
	case string:
		fv.SetString(raw)
	case bool:
		if raw == "" {
			fv.SetBool(false)
			return nil
		}
		b, err := strconv.ParseBool(raw)
		if err != nil {
			return fmt.Errorf("not a boolean: %q", raw)
		}
		fv.SetBool(b)
	case int:
		if raw == "" {
			fv.SetInt(0)
			return nil
		}
		n, err := strconv.Atoi(raw)
		if err != nil {
			return fmt.Errorf("not an integer: %q", raw)
		}
		fv.SetInt(int64(n))
	case float64:
		if raw == "" {
			fv.SetFloat(0)
			return nil
		}
		f, err := strconv.ParseFloat(raw, 64)
		if err != nil {
			return fmt.Errorf("not a number: %q", raw)
		}
		fv.SetFloat(f)
	case []string:
		var out []string
		for _, p := range strings.Split(raw, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
		fv.Set(reflect.ValueOf(out))
	default:
		return fmt.Errorf("unsupported field type %s", fv.Type())
	}
	return nil
}

// Describe lists the keys of a configuration struct with their defaults.
func Describe(prefix string, cfg any) []Key {
	var keys []Key
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if f.Type.Kind() == reflect.Struct && f.Type != reflect.TypeOf(time.Duration(0)) {
				walk(f.Type)
				continue
			}
			if name, ok := f.Tag.Lookup("env"); ok {
				keys = append(keys, Key{Env: prefix + "_" + name, Default: f.Tag.Get("default"), Help: f.Tag.Get("help")})
			}
		}
	}
	walk(reflect.TypeOf(cfg))
	return keys
}

// Markdown renders keys as a Markdown table.
func Markdown(keys []Key) string {
	var b strings.Builder
	b.WriteString("| variable | default | meaning |\n|---|---|---|\n")
	for _, k := range keys {
		def := k.Default
		if def != "" {
			def = "`" + def + "`"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s |\n", k.Env, def, k.Help)
	}
	return b.String()
}

// Undocumented returns the keys of cfg that have no row in a Markdown
// document (tests keep the README's configuration tables true with it).
func Undocumented(doc, prefix string, cfg any) []Key {
	var missing []Key
	for _, k := range Describe(prefix, cfg) {
		if !strings.Contains(doc, "| `"+k.Env+"` |") {
			missing = append(missing, k)
		}
	}
	return missing
}
