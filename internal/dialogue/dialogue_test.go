package dialogue

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func newPolicy(t *testing.T, cfg Config) *Policy {
	t.Helper()
	p, err := NewPolicy(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestOpeningDisclosureFirst(t *testing.T) {
	p := newPolicy(t, Config{Disclosure: "You are talking with an AI."})
	for _, tc := range []struct {
		left  time.Duration
		kinds []string
	}{
		{15 * time.Minute, []string{KindDisclosure}},
		{time.Second, []string{KindDisclosure}},
		{0, []string{KindDisclosure, KindNoMinutes}},
		{-time.Minute, []string{KindDisclosure, KindNoMinutes}},
	} {
		t.Run(tc.left.String(), func(t *testing.T) {
			us := p.NewConversation().Opening(tc.left)
			var kinds []string
			for _, u := range us {
				kinds = append(kinds, u.Kind)
			}
			if !slices.Equal(kinds, tc.kinds) {
				t.Fatalf("kinds %v, want %v", kinds, tc.kinds)
			}
			if us[0].Text != "You are talking with an AI." || us[0].Interruptible || us[0].Hangup {
				t.Errorf("disclosure %+v: must be the configured text, not interruptible, not ending", us[0])
			}
			if len(us) == 2 {
				if last := us[1]; !last.Hangup || last.Interruptible || last.Text != DefaultNoMinutesMessage {
					t.Errorf("no-minutes %+v: must end the call with the fixed message", last)
				}
			}
		})
	}
}

func TestOpeningDefaultDisclosure(t *testing.T) {
	us := newPolicy(t, Config{}).NewConversation().Opening(time.Minute)
	if us[0].Text != DefaultDisclosure || !strings.Contains(us[0].Text, "AI") {
		t.Fatalf("default disclosure %q", us[0].Text)
	}
}

func TestMeter(t *testing.T) {
	p := newPolicy(t, Config{WarnBefore: time.Minute})
	type step struct {
		at   time.Duration
		kind string // "" nothing due
	}
	for _, tc := range []struct {
		name  string
		left  time.Duration
		steps []step
	}{
		{"full allowance", 15 * time.Minute, []step{
			{0, ""}, {13*time.Minute + 59*time.Second, ""}, {14 * time.Minute, KindWarning},
			{14*time.Minute + time.Second, ""}, {14*time.Minute + 59*time.Second, ""},
			{15 * time.Minute, KindGoodbye}, {16 * time.Minute, ""},
		}},
		{"less than the warning", 30 * time.Second, []step{
			{0, KindWarning}, {29 * time.Second, ""}, {30 * time.Second, KindGoodbye}, {31 * time.Second, ""},
		}},
		{"late check says goodbye only", 10 * time.Minute, []step{
			{11 * time.Minute, KindGoodbye}, {12 * time.Minute, ""},
		}},
		{"nothing left: the opening ends it", 0, []step{{0, ""}, {time.Hour, ""}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := p.NewMeter(tc.left)
			for _, s := range tc.steps {
				u, ok := m.Check(s.at)
				got := ""
				if ok {
					got = u.Kind
				}
				if got != s.kind {
					t.Fatalf("Check(%v) = %q, want %q", s.at, got, s.kind)
				}
				if ok && u.Interruptible {
					t.Errorf("%s is interruptible", u.Kind)
				}
				if ok && u.Hangup != (u.Kind == KindGoodbye) {
					t.Errorf("%s: Hangup %v", u.Kind, u.Hangup)
				}
			}
		})
	}
}

func TestMeterNext(t *testing.T) {
	p := newPolicy(t, Config{WarnBefore: time.Minute})
	m := p.NewMeter(15 * time.Minute)
	if at, ok := m.Next(); !ok || at != 14*time.Minute {
		t.Fatalf("Next = %v %v, want 14m", at, ok)
	}
	m.Check(14 * time.Minute)
	if at, ok := m.Next(); !ok || at != 15*time.Minute {
		t.Fatalf("Next after warning = %v %v, want 15m", at, ok)
	}
	m.Check(15 * time.Minute)
	if _, ok := m.Next(); ok {
		t.Fatal("Next after goodbye reports something due")
	}
	if _, ok := p.NewMeter(0).Next(); ok {
		t.Fatal("Next with nothing left reports something due")
	}
	if at, _ := p.NewMeter(10 * time.Second).Next(); at != 0 {
		t.Fatalf("Next with less than the warning = %v, want 0", at)
	}
}

func TestCharge(t *testing.T) {
	for in, want := range map[time.Duration]time.Duration{
		0: 0, -time.Second: 0, time.Millisecond: time.Second, time.Second: time.Second,
		61*time.Second + time.Nanosecond: 62 * time.Second,
	} {
		if got := Charge(in); got != want {
			t.Errorf("Charge(%v) = %v, want %v", in, got, want)
		}
	}
}

func TestHearEmergency(t *testing.T) {
	p := newPolicy(t, Config{EmergencyPhrases: []string{"code red"}, RestrictedTopics: []string{"stock tips"}})
	for _, tc := range []struct {
		said   string
		action Action
		rule   string
	}{
		{"what's the weather like", Answer, ""},
		{"I need to call 911 now", Emergency, "911"},
		{"call nine one one", Emergency, "911"},
		{"dial 9-1-1", Emergency, "911"},
		{"9 1 1", Emergency, "911"},
		{"is 112 the number in Europe?", Emergency, "112"},
		{"999!", Emergency, "999"},
		{"what is 988", Emergency, "988"},
		{"it's CODE RED here", Emergency, "code red"},
		{"code is red", Answer, ""},
		{"I was born in 1988", Answer, ""},
		{"call 19110", Answer, ""},
		{"room 9110", Answer, ""},
		{"we sold 10,000 units", Answer, ""},
		{"give me stock tips", Refuse, "stock tips"},
		{"stock tips or 911", Emergency, "911"}, // the emergency wins
		{"   ", Wait, ""},
	} {
		t.Run(tc.said, func(t *testing.T) {
			c := p.NewConversation()
			d := c.Hear(tc.said)
			if d.Action != tc.action || d.Rule != tc.rule {
				t.Fatalf("Hear(%q) = %v %q, want %v %q", tc.said, d.Action, d.Rule, tc.action, tc.rule)
			}
			u, ok := d.Utterance()
			switch tc.action {
			case Emergency:
				if !ok || u.Text != DefaultEmergencyMessage || u.Interruptible || u.Kind != KindEmergency {
					t.Errorf("emergency utterance %+v %v", u, ok)
				}
			case Refuse:
				if !ok || u.Text != DefaultRefusalMessage || u.Kind != KindRefusal {
					t.Errorf("refusal utterance %+v %v", u, ok)
				}
			default:
				if ok {
					t.Errorf("%v gave an utterance %+v", tc.action, u)
				}
			}
			h := c.History()
			switch tc.action {
			case Wait:
				if len(h) != 0 {
					t.Errorf("history %v after nothing said", h)
				}
			case Answer:
				if len(h) != 1 || h[0].Role != User {
					t.Errorf("history %v", h)
				}
			default: // the fixed message is in the history, for the model to know
				if len(h) != 2 || h[1].Role != Assistant || h[1].Content != d.Say {
					t.Errorf("history %v", h)
				}
			}
		})
	}
}

func TestDigits(t *testing.T) {
	t0 := time.Date(2026, 12, 5, 8, 0, 0, 0, time.UTC)
	p := newPolicy(t, Config{})
	type press struct {
		d  rune
		at time.Duration
	}
	for _, tc := range []struct {
		name    string
		presses []press
		rule    string // the emergency number tripped, at the last press; "" none
	}{
		{"911", []press{{'9', 0}, {'1', time.Second}, {'1', 2 * time.Second}}, "911"},
		{"112", []press{{'1', 0}, {'1', 0}, {'2', 0}}, "112"},
		{"999", []press{{'9', 0}, {'9', 0}, {'9', 0}}, "999"},
		{"988", []press{{'9', 0}, {'8', 0}, {'8', 0}}, "988"},
		{"1911 is not 911", []press{{'1', 0}, {'9', 0}, {'1', 0}, {'1', 0}}, ""},
		{"a pause starts again", []press{{'1', 0}, {'9', 10 * time.Second}, {'1', 11 * time.Second}, {'1', 12 * time.Second}}, "911"},
		{"a pause breaks it", []press{{'9', 0}, {'1', 10 * time.Second}, {'1', 11 * time.Second}}, ""},
		{"star starts again", []press{{'5', 0}, {'*', 0}, {'9', 0}, {'1', 0}, {'1', 0}}, "911"},
		{"hash starts again", []press{{'5', 0}, {'#', 0}, {'1', 0}, {'1', 0}, {'2', 0}}, "112"},
		{"91", []press{{'9', 0}, {'1', 0}}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := p.NewConversation()
			for i, pr := range tc.presses {
				d := c.Digit(pr.d, t0.Add(pr.at))
				want := Wait
				if i == len(tc.presses)-1 && tc.rule != "" {
					want = Emergency
				}
				if d.Action != want {
					t.Fatalf("press %d (%c) = %v, want %v", i, pr.d, d.Action, want)
				}
				if want == Emergency && (d.Rule != tc.rule || d.Say != DefaultEmergencyMessage) {
					t.Fatalf("emergency %+v, want rule %s", d, tc.rule)
				}
			}
		})
	}
	// After tripping, the sequence starts again: one more 1 is not 911 again.
	c := p.NewConversation()
	for _, d := range "911" {
		c.Digit(d, t0)
	}
	if d := c.Digit('1', t0); d.Action != Wait {
		t.Fatalf("digit after a tripped sequence: %v", d.Action)
	}
}

func TestConfiguredEmergencyNumbers(t *testing.T) {
	p := newPolicy(t, Config{EmergencyNumbers: []string{"110"}})
	if d := p.Check("call 110"); d.Action != Emergency {
		t.Errorf("configured number: %v", d.Action)
	}
	if d := p.Check("call 911"); d.Action != Answer {
		t.Errorf("a configured list replaces the defaults: 911 gave %v", d.Action)
	}
	if d := p.CheckDigits("110"); d.Action != Emergency {
		t.Errorf("keyed configured number: %v", d.Action)
	}
}

// fakeModel answers with tokens, and records how it was asked.
type fakeModel struct {
	tokens []string
	err    error
	// block, when set, waits for ctx after the tokens instead of returning.
	block bool

	mu       sync.Mutex
	asked    [][]Message
	canceled bool
}

func (m *fakeModel) Chat(ctx context.Context, msgs []Message, onToken func(string)) (string, error) {
	m.mu.Lock()
	m.asked = append(m.asked, msgs)
	m.mu.Unlock()
	var all strings.Builder
	for _, tok := range m.tokens {
		if err := ctx.Err(); err != nil {
			m.mu.Lock()
			m.canceled = true
			m.mu.Unlock()
			return all.String(), fmt.Errorf("chat: %w", err)
		}
		onToken(tok)
		all.WriteString(tok)
	}
	if m.block {
		<-ctx.Done()
		return all.String(), fmt.Errorf("chat: %w", ctx.Err())
	}
	return all.String(), m.err
}

func collect(t *testing.T, p *Policy, m Model) ([]Clause, error) {
	t.Helper()
	var out []Clause
	err := p.Stream(context.Background(), m, p.NewConversation().Prompt(), func(c Clause) { out = append(out, c) })
	return out, err
}

func TestStreamClauses(t *testing.T) {
	p := newPolicy(t, Config{})
	m := &fakeModel{tokens: []string{"It is ", "3.5 degrees", ". Bring", " a coat! And", " a hat"}}
	got, err := collect(t, p, m)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"It is 3.5 degrees.", "Bring a coat!", "And a hat"}
	var texts []string
	for _, c := range got {
		texts = append(texts, c.Text)
		if c.Refusal {
			t.Errorf("refusal %+v", c)
		}
	}
	if !slices.Equal(texts, want) {
		t.Fatalf("clauses %q, want %q", texts, want)
	}
	if msgs := m.asked[0]; msgs[0].Role != System || msgs[0].Content != DefaultInstructions {
		t.Errorf("first message %+v, want the instructions", msgs[0])
	}
}

