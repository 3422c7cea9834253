package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ringfence/ringfence/internal/config"
	"github.com/ringfence/ringfence/internal/rekey"
	"github.com/ringfence/ringfence/internal/store"
	"github.com/ringfence/ringfence/internal/vault"
)

// keyReloadEvery is how often a running service reads its key files again,
// so that a rotated key is in use everywhere before a re-encryption starts.
const keyReloadEvery = 30 * time.Second

// runRotate adds a new version of one key purpose: ringfence keys rotate PURPOSE.
func runRotate(args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	var purpose string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		purpose, args = args[0], args[1:]
	}
	fs := flag.NewFlagSet("keys rotate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	force := fs.Bool("force", false, "rotate the pseudonym key although it changes every pseudonym")
	cfg, err := loadConfig(fs, args, getenv)
	if err != nil {
		return err
	}
	p, ok := vault.ParsePurpose(purpose)
	if !ok {
		names := make([]string, 0, 8)
		for _, q := range vault.Purposes() {
			names = append(names, string(q))
		}
		return fmt.Errorf("%w: keys rotate needs a purpose: %s", errUsage, strings.Join(names, ", "))
	}
	if getenv(vault.EnvVar(p)) != "" {
		return fmt.Errorf("the %s keys come from $%s: add the new version there as another \"<version>:<base64>\" entry", p, vault.EnvVar(p))
	}
	if p == vault.PurposePseudonym && !*force {
		return fmt.Errorf("rotating the pseudonym key changes the pseudonym of every subject in every audience; pass -force if that is intended")
	}
	path, v, err := vault.Rotate(cfg.KeysDir(), p)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s key version %d written to %s\n", p, v, path)
	switch p {
	case vault.PurposeNumber, vault.PurposeIndex, vault.PurposePepper:
		fmt.Fprintf(stderr, "Running services load it within %s (or at once on SIGHUP); then run `ringfence keys reencrypt` to move old values to it. Keep the old key file: audit rows and short-lived indexes still name it.\n", keyReloadEvery)
	case vault.PurposeCheckpoint:
		fmt.Fprintln(stderr, "New checkpoints are signed with it after the next start; keep the old key file so older checkpoints still verify.")
	default:
		fmt.Fprintf(stderr, "Running services load it within %s (or at once on SIGHUP).\n", keyReloadEvery)
	}
	if p == vault.PurposeIndex {
		fmt.Fprintln(stderr, "Fraud list entries for numbers, prefixes and IPs are keyed indexes that cannot be recomputed: add them again (POST /v1/fraud/lists) after the re-encryption.")
	}
	return nil
}

// runReencrypt moves every value that can be moved to the newest keys,
// with a progress bar on stderr: ringfence keys reencrypt [-batch N].
func runReencrypt(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := flag.NewFlagSet("keys reencrypt", flag.ContinueOnError)
	fs.SetOutput(stderr)
	batch := fs.Int("batch", rekey.DefaultBatch, "rows per transaction")
	now := fs.Bool("now", false, "do not wait for running services to load a key rotated moments ago")
	cfg, err := loadConfig(fs, args, getenv)
	if err != nil {
		return err
	}
	if *batch <= 0 || *batch > 100_000 {
		return fmt.Errorf("%w: -batch must be 1-100000", errUsage)
	}
	keys, db, err := openForKeyWork(ctx, cfg, *now, stderr, getenv)
	if err != nil {
		return err
	}
	defer db.Close()
	bar := &progressBar{w: stderr, start: time.Now()}
	stats, err := rekey.Run(ctx, db, keys, *batch, bar.update)
	bar.finish()
	if err != nil {
		return fmt.Errorf("%w (rewritten so far: %d rows; run it again to continue)", err, stats.Changed)
	}
	fmt.Fprintf(stdout, "re-encrypted: %d rows checked, %d rewritten in %d pass(es); number key %d, index key %d, pepper %d\n",
		stats.Rows, stats.Changed, stats.Passes, keys.Newest(vault.PurposeNumber), keys.Newest(vault.PurposeIndex), keys.Newest(vault.PurposePepper))
	return nil
}

