package privacy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/ringfence/ringfence/internal/identity"
	"github.com/ringfence/ringfence/internal/vault"
	"github.com/ringfence/ringfence/internal/verify"
)

// Purpose is what a person consents to being contacted for. The list is
// fixed; unknown purposes are refused.
type Purpose string

// The consent purposes.
const (
	// PurposeSecurityAlerts is messages about the account itself: a new
	// login, a number change, a recovery. It is separate from every other
	// purpose so that withdrawing marketing never silences them, and
	// granting it allows nothing else.
	PurposeSecurityAlerts Purpose = "security_alerts"
	// PurposeProductUpdates is news about the product.
	PurposeProductUpdates Purpose = "product_updates"
	// PurposeAssistantCalls is the AI assistant calling the person.
	PurposeAssistantCalls Purpose = "assistant_calls"
	// PurposeAssistantSMS is text conversations with the AI assistant.
	PurposeAssistantSMS Purpose = "assistant_sms"
)

// Channel is how the person may be reached for a purpose.
type Channel string

// The consent channels.
const (
	ChannelSMS      Channel = "sms"
	ChannelCall     Channel = "call"
	ChannelWhatsApp Channel = "whatsapp"
)

// purposeInfo describes a purpose and the channels it may use.
type purposeInfo struct {
	description string
	channels    []Channel
}

var purposeInfos = map[Purpose]purposeInfo{
	PurposeSecurityAlerts: {"Alerts about your own account (new login, number change, recovery); nothing else.",
		[]Channel{ChannelSMS, ChannelCall, ChannelWhatsApp}},
	PurposeProductUpdates: {"News about the product.", []Channel{ChannelSMS, ChannelWhatsApp}},
	PurposeAssistantCalls: {"The AI assistant may call you.", []Channel{ChannelCall}},
	PurposeAssistantSMS:   {"Text conversations with the AI assistant.", []Channel{ChannelSMS, ChannelWhatsApp}},
}

// Purposes lists every consent purpose.
var Purposes = []Purpose{PurposeSecurityAlerts, PurposeProductUpdates, PurposeAssistantCalls, PurposeAssistantSMS}

// Valid reports whether p is one of Purposes.
func (p Purpose) Valid() bool { _, ok := purposeInfos[p]; return ok }

// Description says in plain words what p allows.
func (p Purpose) Description() string { return purposeInfos[p].description }

// Channels lists the channels p may use.
func (p Purpose) Channels() []Channel { return slices.Clone(purposeInfos[p].channels) }

// Allows reports whether p may use channel c.
func (p Purpose) Allows(c Channel) bool { return slices.Contains(purposeInfos[p].channels, c) }

// Action is a change of consent.
type Action string

// The actions of the ledger.
const (
	ActionGrant    Action = "grant"
	ActionWithdraw Action = "withdraw"
)

// Valid reports whether a is a known action.
func (a Action) Valid() bool { return a == ActionGrant || a == ActionWithdraw }

// How a change reached the service.
const (
	MethodAPI      = "api"       // the application, on the person's request
	MethodSMSReply = "sms_reply" // the person texted STOP or START
)

// Audit event types of the ledger.
const (
	EventGranted   = "consent.granted"
	EventWithdrawn = "consent.withdrawn"
)

// Consent is one record of the append-only ledger.
type Consent struct {
	ID         string // "cr_...", also the receipt id
	SubjectID  string
	Purpose    Purpose
	Channel    Channel
	Action     Action
	Method     string // MethodAPI or MethodSMSReply
	Evidence   string // the approved verification ("ve_..."), or the inbound message ("sms:..."); "" for an API withdrawal without one
	PhoneIndex []byte // blind index of the number the evidence proved, or nil
	Actor      string // API key id, or "sms"
	At         time.Time
	AuditSeq   uint64 // the audit event of the change
	Receipt    []byte // the SignedReceipt, as JSON
}

// State is the current consent of a subject for one purpose and channel:
// its latest record.
type State struct {
	Purpose Purpose
	Channel Channel
	Granted bool
	Since   time.Time
	Latest  *Consent
}

// Current returns the current state of every purpose and channel that has
// a record, in the order of Purposes and their channels. records must be
// oldest first.
func Current(records []*Consent) []State {
	latest := make(map[[2]string]*Consent)
	for _, c := range records {
		latest[[2]string{string(c.Purpose), string(c.Channel)}] = c
	}
	var out []State
	for _, p := range Purposes {
		for _, ch := range p.Channels() {
			if c := latest[[2]string{string(p), string(ch)}]; c != nil {
				out = append(out, State{Purpose: p, Channel: ch, Granted: c.Action == ActionGrant, Since: c.At, Latest: c})
			}
		}
	}
	return out
}

// Change is a request to grant or withdraw one consent.
type Change struct {
	SubjectID string
	Purpose   Purpose
	Channel   Channel
	Action    Action
	// Evidence is the id of an approved verification that proved the
	// subject holds its current number. A grant needs it; a withdrawal
	// may have it.
	Evidence string
	Actor    string
}

