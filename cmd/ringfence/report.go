package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/ringfence/ringfence/internal/audit"
	"github.com/ringfence/ringfence/internal/privacy"
)

// maxReportBytes caps the report file `report verify` reads.
const maxReportBytes = 16 << 20

// runReport serves `ringfence report create` and `ringfence report verify`.
func runReport(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	if len(args) == 0 || (args[0] != "create" && args[0] != "verify") {
		return fmt.Errorf("%w: report create [-from N] [-to N] | report verify [-public] report.json", errUsage)
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("report "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	from := fs.Uint64("from", 0, "create: size of the checkpoint that starts the period (0: the start of the log)")
	to := fs.Uint64("to", 0, "create: size of the checkpoint that ends it (0: the latest)")
	public := fs.Bool("public", false, "verify: check the log without the row MAC key, as an outsider can")
	var file string
	if sub == "verify" {
		if len(args) == 0 || strings.HasPrefix(args[len(args)-1], "-") {
			return fmt.Errorf("%w: report verify [-public] report.json", errUsage)
		}
		file, args = args[len(args)-1], args[:len(args)-1]
	}
	cfg, err := loadConfig(fs, args, getenv)
	if err != nil {
		return err
	}
	log := newLogger(cfg.Log, stderr)
	keys, db, err := openData(ctx, cfg, log, getenv)
	if err != nil {
		return err
	}
	defer db.Close()

	if sub == "create" {
		svc, err := privacy.NewService(privacy.Config{Issuer: cfg.TokenIssuer(), Origin: cfg.AuditOrigin()}, db, keys, nil)
		if err != nil {
			return err
		}
		sr, err := svc.Report(ctx, *from, *to)
		if errors.Is(err, privacy.ErrNotFound) {
			return errors.New("no signed checkpoint of that size (see `ringfence audit checkpoint`)")
		}
		if err != nil {
			return err
		}
		b, err := json.MarshalIndent(sr, "", "  ")
		if err != nil {
			return err
		}
		_, err = stdout.Write(append(b, '\n'))
		return err
	}

	data, err := readLimited(file, maxReportBytes)
	if err != nil {
		return err
	}
	v, notes, check, err := logChecks(ctx, cfg.AuditOrigin(), keys, db, *public)
	if err != nil {
		return err
	}
	res, err := privacy.VerifyReport(ctx, data, db, v, notes, check, privacy.PublicKeys(keys))
	var bad *audit.BadEntryError
	var badCP *audit.BadCheckpointError
	switch {
	case errors.As(err, &bad):
		return fmt.Errorf("report FAILED: audit log entry %d: %s (entries 1-%d verified)", bad.Seq, bad.Reason, res.Audit.LastGood)
	case errors.As(err, &badCP):
		return fmt.Errorf("report FAILED: the checkpoint of size %d: %s", badCP.Size, badCP.Reason)
	case err != nil:
		return fmt.Errorf("report FAILED: %w", err)
	}
	if len(res.Mismatches) > 0 {
		lines := make([]string, len(res.Mismatches))
		for i, m := range res.Mismatches {
			lines[i] = m.String()
		}
		return fmt.Errorf("report FAILED: %d figure(s) do not match the log:\n  %s", len(lines), strings.Join(lines, "\n  "))
	}
	r := res.Report
	fmt.Fprintf(stdout, "report OK: entries %d to %d of %s, every figure recomputed from the log, signed by %s; log verified (%d entries, %d checkpoints)\n",
		r.From.Size, r.To.Size, r.Origin, res.Signature.KeyID, res.Audit.Rows, res.Audit.Checkpoints)
	return nil
}

// readLimited reads a file of at most limit bytes.
func readLimited(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, limit)
	}
	return b, nil
}
