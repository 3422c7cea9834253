package twilio

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"net"
	"net/url"
	"sort"
	"strings"
)

// ValidSignature reports whether signature, the X-Twilio-Signature header of a
// request Twilio sent to rawURL with the form params, was made with authToken.
//
// Twilio signs the full URL (with its query string) followed by every POST
// parameter name and value, sorted by name, with HMAC-SHA1 in base64. rawURL must be
// the URL Twilio was configured to call, as Twilio saw it; as Twilio's own libraries
// do, the form with and without the scheme's default port are both accepted. The
// comparison takes constant time.
func ValidSignature(authToken, rawURL string, params url.Values, signature string) bool {
	if authToken == "" || signature == "" {
		return false
	}
	got, err := base64.StdEncoding.DecodeString(signature)
	if err != nil {
		return false
	}
	ok := false
	for _, u := range urlForms(rawURL) {
		// Every form is checked so the time taken does not depend on which matched.
		if hmac.Equal(got, signatureOf(authToken, u, params)) {
			ok = true
		}
	}
	return ok
}

// signatureOf returns Twilio's HMAC-SHA1 of u and params under authToken.
func signatureOf(authToken, u string, params url.Values) []byte {
	var b strings.Builder
	b.WriteString(u)
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		vs := append([]string(nil), params[k]...)
		sort.Strings(vs)
		for _, v := range vs {
			b.WriteString(k)
			b.WriteString(v)
		}
	}
	mac := hmac.New(sha1.New, []byte(authToken))
	mac.Write([]byte(b.String()))
	return mac.Sum(nil)
}

// urlForms returns rawURL as given and, for http and https URLs, the same URL with
// the default port added or removed; the rest of the URL is kept byte for byte.
func urlForms(rawURL string) []string {
	forms := []string{rawURL}
	scheme, rest, ok := strings.Cut(rawURL, "://")
	if !ok {
		return forms
	}
	def := map[string]string{"https": "443", "http": "80"}[strings.ToLower(scheme)]
	if def == "" {
		return forms
	}
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	authority, tail := rest[:end], rest[end:]
	start := strings.LastIndex(authority, "@") + 1
	userinfo, hostport := authority[:start], authority[start:]
	if hostport == "" {
		return forms
	}
	var other string
	if _, port, err := net.SplitHostPort(hostport); err == nil {
		if port != def {
			return forms
		}
		other = strings.TrimSuffix(hostport, ":"+port)
	} else {
		other = hostport + ":" + def
	}
	return append(forms, scheme+"://"+userinfo+other+tail)
}