func TestStreamRestrictedTopicCutsTheModel(t *testing.T) {
	p := newPolicy(t, Config{RestrictedTopics: []string{"insider trading"}})
	m := &fakeModel{tokens: []string{"Sure. ", "Here is how ", "insider ", "trading works. ", "First, you"}}
	got, err := collect(t, p, m)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Text != "Sure." || !got[1].Refusal || got[1].Text != DefaultRefusalMessage || got[1].Rule != "insider trading" {
		t.Fatalf("clauses %+v: want the clean clause, then the refusal", got)
	}
	if !m.canceled {
		t.Error("the model was not cancelled after the restricted topic")
	}
}

func TestStreamTopicAcrossClauses(t *testing.T) {
	// "insider" ends one clause and "trading" starts the next: screened
	// together, so the second is refused.
	p := newPolicy(t, Config{RestrictedTopics: []string{"insider trading"}})
	got, err := collect(t, p, &fakeModel{tokens: []string{"He was an insider.\n", "Trading is his job."}})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Refusal || !got[1].Refusal {
		t.Fatalf("clauses %+v", got)
	}
}

func TestStreamModelError(t *testing.T) {
	p := newPolicy(t, Config{})
	boom := errors.New("boom")
	got, err := collect(t, p, &fakeModel{tokens: []string{"Half an answer. And"}, err: boom})
	if !errors.Is(err, boom) {
		t.Fatalf("err %v, want boom", err)
	}
	if len(got) != 1 || got[0].Text != "Half an answer." {
		t.Fatalf("clauses before the error %+v", got)
	}
}

