package sms

import (
	"errors"
	"syscall"
	"testing"
)

func TestErrorText(t *testing.T) {
	tests := []struct {
		err  *Error
		want string
	}{
		{&Error{Provider: "twilio", Code: "21211", Status: 400}, "twilio: 21211 (status 400)"},
		{&Error{Provider: "webhook", Code: "http_503", Status: 503, Temporary: true}, "webhook: http_503 (status 503)"},
		{&Error{Provider: "twilio", Code: CodeNetwork, Temporary: true, Err: syscall.ECONNREFUSED}, "twilio: network: connection refused"},
		{&Error{Provider: "twilio", Code: CodeInvalidMessage}, "twilio: invalid_message"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
}

func TestErrorUnwrap(t *testing.T) {
	var err error = &Error{Provider: "twilio", Code: CodeNetwork, Temporary: true, Err: syscall.ECONNREFUSED}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Error("errors.Is does not reach the transport failure")
	}
	var e *Error
	if !errors.As(err, &e) || !e.Temporary {
		t.Errorf("errors.As = %v", e)
	}
}
