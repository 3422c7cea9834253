package api

import (
	"errors"
	"net/http"

	"github.com/ringfence/ringfence/internal/phone"
	"github.com/ringfence/ringfence/internal/sms"
	"github.com/ringfence/ringfence/internal/verify"
)

// devMessage is a message of the dev inbox. Its body holds the code: that is
// what the dev inbox is for. The number is shown masked.
type devMessage struct {
	ID      string `json:"id"`
	To      string `json:"to"`
	Channel string `json:"channel"`
	Body    string `json:"body"`
	SentAt  string `json:"sent_at,omitempty"`
}

type devMessagesResponse struct {
	Messages []devMessage `json:"messages"`
}

// devMessages lists the dev inbox's messages to the number in the query
// parameter "to", newest first. "to" is parsed like a number given to start
// ("country" for national input), so any spelling of it finds its messages.
func (s *Server) devMessages(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	to := q.Get("to")
	if to == "" {
		return errInvalidRequest
	}
	num, err := phone.Parse(to, q.Get("country"))
	if errors.Is(err, phone.ErrRegion) {
		return errInvalidRequest
	}
	if err != nil {
		return verify.ErrInvalidPhone
	}
	out := devMessagesResponse{Messages: []devMessage{}}
	for _, m := range s.cfg.DevInbox.Messages(num.E164()) {
		ch := m.Channel
		if ch == "" {
			ch = sms.SMS
		}
		dm := devMessage{ID: m.ID, To: num.Mask(), Channel: string(ch), Body: m.Body}
		if !m.Sent.IsZero() {
			dm.SentAt = timestamp(m.Sent)
		}
		out.Messages = append(out.Messages, dm)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
