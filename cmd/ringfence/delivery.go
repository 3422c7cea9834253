package main

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"io"
	"strings"

	"github.com/ringfence/ringfence/internal/api"
	"github.com/ringfence/ringfence/internal/config"
	"github.com/ringfence/ringfence/internal/sms"
	"github.com/ringfence/ringfence/internal/sms/devinbox"
	"github.com/ringfence/ringfence/internal/sms/smpp"
	"github.com/ringfence/ringfence/internal/sms/telnyx"
	"github.com/ringfence/ringfence/internal/sms/twilio"
	"github.com/ringfence/ringfence/internal/sms/twiliovoice"
	"github.com/ringfence/ringfence/internal/sms/vonage"
	"github.com/ringfence/ringfence/internal/sms/webhook"
	"github.com/ringfence/ringfence/internal/verify"
)

// openChain builds the delivery chain of the configuration: one sender per
// provider it names, each step with its channel and countries, and says
// which channels a start may ask for. Receipts are awaited from a step when
// its provider can post them: Twilio and Telnyx, Vonage with its signature
// secret, the webhook gateway, SMPP over its bind.
func (m *Main) openChain() ([]verify.Step, []verify.Channel, *api.Callbacks, error) {
	cfg := m.Config
	if cfg.VerifyProvider() {
		p, channels, err := m.openVerifyProvider()
		if err != nil {
			return nil, nil, nil, fmt.Errorf("sms provider %s: %w", cfg.SMS.Provider, err)
		}
		m.Provider, m.Sender = p, noRoute{cfg.SMS.Provider}
		return []verify.Step{{Sender: m.Sender}}, channels, &api.Callbacks{}, nil
	}
	senders := map[string]sms.Sender{}
	receipts := map[string]bool{}
	callbacks := &api.Callbacks{}
	for _, st := range cfg.DeliveryChain() {
		if _, ok := senders[st.Provider]; ok {
			continue
		}
		s, rc, err := m.openProvider(st.Provider, callbacks)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("sms provider %s: %w", st.Provider, err)
		}
		senders[st.Provider], receipts[st.Provider] = s, rc
		if c, ok := s.(io.Closer); ok {
			m.closers = append(m.closers, c)
		}
	}
	var chain []verify.Step
	for _, st := range cfg.DeliveryChain() {
		chain = append(chain, verify.Step{
			Channel:   verify.Channel(st.Channel),
			Sender:    senders[st.Provider],
			Countries: st.Countries,
			Receipts:  receipts[st.Provider],
		})
	}
	m.Sender = chain[0].Sender
	var channels []verify.Channel
	for _, ch := range verify.Channels(chain) {
		// A step on every channel carries only what its provider can.
		if chain[0].Channel == "" && !providerCarries(cfg.DeliveryChain()[0].Provider, ch) {
			continue
		}
		channels = append(channels, ch)
	}
	return chain, channels, callbacks, nil
}

func providerCarries(provider string, ch verify.Channel) bool {
	for _, c := range config.Channels(provider) {
		if c == string(ch) {
			return true
		}
	}
	return false
}

// callbackURL is where a provider posts receipts, or "" without a public URL.
func (m *Main) callbackURL(provider string) string {
	if m.Config.HTTP.PublicURL == "" {
		return ""
	}
	return strings.TrimRight(m.Config.HTTP.PublicURL, "/") + "/v1/callbacks/" + provider
}

// openProvider builds one provider's sender, turns on its receipt route when
// it has one, and reports whether it posts receipts.
func (m *Main) openProvider(provider string, cb *api.Callbacks) (sms.Sender, bool, error) {
	c := m.Config.SMS
	switch provider {
	case config.ProviderTwilio:
		s, err := twilio.New(twilio.Config{
			AccountSID:          c.Twilio.AccountSID,
			AuthToken:           c.Twilio.AuthToken,
			From:                c.Twilio.From,
			MessagingServiceSID: c.Twilio.MessagingServiceSID,
			StatusCallbackURL:   m.callbackURL(provider),
			BaseURL:             c.Twilio.BaseURL,
		})
		cb.TwilioAuthToken = c.Twilio.AuthToken
		return s, m.callbackURL(provider) != "", err
	case config.ProviderTwilioVoice:
		s, err := twiliovoice.New(twiliovoice.Config{
			AccountSID:        c.Twilio.AccountSID,
			AuthToken:         c.Twilio.AuthToken,
			From:              c.Twilio.VoiceFrom,
			Voice:             c.Twilio.Voice,
			StatusCallbackURL: m.callbackURL(provider),
			BaseURL:           c.Twilio.BaseURL,
		})
		cb.TwilioAuthToken = c.Twilio.AuthToken
		return s, m.callbackURL(provider) != "", err
	case config.ProviderVonage:
		s, err := vonage.New(vonage.Config{
			APIKey:       c.Vonage.APIKey,
			APISecret:    c.Vonage.APISecret,
			From:         c.Vonage.From,
			WhatsAppFrom: c.Vonage.WhatsAppFrom,
			BaseURL:      c.Vonage.BaseURL,
		})
		cb.VonageSignatureSecret = c.Vonage.SignatureSecret
		return s, c.Vonage.SignatureSecret != "", err
	case config.ProviderTelnyx:
		s, err := telnyx.New(telnyx.Config{
			APIKey:             c.Telnyx.APIKey,
			From:               c.Telnyx.From,
			MessagingProfileID: c.Telnyx.MessagingProfileID,
			BaseURL:            c.Telnyx.BaseURL,
		})
		if c.Telnyx.PublicKey != "" {
			key, kerr := base64.StdEncoding.DecodeString(c.Telnyx.PublicKey)
			if kerr != nil || len(key) != ed25519.PublicKeySize {
				return nil, false, fmt.Errorf("sms.telnyx.public_key is not a base64 Ed25519 public key")
			}
			cb.TelnyxPublicKey = key
		}
		return s, c.Telnyx.PublicKey != "", err
	case config.ProviderWebhook:
		s, err := webhook.New(webhook.Config{URL: c.Webhook.URL, Secret: c.Webhook.Secret})
		cb.WebhookSecret = c.Webhook.Secret
		return s, true, err
	case config.ProviderSMPP:
		s, err := smpp.New(smpp.Config{
			Addr:       c.SMPP.Addr,
			SystemID:   c.SMPP.SystemID,
			Password:   c.SMPP.Password,
			SystemType: c.SMPP.SystemType,
			SourceAddr: c.SMPP.SourceAddr,
			SourceTON:  uint8(c.SMPP.SourceTON),
			SourceNPI:  uint8(c.SMPP.SourceNPI),
			OnReceipt:  m.smppReceipt,
			Logger:     m.Log,
		})
		return s, true, err
	default:
		if m.DevInbox == nil {
			m.DevInbox = devinbox.New(1000)
		}
		return m.DevInbox, false, nil
	}
}

// smppReceipt applies a delivery receipt that came over the SMPP bind. A
// receipt for a message this instance does not know (sent by another, or
// already purged) is dropped after it is logged by id only.
func (m *Main) smppReceipt(st smpp.Status) {
	d := m.receipts.Load()
	if d == nil {
		m.Log.Warn("smpp receipt before the dispatcher started")
		return
	}
	if _, err := d.Receipt(context.Background(), "smpp", st.ProviderID, st.State, st.ErrorCode); err != nil {
		m.Log.Warn("smpp receipt not applied", "err", err)
	}
}
