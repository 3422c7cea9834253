package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base32"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// totpNow plays the authenticator app (RFC 6238: SHA-1, 6 digits, 30 s).
func totpNow(t *testing.T, secret string) string {
	key, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(secret)
	if err != nil {
		t.Fatal(err)
	}
	mac := hmac.New(sha1.New, key)
	binary.Write(mac, binary.BigEndian, uint64(time.Now().Unix()/30))
	sum := mac.Sum(nil)
	off := sum[len(sum)-1] & 0x0f
	return fmt.Sprintf("%06d", (binary.BigEndian.Uint32(sum[off:])&0x7fffffff)%1_000_000)
}

var secretRE = regexp.MustCompile(`totp secret: ([A-Z2-7]+)\n`)

// TestStaffCreateThenLogin makes an account with the CLI and logs it in to
// the running service.
func TestStaffCreateThenLogin(t *testing.T) {
	dir := t.TempDir()
	getenv := func(k string) string {
		if k == "RINGFENCE_DATA_DIR" {
			return dir
		}
		return ""
	}
	const password = "a long and private passphrase"
	staff := func(stdin string, args ...string) (string, error) {
		var out, errw bytes.Buffer
		err := runStaff(context.Background(), args, strings.NewReader(stdin), &out, &errw, getenv)
		if strings.Contains(errw.String(), password) {
			t.Error("stderr holds the password")
		}
		return out.String(), err
	}
	out, err := staff(password+"\n", "create", "-email", "Ann@Example.com", "-role", "admin")
	if err != nil {
		t.Fatalf("staff create: %v", err)
	}
	m := secretRE.FindStringSubmatch(out)
	if m == nil || !strings.Contains(out, "otpauth://totp/") || strings.Contains(out, password) {
		t.Fatalf("staff create printed %q", out)
	}
	secret := m[1]

	// Bad input is refused and changes nothing.
	pwFile := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pwFile, []byte("another long passphrase\r\nignored\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		stdin string
		args  []string
		usage bool
	}{
		"taken email":   {password, []string{"create", "-email", "ann@example.com", "-role", "viewer", "-password-file", pwFile}, false},
		"no password":   {"", []string{"create", "-email", "bob@example.com", "-role", "viewer"}, true},
		"short":         {"short\n", []string{"create", "-email", "bob@example.com", "-role", "viewer"}, true},
		"bad role":      {password, []string{"create", "-email", "bob@example.com", "-role", "owner"}, true},
		"no email":      {password, []string{"create", "-role", "viewer"}, true},
		"unknown":       {"", []string{"frob"}, true},
		"missing file":  {"", []string{"create", "-email", "bob@example.com", "-role", "viewer", "-password-file", pwFile + ".none"}, false},
		"extra operand": {password, []string{"create", "-email", "bob@example.com", "-role", "viewer", "x"}, true},
	} {
		_, err := staff(tc.stdin, tc.args...)
		if err == nil || (exitCode(err) == 2) != tc.usage {
			t.Errorf("%s: %v (exit %d)", name, err, exitCode(err))
		}
	}
	if out, err := staff("", "create", "-email", "bob@example.com", "-role", "viewer", "-password-file", pwFile); err != nil {
		t.Errorf("create with a password file: %v", err)
	} else if !strings.Contains(out, "bob@example.com") {
		t.Errorf("create printed %q", out)
	}
	out, err = staff("", "list")
	if err != nil || !strings.Contains(out, "ann@example.com") || !strings.Contains(out, "admin") || strings.Count(out, "\n") != 3 {
		t.Errorf("staff list: %q, %v", out, err)
	}

	// The running service knows the account.
	srv, stop := startMain(t, dir, io.Discard)
	defer stop()
	c := client{t: t, base: srv.URL()}
	status, body := c.do("POST", "/v1/staff/login", map[string]string{"email": "ann@example.com", "password": password, "totp": totpNow(t, secret)})
	token, _ := body["token"].(string)
	if status != 200 || !strings.HasPrefix(token, "rfs_") {
		t.Fatalf("login: %d %v", status, body)
	}
	c.key = token
	if status, body := c.do("GET", "/v1/staff", nil); status != 200 || len(body["staff"].([]any)) != 2 {
		t.Errorf("GET /v1/staff as admin: %d %v", status, body)
	}
	if status, body := c.do("GET", "/v1/reveals?status=pending", nil); status != 200 {
		t.Errorf("the reveal queue: %d %v", status, body)
	}
}
