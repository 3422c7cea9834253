package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"strings"

	"gopkg.in/yaml.v3"
)

// Load returns Default() overridden first by the YAML file at path (when path
// is not "") and then by the environment, read through getenv (usually
// os.Getenv; nil reads nothing). It does not validate: call Validate.
//
// The file is strict: an unknown or repeated key is an error naming it and its
// line, and a missing file is an error. Before parsing, ${VAR} is replaced by
// getenv("VAR") and ${VAR:-default} by default when that is empty; write $${
// for a literal ${. Quote an expansion ("${TOKEN}") when its value could hold
// YAML syntax such as ": " or " #".
//
// An environment variable that is empty counts as unset. All problems in the
// file and the environment are reported together; no reported value is that
// of a token, secret or key.
func Load(path string, getenv func(string) string) (Config, error) {
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	c := Default()
	var errs []error
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return Config{}, fmt.Errorf("read config file: %w", err)
		}
		if fileErrs := decodeYAML(&c, data, getenv); len(fileErrs) > 0 {
			errs = append(errs, &errorList{header: "config file " + path, errs: fileErrs})
		}
	}
	if envErrs := applyEnv(&c, getenv); len(envErrs) > 0 {
		errs = append(errs, &errorList{header: "environment", errs: envErrs})
	}
	if len(errs) > 0 {
		return Config{}, errors.Join(errs...)
	}
	return c, nil
}

// decodeYAML expands data and decodes it into c.
func decodeYAML(c *Config, data []byte, getenv func(string) string) []error {
	text, err := expand(string(data), getenv)
	if err != nil {
		return []error{err}
	}
	dec := yaml.NewDecoder(strings.NewReader(text))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil // empty file
		}
		return []error{errors.New(strings.TrimPrefix(err.Error(), "yaml: "))}
	}
	var next yaml.Node
	if err := dec.Decode(&next); !errors.Is(err, io.EOF) {
		if err != nil {
			return []error{errors.New(strings.TrimPrefix(err.Error(), "yaml: "))}
		}
		return []error{fmt.Errorf("line %d: only one YAML document is allowed", next.Line)}
	}
	if len(doc.Content) == 0 {
		return nil
	}
	var d decoder
	d.section(doc.Content[0], reflect.ValueOf(c).Elem(), "")
	return d.errs
}

// A decoder walks a YAML node tree into a Config, collecting every problem.
type decoder struct{ errs []error }

func (d *decoder) fail(n *yaml.Node, format string, args ...any) {
	d.errs = append(d.errs, fmt.Errorf("line %d: %s", n.Line, fmt.Sprintf(format, args...)))
}

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" }

func deref(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

func describeKind(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	return "a single value"
}

// section decodes mapping n into v, a struct whose YAML path is path.
func (d *decoder) section(n *yaml.Node, v reflect.Value, path string) {
	n = deref(n)
	if isNull(n) {
		return // an empty section keeps its defaults
	}
	where := path
	if where == "" {
		where = "the top level"
	}
	if n.Kind != yaml.MappingNode {
		d.fail(n, "%s must be a mapping of keys, not %s", where, describeKind(n))
		return
	}
	byName := map[string]int{}
	var names []string
	t := v.Type()
	for i := range t.NumField() {
		if name := yamlName(t.Field(i)); name != "" {
			byName[name] = i
			names = append(names, name)
		}
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := deref(n.Content[i]), n.Content[i+1]
		full := k.Value
		if path != "" {
			full = path + "." + k.Value
		}
		if k.Kind != yaml.ScalarNode {
			d.fail(k, "%s: keys must be plain names", where)
			continue
		}
		if line, dup := seen[k.Value]; dup {
			d.fail(k, "duplicate key %q (first at line %d)", full, line)
			continue
		}
		seen[k.Value] = k.Line
		fi, ok := byName[k.Value]
		if !ok {
			msg := fmt.Sprintf("unknown key %q", full)
			if s := suggest(k.Value, names); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			}
			d.fail(k, "%s", msg)
			continue
		}
		fv := v.Field(fi)
		if isSection(fv.Type()) {
			d.section(val, fv, full)
		} else {
			d.leaf(val, fv, full)
		}
	}
}

// leaf decodes n into v, the setting at path.
func (d *decoder) leaf(n *yaml.Node, v reflect.Value, path string) {
	n = deref(n)
	switch {
	case isNull(n):
		v.Set(reflect.Zero(v.Type()))
	case n.Kind == yaml.ScalarNode:
		if p := setText(v, n.Value); p != "" {
			d.fail(n, "%s: %s", path, problemWithValue(p, path, n.Value))
		}
	case n.Kind == yaml.SequenceNode && v.Kind() == reflect.Slice:
		items := make([]string, 0, len(n.Content))
		for _, item := range n.Content {
			item = deref(item)
			if item.Kind != yaml.ScalarNode {
				d.fail(item, "%s: items must be single values, not %s", path, describeKind(item))
				return
			}
			items = append(items, item.Value)
		}
		v.Set(reflect.ValueOf(items))
	default:
		want := "a single value"
		if v.Kind() == reflect.Slice {
			want = "a list"
		}
		d.fail(n, "%s: must be %s, not %s", path, want, describeKind(n))
	}
}

// suggest returns the name in names closest to key, if any is close enough
// to be a likely typo.
func suggest(key string, names []string) string {
	best, bestDist := "", 3
	for _, name := range names {
		if dist := editDistance(strings.ToLower(key), name); dist < bestDist {
			best, bestDist = name, dist
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// expand replaces ${VAR} and ${VAR:-default} in src with values from getenv.
func expand(src string, getenv func(string) string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(src); {
		j := strings.Index(src[i:], "${")
		if j < 0 {
			b.WriteString(src[i:])
			break
		}
		j += i
		if j > i && src[j-1] == '$' { // "$${" is a literal "${"
			b.WriteString(src[i : j-1])
			b.WriteString("${")
			i = j + 2
			continue
		}
		b.WriteString(src[i:j])
		line := 1 + strings.Count(src[:j], "\n")
		end := strings.IndexAny(src[j+2:], "}\n")
		if end < 0 || src[j+2+end] != '}' {
			return "", fmt.Errorf("line %d: unterminated ${ (write $${ for a literal ${)", line)
		}
		expr := src[j+2 : j+2+end]
		name, def, hasDef := strings.Cut(expr, ":-")
		if !validVarName(name) {
			return "", fmt.Errorf("line %d: ${...} must hold a variable name, optionally followed by :-default", line)
		}
		val := getenv(name)
		if val == "" && hasDef {
			val = def
		}
		b.WriteString(val)
		i = j + 2 + end + 1
	}
	return b.String(), nil
}

func validVarName(s string) bool {
	if s == "" || (s[0] >= '0' && s[0] <= '9') {
		return false
	}
	for _, r := range []byte(s) {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// errorList is a titled list of errors, one per indented line.
type errorList struct {
	header string
	errs   []error
}

func (e *errorList) Error() string {
	var b bytes.Buffer
	b.WriteString(e.header)
	b.WriteString(":")
	for _, err := range e.errs {
		b.WriteString("\n  ")
		b.WriteString(strings.ReplaceAll(err.Error(), "\n", "\n  "))
	}
	return b.String()
}

// Unwrap returns the listed errors, for errors.Is and errors.As.
func (e *errorList) Unwrap() []error { return e.errs }
