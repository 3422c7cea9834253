package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ringfence/ringfence/internal/config"
)

// TestKeysRotateReencrypt rotates the number, index and pepper keys of a
// data folder with `ringfence keys rotate`, moves every value with `keys
// reencrypt`, and then logs in and signs up again with the number: the
// subject is found, not duplicated.
func TestKeysRotateReencrypt(t *testing.T) {
	dir := t.TempDir()
	m, stop := startMain(t, dir, &syncBuffer{})
	c := client{t: t, base: m.URL(), key: m.DevKey}
	const number = "+14155550150"
	sub := signupOK(t, c, number)
	stop()

	env := map[string]string{"RINGFENCE_DATA_DIR": dir}
	getenv := func(k string) string { return env[k] }
	cli := func(args ...string) (string, string, error) {
		var out, errOut bytes.Buffer
		err := run(context.Background(), args, &out, &errOut, getenv)
		return out.String(), errOut.String(), err
	}
	for _, p := range []string{"number", "index", "pepper", "checkpoint", "token"} {
		if out, _, err := cli("keys", "rotate", p); err != nil || !strings.Contains(out, p+" key version 2") {
			t.Fatalf("keys rotate %s: %q %v", p, out, err)
		}
	}
	for _, args := range [][]string{{"keys", "rotate"}, {"keys", "rotate", "marketing"}} {
		if _, _, err := cli(args...); !errors.Is(err, errUsage) {
			t.Errorf("%v: %v, want a usage error", args, err)
		}
	}
	if _, _, err := cli("keys", "rotate", "pseudonym"); err == nil || !strings.Contains(err.Error(), "-force") {
		t.Errorf("rotate pseudonym without -force: %v", err)
	}
	env["RINGFENCE_KEY_TOKEN"] = "1:" + strings.Repeat("A", 42) + "E="
	if _, _, err := cli("keys", "rotate", "token"); err == nil || !strings.Contains(err.Error(), "RINGFENCE_KEY_TOKEN") {
		t.Errorf("rotate a key from the environment: %v", err)
	}
	delete(env, "RINGFENCE_KEY_TOKEN")
	if _, _, err := cli("keys", "reencrypt", "-batch", "0"); !errors.Is(err, errUsage) {
		t.Errorf("reencrypt -batch 0: %v", err)
	}

	if _, _, err := cli("keys", "reencrypt"); err == nil || !strings.Contains(err.Error(), "wait") {
		t.Errorf("reencrypt right after a rotation: %v, want a request to wait", err)
	}
	out, progress, err := cli("keys", "reencrypt", "-now", "-batch", "1")
	if err != nil || !strings.Contains(out, "re-encrypted") || !strings.Contains(progress, "100%") {
		t.Fatalf("keys reencrypt: %q %q %v", out, progress, err)
	}
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "ringfence.db")+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range []string{
		`SELECT phone_index FROM bindings`, `SELECT phone_index FROM verifications`,
		`SELECT substr(wrapped, 2, 4) FROM subject_keys`, `SELECT substr(phone_sealed, 2, 4) FROM verifications`,
	} {
		for _, b := range blobs(t, db, q) {
			if v := binary.BigEndian.Uint32(b); v != 2 {
				t.Errorf("%s: a value under key version %d", q, v)
			}
		}
	}
	db.Close()

	// The send recorded under the old index key still counts for the cooldown.
	m, stop = startMain(t, dir, &syncBuffer{})
	c = client{t: t, base: m.URL(), key: m.DevKey}
	st, got := c.do("POST", "/v1/verifications", map[string]any{"phone": number, "purpose": "login"})
	if e, _ := got["error"].(map[string]any); st != 429 || e["limit"] != "number_cooldown" {
		t.Errorf("a start within the cooldown after re-encryption: %d %v", st, got)
	}
	stop()

	m, stop = startMainWith(t, dir, &syncBuffer{}, func(c *config.Config) { c.Verify.ResendCooldown = 0 })
	c = client{t: t, base: m.URL(), key: m.DevKey}
	st, got = c.do("POST", "/v1/verifications", map[string]any{"phone": number, "purpose": "login"})
	if st != 201 {
		t.Fatalf("login start: %d %v", st, got)
	}
	id := got["id"].(string)
	if _, got = c.do("POST", "/v1/verifications/"+id+"/check", map[string]any{"code": c.devCode(number)}); got["subject_id"] != sub {
		t.Errorf("login after re-encryption: %v, want subject %s", got, sub)
	}
	stop()
	// Checkpoints signed under both checkpoint key versions verify.
	if out, _, err := cli("audit", "verify"); err != nil || !strings.Contains(out, "audit log OK") {
		t.Errorf("audit verify after rotating the checkpoint key: %q %v", out, err)
	}
	if err := os.Remove(filepath.Join(dir, "keys", "checkpoint-1.key")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := cli("audit", "verify"); err == nil {
		t.Error("audit verify without the key of older checkpoints passed")
	}
}
