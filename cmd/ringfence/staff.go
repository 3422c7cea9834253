package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ringfence/ringfence/internal/access"
)

// maxPasswordInput bounds what is read as a password.
const maxPasswordInput = 4096

// runStaff manages staff accounts of the console: "staff create" makes one
// and prints its TOTP enrollment once; "staff list" lists them. The password
// is the first line of -password-file, or of stdin.
func runStaff(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errUsage
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("staff "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	email := fs.String("email", "", "the staff member's email, used to log in")
	role := fs.String("role", "", "viewer, reviewer, approver or admin")
	passwordFile := fs.String("password-file", "", "file whose first line is the password (default: read it from stdin)")
	cfg, err := loadConfig(fs, args, getenv)
	if err != nil {
		return err
	}
	switch sub {
	case "create", "list":
	default:
		return fmt.Errorf("%w: unknown staff command %q", errUsage, sub)
	}
	var password string
	if sub == "create" {
		if *email == "" || !access.Role(*role).Valid() {
			return fmt.Errorf("%w: staff create needs -email and -role viewer|reviewer|approver|admin", errUsage)
		}
		in := stdin
		if *passwordFile != "" {
			f, err := os.Open(*passwordFile)
			if err != nil {
				return fmt.Errorf("read password: %w", err)
			}
			defer f.Close()
			in = f
		} else {
			fmt.Fprintln(stderr, "Reading the password from stdin (first line).")
		}
		if password, err = readPassword(in); err != nil {
			return err
		}
	}

	log := newLogger(cfg.Log, stderr)
	keys, db, err := openData(ctx, cfg, log, getenv)
	if err != nil {
		return err
	}
	defer db.Close()
	svc, err := access.NewService(access.DefaultConfig(), db, keys, nil)
	if err != nil {
		return err
	}
	if sub == "list" {
		all, err := svc.ListStaff(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tEMAIL\tROLE\tCREATED\tDISABLED")
		for _, st := range all {
			disabled := "-"
			if !st.DisabledAt.IsZero() {
				disabled = st.DisabledAt.UTC().Format(time.RFC3339)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", st.ID, st.Email, st.Role, st.CreatedAt.UTC().Format(time.RFC3339), disabled)
		}
		return tw.Flush()
	}
	st, enr, err := svc.CreateStaff(ctx, "cli", *email, access.Role(*role), password)
	switch {
	case errors.Is(err, access.ErrConflict):
		return fmt.Errorf("a staff account with email %s exists", *email)
	case errors.Is(err, access.ErrInvalidRequest):
		return fmt.Errorf("%w: bad email or role, or a password outside %d-%d characters", errUsage, access.MinPasswordLen, access.MaxPasswordLen)
	case err != nil:
		return err
	}
	fmt.Fprintf(stdout, "staff %s (%s, %s)\n", st.ID, st.Email, st.Role)
	fmt.Fprintf(stdout, "totp secret: %s\n", enr.Secret)
	fmt.Fprintf(stdout, "totp url:    %s\n", enr.URL)
	fmt.Fprintln(stderr, "The TOTP secret is shown once: add it to an authenticator app now.")
	return nil
}

// readPassword returns the first line of r, without its line ending.
func readPassword(r io.Reader) (string, error) {
	line, err := bufio.NewReader(io.LimitReader(r, maxPasswordInput)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read password: %w", err)
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", fmt.Errorf("%w: no password given", errUsage)
	}
	return line, nil
}