// runRetire deletes an old version of the number key once no value in the
// database is sealed under it: ringfence keys retire number VERSION [-now].
// Backups and archived logs made before keep values under that version;
// with its key file gone they can no longer be opened, so numbers erased
// since those copies were made are gone from them too.
func runRetire(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	var purpose, version string
	for len(args) > 0 && !strings.HasPrefix(args[0], "-") && version == "" {
		if purpose == "" {
			purpose = args[0]
		} else {
			version = args[0]
		}
		args = args[1:]
	}
	fs := flag.NewFlagSet("keys retire", flag.ContinueOnError)
	fs.SetOutput(stderr)
	now := fs.Bool("now", false, "do not wait for running services to load a key rotated moments ago")
	cfg, err := loadConfig(fs, args, getenv)
	if err != nil {
		return err
	}
	if purpose != string(vault.PurposeNumber) {
		return fmt.Errorf("%w: keys retire number VERSION: only number keys are retired (they open numbers, codes and data keys; other purposes keep old versions to check what they made)", errUsage)
	}
	v, err := strconv.ParseUint(version, 10, 32)
	if err != nil || v == 0 {
		return fmt.Errorf("%w: keys retire number VERSION: the version is a positive number (see the number-<version>.key files)", errUsage)
	}
	if getenv(vault.EnvVar(vault.PurposeNumber)) != "" {
		return fmt.Errorf("the number keys come from $%s: remove the old version's entry there", vault.EnvVar(vault.PurposeNumber))
	}
	keys, db, err := openForKeyWork(ctx, cfg, *now, stderr, getenv)
	if err != nil {
		return err
	}
	defer db.Close()
	if uint32(v) == keys.Newest(vault.PurposeNumber) {
		return fmt.Errorf("number key version %d is the newest: rotate it (ringfence keys rotate number), re-encrypt, then retire it", v)
	}
	held, err := rekey.Holding(ctx, db, keys, uint32(v), rekey.DefaultBatch)
	if err != nil {
		return err
	}
	if n := sumValues(held); n > 0 {
		return fmt.Errorf("%d values in the database are still sealed under number key version %d (%s): run `ringfence keys reencrypt` first", n, v, describeCounts(held))
	}
	path, err := vault.Retire(cfg.KeysDir(), vault.PurposeNumber, uint32(v))
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "number key version %d retired: %s overwritten and removed\n", v, path)
	fmt.Fprintln(stderr, "Delete every other copy of that key file too (key backups). Backups and archived logs of the database made before hold values under it and can no longer open them. Running services keep the key in memory until they restart: restart them.")
	return nil
}

func sumValues(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// describeCounts lists the non-zero counts of m as "table n", in name order.
func describeCounts(m map[string]int) string {
	names := slices.Sorted(maps.Keys(m))
	parts := make([]string, 0, len(names))
	for _, k := range names {
		if m[k] > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
		}
	}
	return strings.Join(parts, ", ")
}

// openForKeyWork opens the keys and the database for a re-encryption or a
// retirement. Unless now, it refuses while a key file in the key folder is
// so new that a running service may not have loaded it yet (it would not
// find values under it, or would still seal under the key about to go).
func openForKeyWork(ctx context.Context, cfg config.Config, now bool, stderr io.Writer, getenv func(string) string) (*vault.Keyring, *store.DB, error) {
	if !now {
		if wait := untilLoaded(cfg.KeysDir(), time.Now()); wait > 0 {
			return nil, nil, fmt.Errorf("a key was rotated moments ago: wait %s so running services load it, or pass -now if none runs", wait.Round(time.Second))
		}
	}
	return openData(ctx, cfg, newLogger(cfg.Log, stderr), getenv)
}

// untilLoaded is how long to wait until every running service has re-read
// the newest key file in dir; 0 if none is that new.
func untilLoaded(dir string, now time.Time) time.Duration {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0
	}
	var wait time.Duration
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".key") {
			continue
		}
		if fi, err := e.Info(); err == nil {
			wait = max(wait, fi.ModTime().Add(keyReloadEvery+5*time.Second).Sub(now))
		}
	}
	return wait
}

// progressBar draws "[#####-----]  50%  5000/10000 rows, 42 rewritten" on
// one line of a terminal.
type progressBar struct {
	w     io.Writer
	start time.Time
	drawn bool
	last  time.Time
}

const barWidth = 30

func (b *progressBar) update(done, total, changed int) {
	now := time.Now()
	if done < total && now.Sub(b.last) < 100*time.Millisecond {
		return
	}
	b.last = now
	pct := 100
	if total > 0 {
		pct = done * 100 / total
	}
	fill := pct * barWidth / 100
	fmt.Fprintf(b.w, "\r[%s%s] %3d%%  %d/%d rows, %d rewritten, %s",
		strings.Repeat("#", fill), strings.Repeat("-", barWidth-fill), pct, done, total, changed,
		now.Sub(b.start).Round(time.Second))
	b.drawn = true
}

func (b *progressBar) finish() {
	if b.drawn {
		fmt.Fprintln(b.w)
	}
}

// keyVersions describes the loaded key versions, such as "number:2,1 index:1 ...".
func keyVersions(keys *vault.Keyring) string {
	var b strings.Builder
	for _, p := range vault.Purposes() {
		fmt.Fprintf(&b, "%s:%v ", p, keys.Versions(p))
	}
	return strings.TrimSpace(b.String())
}

// reloadKeys reads the key files again every keyReloadEvery and on SIGHUP,
// until ctx ends, so a rotated key is used without a restart.
func (m *Main) reloadKeys(ctx context.Context) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	t := time.NewTicker(keyReloadEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-hup:
		}
		before := keyVersions(m.Keys)
		if err := m.Keys.Reload(m.Config.KeysDir(), m.Getenv); err != nil {
			m.Log.Error("reload keys", "err", err)
			continue
		}
		if after := keyVersions(m.Keys); after != before {
			m.Log.Info("new key versions loaded", "versions", after)
		}
	}
}
