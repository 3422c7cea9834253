package verify

import (
	"context"
	"crypto/hmac"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ringfence/ringfence/internal/phone"
	"github.com/ringfence/ringfence/internal/vault"
)

// Config holds the verification rules; see the defaults table in DESIGN.md.
type Config struct {
	CodeLength     int
	Lifetime       time.Duration
	MaxChecks      int
	MaxSends       int
	ResendCooldown time.Duration
	SendsPerHour   int
	SendsPerDay    int
	IPSendsPerHour int // 0: no per-IP limit
	AllowVoIP      bool
	Countries      []string // allowed regions; empty allows all
	DefaultCountry string
	Channels       []Channel // channels the configured sender can deliver
	InboundNumber  string    // E.164 number people text for inbound_sms; "" turns it off
}

// DefaultConfig returns the defaults of DESIGN.md.
func DefaultConfig() Config {
	return Config{
		CodeLength:     6,
		Lifetime:       5 * time.Minute,
		MaxChecks:      5,
		MaxSends:       5,
		ResendCooldown: 60 * time.Second,
		SendsPerHour:   10,
		SendsPerDay:    50,
		IPSendsPerHour: 60,
		Channels:       []Channel{ChannelSMS},
	}
}

// Service starts, checks, resends and cancels verifications.
type Service struct {
	cfg      Config
	accounts Accounts
	provider Provider // makes, sends and checks codes itself; nil: ringfence does
	// checkLatency is a moving average of the provider's check time, in
	// nanoseconds: locally checked verifications take as long.
	checkLatency atomic.Int64
	guard        *guardState
	// OnRefusal, when set, observes each reason the fraud guard refuses a send for.
	OnRefusal func(reason string)
	store     Store
	keys      *vault.Keyring
	now       func() time.Time
	log       *slog.Logger
	notify    chan struct{} // wakes the dispatcher after a commit that enqueued a message
}

// NewService returns a Service. now may be nil for time.Now.
func NewService(cfg Config, store Store, keys *vault.Keyring, now func() time.Time, log *slog.Logger) *Service {
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Service{cfg: cfg, store: store, keys: keys, now: now, log: log, notify: make(chan struct{}, 1)}
}

// SetAccounts connects the service to the accounts its verifications prove.
// Call it before serving.
func (s *Service) SetAccounts(a Accounts) { s.accounts = a }

// Config returns the rules the service applies.
func (s *Service) Config() Config { return s.cfg }

// StartRequest asks for a code to be sent.
type StartRequest struct {
	Phone          string
	Country        string // region for national input
	Channel        Channel
	Purpose        Purpose
	SubjectID      string
	SecondFactor   bool   // the application verified another factor (shortens recovery cooling-off)
	IP             string // the end user's IP as the application saw it; optional
	IdempotencyKey string
	Actor          string // the API key id, or "demo"
	// PoW answers the fraud guard's proof-of-work challenge: token + ":" + nonce.
	PoW string
}

// Started is the answer to Start.
type Started struct {
	*Verification
	Replayed bool // true when an Idempotency-Key retry returned the first answer
	// InboundCode and InboundTo tell the person what to text where, for
	// inbound_sms; the code is shown only in this answer and never stored.
	InboundCode string
	InboundTo   string
}

