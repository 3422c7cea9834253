package voice

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"
)

// Trunks are recognised by source address, else by HTTP digest
// authentication (RFC 2617, as RFC 3261 uses it, with MD5: what trunks,
// SIPp and baresip speak). Nonces are stateless: a timestamp and an
// HMAC of it and the client's IP under a key made at start, so a flood of
// challenges holds no memory and a nonce is good only from the address it
// was given to, for nonceTTL.

// nonceTTL is how long a nonce is accepted; an older one gets a new
// challenge with stale=true.
const nonceTTL = 5 * time.Minute

// authOutcome is what authorization decided.
type authOutcome int

const (
	authOK        authOutcome = iota // a trunk is found
	authChallenge                    // answer 401 with a challenge
	authStale                        // answer 401 with a challenge, stale=true
	authForbidden                    // answer 403
)

// authorize finds the trunk a request comes from.
func (s *Server) authorize(req *sip.Request, src netip.Addr, now time.Time) (*Trunk, authOutcome) {
	for i := range s.cfg.Trunks {
		t := &s.cfg.Trunks[i]
		for _, p := range t.Networks {
			if p.Contains(src) {
				return t, authOK
			}
		}
	}
	if len(s.users) == 0 {
		return nil, authForbidden
	}
	h := req.GetHeader("Authorization")
	if h == nil {
		return nil, authChallenge
	}
	cr, ok := parseCredentials(h.Value())
	if !ok {
		return nil, authForbidden
	}
	t, ok := s.users[cr["username"]]
	if !ok || cr["realm"] != s.realm || cr["uri"] == "" || cr["response"] == "" {
		return nil, authForbidden
	}
	if alg := cr["algorithm"]; alg != "" && !strings.EqualFold(alg, "MD5") {
		return nil, authForbidden
	}
	switch s.checkNonce(cr["nonce"], src, now) {
	case nonceBad:
		return nil, authChallenge
	case nonceStale:
		return nil, authStale
	}
	ha1 := md5hex(t.Username + ":" + s.realm + ":" + t.Password)
	ha2 := md5hex(string(req.Method) + ":" + cr["uri"])
	var want string
	switch qop := cr["qop"]; qop {
	case "":
		want = md5hex(ha1 + ":" + cr["nonce"] + ":" + ha2)
	case "auth":
		if cr["nc"] == "" || cr["cnonce"] == "" {
			return nil, authForbidden
		}
		want = md5hex(ha1 + ":" + cr["nonce"] + ":" + cr["nc"] + ":" + cr["cnonce"] + ":auth:" + ha2)
	default:
		return nil, authForbidden
	}
	if subtle.ConstantTimeCompare([]byte(want), []byte(strings.ToLower(cr["response"]))) != 1 {
		return nil, authForbidden
	}
	return t, authOK
}

// challenge returns the WWW-Authenticate header of a 401.
func (s *Server) challenge(src netip.Addr, now time.Time, stale bool) sip.Header {
	v := fmt.Sprintf(`Digest realm="%s", nonce="%s", algorithm=MD5, qop="auth"`, s.realm, s.nonce(src, now))
	if stale {
		v += ", stale=true"
	}
	return sip.NewHeader("WWW-Authenticate", v)
}

// nonce returns a nonce for src: the time in hex and an HMAC.
func (s *Server) nonce(src netip.Addr, now time.Time) string {
	var ts [8]byte
	binary.BigEndian.PutUint64(ts[:], uint64(now.Unix()))
	return hex.EncodeToString(ts[:]) + hex.EncodeToString(s.nonceMAC(ts[:], src))
}

func (s *Server) nonceMAC(ts []byte, src netip.Addr) []byte {
	m := hmac.New(sha256.New, s.nonceKey[:])
	m.Write(ts)
	ip := src.Unmap().As16()
	m.Write(ip[:])
	return m.Sum(nil)[:16]
}

type nonceCheck int

const (
	nonceOK nonceCheck = iota
	nonceBad
	nonceStale
)

// checkNonce verifies a nonce this Server gave src.
func (s *Server) checkNonce(n string, src netip.Addr, now time.Time) nonceCheck {
	b, err := hex.DecodeString(n)
	if err != nil || len(b) != 8+16 {
		return nonceBad
	}
	if !hmac.Equal(b[8:], s.nonceMAC(b[:8], src)) {
		return nonceBad
	}
	issued := time.Unix(int64(binary.BigEndian.Uint64(b[:8])), 0)
	if age := now.Sub(issued); age < -time.Minute || age > nonceTTL {
		return nonceStale
	}
	return nonceOK
}

func md5hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

// parseCredentials parses the value of an Authorization header with the
// Digest scheme into its parameters, names lower-cased and quotes removed.
func parseCredentials(v string) (map[string]string, bool) {
	scheme, rest, ok := strings.Cut(strings.TrimSpace(v), " ")
	if !ok || !strings.EqualFold(scheme, "Digest") || len(v) > 4096 {
		return nil, false
	}
	params := make(map[string]string)
	for {
		rest = strings.TrimLeft(rest, " \t,")
		if rest == "" {
			return params, true
		}
		name, after, ok := strings.Cut(rest, "=")
		if !ok {
			return nil, false
		}
		name = strings.ToLower(strings.TrimSpace(name))
		after = strings.TrimLeft(after, " \t")
		var value string
		if strings.HasPrefix(after, `"`) {
			var b strings.Builder
			i := 1
			for ; i < len(after) && after[i] != '"'; i++ {
				if after[i] == '\\' && i+1 < len(after) {
					i++
				}
				b.WriteByte(after[i])
			}
			if i >= len(after) {
				return nil, false // unterminated
			}
			value, rest = b.String(), after[i+1:]
		} else {
			value, rest, _ = strings.Cut(after, ",")
			value = strings.TrimSpace(value)
		}
		if _, dup := params[name]; dup || name == "" {
			return nil, false
		}
		params[name] = value
	}
}
