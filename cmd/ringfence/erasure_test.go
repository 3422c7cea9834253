package main

import (
	"bytes"
	"context"
	"database/sql"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ringfence/ringfence/internal/config"
)

// signupOK verifies a number for a signup through the API and returns its subject.
func signupOK(t *testing.T, c client, e164 string) string {
	t.Helper()
	st, out := c.do("POST", "/v1/verifications", map[string]any{"phone": e164, "purpose": "signup"})
	if st != 201 {
		t.Fatalf("start: %d %v", st, out)
	}
	id := out["id"].(string)
	if st, out = c.do("POST", "/v1/verifications/"+id+"/check", map[string]any{"code": c.devCode(e164)}); st != 200 || out["status"] != "approved" || out["subject_id"] == nil {
		t.Fatalf("check: %d %v", st, out)
	}
	return out["subject_id"].(string)
}

// blobs returns every non-empty value of a BLOB column query.
func blobs(t *testing.T, db *sql.DB, query string, args ...any) [][]byte {
	t.Helper()
	rows, err := db.Query(query, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out [][]byte
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			t.Fatal(err)
		}
		if len(b) > 0 {
			out = append(out, b)
		}
	}
	return out
}

// assertAbsent fails if any file under dir holds one of the values.
func assertAbsent(t *testing.T, dir string, values [][]byte) {
	t.Helper()
	eachFile(t, dir, func(path string, b []byte) {
		for i, v := range values {
			if bytes.Contains(b, v) {
				t.Errorf("%s still holds erased value %d (%d bytes)", filepath.Base(path), i, len(v))
			}
		}
	})
}

// TestEraseSubjectEndToEnd erases a subject through the API of the whole
// service, then searches every file of the data folder (database, WAL) for
// the number's digits and for every ciphertext and wrapped key that held
// it: none is left. The audit log still verifies; a second erasure is 410;
// a new signup with the number is refused by its tombstone.
func TestEraseSubjectEndToEnd(t *testing.T) {
	dir := t.TempDir()
	logs := &syncBuffer{}
	m, stop := startMainWith(t, dir, logs, func(c *config.Config) { c.Verify.ResendCooldown = 0 })
	c := client{t: t, base: m.URL(), key: m.DevKey}
	const number, other = "+14155550142", "+14155550143"
	sub := signupOK(t, c, number)
	keep := signupOK(t, c, other)
	// A pending login for the number: its sealed number and code must go too.
	if st, out := c.do("POST", "/v1/verifications", map[string]any{"phone": number, "purpose": "login"}); st != 201 {
		t.Fatalf("login start: %d %v", st, out)
	}
	c.devCode(number) // sent

	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "ringfence.db")+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	secret := blobs(t, db, `SELECT wrapped FROM subject_keys WHERE subject_id = ?`, sub)
	secret = append(secret, blobs(t, db, `SELECT phone_sealed FROM bindings WHERE subject_id = ?`, sub)...)
	idx := blobs(t, db, `SELECT phone_index FROM bindings WHERE subject_id = ?`, sub)
	if len(secret) != 2 || len(idx) != 1 {
		t.Fatalf("before erasure: %d secrets, %d indexes", len(secret), len(idx))
	}
	secret = append(secret, blobs(t, db, `SELECT phone_sealed FROM verifications WHERE phone_index = ?`, idx[0])...)
	secret = append(secret, blobs(t, db, `SELECT code_sealed FROM verifications WHERE phone_index = ?`, idx[0])...)
	if len(secret) < 5 {
		t.Fatalf("found only %d ciphertexts of the number", len(secret))
	}
	db.Close()

	for _, tc := range []struct {
		body map[string]any
		want int
	}{
		{map[string]any{}, 400},
		{map[string]any{"confirm": keep}, 400},
		{map[string]any{"confirm": sub, "extra": 1}, 400},
	} {
		if st, out := c.do("DELETE", "/v1/subjects/"+sub, tc.body); st != tc.want {
			t.Errorf("erase with %v: %d %v, want %d", tc.body, st, out, tc.want)
		}
	}
	if st, _ := c.do("GET", "/v1/subjects/"+sub, nil); st != 200 {
		t.Fatalf("a refused erasure changed the subject: %d", st)
	}
	st, out := c.do("DELETE", "/v1/subjects/"+sub, map[string]any{"confirm": sub})
	if st != 200 || out["erased"] != true || out["numbers"] != 1.0 || out["tombstones"] != 1.0 {
		t.Fatalf("erase: %d %v", st, out)
	}
	if st, out := c.do("DELETE", "/v1/subjects/"+sub, map[string]any{"confirm": sub}); st != 410 {
		t.Errorf("second erasure: %d %v, want 410", st, out)
	}
	if st, _ := c.do("GET", "/v1/subjects/"+sub, nil); st != 404 {
		t.Errorf("erased subject: %d, want 404", st)
	}
	if st, _ := c.do("GET", "/v1/subjects/"+keep, nil); st != 200 {
		t.Errorf("the other subject: %d, want 200", st)
	}
	st, out = c.do("POST", "/v1/verifications", map[string]any{"phone": number, "purpose": "signup"})
	e, _ := out["error"].(map[string]any)
	if reasons, _ := e["reasons"].([]any); st != 403 || len(reasons) != 1 || reasons[0] != "erased_number" {
		t.Errorf("signup with an erased number: %d %v", st, out)
	}
	// While the service runs (WAL in use) and after it stopped.
	assertAbsent(t, dir, secret)
	stop()
	assertAbsent(t, dir, secret)
	assertNoDigits(t, dir, logs.String(), strings.TrimPrefix(number, "+1"))

	env := map[string]string{"RINGFENCE_DATA_DIR": dir}
	var vout bytes.Buffer
	if err := run(context.Background(), []string{"audit", "verify"}, &vout, io.Discard, func(k string) string { return env[k] }); err != nil ||
		!strings.Contains(vout.String(), "audit log OK") {
		t.Fatalf("audit verify after erasure: %q %v", vout.String(), err)
	}
}