// Start validates the request, applies the limits and, in one transaction,
// stores the verification and queues its message. It returns ErrInvalidRequest,
// ErrInvalidPhone, ErrNumberType, *BlockedError, *RateLimitError or
// ErrIdempotencyMismatch for requests it refuses; a refused request changes nothing.
func (s *Service) Start(ctx context.Context, req StartRequest) (*Started, error) {
	if req.Channel == "" {
		req.Channel = ChannelSMS
	}
	if req.Purpose == "" {
		req.Purpose = PurposeSignup
	}
	if !req.Channel.Valid() {
		return nil, fmt.Errorf("%w: unknown channel", ErrInvalidRequest)
	}
	if req.Channel == ChannelInboundSMS {
		if s.cfg.InboundNumber == "" {
			return nil, fmt.Errorf("%w: channel inbound_sms is not configured", ErrInvalidRequest)
		}
	} else if !slices.Contains(s.cfg.Channels, req.Channel) {
		return nil, fmt.Errorf("%w: channel %s is not available", ErrInvalidRequest, req.Channel)
	}
	if !req.Purpose.Valid() {
		return nil, fmt.Errorf("%w: unknown purpose", ErrInvalidRequest)
	}
	if req.SubjectID != "" && !vault.ValidID("sub", req.SubjectID) {
		return nil, fmt.Errorf("%w: malformed subject_id", ErrInvalidRequest)
	}
	bySubject := req.Purpose == PurposeStepUp || req.Purpose == PurposeRecovery
	takesSubject := bySubject || req.Purpose == PurposePhoneChange || req.Purpose == PurposeGuardian
	switch {
	case takesSubject && req.SubjectID == "":
		return nil, fmt.Errorf("%w: purpose %s needs subject_id", ErrInvalidRequest, req.Purpose)
	case !takesSubject && req.SubjectID != "":
		return nil, fmt.Errorf("%w: subject_id is only for step_up, recovery, phone_change and guardian", ErrInvalidRequest)
	case takesSubject && s.accounts == nil:
		return nil, fmt.Errorf("%w: purpose %s needs accounts", ErrInvalidRequest, req.Purpose)
	case bySubject && req.Phone != "":
		return nil, fmt.Errorf("%w: %s sends to the subject's own number: give subject_id, not phone", ErrInvalidRequest, req.Purpose)
	}
	if len(req.IdempotencyKey) > 255 {
		return nil, fmt.Errorf("%w: Idempotency-Key longer than 255 characters", ErrInvalidRequest)
	}
	var ipIndexes [][]byte // under every index key version, newest first
	if req.IP != "" {
		addr, err := netip.ParseAddr(req.IP)
		if err != nil || addr.Zone() != "" {
			return nil, fmt.Errorf("%w: malformed ip", ErrInvalidRequest)
		}
		ipIndexes = s.keys.BlindIndexes("ip", addr.Unmap().String())
	}
	region := strings.ToUpper(req.Country)
	if region == "" {
		region = s.cfg.DefaultCountry
	}
	if region != "" && !validRegion(region) {
		return nil, fmt.Errorf("%w: malformed country", ErrInvalidRequest)
	}
	raw := req.Phone
	if bySubject {
		e164, err := s.accounts.Number(ctx, req)
		if err != nil {
			return nil, err
		}
		raw, region = e164, ""
	}
	num, err := phone.Parse(raw, region)
	if err != nil {
		return nil, ErrInvalidPhone
	}
	if len(s.cfg.Countries) > 0 && !slices.Contains(s.cfg.Countries, num.Country()) {
		return nil, &BlockedError{Reasons: []string{"country_not_allowed"}}
	}
	if !num.CanReceiveSMS(s.cfg.AllowVoIP) {
		return nil, ErrNumberType
	}

	phoneIndexes := s.keys.BlindIndexes("phone", num.E164())
	phoneIndex := phoneIndexes[0]
	prefixIndex := s.keys.BlindIndex("prefix", num.Prefix())
	deliver := true
	if s.accounts != nil && (req.Purpose == PurposeLogin || req.Purpose == PurposeSignup) {
		if deliver, err = s.accounts.Deliverable(ctx, req.Purpose, num.E164()); err != nil {
			return nil, err
		}
	}

	now := s.now().UTC().Truncate(time.Millisecond)
	id := vault.NewOrderedID("ve", now)
	code := vault.RandomDigits(s.cfg.CodeLength)
	paid := req.Channel.Paid()
	v := &Verification{
		ID:          id,
		PhoneIndex:  phoneIndex,
		PrefixIndex: prefixIndex,
		PhoneSealed: s.keys.Seal([]byte(num.E164()), []byte("phone:"+id)),
		Masked:      num.Mask(),
		Country:     num.Country(),
		LineType:    string(num.Type()),
		IPIndex:     firstOrNil(ipIndexes),
		Channel:     req.Channel,
		Purpose:     req.Purpose,
		SubjectID:   req.SubjectID,
		Status:      StatusPending,
		CodeMAC:     s.keys.CodeMAC(id, code),
		CodeSealed:  s.keys.Seal([]byte(code), []byte("code:"+id)),
		Actor:       req.Actor,
		CreatedAt:   now,
		UpdatedAt:   now,
		ExpiresAt:   now.Add(s.cfg.Lifetime),
		LastSentAt:  now,
	}
	if paid {
		v.Sends = 1
	} else {
		v.CodeSealed = nil // nothing to resend: the person texts us
		v.LastSentAt = time.Time{}
	}
	if paid && deliver && s.provider != nil {
		// The provider makes the code: none is kept here, and no local
		// comparison can approve.
		v.Provider = s.provider.Name()
		v.CodeMAC = s.providerCodeMAC(id)
		v.CodeSealed = nil
	}
	if !deliver {
		// A decoy: the same answer, the same work, but the code it was
		// started with is forgotten and its MAC is of a value no code can
		// equal, so it can never be approved.
		v.CodeMAC = s.keys.CodeMAC(id, vault.NewID("decoy"))
		v.CodeSealed = nil
	}
	var (
		idem                   *Idempotency
		idemKeys, fingerprints [][]byte // every index key version, newest first
	)
	if req.IdempotencyKey != "" {
		idemKeys = s.keys.BlindIndexes("idempotency", req.Actor+"\x00"+req.IdempotencyKey)
		fingerprints = s.keys.BlindIndexes("idempotency-request", fingerprint(req, num))
		idem = &Idempotency{Key: idemKeys[0], Fingerprint: fingerprints[0], VerificationID: id, CreatedAt: now}
	}

	// The guard is asked for every paid start, decoys included, so that its
	// answers do not tell registered numbers apart.
	var gd *guarded
	if paid && s.guard != nil {
		s.notePrefix(key(prefixIndex), num.Prefix())
		if gd, err = s.admit(ctx, v, req.PoW, now); err != nil {
			return nil, err
		}
	}
	var out *Started
	err = s.store.Write(ctx, func(tx Tx) error {
		out = nil
		if idem != nil {
			if err := tx.Lock(idem.Key); err != nil {
				return err
			}
			prev, err := idempotency(tx, idemKeys)
			switch {
			case err == nil:
				if !slices.ContainsFunc(fingerprints, func(f []byte) bool { return hmac.Equal(prev.Fingerprint, f) }) {
					return ErrIdempotencyMismatch
				}
				first, err := tx.Verification(prev.VerificationID)
				if err != nil {
					return err
				}
				out = &Started{Verification: first, Replayed: true}
				return nil
			case !errors.Is(err, ErrNotFound):
				return err
			}
		}
		if err := tx.Lock(v.PhoneIndex); err != nil {
			return err
		}
		if paid {
			if err := s.checkLimits(tx, phoneIndexes, ipIndexes, now); err != nil {
				return err
			}
		}
		if err := tx.InsertVerification(v); err != nil {
			return err
		}
		if idem != nil {
			if err := tx.InsertIdempotency(idem); err != nil {
				return err
			}
		}
		if paid {
			if err := s.enqueue(tx, v, now); err != nil {
				return err
			}
		}
		out = &Started{Verification: v}
		if !paid {
			out.InboundCode, out.InboundTo = code, s.cfg.InboundNumber
		}
		return tx.AppendEvents(s.event(v, "verification.started", string(v.Channel), now))
	})
	if err != nil || out.Replayed {
		s.undo(gd)
	}
	if err != nil {
		return nil, err
	}
	if !out.Replayed {
		s.keep(v, gd)
		s.wake()
	}
	return out, nil
}

