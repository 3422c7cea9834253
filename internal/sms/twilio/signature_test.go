package twilio

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"net/url"
	"testing"
)

// Twilio's documented example ("Validating signatures from Twilio"); the expected
// value was also recomputed independently (Python hmac) and matches.
var (
	docURL    = "https://mycompany.com/myapp.php?foo=1&bar=2"
	docToken  = "12345"
	docSig    = "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
	docParams = url.Values{
		"CallSid": {"CA1234567890ABCDE"},
		"Caller":  {"+12349013030"},
		"Digits":  {"1234"},
		"From":    {"+12349013030"},
		"To":      {"+18005551212"},
	}
)

func TestValidSignatureDocumentedExample(t *testing.T) {
	if !ValidSignature(docToken, docURL, docParams, docSig) {
		t.Fatal("Twilio's documented example does not validate")
	}
}

func TestValidSignatureIndependent(t *testing.T) {
	// The algorithm spelled out by hand: URL, then each name and value, sorted by name.
	data := docURL + "CallSidCA1234567890ABCDE" + "Caller+12349013030" + "Digits1234" + "From+12349013030" + "To+18005551212"
	mac := hmac.New(sha1.New, []byte(docToken))
	mac.Write([]byte(data))
	if got := base64.StdEncoding.EncodeToString(mac.Sum(nil)); got != docSig {
		t.Fatalf("independent computation = %s, want %s", got, docSig)
	}
}

func TestValidSignatureRejects(t *testing.T) {
	with := func(k, v string) url.Values {
		p := url.Values{}
		for key, vs := range docParams {
			p[key] = append([]string(nil), vs...)
		}
		p.Set(k, v)
		return p
	}
	tests := []struct {
		name, token, url string
		params           url.Values
		sig              string
	}{
		{"wrong token", "54321", docURL, docParams, docSig},
		{"empty token", "", docURL, docParams, docSig},
		{"changed param", docToken, docURL, with("Digits", "1235"), docSig},
		{"added param", docToken, docURL, with("Extra", ""), docSig},
		{"changed url", docToken, "https://mycompany.com/myapp.php?foo=1&bar=3", docParams, docSig},
		{"other scheme", docToken, "http://mycompany.com/myapp.php?foo=1&bar=2", docParams, docSig},
		{"other port", docToken, "https://mycompany.com:8443/myapp.php?foo=1&bar=2", docParams, docSig},
		{"empty signature", docToken, docURL, docParams, ""},
		{"not base64", docToken, docURL, docParams, "not base64!"},
		{"truncated", docToken, docURL, docParams, docSig[:20]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if ValidSignature(tt.token, tt.url, tt.params, tt.sig) {
				t.Error("accepted")
			}
		})
	}
}

func TestValidSignatureDefaultPort(t *testing.T) {
	withPort := "https://mycompany.com:443/myapp.php?foo=1&bar=2"
	sig := base64.StdEncoding.EncodeToString(signatureOf(docToken, withPort, docParams))
	if !ValidSignature(docToken, docURL, docParams, sig) {
		t.Error("signature over the URL with :443 rejected for the URL without it")
	}
	if !ValidSignature(docToken, withPort, docParams, docSig) {
		t.Error("signature over the URL without :443 rejected for the URL with it")
	}
}

func TestValidSignatureRepeatedParams(t *testing.T) {
	p := url.Values{"B": {"2", "1"}, "A": {"x"}}
	mac := hmac.New(sha1.New, []byte(docToken))
	mac.Write([]byte("https://example.com/hook" + "Ax" + "B1" + "B2"))
	sig := base64.StdEncoding.EncodeToString(mac.Sum(nil))
	if !ValidSignature(docToken, "https://example.com/hook", p, sig) {
		t.Error("repeated values not signed in sorted order")
	}
	if got := p["B"]; got[0] != "2" {
		t.Errorf("ValidSignature reordered the caller's values: %v", got)
	}
}

func TestURLForms(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"https://a.example/p?q=1", []string{"https://a.example/p?q=1", "https://a.example:443/p?q=1"}},
		{"https://a.example:443/p", []string{"https://a.example:443/p", "https://a.example/p"}},
		{"http://a.example", []string{"http://a.example", "http://a.example:80"}},
		{"http://u:p@a.example:80/x", []string{"http://u:p@a.example:80/x", "http://u:p@a.example/x"}},
		{"https://[::1]/x", []string{"https://[::1]/x", "https://[::1]:443/x"}},
		{"https://a.example:8443/p", []string{"https://a.example:8443/p"}},
		{"ftp://a.example/p", []string{"ftp://a.example/p"}},
		{"not a url", []string{"not a url"}},
	}
	for _, tt := range tests {
		got := urlForms(tt.in)
		if len(got) != len(tt.want) {
			t.Errorf("urlForms(%q) = %q, want %q", tt.in, got, tt.want)
			continue
		}
		for i := range got {
			if got[i] != tt.want[i] {
				t.Errorf("urlForms(%q) = %q, want %q", tt.in, got, tt.want)
			}
		}
	}
}
