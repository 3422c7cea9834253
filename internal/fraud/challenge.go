package fraud

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"encoding/binary"
	"math/bits"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Challenge is a proof-of-work challenge: the client must find a nonce such
// that SHA-256(Token + ":" + nonce) starts with Difficulty zero bits, and
// send Token + ":" + nonce back as Request.PoWSolution before Expires.
//
// Tokens are stateless: they carry their difficulty and expiry, signed with
// HMAC-SHA-256 under PoWConfig.Key together with the IP and prefix keys of
// the request they were issued for, so a solution is good only for that IP
// and prefix. A solution is accepted once.
type Challenge struct {
	Token      string    `json:"token"`
	Difficulty int       `json:"difficulty"`
	Expires    time.Time `json:"expires"`
}

// SolverJS is a JavaScript proof-of-work solver for web pages: it defines
// ringfenceSolve(token, difficulty), which returns a promise of the nonce,
// using crypto.subtle.digest. It also works as a Node.js module.
//
//go:embed solver.js
var SolverJS []byte

// Solve returns the smallest nonce, in decimal, that solves a challenge of
// the given token and difficulty (the same one solver.js finds). It costs
// about 2^difficulty hashes; it is meant for tests and the simulator.
func Solve(token string, difficulty int) string {
	buf := make([]byte, 0, len(token)+21)
	buf = append(buf, token...)
	buf = append(buf, ':')
	for n := uint64(0); ; n++ {
		b := strconv.AppendUint(buf, n, 10)
		if zeroBits(sha256.Sum256(b)) >= difficulty {
			return string(b[len(buf):])
		}
	}
}

// zeroBits returns the number of leading zero bits of h.
func zeroBits(h [sha256.Size]byte) int {
	n := 0
	for i := 0; i < len(h); i += 8 {
		w := binary.BigEndian.Uint64(h[i:])
		n += bits.LeadingZeros64(w)
		if w != 0 {
			break
		}
	}
	return n
}

// A token is base64url (no padding) of a payload and its MAC:
//
//	version (1) | difficulty (1) | expiry, Unix seconds (8) | random (8) | MAC (16)
const (
	tokenVersion = 1
	payloadLen   = 18
	macLen       = 16
	tokenLen     = payloadLen + macLen
	maxNonceLen  = 64
)

var tokenChars = base64.RawURLEncoding.EncodedLen(tokenLen)

// macDomain separates challenge MACs from any other use of the key.
const macDomain = "ringfence fraud challenge v1\x00"

// mac returns the MAC binding payload to the IP and prefix keys.
func (g *Guard) mac(payload []byte, ip, prefix string) []byte {
	m := hmac.New(sha256.New, g.powKey)
	m.Write([]byte(macDomain))
	m.Write(payload)
	m.Write([]byte(ip))
	m.Write([]byte{0})
	m.Write([]byte(prefix))
	return m.Sum(nil)[:macLen]
}

// issue returns a new challenge for the IP and prefix keys at time t.
func (g *Guard) issue(ip, prefix string, now time.Time) *Challenge {
	exp := now.Add(g.cfg.PoW.TTL).Truncate(time.Second)
	var tok [tokenLen]byte
	tok[0] = tokenVersion
	tok[1] = byte(g.cfg.PoW.Difficulty)
	binary.BigEndian.PutUint64(tok[2:], uint64(exp.Unix()))
	rand.Read(tok[10:payloadLen])
	copy(tok[payloadLen:], g.mac(tok[:payloadLen], ip, prefix))
	g.challenges.Add(1)
	return &Challenge{
		Token:      base64.RawURLEncoding.EncodeToString(tok[:]),
		Difficulty: g.cfg.PoW.Difficulty,
		Expires:    exp,
	}
}

// solution is a checked proof of work.
type solution struct {
	id  [macLen]byte // the token's MAC, its identity in the spent set
	exp int64        // Unix ns
}

// verify checks a solution "token:nonce" for the IP and prefix keys at time
// t: signature, expiry and work, but not whether it was spent.
func (g *Guard) verify(sol, ip, prefix string, t int64) (solution, bool) {
	token, nonce, ok := strings.Cut(sol, ":")
	if !ok || len(token) != tokenChars || nonce == "" || len(nonce) > maxNonceLen {
		return solution{}, false
	}
	var tok [tokenLen]byte
	if n, err := base64.RawURLEncoding.Decode(tok[:], []byte(token)); err != nil || n != tokenLen || tok[0] != tokenVersion {
		return solution{}, false
	}
	if !hmac.Equal(tok[payloadLen:], g.mac(tok[:payloadLen], ip, prefix)) {
		return solution{}, false
	}
	exp := int64(binary.BigEndian.Uint64(tok[2:])) * int64(time.Second)
	if t >= exp {
		return solution{}, false
	}
	if zeroBits(sha256.Sum256([]byte(sol))) < int(tok[1]) {
		return solution{}, false
	}
	var s solution
	copy(s.id[:], tok[payloadLen:])
	s.exp = exp
	return s, true
}

// spentSet remembers spent tokens until they expire, in shards.
type spentSet struct {
	shards [16]spentShard
	max    int // per shard
}

type spentShard struct {
	mu sync.Mutex
	m  map[[macLen]byte]int64 // id -> expiry, Unix ns
	_  [48]byte
}

func newSpentSet(maxSpent int) *spentSet {
	s := &spentSet{max: max(maxSpent/16, 1)}
	for i := range s.shards {
		s.shards[i].m = make(map[[macLen]byte]int64)
	}
	return s
}

// spend marks sol spent and reports whether it was not already. When a
// shard is full of unexpired tokens, spend refuses every new one until some
// expire.
func (s *spentSet) spend(sol solution, t int64) bool {
	sh := &s.shards[sol.id[0]&15]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if _, ok := sh.m[sol.id]; ok {
		return false
	}
	i := 0
	for id, exp := range sh.m { // sweep a few, so that expired tokens go
		if i++; i > 2 {
			break
		}
		if exp <= t {
			delete(sh.m, id)
		}
	}
	if len(sh.m) >= s.max {
		for id, exp := range sh.m {
			if exp <= t {
				delete(sh.m, id)
			}
		}
		if len(sh.m) >= s.max {
			return false
		}
	}
	sh.m[sol.id] = sol.exp
	return true
}

// unspend forgets sol, for a send refused after its solution was taken.
func (s *spentSet) unspend(sol solution) {
	sh := &s.shards[sol.id[0]&15]
	sh.mu.Lock()
	delete(sh.m, sol.id)
	sh.mu.Unlock()
}
