package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReportCommands runs the whole binary's wiring: sign-ups and a consent
// through the API, then `ringfence report create` and `report verify` on
// the data folder; a changed figure and a changed log entry each make
// verify fail, naming what changed.
func TestReportCommands(t *testing.T) {
	dir := t.TempDir()
	m, stop := startMain(t, dir, &syncBuffer{})
	c := client{t: t, base: m.URL(), key: m.DevKey}
	var subject, evidence string
	for _, n := range []string{"+14155550123", "+14155550124"} {
		st, out := c.do("POST", "/v1/verifications", map[string]any{"phone": n})
		if st != 201 {
			t.Fatalf("start: %d %v", st, out)
		}
		id := out["id"].(string)
		if st, out = c.do("POST", "/v1/verifications/"+id+"/check", map[string]any{"code": c.devCode(n)}); out["status"] != "approved" {
			t.Fatalf("check: %d %v", st, out)
		}
		subject, evidence = out["subject_id"].(string), id
	}
	st, out := c.do("POST", "/v1/subjects/"+subject+"/consents",
		map[string]any{"purpose": "security_alerts", "channel": "sms", "action": "grant", "evidence": evidence})
	if st != 201 || out["receipt"] == nil {
		t.Fatalf("consent: %d %v", st, out)
	}
	receipt, _ := json.Marshal(out["receipt"])
	_, keys := c.do("GET", "/v1/transparency/keys", nil)
	k := keys["keys"].([]any)[0].(map[string]any)
	receiptKey := k["key_id"].(string) + ":" + k["public_key"].(string)
	stop() // signs a last checkpoint

	env := map[string]string{"RINGFENCE_DATA_DIR": dir}
	cmd := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := run(context.Background(), args, &out, io.Discard, func(k string) string { return env[k] })
		return out.String(), err
	}
	report, err := cmd("report", "create")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "report.json")
	write := func(s string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(report)
	if out, err := cmd("report", "verify", path); err != nil || !strings.Contains(out, "report OK") {
		t.Fatalf("an untouched report: %q %v", out, err)
	}
	if out, err := cmd("report", "verify", "-public", path); err != nil || !strings.Contains(out, "report OK") {
		t.Fatalf("an untouched report, -public: %q %v", out, err)
	}

	// One figure changed.
	var doc map[string]any
	if err := json.Unmarshal([]byte(report), &doc); err != nil {
		t.Fatal(err)
	}
	doc["report"].(map[string]any)["numbers_held"].(map[string]any)["at_end"] = map[string]any{"text": "0", "min": 0, "max": 0}
	b, _ := json.Marshal(doc)
	write(string(b))
	if _, err := cmd("report", "verify", path); err == nil || !strings.Contains(err.Error(), "numbers_held.at_end") {
		t.Fatalf("a changed figure: %v", err)
	}

	// One log entry changed, the report untouched.
	write(report)
	db, err := sql.Open("sqlite", filepath.Join(dir, "ringfence.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range []string{`DROP TRIGGER audit_events_no_update`, `UPDATE audit_events SET purpose = 'login' WHERE seq = 1`} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := cmd("report", "verify", path); err == nil || !strings.Contains(err.Error(), "entry 1") {
		t.Fatalf("a changed log entry: %v", err)
	}

	// The person checks their receipt offline with the published key alone.
	write(string(receipt))
	if out, err := cmd("receipt", "verify", "-key", receiptKey, path); err != nil || !strings.Contains(out, "receipt OK: grant security_alerts") {
		t.Fatalf("receipt: %q %v", out, err)
	}
	write(strings.Replace(string(receipt), `"grant"`, `"withdraw"`, 1))
	if _, err := cmd("receipt", "verify", "-key", receiptKey, path); err == nil || !strings.Contains(err.Error(), "receipt FAILED") {
		t.Fatalf("a changed receipt: %v", err)
	}

	// Usage errors.
	if _, err := cmd("report", "verify"); err == nil {
		t.Error("verify without a file succeeded")
	}
	if _, err := cmd("report", "verify", filepath.Join(t.TempDir(), "missing.json")); err == nil {
		t.Error("verify of a missing file succeeded")
	}
}

// A data folder made before receipts existed gets a receipt key on the next
// start; any other key missing beside a database still stops the start.
func TestReceiptKeyBesideExistingData(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{"RINGFENCE_DATA_DIR": dir}
	migrate := func() error {
		return run(context.Background(), []string{"migrate"}, io.Discard, io.Discard, func(k string) string { return env[k] })
	}
	if err := migrate(); err != nil {
		t.Fatal(err)
	}
	keyDir := filepath.Join(dir, "keys")
	if err := os.Remove(filepath.Join(keyDir, "receipt-1.key")); err != nil {
		t.Fatal(err)
	}
	if err := migrate(); err != nil {
		t.Fatalf("without a receipt key: %v", err)
	}
	if _, err := os.Stat(filepath.Join(keyDir, "receipt-1.key")); err != nil {
		t.Fatalf("no receipt key generated: %v", err)
	}
	if err := os.Remove(filepath.Join(keyDir, "number-1.key")); err != nil {
		t.Fatal(err)
	}
	if err := migrate(); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Fatalf("without the number key: %v", err)
	}
}
