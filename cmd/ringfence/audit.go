package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"flag"
	"fmt"
	"io"

	"golang.org/x/mod/sumdb/note"

	"github.com/ringfence/ringfence/internal/audit"
	"github.com/ringfence/ringfence/internal/store"
	"github.com/ringfence/ringfence/internal/vault"
)

// runAudit serves `ringfence audit verify` and `ringfence audit checkpoint`.
func runAudit(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	if len(args) == 0 || (args[0] != "verify" && args[0] != "checkpoint") {
		return fmt.Errorf("%w: audit verify | audit checkpoint", errUsage)
	}
	sub := args[0]
	fs := flag.NewFlagSet("audit "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	public := fs.Bool("public", false, "verify: check only what the signed checkpoints show, without the row MAC key")
	cfg, err := loadConfig(fs, args[1:], getenv)
	if err != nil {
		return err
	}
	log := newLogger(cfg.Log, stderr)
	keys, db, err := openData(ctx, cfg, log, getenv)
	if err != nil {
		return err
	}
	defer db.Close()
	if sub == "checkpoint" {
		l, _, err := openAuditLog(cfg, keys, db)
		if err != nil {
			return err
		}
		c, err := l.Checkpoint(ctx)
		if err != nil {
			return err
		}
		_, err = stdout.Write(c.Note)
		return err
	}

	origin := cfg.AuditOrigin()
	v, notes, check, err := logChecks(ctx, origin, keys, db, *public)
	if err != nil {
		return err
	}
	rep, err := audit.Verify(ctx, db, notes, v, check)
	var bad *audit.BadEntryError
	var badCP *audit.BadCheckpointError
	switch {
	case errors.As(err, &bad):
		return fmt.Errorf("audit log FAILED at entry %d: %s (entries 1-%d verified)", bad.Seq, bad.Reason, rep.LastGood)
	case errors.As(err, &badCP):
		return fmt.Errorf("audit log FAILED at the checkpoint of size %d: %s (entries 1-%d verified)", badCP.Size, badCP.Reason, rep.LastGood)
	case err != nil:
		return err
	}
	fmt.Fprintf(stdout, "audit log OK: %d entries, %d signed checkpoints (the latest covers %d entries), origin %s\n",
		rep.Rows, rep.Checkpoints, rep.Checkpointed, origin)
	return nil
}

// logChecks returns what audit.Verify needs to check the log: the verifier
// of its checkpoints, every stored checkpoint, and the row MAC check (nil
// when public: only what the checkpoints show, as an outsider can check).
func logChecks(ctx context.Context, origin string, keys *vault.Keyring, db *store.DB, public bool) (note.Verifier, [][]byte, func(msg, stored []byte) bool, error) {
	// Checkpoints signed before a rotation of the checkpoint key verify
	// under the older versions, which stay in the key folder.
	pubs := keys.PublicKeys(vault.PurposeCheckpoint)
	var set []ed25519.PublicKey
	for _, ver := range keys.Versions(vault.PurposeCheckpoint) {
		set = append(set, pubs[ver])
	}
	v, err := audit.NewVerifierSet(origin, set)
	if err != nil {
		return nil, nil, nil, err
	}
	stored, err := db.Checkpoints(ctx, 1<<30)
	if err != nil {
		return nil, nil, nil, err
	}
	notes := make([][]byte, len(stored))
	for i, c := range stored {
		notes[i] = c.Note
	}
	if public {
		return v, notes, nil, nil
	}
	return v, notes, func(msg, mac []byte) bool { return keys.CheckMAC(mac, "audit-row", msg) }, nil
}
