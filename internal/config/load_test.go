package config

import (
	"errors"
	"io/fs"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

func TestLoadNoFile(t *testing.T) {
	c, err := Load("", nil)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c, Default()) {
		t.Errorf("Load(\"\", nil) = %+v, want Default()", c)
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load("/nonexistent/ringfence.yaml", nil)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Load of a missing file: err = %v, want fs.ErrNotExist", err)
	}
}

func TestLoadEmptyFile(t *testing.T) {
	for _, content := range []string{"", "# only a comment\n", "---\n", "~\n"} {
		c, err := Load(writeFile(t, content), nil)
		if err != nil {
			t.Errorf("Load(%q): %v", content, err)
			continue
		}
		if !reflect.DeepEqual(c, Default()) {
			t.Errorf("Load(%q) changed the defaults", content)
		}
	}
}

func TestLoadFileOverrides(t *testing.T) {
	path := writeFile(t, `
data_dir: /var/lib/ringfence
http:
  addr: 0.0.0.0:9090
  max_body_bytes: 32768
  shutdown_timeout: 30s
db:
  url: postgres://rf@db/rf
verify:
  code_length: 8
  lifetime: 10m
  allow_voip: true
  countries: [US, "NO"]
  default_country: US
sms:
  provider: twilio
  twilio:
    account_sid: AC123
    from: "+15005550006"
demo:
  enabled: false
log: {level: debug}
`)
	c, err := Load(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := Default()
	want.DataDir = "/var/lib/ringfence"
	want.HTTP.Addr = "0.0.0.0:9090"
	want.HTTP.MaxBodyBytes = 32768
	want.HTTP.ShutdownTimeout = 30 * time.Second
	want.DB.URL = "postgres://rf@db/rf"
	want.Verify.CodeLength = 8
	want.Verify.Lifetime = 10 * time.Minute
	want.Verify.AllowVoIP = true
	want.Verify.Countries = []string{"US", "NO"}
	want.Verify.DefaultCountry = "US"
	want.SMS.Provider = "twilio"
	want.SMS.Twilio.AccountSID = "AC123"
	want.SMS.Twilio.From = "+15005550006"
	off := false
	want.Demo.Enabled = &off
	want.Log.Level = "debug"
	if !reflect.DeepEqual(c, want) {
		t.Errorf("Load:\n got %+v\nwant %+v", c, want)
	}
}

func TestLoadNullAndLists(t *testing.T) {
	c, err := Load(writeFile(t, `
http:
verify:
  countries: "US, GB,"
  default_country:
demo:
  enabled: ~
`), nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.HTTP != Default().HTTP {
		t.Errorf("an empty http section changed it: %+v", c.HTTP)
	}
	if want := []string{"US", "GB"}; !reflect.DeepEqual(c.Verify.Countries, want) {
		t.Errorf("countries = %q, want %q", c.Verify.Countries, want)
	}
	if c.Demo.Enabled != nil {
		t.Errorf("demo.enabled: ~ = %v, want nil", *c.Demo.Enabled)
	}
}

func TestLoadStrict(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		want       []string // substrings of the error
	}{
		{"unknown top-level key", "data_dir: x\nbogus: 1\n", []string{`line 2: unknown key "bogus"`}},
		{"unknown nested key with suggestion", "http:\n  adr: 127.0.0.1:1\n", []string{`line 2: unknown key "http.adr" (did you mean "addr"?)`}},
		{"unknown deep key", "sms:\n  twilio:\n    sid: AC1\n", []string{`line 3: unknown key "sms.twilio.sid"`}},
		{"several unknown keys", "foo: 1\nverify:\n  bar: 2\n", []string{`line 1: unknown key "foo"`, `line 3: unknown key "verify.bar"`}},
		{"duplicate key", "http:\n  addr: a:1\n  addr: b:2\n", []string{`line 3: duplicate key "http.addr" (first at line 2)`}},
		{"bad int", "verify:\n  code_length: six\n", []string{`line 2: verify.code_length: must be a whole number (got "six")`}},
		{"bad duration", "verify:\n  lifetime: 300\n", []string{`line 2: verify.lifetime: must be a duration`}},
		{"bad bool", "demo:\n  enabled: maybe\n", []string{`line 2: demo.enabled: must be true or false`}},
		{"list for a value", "http:\n  addr: [a, b]\n", []string{`line 2: http.addr: must be a single value, not a list`}},
		{"mapping for a list", "verify:\n  countries: {US: 1}\n", []string{"verify.countries: must be a list, not a mapping"}},
		{"value for a section", "http: 8080\n", []string{"line 1: http must be a mapping of keys"}},
		{"top level not a mapping", "- a\n", []string{"the top level must be a mapping"}},
		{"syntax error", "http:\n  addr: [\n", []string{"config file"}},
		{"two documents", "data_dir: a\n---\ndata_dir: b\n", []string{"line 2: only one YAML document"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(writeFile(t, tc.yaml), nil)
			if err == nil {
				t.Fatal("Load succeeded")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestLoadNeverShowsSecrets(t *testing.T) {
	const secret = "s3cr3t-value"
	_, err := Load(writeFile(t, "sms:\n  webhook:\n    secret: ["+secret+"]\nbootstrap_api_key: {k: "+secret+"}\n"), nil)
	if err == nil {
		t.Fatal("Load succeeded")
	}
	if strings.Contains(err.Error(), secret) {
		t.Errorf("error shows a secret: %v", err)
	}
}

func TestLoadExpansion(t *testing.T) {
	getenv := env(map[string]string{
		"TOKEN":   "tok: en #1",
		"ADDR":    "0.0.0.0:7000",
		"EMPTY":   "",
		"LEN":     "8",
		"COUNTRY": "GB",
	})
	c, err := Load(writeFile(t, `
http:
  addr: ${ADDR}
  public_url: ${UNSET:-https://verify.example.com}
sip:
  addr: ${EMPTY:-127.0.0.1:5070}
sms:
  twilio:
    auth_token: "${TOKEN}"
    from: "${UNSET}"
    base_url: "$${NOT_EXPANDED}"
verify:
  code_length: ${LEN}
  countries: [US, "${COUNTRY}"]
`), getenv)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, got, want string }{
		{"http.addr", c.HTTP.Addr, "0.0.0.0:7000"},
		{"http.public_url", c.HTTP.PublicURL, "https://verify.example.com"},
		{"sip.addr", c.SIP.Addr, "127.0.0.1:5070"},
		{"sms.twilio.auth_token", c.SMS.Twilio.AuthToken, "tok: en #1"},
		{"sms.twilio.from", c.SMS.Twilio.From, ""},
		{"sms.twilio.base_url", c.SMS.Twilio.BaseURL, "${NOT_EXPANDED}"},
		{"verify.countries[1]", c.Verify.Countries[1], "GB"},
	} {
		if tc.got != tc.want {
			t.Errorf("%s = %q, want %q", tc.name, tc.got, tc.want)
		}
	}
	if c.Verify.CodeLength != 8 {
		t.Errorf("verify.code_length = %d, want 8", c.Verify.CodeLength)
	}
}

func TestExpandErrors(t *testing.T) {
	for _, src := range []string{
		"a: 1\nb: ${UNCLOSED\n",
		"a: ${}\n",
		"a: ${1X}\n",
		"a: ${X Y}\n",
		"a: ${X:default}\n",
	} {
		if _, err := expand(src, env(nil)); err == nil {
			t.Errorf("expand(%q) succeeded", src)
		}
	}
	_, err := expand("a: 1\nb: ${UNCLOSED\n", env(nil))
	if err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("unterminated ${ error = %v, want line 2", err)
	}
	got, err := expand("$X ${A}${B:-b}$${C} $$", env(map[string]string{"A": "a", "X": "x"}))
	if err != nil || got != "$X ab${C} $$" {
		t.Errorf("expand = %q, %v", got, err)
	}
}

// The environment beats the file, which beats the defaults.
func TestLoadPrecedence(t *testing.T) {
	path := writeFile(t, "http:\n  addr: 127.0.0.1:1111\nsip:\n  addr: 127.0.0.1:2222\n")
	c, err := Load(path, env(map[string]string{"RINGFENCE_HTTP_ADDR": "127.0.0.1:3333"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.HTTP.Addr != "127.0.0.1:3333" || c.SIP.Addr != "127.0.0.1:2222" || c.DB.MaxBatch != 256 {
		t.Errorf("got http.addr %q, sip.addr %q, db.max_batch %d", c.HTTP.Addr, c.SIP.Addr, c.DB.MaxBatch)
	}
}

// The file and the environment are reported together.
func TestLoadReportsFileAndEnv(t *testing.T) {
	_, err := Load(writeFile(t, "nope: 1\n"), env(map[string]string{"RINGFENCE_SMS_WORKERS": "many"}))
	if err == nil {
		t.Fatal("Load succeeded")
	}
	for _, w := range []string{"config file", `unknown key "nope"`, "environment:", "RINGFENCE_SMS_WORKERS: must be a whole number"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error lacks %q:\n%v", w, err)
		}
	}
}

// A printed Config loads back to itself (secrets aside).
func TestStringRoundTrip(t *testing.T) {
	on := true
	c := Default()
	c.Verify.Countries = []string{"US", "GB"}
	c.Demo.Enabled = &on
	got, err := Load(writeFile(t, c.String()), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, c) {
		t.Errorf("round trip:\n got %+v\nwant %+v", got, c)
	}
}

var fullEnv = map[string]string{
	"ADMIN_API_KEY":     "admin-0123456789abcdef",
	"TWILIO_AUTH_TOKEN": "twilio-token",
	"WEBHOOK_SECRET":    "whsec_0123456789",
}

func TestFullExample(t *testing.T) {
	for _, provider := range []string{"", ProviderDev, ProviderTwilio, ProviderWebhook} {
		e := map[string]string{"RINGFENCE_SMS_PROVIDER": provider}
		for k, v := range fullEnv {
			e[k] = v
		}
		c, err := Load("testdata/full.yaml", env(e))
		if err != nil {
			t.Fatalf("provider %q: %v", provider, err)
		}
		if err := c.Validate(); err != nil {
			t.Errorf("provider %q: %v", provider, err)
		}
		if c.SMS.Twilio.AuthToken != "twilio-token" || c.BootstrapAPIKey != fullEnv["ADMIN_API_KEY"] {
			t.Errorf("provider %q: ${...} not expanded", provider)
		}
	}
	// Without the variables the example still loads and, with the dev provider, validates.
	c, err := Load("testdata/full.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Error(err)
	}
}

// testdata/full.yaml documents every setting, and only settings.
func TestFullExampleHasEveryKey(t *testing.T) {
	data, err := os.ReadFile("testdata/full.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	inFile := map[string]bool{}
	var visit func(n *yaml.Node, prefix string)
	visit = func(n *yaml.Node, prefix string) {
		for i := 0; i+1 < len(n.Content); i += 2 {
			path := prefix + n.Content[i].Value
			if v := n.Content[i+1]; v.Kind == yaml.MappingNode && !strings.HasSuffix(path, "countries") {
				visit(v, path+".")
				continue
			}
			inFile[path] = true
		}
	}
	visit(doc.Content[0], "")
	for _, f := range fields() {
		if !inFile[f.path] {
			t.Errorf("testdata/full.yaml lacks %s", f.path)
		}
		delete(inFile, f.path)
	}
	for path := range inFile {
		t.Errorf("testdata/full.yaml has %s, which is not a setting", path)
	}
}