// fingerprint is what makes two starts "the same request" for Idempotency-Key.
func fingerprint(req StartRequest, num phone.Number) string {
	return strings.Join([]string{num.E164(), string(req.Channel), string(req.Purpose), req.SubjectID, req.IP}, "\x00")
}

func validRegion(r string) bool {
	return len(r) == 2 && r[0] >= 'A' && r[0] <= 'Z' && r[1] >= 'A' && r[1] <= 'Z'
}

// checkLimits applies the per-number and per-IP send limits inside the
// transaction that records the send, so concurrent starts cannot overshoot.
// Each index is given under every index key version, so sends recorded
// before an index key rotation still count.
func (s *Service) checkLimits(tx Tx, phoneIndex, ipIndex [][]byte, now time.Time) error {
	type window struct {
		name  string
		span  time.Duration
		limit int
		count func([]byte, time.Time) (int, time.Time, error)
		key   [][]byte
	}
	windows := []window{
		{"number_cooldown", s.cfg.ResendCooldown, 1, tx.SendsSince, phoneIndex},
		{"number_hourly", time.Hour, s.cfg.SendsPerHour, tx.SendsSince, phoneIndex},
		{"number_daily", 24 * time.Hour, s.cfg.SendsPerDay, tx.SendsSince, phoneIndex},
	}
	// A number with no send in the widest of its windows has none in the
	// narrower ones: a new number costs one count, not three.
	var widest time.Duration
	for _, w := range windows {
		if w.span > 0 && w.limit > 0 {
			widest = max(widest, w.span)
		}
	}
	if widest > 0 {
		n, _, err := countAll(tx.SendsSince, phoneIndex, now.Add(-widest))
		if err != nil {
			return err
		}
		if n == 0 {
			windows = windows[:0]
		}
	}
	if ipIndex != nil && s.cfg.IPSendsPerHour > 0 {
		windows = append(windows, window{"ip_hourly", time.Hour, s.cfg.IPSendsPerHour, tx.IPSendsSince, ipIndex})
	}
	for _, w := range windows {
		if w.span <= 0 || w.limit <= 0 {
			continue
		}
		n, oldest, err := countAll(w.count, w.key, now.Add(-w.span))
		if err != nil {
			return err
		}
		if n >= w.limit {
			return &RateLimitError{Limit: w.name, RetryAfter: retryAfter(oldest.Add(w.span).Sub(now))}
		}
	}
	return nil
}

