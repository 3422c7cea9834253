package main

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ringfence/ringfence/internal/config"
	"github.com/ringfence/ringfence/internal/dialogue"
	"github.com/ringfence/ringfence/internal/identity"
	"github.com/ringfence/ringfence/internal/llm"
	"github.com/ringfence/ringfence/internal/phone"
	"github.com/ringfence/ringfence/internal/store"
	"github.com/ringfence/ringfence/internal/vault"
	"github.com/ringfence/ringfence/internal/voice"
)

// openPhone builds the phone line of sip.*: the SIP server and the Line
// that runs its calls under the dialogue's policy.
func openPhone(cfg config.Config, keys *vault.Keyring, db *store.DB, reg prometheus.Registerer, log *slog.Logger) (*voice.Server, error) {
	s := cfg.SIP
	policy, err := dialogue.NewPolicy(dialogue.Config{
		Instructions:      s.SystemPrompt,
		Disclosure:        s.Disclosure,
		EmergencyPhrases:  s.EmergencyPhrases,
		RestrictedTopics:  s.RestrictedTopics,
		Allowance:         s.Allowance,
		VerifiedAllowance: s.VerifiedAllowance,
	})
	if err != nil {
		return nil, err
	}
	client := func(e config.Engine) *llm.Client { return &llm.Client{BaseURL: e.BaseURL, APIKey: e.APIKey} }
	var speaker llm.Speaker = llm.Espeak{Voice: s.TTS.Voice}
	if s.TTS.BaseURL != "" {
		speaker = client(s.TTS)
	}
	region := s.Region
	if region == "" {
		region = cfg.Verify.DefaultCountry
	}
	metrics := voice.NewMetrics(reg)
	line, err := voice.NewLine(voice.LineConfig{
		Policy:  policy,
		Model:   dialogue.ChatModel{Client: client(s.Chat), Model: s.Chat.Model},
		STT:     dialogue.Transcriber{Client: client(s.STT), Model: s.STT.Model},
		TTS:     dialogue.Speech{Speaker: speaker, Model: s.TTS.Model, Voice: s.TTS.Voice},
		Quota:   db,
		Records: db,
		Callers: &callerDirectory{keys: keys, bindings: db, region: region, audience: s.Audience},
		Logger:  log,
		Metrics: metrics,

		Transcripts: transcriptsFor(s.Transcripts, keys, db),
	})
	if err != nil {
		return nil, err
	}
	vc := voice.Config{
		Addr:         s.Addr,
		RTPPortMin:   s.RTPPortMin,
		RTPPortMax:   s.RTPPortMax,
		MaxCalls:     s.MaxCalls,
		MediaTimeout: s.MediaTimeout,
		Logger:       log,
		OnCall:       metrics.Event,
	}
	if s.PublicIP != "" {
		if vc.PublicIP, err = netip.ParseAddr(s.PublicIP); err != nil {
			return nil, fmt.Errorf("sip.public_ip: %w", err)
		}
	}
	byName := map[string]int{}
	for _, entry := range s.Trunks {
		t, ok := config.ParseTrunk(entry)
		if !ok {
			return nil, fmt.Errorf("sip.trunks: bad entry %q", entry)
		}
		i, seen := byName[t.Name]
		if !seen {
			i = len(vc.Trunks)
			byName[t.Name] = i
			vc.Trunks = append(vc.Trunks, voice.Trunk{Name: t.Name})
		}
		vc.Trunks[i].Networks = append(vc.Trunks[i].Networks, t.Network)
	}
	return voice.New(vc, line)
}

// callerDirectory finds callers by the blind index of their number: the
// number itself goes no further than this function.
type callerDirectory struct {
	keys     *vault.Keyring
	bindings identity.Store
	region   string
	audience string
}

var _ voice.Directory = (*callerDirectory)(nil)

// Caller returns the caller of number: keyed by the blind index of the
// number (the newest index key), with the pseudonym and id of the subject
// the number is bound to, if any (looked up under every index key version).
// A withheld or unparseable number is anonymous.
func (d *callerDirectory) Caller(ctx context.Context, number string) (voice.Caller, error) {
	n, err := phone.Parse(number, d.region)
	if err != nil {
		return voice.Caller{Key: voice.AnonymousKey}, nil
	}
	idx := d.keys.BlindIndex("phone", n.E164())
	c := voice.Caller{Index: idx, Key: hex.EncodeToString(idx)}
	for _, i := range d.keys.BlindIndexes("phone", n.E164()) {
		b, err := d.bindings.BindingByIndex(ctx, i)
		if errors.Is(err, identity.ErrNotFound) {
			continue
		}
		if err != nil {
			return voice.Caller{}, fmt.Errorf("caller lookup: %w", err)
		}
		if b.Released(time.Now()) {
			break
		}
		c.Pseudonym, c.Verified, c.Subject = d.keys.Pseudonym(d.audience, b.SubjectID), true, b.SubjectID
		break
	}
	return c, nil
}

// transcriptKeeper keeps call transcripts sealed under the data key of the
// caller's subject, so that erasing the subject makes them unreadable.
type transcriptKeeper struct {
	keys *vault.Keyring
	db   *store.DB
}

var _ dialogue.Transcripts = (*transcriptKeeper)(nil)

// SaveTranscript seals and stores the transcript of the call r for
// subjectID; nothing when the subject was erased during the call.
func (k *transcriptKeeper) SaveTranscript(ctx context.Context, r *dialogue.CallRecord, subjectID string, t *dialogue.Transcript) error {
	data, err := t.MarshalJSON()
	if err != nil {
		return fmt.Errorf("encode transcript: %w", err)
	}
	err = k.db.SaveTranscript(ctx, r.ID, subjectID, r.Start, func(tx identity.DataKeys) ([]byte, error) {
		return identity.SealTranscript(k.keys, tx, subjectID, r.ID, data, time.Now())
	})
	if errors.Is(err, identity.ErrNotFound) {
		return nil
	}
	return err
}

// transcriptsFor returns what keeps the transcripts under the setting
// sip.transcripts: a keeper for "subject", nil (none kept) for "off".
func transcriptsFor(setting string, keys *vault.Keyring, db *store.DB) dialogue.Transcripts {
	if setting != config.TranscriptsSubject {
		return nil
	}
	return &transcriptKeeper{keys: keys, db: db}
}

// purgeTranscripts deletes the transcripts older than sip.transcript_retention.
func (m *Main) purgeTranscripts(ctx context.Context) {
	n, err := m.DB.PurgeTranscripts(ctx, time.Now().Add(-m.Config.SIP.TranscriptRetention))
	if err != nil {
		if ctx.Err() == nil {
			m.Log.Error("purge call transcripts", "err", err)
		}
		return
	}
	if n > 0 {
		m.Log.Info("call transcripts purged", "count", n)
	}
}
