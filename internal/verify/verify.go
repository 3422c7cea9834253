// Package verify sends one-time codes to phone numbers and checks them.
package verify

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ringfence/ringfence/internal/fraud"
)

// Status is the state of a verification.
type Status string

// The statuses of a verification. Only pending moves; the others are final.
const (
	StatusPending  Status = "pending"
	StatusApproved Status = "approved"
	StatusFailed   Status = "failed"
	StatusExpired  Status = "expired"
	StatusCanceled Status = "canceled"
)

// Channel is how a code reaches the person.
type Channel string

// The channels a code can be sent by.
const (
	ChannelSMS      Channel = "sms"
	ChannelCall     Channel = "call"
	ChannelWhatsApp Channel = "whatsapp"
	// ChannelInboundSMS sends nothing: the person texts the code to the
	// service's number, proving possession without a paid message.
	ChannelInboundSMS Channel = "inbound_sms"
)

// Purpose is why the application asks for a verification.
type Purpose string

// The purposes a verification can serve.
const (
	PurposeSignup      Purpose = "signup"
	PurposeLogin       Purpose = "login"
	PurposeStepUp      Purpose = "step_up"
	PurposeRecovery    Purpose = "recovery"
	PurposePhoneChange Purpose = "phone_change"
	// PurposeGuardian verifies a guardian's own number to record their
	// consent for the subject named in the request.
	PurposeGuardian Purpose = "guardian"
)

// Valid reports whether c is a known channel.
func (c Channel) Valid() bool {
	return c == ChannelSMS || c == ChannelCall || c == ChannelWhatsApp || c == ChannelInboundSMS
}

// Paid reports whether a verification on c costs a message.
func (c Channel) Paid() bool { return c != ChannelInboundSMS }

// Valid reports whether p is a known purpose.
func (p Purpose) Valid() bool {
	switch p {
	case PurposeSignup, PurposeLogin, PurposeStepUp, PurposeRecovery, PurposePhoneChange, PurposeGuardian:
		return true
	}
	return false
}

// Errors returned by the Service; the API maps each to a status and a stable code.
var (
	ErrNotFound            = errors.New("verification not found")
	ErrInvalidRequest      = errors.New("invalid request")
	ErrInvalidPhone        = errors.New("invalid phone number")
	ErrNumberType          = errors.New("number type cannot receive this channel")
	ErrInvalidCode         = errors.New("malformed code")
	ErrClosed              = errors.New("verification is no longer pending")
	ErrIdempotencyMismatch = errors.New("idempotency key reused with a different request")
	// ErrLeaseLost is returned when a sender finishes a message whose lease ran
	// out and which another sender may have claimed.
	ErrLeaseLost = errors.New("outbox lease lost")
	// ErrReceiptDone means a delivery already has its final receipt, or its
	// message has moved on: a replayed callback changes nothing.
	ErrReceiptDone = errors.New("delivery already has its receipt")
	// ErrNoNumber is returned when a purpose that sends to a subject's number
	// names a subject with no bound number.
	ErrNoNumber = errors.New("subject has no bound number")
)

// RateLimitError is returned when a limit refuses a send; RetryAfter says when it may succeed.
type RateLimitError struct {
	Limit      string // "number_cooldown", "number_hourly", "number_daily", "ip_hourly", "max_sends"
	RetryAfter time.Duration
}

func (e *RateLimitError) Error() string {
	return fmt.Sprintf("rate limited by %s, retry after %s", e.Limit, e.RetryAfter.Round(time.Second))
}

// BlockedError is returned when policy refuses a send outright; Reasons are
// machine-readable. Challenge, when set, is a proof of work the client can
// solve to be let through (reason challenge_required or challenge_invalid).
type BlockedError struct {
	Reasons   []string
	Challenge *fraud.Challenge
}

func (e *BlockedError) Error() string { return fmt.Sprintf("blocked: %v", e.Reasons) }