func retryAfter(d time.Duration) time.Duration {
	return max(d.Round(time.Second), time.Second)
}

// enqueue records a paid send and queues its message.
func (s *Service) enqueue(tx Tx, v *Verification, now time.Time) error {
	if err := tx.RecordSend(v.PhoneIndex, v.IPIndex, now); err != nil {
		return err
	}
	return tx.EnqueueMessage(&Message{
		ID:             vault.NewOrderedID("msg", now),
		VerificationID: v.ID,
		Channel:        v.Channel,
		State:          MessagePending,
		DueAt:          now,
		CreatedAt:      now,
	})
}

func (s *Service) event(v *Verification, typ, detail string, at time.Time) Event {
	return Event{Type: typ, Actor: v.Actor, Purpose: v.Purpose, VerificationID: v.ID, SubjectID: v.SubjectID, PhoneIndex: v.PhoneIndex, Detail: detail, At: at}
}

// Get returns a verification; a pending one past its expiry reads as expired.
func (s *Service) Get(ctx context.Context, id string) (*Verification, error) {
	if !vault.ValidID("ve", id) {
		return nil, ErrNotFound
	}
	v, err := s.store.Verification(ctx, id)
	if err != nil {
		return nil, err
	}
	if v.Status == StatusPending && !s.now().Before(v.ExpiresAt) {
		v.Status = StatusExpired
	}
	return v, nil
}

