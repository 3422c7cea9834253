package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"gopkg.in/yaml.v3"

	"github.com/ringfence/ringfence/internal/access"
	"github.com/ringfence/ringfence/internal/api"
	"github.com/ringfence/ringfence/internal/apikey"
	"github.com/ringfence/ringfence/internal/audit"
	"github.com/ringfence/ringfence/internal/config"
	"github.com/ringfence/ringfence/internal/console"
	"github.com/ringfence/ringfence/internal/fraud"
	"github.com/ringfence/ringfence/internal/identity"
	"github.com/ringfence/ringfence/internal/privacy"
	"github.com/ringfence/ringfence/internal/sms"
	"github.com/ringfence/ringfence/internal/sms/devinbox"
	"github.com/ringfence/ringfence/internal/store"
	"github.com/ringfence/ringfence/internal/vault"
	"github.com/ringfence/ringfence/internal/verify"
	"github.com/ringfence/ringfence/internal/voice"
)

func printYAML(w io.Writer, v any) error {
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	if err := enc.Encode(v); err != nil {
		return err
	}
	return enc.Close()
}

// Main is the running service, wired by hand. End-to-end tests build one on
// 127.0.0.1:0 with NewMain, Open, Run and Close.
type Main struct {
	Config config.Config
	Getenv func(string) string
	Log    *slog.Logger
	Stdout io.Writer

	Keys       *vault.Keyring
	DB         *store.DB
	Sender     sms.Sender
	Provider   verify.Provider // sms.provider twilioverify or vonageverify; else nil
	DevInbox   *devinbox.Inbox
	Verify     *verify.Service
	Identity   *identity.Service
	Access     *access.Service
	Privacy    *privacy.Service
	Dispatcher *verify.Dispatcher
	AuditLog   *audit.Log
	Guard      *fraud.Guard  // nil when fraud.enabled is false
	Phone      *voice.Server // nil when sip.enabled is false
	DevKey     string        // the dev API key, when the dev sender is on

	ln      net.Listener
	server  *http.Server
	closers []io.Closer // providers holding connections (an SMPP bind)
	// receipts is the dispatcher, once built, for receipts that come over a
	// provider's own connection (SMPP) rather than the API.
	receipts atomic.Pointer[verify.Dispatcher]
}

// NewMain returns a Main for a configuration.
func NewMain(cfg config.Config, getenv func(string) string, log *slog.Logger, stdout io.Writer) *Main {
	return &Main{Config: cfg, Getenv: getenv, Log: log, Stdout: stdout}
}

// URL is where the HTTP server listens, once Open has returned.
func (m *Main) URL() string { return "http://" + m.ln.Addr().String() }

