package smpp

import (
	"strconv"
	"strings"
)

// The states a Status reports.
const (
	// StatusSubmitted means the message is on its way (ENROUTE).
	StatusSubmitted = "submitted"
	// StatusSent means the SMSC accepted it on the recipient's behalf (ACCEPTD).
	StatusSent = "sent"
	// StatusDelivered means the handset has it (DELIVRD).
	StatusDelivered = "delivered"
	// StatusFailed means it will not be delivered (UNDELIV, EXPIRED, DELETED,
	// REJECTD); ErrorCode says why when the SMSC tells.
	StatusFailed = "failed"
	// StatusUnknown is UNKNOWN or any state this package does not know.
	StatusUnknown = "unknown"
)

// Status is a delivery receipt.
type Status struct {
	// ProviderID is the message_id the SMSC gave in its submit_sm_resp, which
	// Send returned as sms.Result.ProviderID.
	ProviderID string
	// State is one of the Status constants.
	State string
	// ErrorCode is the receipt's network error code ("err:" field or
	// network_error_code), empty when there is none.
	ErrorCode string
}

// stateNames map the receipt "stat:" values (SMPP 3.4 Appendix B) to states.
var stateNames = map[string]string{
	"ENROUTE": StatusSubmitted,
	"DELIVRD": StatusDelivered,
	"EXPIRED": StatusFailed,
	"DELETED": StatusFailed,
	"UNDELIV": StatusFailed,
	"ACCEPTD": StatusSent,
	"UNKNOWN": StatusUnknown,
	"REJECTD": StatusFailed,
}

// stateValues map the message_state optional parameter (SMPP 3.4 §5.2.28).
var stateValues = map[byte]string{
	1: StatusSubmitted, 2: StatusDelivered, 3: StatusFailed, 4: StatusFailed,
	5: StatusFailed, 6: StatusSent, 7: StatusUnknown, 8: StatusFailed,
}

// parseReceipt returns the Status a deliver_sm carries, or false if it is not a
// delivery receipt (a mobile-originated message, for one). The optional
// parameters receipted_message_id, message_state and network_error_code win over
// the text "id:... sub:... dlvrd:... submit date:... done date:... stat:...
// err:... text:..." that SMSCs conventionally put in short_message.
func parseReceipt(d deliverSM) (Status, bool) {
	if d.esmClass&0x3C != 0x04 { // message type: SMSC delivery receipt
		return Status{}, false
	}
	text := d.shortMessage
	if len(text) == 0 {
		text = d.tlvs[tagMessagePayload]
	}
	fields := receiptFields(string(text))
	st := Status{ProviderID: fields["id"], State: StatusUnknown}
	if s, ok := stateNames[strings.ToUpper(fields["stat"])]; ok {
		st.State = s
	}
	if code := fields["err"]; safeCode(code) && strings.Trim(code, "0") != "" {
		st.ErrorCode = code
	}
	if v := d.tlvs[tagReceiptedMessageID]; len(v) > 0 {
		st.ProviderID = strings.TrimRight(string(v), "\x00")
	}
	if v := d.tlvs[tagMessageState]; len(v) == 1 {
		if s, ok := stateValues[v[0]]; ok {
			st.State = s
		}
	}
	if v := d.tlvs[tagNetworkErrorCode]; len(v) == 3 && st.ErrorCode == "" && (v[1] != 0 || v[2] != 0) {
		st.ErrorCode = strconv.Itoa(int(v[1])<<8 | int(v[2]))
	}
	if st.ProviderID == "" || len(st.ProviderID) > 64 {
		return Status{}, false
	}
	return st, true
}

// receiptFields splits a receipt text into its "key:value" fields, keys lower
// cased, up to the "text:" field, which holds the start of the message and is not
// read. "submit date" and "done date" become "submit_date" and "done_date".
func receiptFields(text string) map[string]string {
	for i := 0; i+5 <= len(text); i++ {
		if strings.EqualFold(text[i:i+5], "text:") {
			text = text[:i]
			break
		}
	}
	m := map[string]string{}
	words := strings.Fields(text)
	for i := 0; i < len(words); i++ {
		w := words[i]
		if (strings.EqualFold(w, "submit") || strings.EqualFold(w, "done")) && i+1 < len(words) {
			i++
			w += "_" + words[i]
		}
		if k, v, ok := strings.Cut(w, ":"); ok {
			m[strings.ToLower(k)] = v
		}
	}
	return m
}

// safeCode reports whether s is 1 to 6 letters or digits.
func safeCode(s string) bool {
	if len(s) == 0 || len(s) > 6 {
		return false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}
