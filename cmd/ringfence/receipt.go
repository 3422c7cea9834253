package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"

	"golang.org/x/mod/sumdb/note"

	"github.com/ringfence/ringfence/internal/privacy"
)

// runReceipt serves `ringfence receipt verify`: it checks a consent receipt
// or a subject export offline, with only the published keys, so the person
// who holds it needs neither the service nor its data.
func runReceipt(_ context.Context, args []string, stdout, stderr io.Writer) error {
	const use = "receipt verify -key receipt-N:BASE64 [-log-key VERIFIER_KEY] file.json"
	if len(args) == 0 || args[0] != "verify" {
		return fmt.Errorf("%w: %s", errUsage, use)
	}
	fs := flag.NewFlagSet("receipt verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	key := fs.String("key", "", "the receipt key as published at /v1/transparency/keys: key_id:public_key")
	logKey := fs.String("log-key", "", "exports: the checkpoint verifier key published at /v1/audit/checkpoints")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if fs.NArg() != 1 || *key == "" {
		return fmt.Errorf("%w: %s", errUsage, use)
	}
	id, pub, ok := strings.Cut(*key, ":")
	if !ok {
		return fmt.Errorf("%w: -key must be key_id:public_key", errUsage)
	}
	trusted, err := privacy.TrustedKey(id, pub)
	if err != nil {
		return err
	}
	data, err := readLimited(fs.Arg(0), maxReportBytes)
	if err != nil {
		return err
	}
	var kind map[string]json.RawMessage
	if err := json.Unmarshal(data, &kind); err != nil {
		return fmt.Errorf("%s is not a JSON object", fs.Arg(0))
	}
	switch {
	case kind["receipt"] != nil:
		r, err := privacy.VerifyReceipt(data, trusted)
		if err != nil {
			return fmt.Errorf("receipt FAILED: %w", err)
		}
		fmt.Fprintf(stdout, "receipt OK: %s %s by %s for %s at %s (audit entry %d of %s)\n",
			r.Action, r.Purpose, r.Channel, r.Subject, r.IssuedAt, r.AuditSeq, r.AuditOrigin)
	case kind["export"] != nil:
		if *logKey == "" {
			return fmt.Errorf("%w: an export needs -log-key", errUsage)
		}
		v, err := note.NewVerifier(*logKey)
		if err != nil {
			return fmt.Errorf("-log-key: %w", err)
		}
		x, err := privacy.VerifyExport(data, trusted, v)
		if err != nil {
			return fmt.Errorf("export FAILED: %w", err)
		}
		fmt.Fprintf(stdout, "export OK: subject %s, %d audit entries each proven in the checkpoint of size %d\n",
			x.Subject.ID, len(x.Audit.Entries), x.Audit.Checkpoint.Size)
	default:
		return fmt.Errorf("%s is neither a receipt nor an export", fs.Arg(0))
	}
	return nil
}
