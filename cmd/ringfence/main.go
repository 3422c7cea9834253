// Command ringfence is the phone-number layer of an AI assistant product:
// verification, protection of numbers, and the phone line, in one binary.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "ringfence:", err)
		}
		os.Exit(exitCode(err))
	}
}

// exitCode is 2 for usage errors and 1 otherwise.
func exitCode(err error) int {
	if errors.Is(err, errUsage) || errors.Is(err, flag.ErrHelp) {
		return 2
	}
	return 1
}

var errUsage = errors.New("usage")

const usage = `ringfence: the phone-number layer of an AI assistant product

Usage:
  ringfence serve    [-config file]   run the service (defaults need no configuration)
  ringfence migrate  [-config file]   apply database migrations and exit
  ringfence keys create -name NAME -role app|staff|admin
                                      create an API key and print it once
  ringfence keys list                 list API keys
  ringfence keys revoke ID            revoke an API key
  ringfence keys rotate PURPOSE       add a key version (number, index, pepper, pseudonym,
                                      token, checkpoint, tombstone) that new values use
  ringfence keys reencrypt [-batch N] [-now]
                                      move old ciphertexts and indexes to the newest keys,
                                      in resumable batches, while the service runs
  ringfence keys retire number VERSION [-now]
                                      delete an old number key once nothing in the
                                      database needs it: backups made before can no
                                      longer open the numbers they hold
  ringfence staff create -email E -role viewer|reviewer|approver|admin [-password-file F]
                                      create a console account (password from stdin or
                                      the file) and print its TOTP secret once
  ringfence staff list                list console accounts
  ringfence audit verify [-public]    recompute the audit log and check it against every
                                      signed checkpoint; names the first bad entry
  ringfence audit checkpoint          sign a checkpoint of the audit log now
  ringfence report create [-from N] [-to N]
                                      print the signed transparency report of the period
                                      between two checkpoints (default: whole log, latest)
  ringfence report verify [-public] report.json
                                      recompute every figure of a report from the log and
                                      its checkpoints; names each figure that does not match
  ringfence receipt verify -key receipt-N:BASE64 [-log-key KEY] file.json
                                      check a consent receipt or a subject export offline,
                                      with the keys published at /v1/transparency/keys
                                      (and /v1/audit/checkpoints for an export)
  ringfence config   [-config file]   print the effective configuration, secrets redacted
  ringfence simulate [-seed N] [-hours H] [-signups N]
                                      replay simulated sign-ups and SMS-pumping attacks
                                      through the fraud guard and print the outcome
  ringfence version                   print the version

The configuration file can also be named by RINGFENCE_CONFIG; every setting has
a RINGFENCE_* environment variable derived from its YAML path.
`

// run dispatches a subcommand. getenv is the process environment.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errUsage
	}
	switch args[0] {
	case "serve":
		return runServe(ctx, args[1:], stdout, stderr, getenv)
	case "migrate":
		return runMigrate(ctx, args[1:], stdout, stderr, getenv)
	case "keys":
		return runKeys(ctx, args[1:], stdout, stderr, getenv)
	case "staff":
		return runStaff(ctx, args[1:], os.Stdin, stdout, stderr, getenv)
	case "audit":
		return runAudit(ctx, args[1:], stdout, stderr, getenv)
	case "report":
		return runReport(ctx, args[1:], stdout, stderr, getenv)
	case "receipt":
		return runReceipt(ctx, args[1:], stdout, stderr)
	case "config":
		return runConfig(args[1:], stdout, stderr, getenv)
	case "simulate":
		return runSimulate(args[1:], stdout, stderr)
	case "version", "-version", "--version":
		fmt.Fprintln(stdout, "ringfence", version)
		return nil
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprintf(stderr, "unknown command %q\n\n%s", args[0], usage)
	return errUsage
}
