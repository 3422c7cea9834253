package config

import (
	"fmt"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
)

// A field is one leaf setting of Config, found by walking its yaml tags.
type field struct {
	path  string // YAML path, e.g. "verify.code_length"
	env   string // environment name, e.g. "RINGFENCE_VERIFY_CODE_LENGTH"
	index []int  // for reflect.Value.FieldByIndex on a Config
}

var durationType = reflect.TypeFor[time.Duration]()

// fields lists every leaf of Config in declaration order.
func fields() []field {
	return walk(reflect.TypeFor[Config](), "", nil)
}

func walk(t reflect.Type, prefix string, index []int) []field {
	var out []field
	for i := range t.NumField() {
		f := t.Field(i)
		name := yamlName(f)
		if name == "" {
			continue
		}
		path := name
		if prefix != "" {
			path = prefix + "." + name
		}
		idx := append(slices.Clone(index), i)
		if isSection(f.Type) {
			out = append(out, walk(f.Type, path, idx)...)
			continue
		}
		if !supported(f.Type) {
			panic(fmt.Sprintf("config: field %s has unsupported type %s", path, f.Type))
		}
		out = append(out, field{path: path, env: envName(path), index: idx})
	}
	return out
}

// yamlName returns the YAML key of f, or "" when f is not part of the file.
func yamlName(f reflect.StructField) string {
	if !f.IsExported() {
		return ""
	}
	name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	if name == "-" {
		return ""
	}
	return name
}

// isSection reports whether values of t are YAML mappings of further settings.
func isSection(t reflect.Type) bool { return t.Kind() == reflect.Struct }

func supported(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.String, reflect.Int, reflect.Int64, reflect.Bool:
		return true
	case reflect.Pointer:
		return t.Elem().Kind() == reflect.Bool
	case reflect.Slice:
		return t.Elem().Kind() == reflect.String
	}
	return false
}

func envName(path string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(path, ".", "_"))
}

// sensitive reports whether a setting called name holds a secret whose value
// must never appear in an error or a printed Config.
func sensitive(name string) bool {
	n := strings.ToLower(name)
	for _, s := range []string{"token", "secret", "key", "password"} {
		if strings.Contains(n, s) {
			return true
		}
	}
	return false
}

// setText parses s into v, a leaf of Config, the same way for the file and
// the environment. It returns a problem, or "" when s was accepted.
// A list is written as comma-separated items.
func setText(v reflect.Value, s string) (problem string) {
	if v.Type() == durationType {
		d, err := time.ParseDuration(strings.TrimSpace(s))
		if err != nil {
			return "must be a duration such as 30s, 5m or 24h"
		}
		v.SetInt(int64(d))
		return ""
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(s)
	case reflect.Int, reflect.Int64:
		n, err := strconv.ParseInt(strings.TrimSpace(s), 10, v.Type().Bits())
		if err != nil {
			return "must be a whole number"
		}
		v.SetInt(n)
	case reflect.Bool:
		b, err := strconv.ParseBool(strings.TrimSpace(s))
		if err != nil {
			return "must be true or false"
		}
		v.SetBool(b)
	case reflect.Pointer:
		b, err := strconv.ParseBool(strings.TrimSpace(s))
		if err != nil {
			return "must be true or false"
		}
		v.Set(reflect.ValueOf(&b))
	case reflect.Slice:
		var items []string
		for item := range strings.SplitSeq(s, ",") {
			if item = strings.TrimSpace(item); item != "" {
				items = append(items, item)
			}
		}
		v.Set(reflect.ValueOf(items))
	}
	return ""
}

// problemWithValue adds the rejected text to problem unless the setting is sensitive.
func problemWithValue(problem, name, text string) string {
	if sensitive(name) {
		return problem
	}
	return fmt.Sprintf("%s (got %q)", problem, text)
}

const redactedMark = "[redacted]"

// Redacted returns a copy of c that is safe to print: every set token, secret
// and key (such as bootstrap_api_key, sms.twilio.auth_token and
// sms.webhook.secret) reads "[redacted]", and passwords in URLs (such as
// db.url) read "xxxxx". Unset secrets stay empty, so the copy still shows
// which are configured.
func (c Config) Redacted() Config {
	c.Verify.Countries = slices.Clone(c.Verify.Countries)
	if c.Demo.Enabled != nil {
		on := *c.Demo.Enabled
		c.Demo.Enabled = &on
	}
	v := reflect.ValueOf(&c).Elem()
	for _, f := range fields() {
		fv := v.FieldByIndex(f.index)
		if fv.Kind() != reflect.String || fv.String() == "" {
			continue
		}
		if sensitive(f.path[strings.LastIndexByte(f.path, '.')+1:]) {
			fv.SetString(redactedMark)
			continue
		}
		if r, ok := redactURL(fv.String()); ok {
			fv.SetString(r)
		}
	}
	return c
}

// redactURL hides the password of a URL such as
// postgres://user:pass@host/db?password=pass, reporting whether s had one.
// When s does not parse but may hold credentials, all but its scheme goes.
func redactURL(s string) (string, bool) {
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		return s, false
	}
	u, err := url.Parse(s)
	if err != nil || (u.User == nil && strings.Contains(rest, "@")) {
		// Unparsable, or an "@" outside the user part as in pass#word@host:
		// keep nothing that might be a password.
		if !strings.Contains(rest, "@") {
			return s, false
		}
		return scheme + "://" + redactedMark, true
	}
	changed := false
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
		changed = true
	}
	if q := u.Query(); q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
		changed = true
	}
	return u.String(), changed
}
