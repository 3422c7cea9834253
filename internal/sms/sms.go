// Package sms defines how one-time codes and messages leave ringfence.
package sms

import (
	"context"
	"strconv"
)

// Channel is the way a message reaches a person.
type Channel string

// The channels a Sender may support.
const (
	SMS      Channel = "sms"
	WhatsApp Channel = "whatsapp"
	Voice    Channel = "call"
)

// Message is one message to deliver. Its To and Body are secrets: they must never
// appear in a log line, an error or a metric label.
type Message struct {
	// ID is a stable idempotency key for this message (the outbox row id);
	// a retry of the same message reuses it.
	ID string
	// To is the recipient in E.164 form.
	To string
	// Channel is how the message is delivered; empty means SMS.
	Channel Channel
	// Body is the text to send. It contains the code: never log it.
	Body string
	// Locale is an optional BCP 47 language tag.
	Locale string
}

// Result is what a provider reports for an accepted message.
type Result struct {
	// ProviderID is the provider's message id (a Twilio SID, for example).
	ProviderID string
}

// Sender delivers messages through one provider.
//
// Send returns an *Error when the provider refused the message or could not be
// reached, and an error wrapping ctx.Err() when ctx ended first. In both cases the
// outcome may be unknown: a message whose request was sent but whose answer was lost
// may have been delivered, so only a Sender that is also a Deduplicator may be asked
// to send it again without risk of a second delivery.
type Sender interface {
	// Name returns the provider's short name, such as "twilio".
	Name() string
	// Send hands m to the provider.
	Send(ctx context.Context, m Message) (Result, error)
}

// Deduplicator is implemented by senders whose receiving end drops a repeated
// Message.ID, so a message whose outcome is unknown (crash mid-send) may be sent
// again safely.
type Deduplicator interface {
	// Deduplicates reports whether a repeated Message.ID is dropped by the receiver.
	Deduplicates() bool
}

// Codes used by every provider for failures that are not the provider's own.
const (
	// CodeNetwork means the provider could not be reached or its answer was lost.
	CodeNetwork = "network"
	// CodeBadResponse means the provider answered with a body that could not be read.
	CodeBadResponse = "bad_response"
	// CodeInvalidMessage means the message was refused before it was sent.
	CodeInvalidMessage = "invalid_message"
	// CodeUnsupportedChannel means the provider cannot deliver on the message's channel.
	CodeUnsupportedChannel = "unsupported_channel"
)

// Error is a provider failure with a stable code and whether retrying the same
// message can help. It never holds a phone number, a message body or a code:
// providers echo numbers in their error messages, so only their numeric codes are kept.
type Error struct {
	// Provider is the Sender's Name.
	Provider string
	// Code is the provider's error code (Twilio's "21211") or one of the Code constants.
	Code string
	// Status is the HTTP status of the provider's answer, or 0 if there was none.
	Status int
	// Temporary reports whether sending the same message again may succeed.
	Temporary bool
	// Err is the transport failure behind a CodeNetwork error, if any. It comes from
	// the HTTP client (dial, TLS, timeout), never from the provider's answer.
	Err error
}

// Error returns a short text such as "twilio: 21211 (status 400)".
func (e *Error) Error() string {
	s := e.Provider + ": " + e.Code
	if e.Status != 0 {
		s += " (status " + strconv.Itoa(e.Status) + ")"
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the transport failure, if any.
func (e *Error) Unwrap() error { return e.Err }

// Answers of a provider that checks its own codes (Twilio Verify, Vonage Verify v2).
const (
	// CheckApproved means the code was right.
	CheckApproved = "approved"
	// CheckWrong means the code was wrong and the verification is still open.
	CheckWrong = "wrong"
	// CheckExpired means the provider's verification ran out of time.
	CheckExpired = "expired"
	// CheckFailed means the provider closed the verification: too many wrong codes, or canceled.
	CheckFailed = "failed"
)
