package voice

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/pion/sdp/v3"

	"github.com/ringfence/ringfence/internal/voice/media"
)

// SDP offer/answer (RFC 3264) for one audio stream of G.711 with RFC 4733
// telephone-events. Offers are parsed strictly; the answer keeps the
// offer's m-lines in order and rejects (port 0) every one but the audio
// stream it takes.

// maxSDP is the largest SDP body accepted.
const maxSDP = 8 << 10

// Errors of SDP negotiation; the first maps to 400, the second to 488.
var (
	errBadSDP   = errors.New("malformed SDP")
	errNoCodec  = errors.New("no acceptable audio stream")
	errSDPLarge = errors.New("SDP too large")
)

// direction is an SDP media direction attribute.
type direction string

const (
	sendrecv direction = "sendrecv"
	sendonly direction = "sendonly"
	recvonly direction = "recvonly"
	inactive direction = "inactive"
)

// reverse returns the direction of the answer to an offer with d.
func (d direction) reverse() direction {
	switch d {
	case sendonly:
		return recvonly
	case recvonly:
		return sendonly
	}
	return d
}

// remoteSends reports whether the side whose SDP has d sends media.
func (d direction) remoteSends() bool { return d == sendrecv || d == sendonly }

// mline is one m= line of an offer, kept to be answered in order.
type mline struct {
	media   string
	proto   string
	formats []string
}

// description is what a peer's SDP says about the audio stream chosen
// from it.
type description struct {
	addr   netip.AddrPort // where to send RTP; the IP is unspecified for a held call
	codecs []media.Codec  // the G.711 codecs it offers, in its order of preference
	dtmfPT uint8          // its telephone-event payload type, 0 if none
	dir    direction      // its direction
	index  int            // which m-line is the audio stream
	lines  []mline        // every m-line
}

// held reports whether the peer sends no audio: it holds the call.
func (d *description) held() bool {
	return !d.dir.remoteSends() || d.addr.Addr().IsUnspecified()
}

// parseSDP parses a peer's SDP, an offer or an answer, and picks the first
// audio stream on RTP/AVP with a G.711 codec. It returns an error wrapping
// errBadSDP for a description that breaks the grammar or the rules, and
// errNoCodec when it is well formed but holds no stream this package can
// carry.
func parseSDP(body []byte) (*description, error) {
	if len(body) > maxSDP {
		return nil, errSDPLarge
	}
	var s sdp.SessionDescription
	if err := s.Unmarshal(body); err != nil {
		return nil, fmt.Errorf("%w: %v", errBadSDP, err)
	}
	if s.Version != 0 {
		return nil, fmt.Errorf("%w: version %d", errBadSDP, s.Version)
	}
	sessionDir, err := directionOf(s.Attributes, sendrecv)
	if err != nil {
		return nil, err
	}
	d := &description{index: -1}
	for i, m := range s.MediaDescriptions {
		line := mline{
			media:   m.MediaName.Media,
			proto:   strings.Join(m.MediaName.Protos, "/"),
			formats: m.MediaName.Formats,
		}
		if len(line.formats) == 0 {
			return nil, fmt.Errorf("%w: m-line %d has no format", errBadSDP, i)
		}
		d.lines = append(d.lines, line)
		if d.index >= 0 || line.media != "audio" || line.proto != "RTP/AVP" || m.MediaName.Port.Value == 0 {
			continue
		}
		codecs, dtmfPT, err := formatsOf(m)
		if err != nil {
			return nil, err
		}
		dir, err := directionOf(m.Attributes, sessionDir)
		if err != nil {
			return nil, err
		}
		ci := m.ConnectionInformation
		if ci == nil {
			ci = s.ConnectionInformation
		}
		if ci == nil || ci.Address == nil {
			return nil, fmt.Errorf("%w: no c= line for the audio stream", errBadSDP)
		}
		ip, err := netip.ParseAddr(ci.Address.Address)
		switch {
		case err != nil:
			// A name (RFC 4566 allows one) or garbage: we do not resolve.
			return nil, fmt.Errorf("%w: c= address is not an IP address", errBadSDP)
		case ip.Is4() != (ci.AddressType == "IP4"):
			return nil, fmt.Errorf("%w: c= address does not match its type", errBadSDP)
		case ip.IsMulticast():
			continue
		}
		if len(codecs) == 0 {
			continue
		}
		d.index, d.codecs, d.dtmfPT, d.dir = i, codecs, dtmfPT, dir
		d.addr = netip.AddrPortFrom(ip, uint16(m.MediaName.Port.Value))
	}
	if d.index < 0 {
		return nil, errNoCodec
	}
	return d, nil
}

