package config

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
)

// EnvPrefix starts the name of every environment variable ringfence reads.
const EnvPrefix = "RINGFENCE_"

// EnvConfigPath names the environment variable that holds the path of the
// YAML file; the caller reads it and passes the path to Load.
const EnvConfigPath = "RINGFENCE_CONFIG"

// EnvNames returns, sorted, every environment variable ringfence reads:
// EnvConfigPath and one per setting, named RINGFENCE_ followed by the
// setting's YAML path in upper case with "." replaced by "_"
// (http.addr is RINGFENCE_HTTP_ADDR).
func EnvNames() []string {
	names := []string{EnvConfigPath}
	for _, f := range fields() {
		names = append(names, f.env)
	}
	slices.Sort(names)
	return names
}

// UnknownEnv returns, sorted, the RINGFENCE_* names in environ (as from
// os.Environ) that ringfence does not read; a misspelt override is otherwise
// silently ignored, so callers should warn about them.
func UnknownEnv(environ []string) []string {
	known := EnvNames()
	var unknown []string
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, EnvPrefix) {
			continue
		}
		if _, found := slices.BinarySearch(known, name); !found && !slices.Contains(unknown, name) {
			unknown = append(unknown, name)
		}
	}
	slices.Sort(unknown)
	return unknown
}

// applyEnv overrides the settings of c whose variable getenv returns non-empty.
// Lists are comma-separated; durations use time.ParseDuration syntax.
func applyEnv(c *Config, getenv func(string) string) []error {
	v := reflect.ValueOf(c).Elem()
	var errs []error
	for _, f := range fields() {
		s := getenv(f.env)
		if s == "" {
			continue
		}
		if p := setText(v.FieldByIndex(f.index), s); p != "" {
			errs = append(errs, fmt.Errorf("%s: %s", f.env, problemWithValue(p, f.env, s)))
		}
	}
	return errs
}
