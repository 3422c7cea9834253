package vault

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestRotateAndReload(t *testing.T) {
	k, dir := newKeyring(t)
	oldSealed := k.Seal([]byte("+14155550123"), []byte("aad"))
	oldIndex := k.BlindIndex("phone", "+14155550123")

	path, v, err := Rotate(dir, PurposeNumber)
	if err != nil || v != 2 || filepath.Base(path) != "number-2.key" {
		t.Fatalf("Rotate = %s, %d, %v", path, v, err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("new key file: %v, %v", fi, err)
	}
	if _, _, err := Rotate(dir, PurposeIndex); err != nil {
		t.Fatal(err)
	}
	// Until Reload, the keyring keeps its keys.
	if k.Newest(PurposeNumber) != 1 {
		t.Fatalf("Newest before Reload = %d", k.Newest(PurposeNumber))
	}
	if err := k.Reload(dir, nil); err != nil {
		t.Fatal(err)
	}
	if k.Newest(PurposeNumber) != 2 || k.Newest(PurposeIndex) != 2 {
		t.Fatalf("Newest after Reload = %d, %d", k.Newest(PurposeNumber), k.Newest(PurposeIndex))
	}
	if k.SealedCurrent(oldSealed) {
		t.Error("a value sealed under version 1 is current")
	}
	if pt, err := k.Open(oldSealed, []byte("aad")); err != nil || string(pt) != "+14155550123" {
		t.Errorf("old value after rotation: %q, %v", pt, err)
	}
	if !k.SealedCurrent(k.Seal([]byte("x"), nil)) {
		t.Error("a new value is not current")
	}
	idx := k.BlindIndexes("phone", "+14155550123")
	if len(idx) != 2 || !bytes.Equal(idx[1], oldIndex) || bytes.Equal(idx[0], oldIndex) {
		t.Errorf("BlindIndexes after rotation do not hold the old index second")
	}
	if v, ok := IndexVersion(idx[0]); !ok || v != 2 {
		t.Errorf("IndexVersion = %d, %v", v, ok)
	}

	// A reload that would drop a loaded key changes nothing.
	if err := os.Remove(filepath.Join(dir, "number-1.key")); err != nil {
		t.Fatal(err)
	}
	if err := k.Reload(dir, nil); !errors.Is(err, ErrKeyFile) {
		t.Errorf("Reload without a loaded key: %v, want ErrKeyFile", err)
	}
	if _, err := k.Open(oldSealed, []byte("aad")); err != nil {
		t.Errorf("old value after a refused reload: %v", err)
	}
}

func TestRotateErrors(t *testing.T) {
	_, dir := newKeyring(t)
	if _, _, err := Rotate(dir, Purpose("marketing")); err == nil {
		t.Error("Rotate of an unknown purpose succeeded")
	}
	if _, _, err := Rotate(filepath.Join(dir, "missing"), PurposeNumber); err == nil {
		t.Error("Rotate in a missing folder succeeded")
	}
	empty := t.TempDir()
	if _, _, err := Rotate(empty, PurposeNumber); !errors.Is(err, ErrNoKey) {
		t.Errorf("Rotate with no key: %v, want ErrNoKey", err)
	}
	// The optional tombstone key may start at version 1.
	if _, v, err := Rotate(empty, PurposeTombstone); err != nil || v != 1 {
		t.Errorf("Rotate tombstone in an empty folder: %d, %v", v, err)
	}
}

func TestDataKey(t *testing.T) {
	k, _ := newKeyring(t)
	raw := NewDataKey()
	wrapped, err := k.Wrap(raw, []byte("subject-key:sub_a"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(wrapped, raw) {
		t.Fatal("the wrapped key holds the raw key")
	}
	if _, err := k.Unwrap(wrapped, []byte("subject-key:sub_b")); !errors.Is(err, ErrDecrypt) {
		t.Errorf("Unwrap with other aad: %v", err)
	}
	got, err := k.Unwrap(wrapped, []byte("subject-key:sub_a"))
	if err != nil || !bytes.Equal(got, raw) {
		t.Fatalf("Unwrap: %v", err)
	}
	dk, err := OpenDataKey(got)
	if err != nil {
		t.Fatal(err)
	}
	sealed := dk.Seal([]byte("+14155550123"), []byte("binding:sub_a"))
	if !DataKeySealed(sealed) || bytes.Contains(sealed, []byte("4155550123")) {
		t.Fatalf("sealed value: DataKeySealed %v", DataKeySealed(sealed))
	}
	if pt, err := dk.Open(sealed, []byte("binding:sub_a")); err != nil || string(pt) != "+14155550123" {
		t.Errorf("Open: %q, %v", pt, err)
	}
	if _, err := dk.Open(sealed, []byte("binding:sub_b")); !errors.Is(err, ErrDecrypt) {
		t.Errorf("Open with other aad: %v", err)
	}
	other, _ := OpenDataKey(NewDataKey())
	if _, err := other.Open(sealed, []byte("binding:sub_a")); !errors.Is(err, ErrDecrypt) {
		t.Errorf("Open under another data key: %v", err)
	}
	if _, err := k.Open(sealed, []byte("binding:sub_a")); !errors.Is(err, ErrDecrypt) {
		t.Errorf("the keyring opened a data-key value: %v", err)
	}
	if _, err := OpenDataKey([]byte("short")); !errors.Is(err, ErrDecrypt) {
		t.Errorf("OpenDataKey of a short key: %v", err)
	}
}

func TestTombstoneIndexes(t *testing.T) {
	k, dir := newKeyring(t)
	a, err := k.TombstoneIndexes("+14155550123")
	if err != nil || len(a) != 1 {
		t.Fatalf("TombstoneIndexes: %v, %v", a, err)
	}
	if bytes.Equal(a[0], k.BlindIndex("tombstone", "+14155550123")) {
		t.Error("the tombstone index equals a blind index under the index key")
	}
	if err := os.Remove(filepath.Join(dir, "tombstone-1.key")); err != nil {
		t.Fatal(err)
	}
	k2, err := Load(dir, nil)
	if err != nil {
		t.Fatalf("Load without the optional tombstone key: %v", err)
	}
	if _, err := k2.TombstoneIndexes("+14155550123"); !errors.Is(err, ErrNoKey) {
		t.Errorf("TombstoneIndexes without a key: %v, want ErrNoKey", err)
	}
	if k2.Newest(PurposeTombstone) != 0 {
		t.Error("Newest of a missing optional purpose is not 0")
	}
}

// TestRetire removes an old number key so that what it sealed no longer
// opens, and refuses the newest version, a missing one and a bad purpose.
func TestRetire(t *testing.T) {
	k, dir := newKeyring(t)
	old := k.Seal([]byte("+14155550123"), []byte("aad"))
	if _, err := Retire(dir, PurposeNumber, 1); err == nil {
		t.Fatal("Retire of the only (newest) version succeeded")
	}
	if _, _, err := Rotate(dir, PurposeNumber); err != nil {
		t.Fatal(err)
	}
	if _, err := Retire(dir, PurposeNumber, 3); !errors.Is(err, ErrNoKey) {
		t.Errorf("Retire of a missing version: %v, want ErrNoKey", err)
	}
	if _, err := Retire(dir, Purpose("marketing"), 1); err == nil {
		t.Error("Retire of an unknown purpose succeeded")
	}
	path, err := Retire(dir, PurposeNumber, 1)
	if err != nil || filepath.Base(path) != "number-1.key" {
		t.Fatalf("Retire = %s, %v", path, err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("the retired key file is still there: %v", err)
	}
	k2, err := Load(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k2.Open(old, []byte("aad")); !errors.Is(err, ErrDecrypt) {
		t.Errorf("a value under the retired key opens: %v", err)
	}
	if _, err := k.Open(old, []byte("aad")); err != nil {
		t.Errorf("a keyring loaded before keeps the key until it is reloaded: %v", err)
	}
}