// formatsOf returns the G.711 codecs of an m-line in its order and its
// telephone-event payload type.
func formatsOf(m *sdp.MediaDescription) (codecs []media.Codec, dtmfPT uint8, err error) {
	type rtpmap struct {
		name     string
		rate     int
		channels string
	}
	maps := make(map[uint8]rtpmap)
	for _, a := range m.Attributes {
		if a.Key != "rtpmap" {
			continue
		}
		pt, rest, ok := strings.Cut(a.Value, " ")
		n, err := strconv.ParseUint(pt, 10, 7)
		if !ok || err != nil {
			return nil, 0, fmt.Errorf("%w: bad a=rtpmap", errBadSDP)
		}
		// <encoding name>/<clock rate>[/<channels>]
		parts := strings.Split(strings.TrimSpace(rest), "/")
		if len(parts) < 2 || len(parts) > 3 || parts[0] == "" {
			return nil, 0, fmt.Errorf("%w: bad a=rtpmap", errBadSDP)
		}
		rate, err := strconv.Atoi(parts[1])
		if err != nil || rate <= 0 {
			return nil, 0, fmt.Errorf("%w: bad a=rtpmap clock rate", errBadSDP)
		}
		r := rtpmap{name: parts[0], rate: rate}
		if len(parts) == 3 {
			r.channels = parts[2]
		}
		maps[uint8(n)] = r
	}
	seen := make(map[uint8]bool)
	for _, f := range m.MediaName.Formats {
		n, err := strconv.ParseUint(f, 10, 7)
		if err != nil {
			return nil, 0, fmt.Errorf("%w: payload type %q", errBadSDP, f)
		}
		pt := uint8(n)
		if seen[pt] {
			continue
		}
		seen[pt] = true
		r, ok := maps[pt]
		if !ok {
			switch pt { // static payload types of RFC 3551
			case media.PCMU.PayloadType:
				r = rtpmap{name: media.PCMU.Name, rate: media.SampleRate}
			case media.PCMA.PayloadType:
				r = rtpmap{name: media.PCMA.Name, rate: media.SampleRate}
			default:
				continue
			}
		}
		if r.rate != media.SampleRate || (r.channels != "" && r.channels != "1") {
			continue
		}
		switch {
		case strings.EqualFold(r.name, "PCMU"):
			codecs = append(codecs, media.Codec{Name: media.PCMU.Name, PayloadType: pt, ClockRate: media.SampleRate})
		case strings.EqualFold(r.name, "PCMA"):
			codecs = append(codecs, media.Codec{Name: media.PCMA.Name, PayloadType: pt, ClockRate: media.SampleRate})
		case strings.EqualFold(r.name, "telephone-event") && dtmfPT == 0 && pt >= 96:
			dtmfPT = pt
		}
	}
	return codecs, dtmfPT, nil
}

// directionOf returns the direction attribute among attrs, or def.
func directionOf(attrs []sdp.Attribute, def direction) (direction, error) {
	found := direction("")
	for _, a := range attrs {
		switch d := direction(a.Key); d {
		case sendrecv, sendonly, recvonly, inactive:
			if found != "" {
				return "", fmt.Errorf("%w: two direction attributes", errBadSDP)
			}
			found = d
		}
	}
	if found == "" {
		return def, nil
	}
	return found, nil
}

// choose returns the codec to use from d: keep when d offers a codec of
// that name, else the first of d's preference.
func (d *description) choose(keep string) media.Codec {
	for _, c := range d.codecs {
		if c.Name == keep {
			return c
		}
	}
	return d.codecs[0]
}

// local is what this side puts in its SDP.
type local struct {
	ip      netip.Addr
	port    uint16
	session uint64 // o= session id
	version uint64 // o= version
}

// writeHead writes the session part of an SDP body.
func (l *local) writeHead(b *strings.Builder) {
	typ := "IP4"
	if l.ip.Is6() {
		typ = "IP6"
	}
	fmt.Fprintf(b, "v=0\r\no=ringfence %d %d IN %s %s\r\ns=ringfence\r\nc=IN %s %s\r\nt=0 0\r\n",
		l.session, l.version, typ, l.ip, typ, l.ip)
}

// writeAudio writes an audio m-line with codecs and telephone-event.
func writeAudio(b *strings.Builder, port uint16, codecs []media.Codec, dtmfPT uint8, dir direction) {
	fmt.Fprintf(b, "m=audio %d RTP/AVP", port)
	for _, c := range codecs {
		fmt.Fprintf(b, " %d", c.PayloadType)
	}
	if dtmfPT != 0 {
		fmt.Fprintf(b, " %d", dtmfPT)
	}
	b.WriteString("\r\n")
	for _, c := range codecs {
		fmt.Fprintf(b, "a=rtpmap:%d %s/%d\r\n", c.PayloadType, c.Name, c.ClockRate)
	}
	if dtmfPT != 0 {
		fmt.Fprintf(b, "a=rtpmap:%d telephone-event/%d\r\na=fmtp:%d 0-16\r\n", dtmfPT, media.SampleRate, dtmfPT)
	}
	fmt.Fprintf(b, "a=ptime:20\r\na=%s\r\n", dir)
}

// answer returns the SDP answer to offer d taking codec, with d's
// telephone-event payload type if it offered one.
func (l *local) answer(d *description, codec media.Codec) []byte {
	var b strings.Builder
	l.writeHead(&b)
	for i, m := range d.lines {
		if i == d.index {
			writeAudio(&b, l.port, []media.Codec{codec}, d.dtmfPT, d.dir.reverse())
			continue
		}
		fmt.Fprintf(&b, "m=%s 0 %s %s\r\n", m.media, m.proto, strings.Join(m.formats, " "))
	}
	return []byte(b.String())
}

// offer returns an SDP offer of both G.711 codecs and telephone-event,
// for an INVITE that came without one.
func (l *local) offer(dir direction) []byte {
	var b strings.Builder
	l.writeHead(&b)
	writeAudio(&b, l.port, []media.Codec{media.PCMU, media.PCMA}, media.TelephoneEvent.PayloadType, dir)
	return []byte(b.String())
}
