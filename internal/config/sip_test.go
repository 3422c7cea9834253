package config

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestValidateSIP(t *testing.T) {
	enabled := func(c *Config) {
		c.SIP.Enabled = true
		c.SIP.Trunks = []string{"pbx=10.0.0.0/8", "pbx=192.0.2.7", "softphone=::1"}
		c.SIP.STT.BaseURL = "http://127.0.0.1:9000"
		c.SIP.Chat.BaseURL = "https://api.example.com"
	}
	ok := Default()
	enabled(&ok)
	if err := ok.Validate(); err != nil {
		t.Fatalf("enabled line: %v", err)
	}
	if err := Default().Validate(); err != nil {
		t.Fatalf("the default (line off, nothing configured) must validate: %v", err)
	}
	if d := Default().SIP; d.Transcripts != TranscriptsSubject || d.TranscriptRetention != 720*time.Hour {
		t.Errorf("transcript defaults %q %v, want subject 720h", d.Transcripts, d.TranscriptRetention)
	}
	off := ok
	off.SIP.Transcripts, off.SIP.TranscriptRetention = TranscriptsOff, time.Hour
	if err := off.Validate(); err != nil {
		t.Errorf("transcripts off: %v", err)
	}
	for _, tc := range []struct {
		name  string
		edit  func(*Config)
		paths []string
	}{
		{"no trunks or engines", func(c *Config) { c.SIP.Enabled = true }, []string{"sip.trunks", "sip.stt.base_url", "sip.chat.base_url"}},
		{"bad trunk", func(c *Config) {
			enabled(c)
			c.SIP.Trunks = []string{"pbx", "=10.0.0.1", "a b=10.0.0.1", "x=10.0.0.300"}
		}, []string{"sip.trunks"}},
		{"bad public ip", func(c *Config) { enabled(c); c.SIP.PublicIP = "0.0.0.0" }, []string{"sip.public_ip"}},
		{"ports", func(c *Config) { enabled(c); c.SIP.RTPPortMin, c.SIP.RTPPortMax = 20000, 10000 }, []string{"sip.rtp_port_max"}},
		{"allowance", func(c *Config) { enabled(c); c.SIP.Allowance = 0 }, []string{"sip.allowance"}},
		{"verified below", func(c *Config) { enabled(c); c.SIP.VerifiedAllowance = time.Minute }, []string{"sip.verified_allowance"}},
		{"engine url", func(c *Config) { enabled(c); c.SIP.TTS.BaseURL = "ftp://x" }, []string{"sip.tts.base_url"}},
		{"region", func(c *Config) { enabled(c); c.SIP.Region = "usa" }, []string{"sip.region"}},
		{"addr even when off", func(c *Config) { c.SIP.Addr = "5060" }, []string{"sip.addr"}},
		{"transcripts", func(c *Config) { enabled(c); c.SIP.Transcripts = "all" }, []string{"sip.transcripts"}},
		{"transcripts empty, line off", func(c *Config) { c.SIP.Transcripts = "" }, []string{"sip.transcripts"}},
		{"retention zero", func(c *Config) { enabled(c); c.SIP.TranscriptRetention = 0 }, []string{"sip.transcript_retention"}},
		{"retention short", func(c *Config) { c.SIP.TranscriptRetention = time.Minute }, []string{"sip.transcript_retention"}},
		{"retention long", func(c *Config) { enabled(c); c.SIP.TranscriptRetention = 10000 * time.Hour }, []string{"sip.transcript_retention"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Default()
			tc.edit(&c)
			err := c.Validate()
			if err == nil {
				t.Fatal("Validate accepted it")
			}
			for _, p := range tc.paths {
				if !strings.Contains(err.Error(), p+":") {
					t.Errorf("error lacks %s:\n%v", p, err)
				}
			}
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Errorf("no *FieldError in %v", err)
			}
		})
	}
}

func TestParseTrunk(t *testing.T) {
	for in, want := range map[string]string{
		"pbx=10.1.2.3/8": "pbx 10.0.0.0/8", " a = 192.0.2.1 ": "a 192.0.2.1/32", "v6=::1": "v6 ::1/128",
	} {
		tr, ok := ParseTrunk(in)
		if got := tr.Name + " " + tr.Network.String(); !ok || got != want {
			t.Errorf("ParseTrunk(%q) = %q %v, want %q", in, got, ok, want)
		}
	}
	for _, bad := range []string{"", "pbx", "=1.2.3.4", "pbx=", "pbx=host.example", "p x=1.2.3.4"} {
		if _, ok := ParseTrunk(bad); ok {
			t.Errorf("ParseTrunk(%q) accepted", bad)
		}
	}
}

func TestSIPSecretsRedacted(t *testing.T) {
	c := Default()
	c.SIP.Chat.APIKey = "sk-very-secret"
	c.SIP.STT.BaseURL = "https://user:pw@stt.example.com"
	s := c.String()
	if strings.Contains(s, "sk-very-secret") || strings.Contains(s, ":pw@") {
		t.Errorf("secrets printed:\n%s", s)
	}
}
