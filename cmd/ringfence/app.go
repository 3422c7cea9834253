package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/ringfence/ringfence/internal/config"
	"github.com/ringfence/ringfence/internal/store"
	"github.com/ringfence/ringfence/internal/vault"
)

// loadConfig reads the configuration named by -config or RINGFENCE_CONFIG,
// applies the environment and validates it.
func loadConfig(fs *flag.FlagSet, args []string, getenv func(string) string) (config.Config, error) {
	path := fs.String("config", getenv("RINGFENCE_CONFIG"), "configuration file (YAML)")
	if err := fs.Parse(args); err != nil {
		return config.Config{}, err
	}
	if fs.NArg() > 0 {
		return config.Config{}, fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	cfg, err := config.Load(*path, getenv)
	if err != nil {
		return config.Config{}, err
	}
	if err := cfg.Validate(); err != nil {
		return config.Config{}, err
	}
	return cfg, nil
}

func newLogger(cfg config.Log, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.Level))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.Format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// dbURL is the database the configuration names: SQLite in the data folder
// unless db.url says otherwise.
func dbURL(cfg config.Config) string {
	if cfg.DB.URL != "" {
		return cfg.DB.URL
	}
	return filepath.Join(cfg.DataDir, "ringfence.db")
}

// openData creates the data folder and opens the key files and the database.
// Keys missing from a fresh folder are generated; keys missing beside an
// existing SQLite database are an error, since new keys could not read it.
func openData(ctx context.Context, cfg config.Config, log *slog.Logger, getenv func(string) string) (*vault.Keyring, *store.DB, error) {
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, nil, fmt.Errorf("create data folder: %w", err)
	}
	url := dbURL(cfg)
	existing := false
	if !cfg.DBIsPostgres() {
		if _, err := os.Stat(strings.TrimPrefix(url, "sqlite://")); err == nil {
			existing = true
		}
	}
	keysDir := cfg.KeysDir()
	if _, err := vault.Load(keysDir, getenv); err != nil {
		if existing && !errors.Is(err, os.ErrNotExist) && !errors.Is(err, vault.ErrNoKey) {
			return nil, nil, fmt.Errorf("load keys: %w", err)
		}
		created, gerr := vault.Generate(keysDir)
		if gerr != nil {
			return nil, nil, fmt.Errorf("generate keys: %w", gerr)
		}
		if len(created) > 0 {
			if existing && !onlyReceiptKeys(created) {
				return nil, nil, fmt.Errorf("key files were missing in %s beside an existing database; new keys were written but cannot read old data: restore the original keys", keysDir)
			}
			log.Warn("generated new key files; production keys belong outside the data folder (keys.dir or RINGFENCE_KEY_*)", "dir", keysDir, "files", len(created))
		}
	}
	keys, err := vault.Load(keysDir, getenv)
	if err != nil {
		return nil, nil, fmt.Errorf("load keys: %w", err)
	}
	if keys, err = addTombstoneKey(keys, keysDir, getenv); err != nil {
		return nil, nil, err
	}
	db, err := store.Open(ctx, store.Config{URL: url, MaxBatch: cfg.DB.MaxBatch, Logger: log, AuditMAC: auditMAC(keys)})
	if err != nil {
		return nil, nil, fmt.Errorf("open database: %w", err)
	}
	return keys, db, nil
}

// addTombstoneKey gives a key folder made before tombstones its tombstone
// key: nothing was sealed under one, so a new key reads no old data wrongly.
func addTombstoneKey(keys *vault.Keyring, dir string, getenv func(string) string) (*vault.Keyring, error) {
	if keys.Newest(vault.PurposeTombstone) != 0 {
		return keys, nil
	}
	for _, p := range vault.Purposes() {
		if getenv(vault.EnvVar(p)) != "" {
			return keys, nil // keys come from the environment: the operator adds it
		}
	}
	if _, _, err := vault.Rotate(dir, vault.PurposeTombstone); err != nil {
		return nil, fmt.Errorf("create tombstone key: %w", err)
	}
	keys, err := vault.Load(dir, getenv)
	if err != nil {
		return nil, fmt.Errorf("load keys: %w", err)
	}
	return keys, nil
}

// onlyReceiptKeys reports whether every created key file is of a purpose
// that seals and indexes nothing of the existing data (receipt signing, or
// tombstones, which start empty): a database created before those existed
// gets them without losing anything.
func onlyReceiptKeys(created []string) bool {
	for _, path := range created {
		base := filepath.Base(path)
		if !strings.HasPrefix(base, string(vault.PurposeReceipt)+"-") && !strings.HasPrefix(base, string(vault.PurposeTombstone)+"-") {
			return false
		}
	}
	return true
}

// auditMAC is the MAC stored with each audit row, under the index key.
func auditMAC(keys *vault.Keyring) func([]byte) []byte {
	return func(msg []byte) []byte { return keys.MAC("audit-row", msg) }
}

func runMigrate(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	fs.SetOutput(stderr)
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
	v, err := db.MigrationVersion(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "database (%s) at migration %d\n", db.Dialect(), v)
	return nil
}

func runConfig(args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := flag.NewFlagSet("config", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg, err := loadConfig(fs, args, getenv)
	if err != nil {
		return err
	}
	return printYAML(stdout, cfg.Redacted())
}