// Verification is one attempt to prove possession of a phone number.
// It never holds the number or the code in plaintext.
type Verification struct {
	ID          string
	PhoneIndex  []byte // keyed blind index of the E.164 number
	PrefixIndex []byte // keyed index of the number without its last four digits
	PhoneSealed []byte // the E.164 number sealed under the vault, aad "phone:"+ID
	Masked      string // "+1 ••• ••• 0123"
	Country     string // ISO 3166 region of the number
	LineType    string // phone.Type of the number
	IPIndex     []byte // keyed index of the client IP the application passed, or nil
	Channel     Channel
	Purpose     Purpose
	SubjectID   string
	Status      Status
	CodeMAC     []byte // HMAC of the code under the pepper, scoped to ID
	CodeSealed  []byte // the code sealed under the vault (aad "code:"+ID) for resends; nil once final
	Sends       int
	Checks      int
	Actor       string // API key id (or "demo") that started it
	CreatedAt   time.Time
	UpdatedAt   time.Time
	ExpiresAt   time.Time
	LastSentAt  time.Time
	ApprovedAt  time.Time // zero unless approved
	// Provider names the Provider that makes, sends and checks this
	// verification's code ("" when ringfence makes it); ProviderRef is the
	// provider's id for it, "" until the provider took the first send.
	Provider    string
	ProviderRef string

	// Outcome is what an approval meant for the account (set by Check when
	// Accounts is configured; not stored).
	Outcome *Outcome
}

// Outcome is what an approved verification did to the account it proves.
type Outcome struct {
	SubjectID string
	New       bool   // a subject was created for this number
	Recycled  bool   // the number moved from a dormant subject to this new one
	Conflict  string // why a phone change did not bind: "number_in_use"
}

// Accounts connects verifications to the accounts they prove; the identity
// package implements it. Its errors are returned to the caller as they are.
type Accounts interface {
	// Number returns the E.164 number a request that names a subject sends
	// to (step_up, recovery), applying the account's rules (cooling-off).
	Number(ctx context.Context, req StartRequest) (string, error)
	// Deliverable reports whether a code for purpose to this E.164 number
	// should really be sent: a login for a number with no account is
	// answered like any other but can never be approved. An error (such as
	// a *BlockedError) refuses the start.
	Deliverable(ctx context.Context, purpose Purpose, e164 string) (bool, error)
	// Approved runs inside the check's transaction once a code is approved.
	Approved(tx Tx, v *Verification, now time.Time) (*Outcome, error)
}

// Event is one entry for the append-only audit table. It never holds a number or a code.
type Event struct {
	Type           string // e.g. "verification.started"
	Actor          string
	Purpose        Purpose
	VerificationID string
	SubjectID      string
	PhoneIndex     []byte
	Detail         string // short machine word: "wrong_code", "sms:dev", "twilio:21211"
	At             time.Time
}

// Message states in the outbox.
const (
	MessagePending = "pending" // waiting to be sent at DueAt
	MessageSending = "sending" // claimed by a sender until LeaseUntil
	MessageSent    = "sent"
	MessageFailed  = "failed"  // gave up; see Error
	MessageUnknown = "unknown" // in flight when an instance died; not sent again (provider does not dedupe)
	MessageDropped = "dropped" // the verification was no longer pending
)

// Message is one outbox row: a send of a verification's code. The row names the
// verification only; number and code are opened from it at send time.
type Message struct {
	ID             string
	VerificationID string
	Channel        Channel
	State          string
	Attempts       int
	DueAt          time.Time
	LeaseUntil     time.Time
	CreatedAt      time.Time
	ProviderID     string
	Error          string    // provider error code, never provider text
	Step           int       // index of the delivery chain step the row is on
	Provider       string    // the step's provider (Sender.Name) once routed; "" before
	ReceiptDue     time.Time // when sent: until when a receipt is awaited; zero for none
}

// Delivery is one handover of a message to a provider, known by the
// provider's id for it. Its final receipt is recorded once.
type Delivery struct {
	Provider   string
	ProviderID string
	MessageID  string
	Step       int
	Receipt    string // "" until final: ReceiptDelivered, ReceiptFailed or ReceiptTimeout
	Error      string // the provider's error code in a failed receipt
	SentAt     time.Time
	ReceiptAt  time.Time
}

// Final receipts of a delivery.
const (
	ReceiptDelivered = "delivered" // the provider reported delivery
	ReceiptFailed    = "failed"    // the provider reported the message undeliverable
	ReceiptTimeout   = "timeout"   // no receipt came in time
)

// Idempotency records the first answer to a start made with an Idempotency-Key.
type Idempotency struct {
	Key            []byte // keyed hash of (actor, Idempotency-Key)
	Fingerprint    []byte // keyed hash of the request
	VerificationID string
	CreatedAt      time.Time
}

