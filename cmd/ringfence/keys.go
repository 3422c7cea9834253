package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/ringfence/ringfence/internal/apikey"
	"github.com/ringfence/ringfence/internal/vault"
)

func runKeys(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errUsage
	}
	sub, args := args[0], args[1:]
	switch sub {
	case "rotate":
		return runRotate(args, stdout, stderr, getenv)
	case "reencrypt":
		return runReencrypt(ctx, args, stdout, stderr, getenv)
	case "retire":
		return runRetire(ctx, args, stdout, stderr, getenv)
	}
	fs := flag.NewFlagSet("keys "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	name := fs.String("name", "", "a name for the key (who or what uses it)")
	role := fs.String("role", "app", "app, staff or admin")
	var rest []string
	// Flags may follow the positional argument of revoke.
	if sub == "revoke" && len(args) > 0 && args[0] != "" && args[0][0] != '-' {
		rest, args = args[:1], args[1:]
	}
	cfg, err := loadConfig(fs, args, getenv)
	if err != nil {
		return err
	}
	log := newLogger(cfg.Log, stderr)
	_, db, err := openData(ctx, cfg, log, getenv)
	if err != nil {
		return err
	}
	defer db.Close()
	switch sub {
	case "create":
		r := apikey.Role(*role)
		if *name == "" || !r.Valid() {
			return fmt.Errorf("%w: keys create needs -name and -role app|staff|admin", errUsage)
		}
		secret, err := createKey(ctx, db, *name, r)
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, secret)
		fmt.Fprintln(stderr, "This key is shown once; store it as a secret.")
		return nil
	case "list":
		keys, err := db.ListAPIKeys(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tROLE\tCREATED\tREVOKED")
		for _, k := range keys {
			revoked := "-"
			if !k.RevokedAt.IsZero() {
				revoked = k.RevokedAt.UTC().Format(time.RFC3339)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", k.ID, k.Name, k.Role, k.CreatedAt.UTC().Format(time.RFC3339), revoked)
		}
		return tw.Flush()
	case "revoke":
		if len(rest) != 1 {
			return fmt.Errorf("%w: keys revoke needs the key id", errUsage)
		}
		if err := db.RevokeAPIKey(ctx, rest[0], time.Now()); err != nil {
			if errors.Is(err, apikey.ErrNotFound) {
				return fmt.Errorf("no key %q", rest[0])
			}
			return err
		}
		fmt.Fprintln(stdout, "revoked", rest[0])
		return nil
	}
	return fmt.Errorf("%w: unknown keys command %q", errUsage, sub)
}

// createKey stores a new API key and returns its secret.
func createKey(ctx context.Context, st apikey.Store, name string, role apikey.Role) (string, error) {
	secret, hash := apikey.Generate()
	k := apikey.Key{ID: vault.NewID("key"), Name: name, Role: role, CreatedAt: time.Now().UTC()}
	if err := st.CreateAPIKey(ctx, k, hash); err != nil {
		return "", fmt.Errorf("create key: %w", err)
	}
	return secret, nil
}