func TestStreamCancel(t *testing.T) {
	p := newPolicy(t, Config{})
	ctx, cancel := context.WithCancel(context.Background())
	var got []Clause
	err := p.Stream(ctx, &fakeModel{tokens: []string{"One. ", "Two. "}, block: true}, nil, func(c Clause) {
		got = append(got, c)
		cancel() // barge-in after the first clause
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want context.Canceled", err)
	}
	if len(got) != 1 {
		t.Fatalf("clauses after cancel: %+v", got)
	}
}

func TestSaidKeepsWhatWasHeard(t *testing.T) {
	p := newPolicy(t, Config{})
	for _, tc := range []struct {
		name  string
		parts []Spoken
		heard string
		cut   bool
	}{
		{"all heard", []Spoken{{"Hello there.", 100, 100}, {"How are you?", 50, 50}}, "Hello there. How are you?", false},
		{"cut in the second clause", []Spoken{{"Hello there.", 100, 100}, {"The weather is fine today.", 14, 26}, {"Bye.", 0, 10}},
			"Hello there. The weather is", true},
		{"cut mid-word", []Spoken{{"Wonderful", 4, 9}}, "", true},
		{"cut in the first", []Spoken{{"Alpha beta gamma.", 11, 17}}, "Alpha beta", true},
		{"nothing played", []Spoken{{"Alpha.", 0, 100}}, "", true},
		{"later clauses not started", []Spoken{{"One.", 10, 10}, {"Two.", 0, 10}}, "One.", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := p.NewConversation()
			c.Hear("hi")
			heard, cut := c.Said(tc.parts)
			if heard != tc.heard || cut != tc.cut {
				t.Fatalf("Said = %q %v, want %q %v", heard, cut, tc.heard, tc.cut)
			}
			h := c.History()
			if tc.heard == "" {
				if len(h) != 1 {
					t.Fatalf("history %v: nothing heard must record nothing", h)
				}
				return
			}
			want := tc.heard
			if tc.cut {
				want += "..."
			}
			if len(h) != 2 || h[1] != (Message{Assistant, want}) {
				t.Fatalf("history %v, want assistant %q", h, want)
			}
			// The next prompt has only what was heard.
			pr := c.Prompt()
			if last := pr[len(pr)-1]; last.Content != want {
				t.Fatalf("prompt ends %q", last.Content)
			}
		})
	}
}