// Check compares a code. The attempt is counted before the comparison, in the
// same transaction; attempts beyond MaxChecks fail the verification without
// comparing. A verification that is no longer pending returns ErrClosed with
// the verification, so an approved code can never approve twice.
func (s *Service) Check(ctx context.Context, id, code, actor string) (*Verification, error) {
	if !vault.ValidID("ve", id) {
		return nil, ErrNotFound
	}
	if len(code) != s.cfg.CodeLength || strings.Trim(code, "0123456789") != "" {
		return nil, fmt.Errorf("%w: the code is %d digits", ErrInvalidCode, s.cfg.CodeLength)
	}
	if s.provider != nil {
		cur, err := s.store.Verification(ctx, id)
		if err != nil {
			return nil, err
		}
		if cur.Provider != "" {
			return s.checkProvider(ctx, id, code, actor)
		}
		// A decoy (a login for a number with no account) is checked here;
		// it answers no sooner than a provider would, so the time an
		// answer takes does not tell registered numbers apart.
		defer s.pace(ctx, time.Now())
	}
	var out *Verification
	err := s.store.Write(ctx, func(tx Tx) error {
		out = nil
		v, now, compare, err := s.countCheck(tx, id)
		out = v
		if !compare {
			return err
		}
		if s.keys.CheckCode(v.CodeMAC, v.ID, code) {
			return s.approve(tx, v, now)
		}
		if err := tx.UpdateVerification(v); err != nil {
			return err
		}
		ev := s.event(v, "verification.checked", "wrong_code", now)
		ev.Actor = actor
		return tx.AppendEvents(ev)
	})
	if err != nil {
		if errors.Is(err, ErrClosed) && out != nil {
			return out, ErrClosed
		}
		return nil, err
	}
	if out.Status == StatusApproved {
		s.converted(out)
	}
	return out, nil
}

// countCheck reads verification id in tx and counts a check attempt on it,
// before anything is compared. It returns the verification (also when it is
// closed, with ErrClosed), the time of the attempt, and whether the check may
// go on to compare: not when this attempt closed it, because it had expired
// or the attempt is one beyond MaxChecks. Local and provider checks both
// count through here, so they count alike.
func (s *Service) countCheck(tx Tx, id string) (v *Verification, now time.Time, compare bool, err error) {
	v, err = tx.Verification(id)
	if err != nil {
		return nil, now, false, err
	}
	now = s.now().UTC().Truncate(time.Millisecond)
	if v.Status != StatusPending {
		return v, now, false, ErrClosed
	}
	if !now.Before(v.ExpiresAt) {
		return v, now, false, s.finish(tx, v, StatusExpired, "verification.expired", "", now)
	}
	v.Checks++
	v.UpdatedAt = now
	if v.Checks > s.cfg.MaxChecks {
		return v, now, false, s.finish(tx, v, StatusFailed, "verification.failed", "max_checks", now)
	}
	return v, now, true, nil
}

// approve approves v and lets the accounts act on it, in the same transaction.
func (s *Service) approve(tx Tx, v *Verification, now time.Time) error {
	v.Status = StatusApproved
	v.ApprovedAt = now
	if s.accounts != nil {
		out, err := s.accounts.Approved(tx, v, now)
		if err != nil {
			return err
		}
		v.Outcome = out
		if out != nil && out.SubjectID != "" {
			v.SubjectID = out.SubjectID
		}
	}
	return s.finish(tx, v, StatusApproved, "verification.approved", "", now)
}

// finish moves a pending verification to a final status and forgets its code.
func (s *Service) finish(tx Tx, v *Verification, st Status, typ, detail string, now time.Time) error {
	v.Status = st
	v.CodeSealed = nil
	v.UpdatedAt = now
	if err := tx.UpdateVerification(v); err != nil {
		return err
	}
	return tx.AppendEvents(s.event(v, typ, detail, now))
}

