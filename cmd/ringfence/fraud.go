package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/ringfence/ringfence/internal/config"
	"github.com/ringfence/ringfence/internal/fraud"
	"github.com/ringfence/ringfence/internal/phone"
	"github.com/ringfence/ringfence/internal/store"
	"github.com/ringfence/ringfence/internal/vault"
)

// fraudConfig turns the fraud settings into the guard's rules. The
// proof-of-work key is derived from the index key, so every instance
// sharing the keys accepts the others' challenges.
func fraudConfig(cfg config.Config, keys *vault.Keyring) fraud.Config {
	f := cfg.Fraud
	fc := fraud.DefaultConfig()
	if !cfg.Verify.AllowVoIP {
		fc.RefusedTypes = append(fc.RefusedTypes, phone.VoIP)
	}
	fc.Countries = cfg.Verify.Countries
	fc.Spend.DefaultPrice = float64(f.PriceCents) / 100
	fc.Spend.Prices = map[string]float64{}
	for _, p := range f.Prices {
		cc, cents, _ := strings.Cut(p, "=")
		n, _ := strconv.Atoi(cents) // validated by config
		fc.Spend.Prices[cc] = float64(n) / 100
	}
	fc.Spend.CountryPerDay = float64(f.CountryDailyCap) / 100
	fc.Spend.TotalPerDay = float64(f.TotalDailyCap) / 100
	fc.Velocity.Country = []fraud.Limit{{Count: f.CountryPerHour, Window: time.Hour}}
	fc.Velocity.Prefix = []fraud.Limit{{Count: f.PrefixPer10Min, Window: 10 * time.Minute, Soft: f.PrefixPer10Min / 2}}
	ip := fc.Velocity.IP
	ip[len(ip)-1] = fraud.Limit{Count: f.IPPerHour, Window: time.Hour, Soft: f.IPPerHour / 3}
	if ip[0].Count > f.IPPerHour {
		ip = ip[1:]
	}
	fc.Velocity.IP = ip
	fc.PoW.Difficulty = f.ChallengeBits
	fc.PoW.Key = keys.MAC("fraud-pow", nil)
	return fc
}

// openGuard builds the fraud guard and restores its saved lists and breakers.
func openGuard(ctx context.Context, cfg config.Config, keys *vault.Keyring, db *store.DB) (*fraud.Guard, error) {
	fc := fraudConfig(cfg, keys)
	if err := fc.Validate(); err != nil {
		return nil, fmt.Errorf("fraud guard: %w", err)
	}
	g := fraud.New(fc)
	data, err := db.FraudState(ctx)
	if err != nil {
		return nil, err
	}
	if data != nil {
		if err := g.Restore(data); err != nil {
			return nil, fmt.Errorf("restore fraud state: %w", err)
		}
	}
	return g, nil
}

// saveGuard keeps the guard's lists and breakers in the database.
func saveGuard(ctx context.Context, g *fraud.Guard, db *store.DB) error {
	data, err := g.Snapshot()
	if err != nil {
		return err
	}
	return db.SaveFraudState(ctx, data, time.Now())
}