func TestPromptJoinsAndBounds(t *testing.T) {
	p := newPolicy(t, Config{MaxHistory: 3, Instructions: "be brief"})
	c := p.NewConversation()
	c.Hear("one")
	c.Said([]Spoken{{"two.", 1, 1}})
	c.Hear("three")
	c.Hear("four")
	pr := c.Prompt()
	want := []Message{{System, "be brief"}, {Assistant, "two."}, {User, "three four"}}
	if !slices.Equal(pr, want) {
		t.Fatalf("prompt %v, want %v", pr, want)
	}
}

func TestQuota(t *testing.T) {
	ctx := context.Background()
	p := newPolicy(t, Config{Allowance: 15 * time.Minute, VerifiedAllowance: 30 * time.Minute})
	q := NewMemoryQuota()
	dec := time.Date(2026, 12, 31, 23, 59, 0, 0, time.UTC)
	jan := dec.Add(2 * time.Minute)
	key := "k_3f9a0c"
	if left, err := p.Remaining(ctx, q, key, false, dec); err != nil || left != 15*time.Minute {
		t.Fatalf("new caller: %v %v", left, err)
	}
	if err := q.Add(ctx, key, dec, 14*time.Minute); err != nil {
		t.Fatal(err)
	}
	if left, _ := p.Remaining(ctx, q, key, false, dec); left != time.Minute {
		t.Fatalf("after 14m: %v", left)
	}
	if left, _ := p.Remaining(ctx, q, key, true, dec); left != 16*time.Minute {
		t.Fatalf("verified after 14m: %v", left)
	}
	if err := q.Add(ctx, key, dec, 5*time.Minute); err != nil {
		t.Fatal(err)
	}
	if left, _ := p.Remaining(ctx, q, key, false, dec); left != 0 {
		t.Fatalf("overdrawn: %v, want 0", left)
	}
	if left, _ := p.Remaining(ctx, q, key, false, jan); left != 15*time.Minute {
		t.Fatalf("next month: %v", left)
	}
	if err := q.Add(ctx, key, dec, -time.Second); err == nil {
		t.Error("negative time added")
	}
	for _, bad := range []string{"+14155550123", "4155550123", "(415) 555-0123", "415.555.0123", ""} {
		if _, err := p.Remaining(ctx, q, bad, false, dec); !errors.Is(err, ErrNotOpaque) {
			t.Errorf("Remaining(%q): %v, want ErrNotOpaque", bad, err)
		}
		if err := q.Add(ctx, bad, dec, time.Second); !errors.Is(err, ErrNotOpaque) {
			t.Errorf("Add(%q): %v, want ErrNotOpaque", bad, err)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{EmergencyNumbers: []string{"9"}}, "EmergencyNumbers"},
		{Config{EmergencyNumbers: []string{"91a"}}, "EmergencyNumbers"},
		{Config{EmergencyPhrases: []string{"  !"}}, "EmergencyPhrases"},
		{Config{RestrictedTopics: []string{""}}, "RestrictedTopics"},
		{Config{Allowance: -time.Minute}, "Allowance"},
		{Config{Allowance: time.Hour, VerifiedAllowance: time.Minute}, "VerifiedAllowance"},
		{Config{ClauseWords: 101}, "ClauseWords"},
		{Config{MaxHistory: -1}, "MaxHistory"},
	} {
		err := tc.cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Validate(%+v) = %v, want a problem with %s", tc.cfg, err, tc.want)
		}
		if _, err := NewPolicy(tc.cfg); err == nil {
			t.Errorf("NewPolicy(%+v) accepted a bad config", tc.cfg)
		}
	}
	if err := (Config{}).Validate(); err != nil {
		t.Errorf("zero config: %v", err)
	}
}

func TestFingerprint(t *testing.T) {
	a := Fingerprint([]int16{1, 2, 3})
	if len(a) != 64 || a == Fingerprint([]int16{1, 2, 4}) || a != Fingerprint([]int16{1, 2, 3}) {
		t.Fatalf("fingerprint %q", a)
	}
	long := make([]int16, 5000)
	long[4999] = 1
	if Fingerprint(long) == Fingerprint(make([]int16, 5000)) {
		t.Fatal("the tail of a long buffer is not hashed")
	}
}