// Change records a grant or withdrawal: a ledger row, an audit event and a
// signed receipt, in one transaction. An unknown subject is ErrNotFound; an
// unknown purpose ErrInvalidPurpose; a channel the purpose may not use
// ErrInvalidChannel; a grant without evidence, or evidence that is not an
// approved verification of this subject's current number, ErrInvalidEvidence.
// A refused change writes nothing.
func (s *Service) Change(ctx context.Context, ch Change) (*Consent, error) {
	if !vault.ValidID("sub", ch.SubjectID) {
		return nil, ErrNotFound
	}
	if !ch.Purpose.Valid() {
		return nil, ErrInvalidPurpose
	}
	if !ch.Purpose.Allows(ch.Channel) {
		return nil, ErrInvalidChannel
	}
	if !ch.Action.Valid() {
		return nil, fmt.Errorf("%w: action", ErrInvalidRequest)
	}
	if ch.Evidence == "" && ch.Action == ActionGrant {
		return nil, fmt.Errorf("%w: a grant needs an approved verification", ErrInvalidEvidence)
	}
	if ch.Evidence != "" && !vault.ValidID("ve", ch.Evidence) {
		return nil, ErrInvalidEvidence
	}
	var out *Consent
	err := s.write(ctx, func(tx Tx) error {
		sub, err := tx.Subject(ch.SubjectID)
		if errors.Is(err, identity.ErrNotFound) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		if err := tx.Lock([]byte("consent:" + sub.ID)); err != nil {
			return err
		}
		c := &Consent{SubjectID: sub.ID, Purpose: ch.Purpose, Channel: ch.Channel, Action: ch.Action,
			Method: MethodAPI, Evidence: ch.Evidence, Actor: ch.Actor, At: s.clock()}
		masked := ""
		if ch.Evidence != "" {
			b, err := s.evidence(tx, sub.ID, ch.Evidence)
			if err != nil {
				return err
			}
			c.PhoneIndex, masked = b.PhoneIndex, b.Masked
		}
		out, err = s.record(tx, c, masked)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// evidence returns the binding that an approved verification proves the
// subject holds now, or ErrInvalidEvidence.
func (s *Service) evidence(tx Tx, subjectID, verificationID string) (*identity.Binding, error) {
	v, err := tx.Verification(verificationID)
	if errors.Is(err, verify.ErrNotFound) {
		return nil, ErrInvalidEvidence
	}
	if err != nil {
		return nil, err
	}
	if v.Status != verify.StatusApproved || v.SubjectID != subjectID {
		return nil, ErrInvalidEvidence
	}
	b, err := tx.BindingByIndex(v.PhoneIndex)
	if errors.Is(err, identity.ErrNotFound) {
		return nil, ErrInvalidEvidence
	}
	if err != nil {
		return nil, err
	}
	if b.SubjectID != subjectID || b.Released(s.clock()) {
		return nil, ErrInvalidEvidence
	}
	return b, nil
}

// record appends c to the ledger with its audit event and signed receipt.
func (s *Service) record(tx Tx, c *Consent, masked string) (*Consent, error) {
	c.ID = vault.NewID("cr")
	typ := EventGranted
	if c.Action == ActionWithdraw {
		typ = EventWithdrawn
	}
	detail := fmt.Sprintf("%s:%s:%s", c.Purpose, c.Channel, c.Method)
	if c.Evidence != "" {
		detail += ":" + c.Evidence
	}
	ev := verify.Event{Type: typ, Actor: c.Actor, VerificationID: c.ID, SubjectID: c.SubjectID,
		PhoneIndex: c.PhoneIndex, Detail: detail, At: c.At}
	if err := tx.AppendEvents(ev); err != nil {
		return nil, err
	}
	seq, err := tx.AuditSize()
	if err != nil {
		return nil, err
	}
	c.AuditSeq = seq
	sr, err := s.receipt(c, masked)
	if err != nil {
		return nil, err
	}
	if c.Receipt, err = json.Marshal(sr); err != nil {
		return nil, err
	}
	if err := tx.InsertConsent(c); err != nil {
		return nil, err
	}
	return c, nil
}

// Consents returns a subject's ledger, oldest first; ErrNotFound for an
// unknown subject.
func (s *Service) Consents(ctx context.Context, subjectID string) ([]*Consent, error) {
	if !vault.ValidID("sub", subjectID) {
		return nil, ErrNotFound
	}
	if _, err := s.store.Subject(ctx, subjectID); errors.Is(err, identity.ErrNotFound) {
		return nil, ErrNotFound
	} else if err != nil {
		return nil, err
	}
	return s.store.Consents(ctx, subjectID)
}

// Granted reports whether a subject's latest record for a purpose and
// channel is a grant. The call loop and the alert sender ask it before
// contacting anyone.
func (s *Service) Granted(ctx context.Context, subjectID string, p Purpose, c Channel) (bool, error) {
	rs, err := s.Consents(ctx, subjectID)
	if err != nil {
		return false, err
	}
	for _, st := range Current(rs) {
		if st.Purpose == p && st.Channel == c {
			return st.Granted, nil
		}
	}
	return false, nil
}