// Open prepares everything the service needs and starts listening.
func (m *Main) Open(ctx context.Context) error {
	cfg := m.Config
	keys, db, err := openData(ctx, cfg, m.Log, m.Getenv)
	if err != nil {
		return err
	}
	m.Keys, m.DB = keys, db

	chain, channels, callbacks, err := m.openChain()
	if err != nil {
		return err
	}
	vc := verify.Config{
		CodeLength:     cfg.Verify.CodeLength,
		Lifetime:       cfg.Verify.Lifetime,
		MaxChecks:      cfg.Verify.MaxChecks,
		MaxSends:       cfg.Verify.MaxSends,
		ResendCooldown: cfg.Verify.ResendCooldown,
		SendsPerHour:   cfg.Verify.SendsPerHour,
		SendsPerDay:    cfg.Verify.SendsPerDay,
		IPSendsPerHour: cfg.Verify.IPSendsPerHour,
		AllowVoIP:      cfg.Verify.AllowVoIP,
		Countries:      cfg.Verify.Countries,
		DefaultCountry: cfg.Verify.DefaultCountry,
		Channels:       channels,
		InboundNumber:  cfg.Verify.InboundNumber,
	}
	m.Verify = verify.NewService(vc, db, keys, nil, m.Log)
	if m.Provider != nil {
		m.Verify.SetProvider(m.Provider)
	}
	m.Identity = identity.NewService(identity.Config{
		Dormancy:   cfg.Identity.Dormancy,
		CoolingOff: cfg.Identity.CoolingOff,
		StepUpFor:  identity.DefaultConfig().StepUpFor,
		TokenTTL:   cfg.Identity.TokenTTL,
		Issuer:     cfg.TokenIssuer(),

		Tombstone:          cfg.Identity.Tombstone,
		TombstoneRetention: cfg.Identity.TombstoneRetention,
	}, db, keys, nil)
	m.Verify.SetAccounts(m.Identity)
	if cfg.FraudEnabled() {
		if m.Guard, err = openGuard(ctx, cfg, keys, db); err != nil {
			return err
		}
		m.Verify.SetGuard(m.Guard)
	}
	if m.Access, err = access.NewService(access.DefaultConfig(), db, keys, nil); err != nil {
		return err
	}
	m.Dispatcher = verify.NewDispatcher(m.Verify, m.Sender, verify.DispatchConfig{
		Workers:        cfg.SMS.Workers,
		SendTimeout:    cfg.SMS.SendTimeout,
		AppName:        cfg.Verify.AppName,
		WebOTP:         cfg.Verify.WebOTPDomain,
		Chain:          chain,
		ReceiptTimeout: cfg.SMS.ReceiptTimeout,
	})
	callbacks.Receipts = m.Dispatcher
	m.receipts.Store(m.Dispatcher)

	if m.DevInbox != nil {
		if m.DevKey, err = m.devKey(ctx); err != nil {
			return err
		}
	}

	auditLog, published, err := openAuditLog(cfg, keys, db)
	if err != nil {
		return err
	}
	m.AuditLog = auditLog
	m.Privacy, err = privacy.NewService(privacy.Config{Issuer: cfg.TokenIssuer(), Origin: cfg.AuditOrigin(), Checkpoint: auditLog.Checkpoint}, db, keys, nil)
	if err != nil {
		return err
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if cfg.SIP.Enabled {
		if m.Phone, err = openPhone(cfg, keys, db, reg, m.Log); err != nil {
			return err
		}
	}
	ac := api.Config{
		Verify:       m.Verify,
		Keys:         db,
		Identity:     m.Identity,
		Access:       m.Access,
		Privacy:      m.Privacy,
		Audit:        published,
		SaveFraud:    m.saveGuard,
		PublicURL:    cfg.HTTP.PublicURL,
		BootstrapKey: cfg.BootstrapAPIKey,
		DevInbox:     m.DevInbox,
		Registry:     reg,
		Ready:        db.Ping,
		MaxBodyBytes: cfg.HTTP.MaxBodyBytes,
		Logger:       m.Log,
		Callbacks:    callbacks,
	}
	if cfg.Verify.InboundNumber != "" {
		ac.TwilioAuthToken = cfg.SMS.Twilio.AuthToken
	}
	apiSrv, err := api.New(ac)
	if err != nil {
		return err
	}
	m.Dispatcher.OnSend = apiSrv.ObserveSend
	m.Verify.OnRefusal = apiSrv.ObserveFraudRefusal
	pages, err := console.New(console.Config{Verify: m.Verify, DevInbox: m.DevInbox, Demo: cfg.DemoEnabled(),
		Privacy: m.Privacy, Identity: m.Identity, Keys: keys, Access: m.Access, AuditLog: db, Logger: m.Log})
	if err != nil {
		return err
	}
	apiSrv.Mount("/", pages.Handler())

	m.ln, err = net.Listen("tcp", cfg.HTTP.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.HTTP.Addr, err)
	}
	m.server = &http.Server{
		Handler:           apiSrv.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    32 << 10,
		ErrorLog:          slog.NewLogLogger(m.Log.Handler(), slog.LevelWarn),
	}
	return nil
}

// saveGuard keeps the fraud guard's lists and open breakers; nothing when it is off.
func (m *Main) saveGuard(ctx context.Context) error {
	if m.Guard == nil {
		return nil
	}
	return saveGuard(ctx, m.Guard, m.DB)
}

// every runs fn each period until ctx ends.
func every(ctx context.Context, period time.Duration, fn func(context.Context)) {
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			fn(ctx)
		}
	}
}

// saveGuardNow saves the guard's state, logging a failure: breakers open
// on their own, so the state is saved periodically.
func (m *Main) saveGuardNow(ctx context.Context) {
	if err := m.saveGuard(ctx); err != nil && ctx.Err() == nil {
		m.Log.Error("save fraud state", "err", err)
	}
}

