package main

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ringfence/ringfence/internal/config"
	"github.com/ringfence/ringfence/internal/vault"
)

// TestKeysRetireNumber copies a data folder's database as a backup, erases
// one of its two subjects, and retires the number key the backup was sealed
// under with `ringfence keys retire`: refused while it is the newest and
// while the database still holds values under it, done after `keys
// reencrypt`. Afterwards the backup's sealed numbers and wrapped data keys no
// longer open (before, they did), while the live subject still gets codes.
func TestKeysRetireNumber(t *testing.T) {
	dir := t.TempDir()
	m, stop := startMain(t, dir, &syncBuffer{})
	c := client{t: t, base: m.URL(), key: m.DevKey}
	const erased, kept = "+14155550161", "+14155550162"
	subErased := signupOK(t, c, erased)
	subKept := signupOK(t, c, kept)
	stop()

	backup := t.TempDir()
	files, _ := filepath.Glob(filepath.Join(dir, "ringfence.db*"))
	for _, f := range files {
		copyFile(t, f, filepath.Join(backup, filepath.Base(f)))
	}

	m, stop = startMain(t, dir, &syncBuffer{})
	c = client{t: t, base: m.URL(), key: m.DevKey}
	if st, out := c.do("DELETE", "/v1/subjects/"+subErased, map[string]any{"confirm": subErased}); st != 200 {
		t.Fatalf("erase: %d %v", st, out)
	}
	stop()

	env := map[string]string{"RINGFENCE_DATA_DIR": dir}
	getenv := func(k string) string { return env[k] }
	cli := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := run(context.Background(), args, &out, io.Discard, getenv)
		return out.String(), err
	}
	keysDir := filepath.Join(dir, "keys")
	opened := func() (numbers []string) {
		t.Helper()
		kr, err := vault.Load(keysDir, func(string) string { return "" })
		if err != nil {
			t.Fatal(err)
		}
		db, err := sql.Open("sqlite", "file:"+filepath.Join(backup, "ringfence.db")+"?mode=ro")
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		rows, err := db.Query(`SELECT id, phone_sealed FROM verifications`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			var sealed []byte
			if err := rows.Scan(&id, &sealed); err != nil {
				t.Fatal(err)
			}
			if pt, err := kr.Open(sealed, []byte("phone:"+id)); err == nil {
				numbers = append(numbers, string(pt))
			}
		}
		return numbers
	}
	if nums := opened(); len(nums) != 2 || !strings.Contains(strings.Join(nums, " "), erased) {
		t.Fatalf("the backup opens %d numbers before retirement, want both", len(nums))
	}

	for _, args := range [][]string{
		{"keys", "retire"}, {"keys", "retire", "index", "1"}, {"keys", "retire", "number"},
		{"keys", "retire", "number", "x"}, {"keys", "retire", "number", "0"},
	} {
		if _, err := cli(args...); !errors.Is(err, errUsage) {
			t.Errorf("%v: %v, want a usage error", args, err)
		}
	}
	if _, err := cli("keys", "retire", "number", "1", "-now"); err == nil || !strings.Contains(err.Error(), "newest") {
		t.Fatalf("retire the only number key: %v", err)
	}
	if _, err := cli("keys", "rotate", "number"); err != nil {
		t.Fatal(err)
	}
	if _, err := cli("keys", "retire", "number", "1"); err == nil || !strings.Contains(err.Error(), "wait") {
		t.Errorf("retire right after a rotation: %v, want a request to wait", err)
	}
	if _, err := cli("keys", "retire", "number", "1", "-now"); err == nil || !strings.Contains(err.Error(), "reencrypt") {
		t.Fatalf("retire before re-encryption: %v, want it refused", err)
	}
	if _, err := cli("keys", "retire", "number", "7", "-now"); !errors.Is(err, vault.ErrNoKey) {
		t.Errorf("retire a version that is not there: %v", err)
	}
	if _, err := os.Stat(filepath.Join(keysDir, "number-1.key")); err != nil {
		t.Fatalf("a refused retirement removed the key: %v", err)
	}
	if _, err := cli("keys", "reencrypt", "-now"); err != nil {
		t.Fatal(err)
	}
	if out, err := cli("keys", "retire", "number", "1", "-now"); err != nil || !strings.Contains(out, "retired") {
		t.Fatalf("retire after re-encryption: %q %v", out, err)
	}
	if _, err := os.Stat(filepath.Join(keysDir, "number-1.key")); !os.IsNotExist(err) {
		t.Fatalf("number-1.key after retirement: %v", err)
	}

	if nums := opened(); len(nums) != 0 {
		t.Errorf("the backup still opens %d numbers after retirement", len(nums))
	}
	kr, err := vault.Load(keysDir, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	bdb, err := sql.Open("sqlite", "file:"+filepath.Join(backup, "ringfence.db")+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer bdb.Close()
	for _, w := range blobs(t, bdb, `SELECT wrapped FROM subject_keys WHERE subject_id = ?`, subErased) {
		if _, err := kr.Unwrap(w, []byte("subject-key:"+subErased)); !errors.Is(err, vault.ErrDecrypt) {
			t.Errorf("the backup's data key of the erased subject unwraps after retirement: %v", err)
		}
	}

	// The live data moved to version 2 and still opens: a step-up reaches
	// the kept subject's number.
	m, stop = startMainWith(t, dir, &syncBuffer{}, func(c *config.Config) { c.Verify.ResendCooldown = 0 })
	defer stop()
	c = client{t: t, base: m.URL(), key: m.DevKey}
	if st, out := c.do("POST", "/v1/verifications", map[string]any{"subject_id": subKept, "purpose": "step_up"}); st != 201 {
		t.Fatalf("step-up after retirement: %d %v", st, out)
	}
	if c.devCode(kept) == "" {
		t.Fatal("no code for the kept subject")
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}
