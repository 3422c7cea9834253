package voice

import (
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/ringfence/ringfence/internal/dialogue"
)

// response waits for the next response to method.
func (u *uac) response(method sip.RequestMethod) *sip.Response {
	u.t.Helper()
	deadline := time.After(wait)
	for {
		select {
		case m := <-u.msgs:
			if res, ok := m.(*sip.Response); ok && res.CSeq().MethodName == method && !res.IsProvisional() {
				return res
			}
		case <-deadline:
			u.t.Fatalf("no response to %s", method)
			return nil
		}
	}
}

func TestOptions(t *testing.T) {
	p := startLine(t, lineOptions{})
	u := newUAC(t, p.addr, "+14155550123")
	u.cseq++
	u.send(u.request("OPTIONS", "z9hG4bK"+randomHex(6), "", ""))
	res := u.response(sip.OPTIONS)
	if res.StatusCode != 200 {
		t.Fatalf("OPTIONS answered %d", res.StatusCode)
	}
	if h := res.GetHeader("Allow"); h == nil || !strings.Contains(h.Value(), "INVITE") {
		t.Errorf("Allow %v", h)
	}
}

// A trunk known by digest credentials: challenged, then let in with the
// right password and refused with a wrong one.
func TestDigestTrunk(t *testing.T) {
	p := startLine(t, lineOptions{trunks: []Trunk{{Name: "carrier", Username: "carrier", Password: "s3cret-pass"}}})
	for _, tc := range []struct {
		password string
		want     int
	}{{"s3cret-pass", 200}, {"wrong", 403}} {
		u := newUAC(t, p.addr, "+14155550123")
		c := newCaller(t)
		body := offer(c.port(), "0 101")
		u.invite(body)
		res := u.final()
		if res.StatusCode != 401 {
			t.Fatalf("INVITE without credentials answered %d, want 401", res.StatusCode)
		}
		chal, ok := parseCredentials(res.GetHeader("WWW-Authenticate").Value())
		if !ok || chal["nonce"] == "" || chal["realm"] != DefaultRealm {
			t.Fatalf("challenge %q", res.GetHeader("WWW-Authenticate").Value())
		}
		uri := "sip:assistant@" + p.addr.String()
		ha1 := md5hex("carrier:" + DefaultRealm + ":" + tc.password)
		ha2 := md5hex("INVITE:" + uri)
		resp := md5hex(ha1 + ":" + chal["nonce"] + ":00000001:abcdef:auth:" + ha2)
		u.invite(body, `Authorization: Digest username="carrier", realm="`+DefaultRealm+`", nonce="`+chal["nonce"]+
			`", uri="`+uri+`", response="`+resp+`", algorithm=MD5, qop=auth, nc=00000001, cnonce="abcdef"`)
		res = u.final()
		if res.StatusCode != tc.want {
			t.Fatalf("password %q: INVITE answered %d, want %d", tc.password, res.StatusCode, tc.want)
		}
		if res.StatusCode == 200 {
			c.run(u.ack(res))
			c.waitFor(allTones, toneDisclosure)
			u.bye(res)
		}
	}
}

// A caller whose audio stops is hung up after the media timeout, and the
// record says why.
func TestMediaTimeoutEndsCall(t *testing.T) {
	p := startLine(t, lineOptions{mediaTimeout: time.Second})
	u := newUAC(t, p.addr, "+14155550123")
	c := newCaller(t)
	u.invite(offer(c.port(), "0 101"))
	res := u.final()
	if res.StatusCode != 200 {
		t.Fatalf("INVITE answered %d", res.StatusCode)
	}
	u.ack(res) // and never send a packet
	u.waitBye()
	if r := p.records.next(t); r.Ended != dialogue.EndMediaTimeout {
		t.Errorf("record %+v, want ended by media timeout", r)
	}
}

// reinvite sends an INVITE in the call's dialog and returns its final
// response, acknowledged.
func (u *uac) reinvite(ok *sip.Response, body string) *sip.Response {
	u.t.Helper()
	tag, _ := ok.To().Params.Get("tag")
	u.cseq++
	u.branch = "z9hG4bK" + randomHex(6)
	u.send(u.request("INVITE", u.branch, tag, body))
	res := u.final()
	if res.StatusCode == 200 {
		u.ack(res)
	}
	return res
}

// A re-INVITE puts the call on hold and back; one that would change the
// codec is refused with 488 and the call goes on as it was.
func TestReinvite(t *testing.T) {
	p := startLine(t, lineOptions{})
	u, c, ok := p.call(t, "+14155550123")
	c.waitFor(allTones, toneDisclosure)

	hold := strings.Replace(offer(c.port(), "0 101"), "a=sendrecv", "a=sendonly", 1)
	res := u.reinvite(ok, hold)
	if res.StatusCode != 200 || !strings.Contains(string(res.Body()), "a=recvonly") {
		t.Fatalf("hold answered %d:\n%s", res.StatusCode, res.Body())
	}
	if res := u.reinvite(ok, offer(c.port(), "8 101")); res.StatusCode != 488 {
		t.Fatalf("codec change answered %d, want 488", res.StatusCode)
	}
	res = u.reinvite(ok, offer(c.port(), "0 101"))
	if res.StatusCode != 200 || !strings.Contains(string(res.Body()), "a=sendrecv") {
		t.Fatalf("resume answered %d:\n%s", res.StatusCode, res.Body())
	}
	c.waitQuiet()
	c.speak(toneHello, 600*time.Millisecond)
	c.waitFor(allTones, toneDisclosure, toneAnswer1, toneAnswer2)
}
