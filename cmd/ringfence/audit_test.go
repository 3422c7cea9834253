package main

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"testing"
)

// TestAuditVerifyCommand runs `ringfence audit verify` on a real data folder,
// then edits, deletes and inserts audit rows directly in SQLite: each makes
// it fail naming the row.
func TestAuditVerifyCommand(t *testing.T) {
	dir := t.TempDir()
	logs := &syncBuffer{}
	m, stop := startMain(t, dir, logs)
	c := client{t: t, base: m.URL(), key: m.DevKey}
	for _, n := range []string{"+14155550123", "+14155550124"} {
		st, out := c.do("POST", "/v1/verifications", map[string]any{"phone": n})
		if st != 201 {
			t.Fatalf("start: %d %v", st, out)
		}
		id := out["id"].(string)
		if st, out = c.do("POST", "/v1/verifications/"+id+"/check", map[string]any{"code": c.devCode(n)}); out["status"] != "approved" {
			t.Fatalf("check: %d %v", st, out)
		}
	}
	stop() // signs a last checkpoint

	env := map[string]string{"RINGFENCE_DATA_DIR": dir}
	verifyLog := func() (string, error) {
		var out bytes.Buffer
		err := run(context.Background(), []string{"audit", "verify"}, &out, io.Discard, func(k string) string { return env[k] })
		return out.String(), err
	}
	if out, err := verifyLog(); err != nil || !strings.Contains(out, "audit log OK") {
		t.Fatalf("an untouched log: %q %v", out, err)
	}

	db, err := sql.Open("sqlite", filepath.Join(dir, "ringfence.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	exec := func(q string) {
		t.Helper()
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	var last int
	if err := db.QueryRow(`SELECT MAX(seq) FROM audit_events`).Scan(&last); err != nil {
		t.Fatal(err)
	}
	exec(`DROP TRIGGER audit_events_no_update`)
	exec(`DROP TRIGGER audit_events_no_delete`)
	for _, tc := range []struct {
		tamper, undo, want string
	}{
		{`UPDATE audit_events SET actor = 'someone' WHERE seq = 3`, `UPDATE audit_events SET actor = (SELECT actor FROM audit_events WHERE seq = 1) WHERE seq = 3`, "entry 3"},
		{`CREATE TABLE saved AS SELECT * FROM audit_events WHERE seq = 4; DELETE FROM audit_events WHERE seq = 4`, `INSERT INTO audit_events SELECT * FROM saved; DROP TABLE saved`, "entry 4"},
		// A copy of a real row, MAC and all, appended as the next entry.
		{fmt.Sprintf(`INSERT INTO audit_events SELECT %d, type, actor, purpose, verification_id, subject_id, phone_index, payload, detail, at, leaf_hash, mac FROM audit_events WHERE seq = 2`, last+1),
			fmt.Sprintf(`DELETE FROM audit_events WHERE seq = %d`, last+1), fmt.Sprintf("entry %d", last+1)},
	} {
		exec(tc.tamper)
		out, err := verifyLog()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("after %q: %q %v, want a failure at %s", tc.tamper, out, err, tc.want)
		}
		exec(tc.undo)
		if _, err := verifyLog(); err != nil {
			t.Fatalf("after undoing %q: %v", tc.tamper, err)
		}
	}
}
