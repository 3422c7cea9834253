package main

import (
	"context"

	"github.com/ringfence/ringfence/internal/config"
	"github.com/ringfence/ringfence/internal/sms"
	"github.com/ringfence/ringfence/internal/sms/twilioverify"
	"github.com/ringfence/ringfence/internal/sms/vonage"
	"github.com/ringfence/ringfence/internal/verify"
)

var (
	_ verify.Provider = (*twilioverify.Verifier)(nil)
	_ verify.Provider = (*vonage.Verifier)(nil)
)

// openVerifyProvider builds the provider that makes, sends and checks codes
// when sms.provider names one, and the channels it carries; nil otherwise.
func (m *Main) openVerifyProvider() (verify.Provider, []verify.Channel, error) {
	c := m.Config.SMS
	switch c.Provider {
	case config.ProviderTwilioVerify:
		p, err := twilioverify.New(twilioverify.Config{
			AccountSID: c.Twilio.AccountSID,
			AuthToken:  c.Twilio.AuthToken,
			ServiceSID: c.Twilio.VerifyServiceSID,
			BaseURL:    c.Twilio.VerifyBaseURL,
		})
		return p, []verify.Channel{verify.ChannelSMS, verify.ChannelCall, verify.ChannelWhatsApp}, err
	case config.ProviderVonageVerify:
		p, err := vonage.NewVerifier(vonage.VerifyConfig{
			APIKey:     c.Vonage.APIKey,
			APISecret:  c.Vonage.APISecret,
			Brand:      c.Vonage.VerifyBrand,
			CodeLength: m.Config.Verify.CodeLength,
			BaseURL:    c.Vonage.BaseURL,
		})
		return p, []verify.Channel{verify.ChannelSMS}, err
	}
	return nil, nil, nil
}

// noRoute is the delivery chain's only sender when a provider checks its own
// codes: a message for a code ringfence made (started before the provider was
// configured) has nowhere to go and fails, giving its send back. It is named
// for the provider, which the start-up log shows as the sender.
type noRoute struct{ provider string }

func (n noRoute) Name() string { return n.provider }

func (n noRoute) Send(context.Context, sms.Message) (sms.Result, error) {
	return sms.Result{}, &sms.Error{Provider: n.provider, Code: "no_route"}
}
