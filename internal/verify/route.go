package verify

import (
	"slices"

	"github.com/ringfence/ringfence/internal/sms"
)

// Step is one way a code can go out: a provider on a channel, for some
// countries or for all. A Dispatcher tries the steps of its chain in order.
type Step struct {
	// Channel is the channel this step delivers on; "" means the message's own
	// channel (a provider that carries every channel).
	Channel Channel
	// Sender is the provider.
	Sender sms.Sender
	// Countries are the ISO 3166 regions this step serves; empty serves all.
	Countries []string
	// Receipts says the provider posts delivery receipts for this step, so a
	// sent message awaits one (DispatchConfig.ReceiptTimeout) before it counts
	// as delivered; without receipts a message the provider accepted is final.
	Receipts bool
}

// serves reports whether the step can carry a message to a number in country.
func (st Step) serves(country string) bool {
	return len(st.Countries) == 0 || slices.Contains(st.Countries, country)
}

// channel is the channel the step sends a message of channel ch on.
func (st Step) channel(ch Channel) Channel {
	if st.Channel == "" {
		return ch
	}
	return st.Channel
}

// firstStep returns the first step of the chain that delivers on channel ch
// to country: the route of a new message.
func (d *Dispatcher) firstStep(ch Channel, country string) (int, bool) {
	for i, st := range d.chain {
		if (st.Channel == "" || st.Channel == ch) && st.serves(country) {
			return i, true
		}
	}
	return 0, false
}

// nextStep returns the step after step that serves country, on whatever
// channel: where a message goes when its step failed. The chain's order is
// the operator's choice, so SMS via one provider may fall back to SMS via
// another, then to a voice call.
func (d *Dispatcher) nextStep(step int, country string) (int, bool) {
	for i := step + 1; i < len(d.chain); i++ {
		if d.chain[i].serves(country) {
			return i, true
		}
	}
	return 0, false
}

// Channels returns the channels a chain can start a message on.
func Channels(chain []Step) []Channel {
	var chs []Channel
	for _, st := range chain {
		all := []Channel{st.Channel}
		if st.Channel == "" {
			all = []Channel{ChannelSMS, ChannelWhatsApp, ChannelCall}
		}
		for _, ch := range all {
			if !slices.Contains(chs, ch) {
				chs = append(chs, ch)
			}
		}
	}
	return chs
}