// openAuditLog returns the signer of the audit log's checkpoints and what
// the API publishes of it.
func openAuditLog(cfg config.Config, keys *vault.Keyring, db *store.DB) (*audit.Log, *api.Audit, error) {
	priv, _, err := keys.Signer(vault.PurposeCheckpoint)
	if err != nil {
		return nil, nil, err
	}
	origin := cfg.AuditOrigin()
	signer, err := audit.NewSigner(origin, priv)
	if err != nil {
		return nil, nil, err
	}
	vkey, err := audit.VerifierKey(origin, priv.Public().(ed25519.PublicKey))
	if err != nil {
		return nil, nil, err
	}
	log := audit.NewLog(db, origin, signer, nil)
	return log, &api.Audit{Log: log, Store: db, VerifierKey: vkey}, nil
}

// devKey returns the development API key kept in the data folder, creating it
// on first start. It exists only while the dev sender is on.
func (m *Main) devKey(ctx context.Context) (string, error) {
	path := filepath.Join(m.Config.DataDir, "dev-api-key")
	if b, err := os.ReadFile(path); err == nil {
		secret := strings.TrimSpace(string(b))
		if _, err := m.DB.APIKeyByHash(ctx, apikey.Hash(secret)); err == nil {
			return secret, nil
		}
	}
	secret, err := createKey(ctx, m.DB, "dev", apikey.RoleApp)
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(path, []byte(secret+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("write dev key: %w", err)
	}
	return secret, nil
}

// Run serves until ctx ends, then drains requests and sends in flight.
func (m *Main) Run(ctx context.Context) error {
	dctx, stopDispatch := context.WithCancel(context.WithoutCancel(ctx))
	m.purgeTranscripts(dctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_ = m.Dispatcher.Run(dctx)
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		m.AuditLog.Run(dctx, m.Config.Audit.CheckpointEvery, func(err error) { m.Log.Error("audit checkpoint", "err", err) })
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		every(dctx, time.Minute, m.saveGuardNow)
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		m.reloadKeys(dctx)
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		every(dctx, time.Hour, m.purgeTranscripts)
	}()
	if m.Phone != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := m.Phone.Run(dctx); err != nil {
				m.Log.Error("phone line stopped", "err", err)
			}
		}()
	}
	errc := make(chan error, 1)
	go func() { errc <- m.server.Serve(m.ln) }()

	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	m.Log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), m.Config.HTTP.ShutdownTimeout)
	defer cancel()
	if serr := m.server.Shutdown(sctx); serr != nil && err == nil {
		err = serr
	}
	stopDispatch()
	wg.Wait()
	if err := m.saveGuard(context.Background()); err != nil {
		m.Log.Error("save fraud state", "err", err)
	}
	// A last checkpoint covers everything this instance logged.
	if _, cerr := m.AuditLog.Checkpoint(context.Background()); cerr != nil {
		m.Log.Error("final audit checkpoint", "err", cerr)
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// Close releases the providers' connections and the database.
func (m *Main) Close() error {
	if m.ln != nil {
		m.ln.Close()
	}
	for _, c := range m.closers {
		c.Close()
	}
	if m.Phone != nil {
		m.Phone.Close() // Run closes it too; twice is harmless
	}
	if m.DB != nil {
		return m.DB.Close()
	}
	return nil
}

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg, err := loadConfig(fs, args, getenv)
	if err != nil {
		return err
	}
	log := newLogger(cfg.Log, stderr)
	m := NewMain(cfg, getenv, log, stdout)
	defer m.Close()
	if err := m.Open(ctx); err != nil {
		return err
	}
	url := m.URL()
	log.Info("ringfence listening", "url", url, "db", m.DB.Dialect(), "sender", m.Sender.Name(), "version", version)
	fmt.Fprintf(stdout, "ringfence %s listening on %s\n", version, url)
	if m.Phone != nil {
		udp, _ := m.Phone.Addr()
		fmt.Fprintf(stdout, "phone line answering on sip:%s (UDP and TCP)\n", udp)
	}
	if m.DevInbox != nil {
		fmt.Fprintf(stdout, "dev sender on: codes go to %s/dev/inbox (never to a phone)\n", url)
		fmt.Fprintf(stdout, "dev API key: %s\n", m.DevKey)
		if host, _, _ := net.SplitHostPort(m.ln.Addr().String()); !net.ParseIP(host).IsLoopback() {
			log.Warn("the dev sender shows codes on a page reachable beyond this machine; choose a real sms.provider before exposing the service")
		}
	}
	if cfg.DemoEnabled() {
		fmt.Fprintf(stdout, "demo sign-up: %s/\n", url)
	}
	return m.Run(ctx)
}