// Store keeps verifications, the outbox and audit events. Implementations return
// ErrNotFound for a missing verification and make each Write call one transaction.
// fn may run more than once (Postgres retries serialisation failures), so it
// must do nothing but database work through its Tx. Times come back in UTC,
// truncated to the millisecond.
type Store interface {
	// Write runs fn in one write transaction; an error from fn rolls back
	// everything fn did and is returned as is.
	Write(ctx context.Context, fn func(Tx) error) error
	// Verification reads a verification outside a transaction.
	Verification(ctx context.Context, id string) (*Verification, error)
	// ClaimMessages moves up to limit pending messages due at now to sending,
	// leased until now+lease, and returns them.
	ClaimMessages(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]Message, error)
	// ReleaseStale handles messages whose lease ran out (their sender died):
	// back to pending if retry, else to unknown. It returns how many.
	ReleaseStale(ctx context.Context, now time.Time, retry bool) (int, error)
	// OverdueReceipts lists up to limit sent messages still awaiting a receipt
	// that was due at or before now.
	OverdueReceipts(ctx context.Context, now time.Time, limit int) ([]Message, error)
	// Purge deletes send records, idempotency records and finished messages older than before.
	Purge(ctx context.Context, before time.Time) error
}

// Tx is the work a Store does inside one write transaction.
type Tx interface {
	// Lock serialises transactions that touch the same key (a number's index,
	// an idempotency key) across instances; SQLite's single writer needs none.
	Lock(key []byte) error
	// Verification reads a verification for update; ErrNotFound if missing.
	Verification(id string) (*Verification, error)
	InsertVerification(v *Verification) error
	// UpdateVerification writes every mutable field of v (status, code fields,
	// counters, times) by ID.
	UpdateVerification(v *Verification) error
	// ExpiredPending lists up to limit pending verifications whose ExpiresAt <= now.
	ExpiredPending(now time.Time, limit int) ([]*Verification, error)
	// RecordSend notes a paid send for rate limits; ipIndex may be nil.
	RecordSend(phoneIndex, ipIndex []byte, at time.Time) error
	// UnrecordSend forgets one send to a number at a time: a send the
	// provider refused does not count against the person's limits.
	UnrecordSend(phoneIndex []byte, at time.Time) error
	// SendsSince counts sends to a number since a time, and the oldest of them.
	SendsSince(phoneIndex []byte, since time.Time) (n int, oldest time.Time, err error)
	// IPSendsSince counts sends for a client IP since a time, and the oldest of them.
	IPSendsSince(ipIndex []byte, since time.Time) (n int, oldest time.Time, err error)
	// Idempotency returns the record for key, or ErrNotFound.
	Idempotency(key []byte) (*Idempotency, error)
	InsertIdempotency(rec *Idempotency) error
	// EnqueueMessage adds an outbox row in state pending.
	EnqueueMessage(m *Message) error
	// FinishMessage sets a message's state, channel, attempts, provider id,
	// error, due time, step, provider and receipt due time, if the message is
	// still leased until m.LeaseUntil; else ErrLeaseLost.
	FinishMessage(m *Message) error
	// Message reads an outbox row for update; ErrNotFound if missing.
	Message(id string) (*Message, error)
	// MoveMessage writes a sent message's state, channel, step, provider,
	// provider id, attempts, error, due time and receipt due time, only while it
	// is still sent under providerID; else ErrReceiptDone.
	MoveMessage(m *Message, providerID string) error
	// InsertDelivery records a handover to a provider.
	InsertDelivery(d *Delivery) error
	// Delivery reads the delivery a provider knows by providerID, for update;
	// ErrNotFound if there is none.
	Delivery(provider, providerID string) (*Delivery, error)
	// SetReceipt records d's final receipt, error and receipt time, only if it
	// had none; else ErrReceiptDone.
	SetReceipt(d *Delivery) error
	// AppendEvents appends audit events in order.
	AppendEvents(events ...Event) error
	// PendingByIndex lists pending verifications on a channel for a number.
	PendingByIndex(phoneIndex []byte, channel Channel) ([]*Verification, error)
	// RecordInbound remembers a provider's inbound message id; false if it
	// was already recorded (a replay).
	RecordInbound(providerID string, at time.Time) (bool, error)
}
