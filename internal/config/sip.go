package config

import (
	"net/netip"
	"strings"
	"time"
)

// SIP configures the phone line: the SIP listener (UDP and TCP), the trunks
// calls are accepted from, the engines the assistant speaks through and
// its policy. The line is off unless sip.enabled is true.
type SIP struct {
	Addr         string        `yaml:"addr"`          // host:port to listen on
	Enabled      bool          `yaml:"enabled"`       // answer calls; off by default
	PublicIP     string        `yaml:"public_ip"`     // address put in SDP and Contact; "" means the IP of addr
	RTPPortMin   int           `yaml:"rtp_port_min"`  // first UDP port for calls' audio
	RTPPortMax   int           `yaml:"rtp_port_max"`  // last UDP port for calls' audio
	Trunks       []string      `yaml:"trunks"`        // allow-list, "name=IP or CIDR", e.g. "pbx=10.0.0.0/8"; a name may repeat
	MaxCalls     int           `yaml:"max_calls"`     // concurrent calls; beyond it 486 Busy Here
	MediaTimeout time.Duration `yaml:"media_timeout"` // end a call after this long without audio from the caller
	// Region is the country (ISO 3166-1 alpha-2) of callers' numbers that
	// the trunk gives without a country code; "" means verify.default_country.
	Region string `yaml:"region"`
	// Audience names the pseudonym a call record carries for a caller whose
	// number is bound to a subject.
	Audience string `yaml:"audience"`

	Allowance         time.Duration `yaml:"allowance"`          // talk time per number per calendar month
	VerifiedAllowance time.Duration `yaml:"verified_allowance"` // for numbers bound to a verified subject
	SystemPrompt      string        `yaml:"system_prompt"`      // the model's instructions; "" means the built-in one
	Disclosure        string        `yaml:"disclosure"`         // said first in every call; "" means the built-in one
	EmergencyPhrases  []string      `yaml:"emergency_phrases"`  // replace the built-in phrases of the tripwire when set
	RestrictedTopics  []string      `yaml:"restricted_topics"`  // words and phrases the assistant refuses

	// Transcripts is TranscriptsSubject (the default) or TranscriptsOff:
	// whether calls from numbers bound to a subject keep a transcript,
	// sealed under that subject's data key, for the subject's export.
	Transcripts string `yaml:"transcripts"`
	// TranscriptRetention is how long a transcript is kept after its call
	// started; expired ones are purged at start and every hour.
	TranscriptRetention time.Duration `yaml:"transcript_retention"`

	STT  Engine `yaml:"stt"`  // speech-to-text: POST {base_url}/v1/audio/transcriptions
	Chat Engine `yaml:"chat"` // language model: POST {base_url}/v1/chat/completions, streamed
	TTS  Engine `yaml:"tts"`  // text-to-speech: POST {base_url}/v1/audio/speech; "" base_url: espeak-ng
}

// Engine is an OpenAI-compatible endpoint.
type Engine struct {
	BaseURL string `yaml:"base_url"` // e.g. https://api.openai.com or http://127.0.0.1:8000
	APIKey  string `yaml:"api_key"`  // sent as a bearer token; secret
	Model   string `yaml:"model"`    // e.g. whisper-1, gpt-4o-mini, tts-1
	Voice   string `yaml:"voice"`    // text-to-speech voice, e.g. alloy or en-us for espeak-ng
}

// Values of sip.transcripts.
const (
	TranscriptsSubject = "subject" // kept for the subject the caller's number is bound to
	TranscriptsOff     = "off"     // none kept
)

// defaultSIP is the phone line's defaults.
func defaultSIP() SIP {
	return SIP{
		Addr:              "127.0.0.1:5060",
		RTPPortMin:        10000,
		RTPPortMax:        20000,
		Trunks:            []string{},
		MaxCalls:          100,
		MediaTimeout:      30 * time.Second,
		Audience:          "phone-line",
		Allowance:         15 * time.Minute,
		VerifiedAllowance: 15 * time.Minute,
		EmergencyPhrases:  []string{},
		RestrictedTopics:  []string{},

		Transcripts:         TranscriptsSubject,
		TranscriptRetention: 720 * time.Hour,
		STT:                 Engine{Model: "whisper-1"},
		Chat:                Engine{Model: "gpt-4o-mini"},
	}
}

// SIPTrunk is one entry of sip.trunks.
type SIPTrunk struct {
	Name    string
	Network netip.Prefix
}

// ParseTrunk parses a sip.trunks entry, "name=IP or CIDR".
func ParseTrunk(s string) (SIPTrunk, bool) {
	name, addr, ok := strings.Cut(strings.TrimSpace(s), "=")
	name, addr = strings.TrimSpace(name), strings.TrimSpace(addr)
	if !ok || name == "" || strings.ContainsAny(name, " \t") {
		return SIPTrunk{}, false
	}
	if p, err := netip.ParsePrefix(addr); err == nil {
		return SIPTrunk{name, p.Masked()}, true
	}
	if ip, err := netip.ParseAddr(addr); err == nil {
		return SIPTrunk{name, netip.PrefixFrom(ip.Unmap(), ip.Unmap().BitLen())}, true
	}
	return SIPTrunk{}, false
}

func (c Config) validateSIP(v *validator) {
	s := c.SIP
	v.hostPort("sip.addr", s.Addr)
	// Checked with the line off too: serve purges transcripts either way.
	if s.Transcripts != TranscriptsSubject && s.Transcripts != TranscriptsOff {
		v.add("sip.transcripts", "must be %s or %s (got %q)", TranscriptsSubject, TranscriptsOff, s.Transcripts)
	}
	v.duration("sip.transcript_retention", s.TranscriptRetention, time.Hour, 8784*time.Hour)
	if !s.Enabled {
		return
	}
	if s.PublicIP != "" {
		if ip, err := netip.ParseAddr(s.PublicIP); err != nil || ip.IsUnspecified() {
			v.add("sip.public_ip", "must be an IP address that callers can reach (got %q)", s.PublicIP)
		}
	}
	between(v, "sip.rtp_port_min", s.RTPPortMin, 1024, 65534)
	between(v, "sip.rtp_port_max", s.RTPPortMax, s.RTPPortMin, 65535)
	if len(s.Trunks) == 0 {
		v.add("sip.trunks", "must list at least one trunk, e.g. pbx=10.0.0.5, when sip.enabled is true")
	}
	for _, t := range s.Trunks {
		if _, ok := ParseTrunk(t); !ok {
			v.add("sip.trunks", "entry %q must be name=IP or name=CIDR", t)
		}
	}
	between(v, "sip.max_calls", s.MaxCalls, 1, 10000)
	v.duration("sip.media_timeout", s.MediaTimeout, time.Second, 10*time.Minute)
	if s.Region != "" && (len(s.Region) != 2 || strings.ToUpper(s.Region) != s.Region) {
		v.add("sip.region", "must be an upper-case ISO 3166-1 alpha-2 code, e.g. US (got %q)", s.Region)
	}
	v.duration("sip.allowance", s.Allowance, time.Second, 744*time.Hour)
	v.duration("sip.verified_allowance", s.VerifiedAllowance, s.Allowance, 744*time.Hour)
	for _, e := range []struct {
		path string
		e    Engine
		need bool
	}{{"sip.stt", s.STT, true}, {"sip.chat", s.Chat, true}, {"sip.tts", s.TTS, false}} {
		if e.e.BaseURL == "" {
			if e.need {
				v.add(e.path+".base_url", "required when sip.enabled is true")
			}
			continue
		}
		v.httpURL(e.path+".base_url", e.e.BaseURL)
	}
}