// Resend sends the same code again, within the lifetime, the per-verification
// send cap, the cooldown and the per-number limits.
func (s *Service) Resend(ctx context.Context, id, pow string) (*Verification, error) {
	if !vault.ValidID("ve", id) {
		return nil, ErrNotFound
	}
	var gd *guarded
	if s.guard != nil {
		cur, err := s.store.Verification(ctx, id)
		if err != nil {
			return nil, err
		}
		if cur.Status == StatusPending && cur.Channel.Paid() {
			if gd, err = s.admit(ctx, cur, pow, s.now().UTC()); err != nil {
				return nil, err
			}
		}
	}
	var out *Verification
	sent := false
	err := s.store.Write(ctx, func(tx Tx) error {
		sent = false
		out = nil
		v, err := tx.Verification(id)
		if err != nil {
			return err
		}
		out = v
		now := s.now().UTC().Truncate(time.Millisecond)
		if v.Status != StatusPending {
			return ErrClosed
		}
		if !now.Before(v.ExpiresAt) {
			return s.finish(tx, v, StatusExpired, "verification.expired", "", now)
		}
		if !v.Channel.Paid() {
			return fmt.Errorf("%w: an inbound_sms verification has nothing to resend", ErrInvalidRequest)
		}
		if v.Sends >= s.cfg.MaxSends {
			return &RateLimitError{Limit: "max_sends", RetryAfter: retryAfter(v.ExpiresAt.Sub(now))}
		}
		phoneIndexes := s.phoneIndexes(v)
		if err := tx.Lock(phoneIndexes[0]); err != nil { // the lock Start takes for the number
			return err
		}
		if err := s.checkLimits(tx, phoneIndexes, nonNil(v.IPIndex), now); err != nil {
			return err
		}
		v.Sends++
		v.LastSentAt = now
		v.UpdatedAt = now
		if err := tx.UpdateVerification(v); err != nil {
			return err
		}
		if err := s.enqueue(tx, v, now); err != nil {
			return err
		}
		sent = true
		return tx.AppendEvents(s.event(v, "verification.resent", string(v.Channel), now))
	})
	if sent && err == nil {
		s.keep(out, gd)
	} else {
		s.undo(gd)
	}
	if errors.Is(err, ErrClosed) && out != nil {
		return out, ErrClosed
	}
	if err != nil {
		return nil, err
	}
	if out.Status == StatusPending {
		s.wake()
	}
	return out, nil
}

// Cancel ends a pending verification; its code can no longer approve.
func (s *Service) Cancel(ctx context.Context, id, actor string) (*Verification, error) {
	if !vault.ValidID("ve", id) {
		return nil, ErrNotFound
	}
	var out *Verification
	err := s.store.Write(ctx, func(tx Tx) error {
		out = nil
		v, err := tx.Verification(id)
		if err != nil {
			return err
		}
		out = v
		now := s.now().UTC().Truncate(time.Millisecond)
		if v.Status != StatusPending {
			return ErrClosed
		}
		if !now.Before(v.ExpiresAt) {
			return s.finish(tx, v, StatusExpired, "verification.expired", "", now)
		}
		return s.finish(tx, v, StatusCanceled, "verification.canceled", actor, now)
	})
	if errors.Is(err, ErrClosed) && out != nil {
		return out, ErrClosed
	}
	if err != nil {
		return nil, err
	}
	if out.Status == StatusCanceled {
		s.cancelAtProvider(ctx, out)
	}
	return out, nil
}

// countAll sums count over the versions of an index, with the oldest time.
func countAll(count func([]byte, time.Time) (int, time.Time, error), keys [][]byte, since time.Time) (int, time.Time, error) {
	var (
		total  int
		oldest time.Time
	)
	for _, k := range keys {
		n, o, err := count(k, since)
		if err != nil {
			return 0, time.Time{}, err
		}
		total += n
		if n > 0 && (oldest.IsZero() || o.Before(oldest)) {
			oldest = o
		}
	}
	return total, oldest, nil
}

// idempotency finds the record of an Idempotency-Key under any index key version.
func idempotency(tx Tx, keys [][]byte) (*Idempotency, error) {
	for _, k := range keys {
		rec, err := tx.Idempotency(k)
		if !errors.Is(err, ErrNotFound) {
			return rec, err
		}
	}
	return nil, ErrNotFound
}

// phoneIndexes returns the blind index of v's number under every index key
// version, newest first; v's own index alone if its number cannot be opened.
func (s *Service) phoneIndexes(v *Verification) [][]byte {
	e164, err := s.keys.Open(v.PhoneSealed, []byte("phone:"+v.ID))
	if err != nil {
		return [][]byte{v.PhoneIndex}
	}
	return s.keys.BlindIndexes("phone", string(e164))
}

func firstOrNil(bs [][]byte) []byte {
	if len(bs) == 0 {
		return nil
	}
	return bs[0]
}

func nonNil(b []byte) [][]byte {
	if b == nil {
		return nil
	}
	return [][]byte{b}
}
