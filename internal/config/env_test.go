package config

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestEnvNames(t *testing.T) {
	names := EnvNames()
	for _, want := range []string{
		"RINGFENCE_CONFIG",
		"RINGFENCE_DATA_DIR",
		"RINGFENCE_BOOTSTRAP_API_KEY",
		"RINGFENCE_HTTP_ADDR",
		"RINGFENCE_SIP_ADDR",
		"RINGFENCE_DB_URL",
		"RINGFENCE_VERIFY_CODE_LENGTH",
		"RINGFENCE_SMS_TWILIO_AUTH_TOKEN",
		"RINGFENCE_SMS_WEBHOOK_SECRET",
		"RINGFENCE_VERIFY_COUNTRIES",
		"RINGFENCE_DEMO_ENABLED",
		"RINGFENCE_LOG_LEVEL",
	} {
		if _, found := slices.BinarySearch(names, want); !found {
			t.Errorf("EnvNames() lacks %s", want)
		}
	}
	if got, want := len(names), len(fields())+1; got != want {
		t.Errorf("len(EnvNames()) = %d, want %d", got, want)
	}
}

func TestEnvOverrides(t *testing.T) {
	c, err := Load("", env(map[string]string{
		"RINGFENCE_DATA_DIR":                 "/data",                 // string
		"RINGFENCE_SMS_TWILIO_AUTH_TOKEN":    "tok",                   // nested string
		"RINGFENCE_VERIFY_CODE_LENGTH":       " 8 ",                   // int
		"RINGFENCE_HTTP_MAX_BODY_BYTES":      "65536",                 // int64
		"RINGFENCE_VERIFY_ALLOW_VOIP":        "true",                  // bool
		"RINGFENCE_DEMO_ENABLED":             "0",                     // *bool
		"RINGFENCE_VERIFY_LIFETIME":          "2m30s",                 // time.Duration
		"RINGFENCE_VERIFY_COUNTRIES":         "US, GB,,FR",            // []string
		"RINGFENCE_HTTP_PUBLIC_URL":          "https://v.example.com", //
		"RINGFENCE_VERIFY_IP_SENDS_PER_HOUR": "0",                     // zero is a value
		"RINGFENCE_LOG_FORMAT":               "",                      // empty: unset
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.DataDir != "/data" || c.SMS.Twilio.AuthToken != "tok" || c.HTTP.PublicURL != "https://v.example.com" {
		t.Errorf("strings: %q %q %q", c.DataDir, c.SMS.Twilio.AuthToken, c.HTTP.PublicURL)
	}
	if c.Verify.CodeLength != 8 || c.HTTP.MaxBodyBytes != 65536 || c.Verify.IPSendsPerHour != 0 {
		t.Errorf("integers: %d %d %d", c.Verify.CodeLength, c.HTTP.MaxBodyBytes, c.Verify.IPSendsPerHour)
	}
	if !c.Verify.AllowVoIP {
		t.Error("allow_voip not set")
	}
	if c.Demo.Enabled == nil || *c.Demo.Enabled {
		t.Errorf("demo.enabled = %v, want pointer to false", c.Demo.Enabled)
	}
	if c.Verify.Lifetime != 150*time.Second {
		t.Errorf("lifetime = %v", c.Verify.Lifetime)
	}
	if want := []string{"US", "GB", "FR"}; !reflect.DeepEqual(c.Verify.Countries, want) {
		t.Errorf("countries = %q, want %q", c.Verify.Countries, want)
	}
	if c.Log.Format != "json" {
		t.Errorf("empty RINGFENCE_LOG_FORMAT changed log.format to %q", c.Log.Format)
	}
}

func TestEnvEverySettingReachable(t *testing.T) {
	// Each variable reaches exactly its own setting.
	for _, f := range fields() {
		c := Default()
		v := reflect.ValueOf(&c).Elem().FieldByIndex(f.index)
		text := map[reflect.Kind]string{reflect.String: "x", reflect.Int: "3", reflect.Int64: "3", reflect.Bool: "true", reflect.Pointer: "true", reflect.Slice: "ZZ"}[v.Kind()]
		if v.Type() == durationType {
			text = "3s"
		}
		got, err := Load("", env(map[string]string{f.env: text}))
		if err != nil {
			t.Errorf("%s=%s: %v", f.env, text, err)
			continue
		}
		if reflect.DeepEqual(got, c) {
			t.Errorf("%s=%s changed nothing", f.env, text)
		}
		setText(v, text)
		if !reflect.DeepEqual(got, c) {
			t.Errorf("%s=%s changed more than %s", f.env, text, f.path)
		}
	}
}

func TestEnvBadValues(t *testing.T) {
	bad := map[string]string{
		"RINGFENCE_VERIFY_CODE_LENGTH":  "six",
		"RINGFENCE_HTTP_MAX_BODY_BYTES": "1e6",
		"RINGFENCE_VERIFY_ALLOW_VOIP":   "yes please",
		"RINGFENCE_DEMO_ENABLED":        "on",
		"RINGFENCE_VERIFY_LIFETIME":     "300",
		"RINGFENCE_SMS_SEND_TIMEOUT":    "ten seconds",
		"RINGFENCE_DB_MAX_BATCH":        "99999999999999999999",
		"RINGFENCE_VERIFY_MAX_CHECKS":   "0x5",
	}
	_, err := Load("", env(bad))
	if err == nil {
		t.Fatal("Load succeeded")
	}
	for name, value := range bad {
		if !strings.Contains(err.Error(), name+": ") {
			t.Errorf("error lacks %s:\n%v", name, err)
		}
		if !strings.Contains(err.Error(), value) {
			t.Errorf("error lacks the bad value %q of %s", value, name)
		}
	}
}

// A variable named for a token, secret or key never has its value shown.
func TestEnvBadValueNotShownForSecrets(t *testing.T) {
	if !sensitive("RINGFENCE_SMS_TWILIO_AUTH_TOKEN") || !sensitive("RINGFENCE_SMS_WEBHOOK_SECRET") || !sensitive("RINGFENCE_BOOTSTRAP_API_KEY") {
		t.Fatal("secret settings are not sensitive")
	}
	if sensitive("RINGFENCE_HTTP_ADDR") {
		t.Fatal("http.addr is sensitive")
	}
	if got := problemWithValue("must be a whole number", "RINGFENCE_X_API_KEY", "hunter2"); strings.Contains(got, "hunter2") {
		t.Errorf("problemWithValue shows a key: %q", got)
	}
	if got := problemWithValue("must be a whole number", "RINGFENCE_X_COUNT", "ten"); !strings.Contains(got, `"ten"`) {
		t.Errorf("problemWithValue hides a plain value: %q", got)
	}
}

func TestUnknownEnv(t *testing.T) {
	got := UnknownEnv([]string{
		"PATH=/bin",
		"RINGFENCE_HTTP_ADDR=x",
		"RINGFENCE_CONFIG=/etc/rf.yaml",
		"RINGFENCE_HTTP_ADR=x",
		"RINGFENCE_DATADIR=x",
		"RINGFENCE_DATADIR=y",
	})
	if want := []string{"RINGFENCE_DATADIR", "RINGFENCE_HTTP_ADR"}; !reflect.DeepEqual(got, want) {
		t.Errorf("UnknownEnv = %q, want %q", got, want)
	}
}
