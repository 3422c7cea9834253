package fraud

// The reasons a Decision gives for a refusal. They are stable machine words,
// fit for API responses, metrics labels and audit events.
const (
	ReasonBlocklistNumber   = "blocklist_number"    // the number is on the block list
	ReasonBlocklistPrefix   = "blocklist_prefix"    // the number's prefix is on the block list
	ReasonBlocklistCountry  = "blocklist_country"   // the number's country is on the block list
	ReasonBlocklistIP       = "blocklist_ip"        // the client IP is on the block list
	ReasonBlocklistSubject  = "blocklist_subject"   // the subject is on the block list
	ReasonCountryNotAllowed = "country_not_allowed" // the number's country is not in the allow-list
	ReasonNumberType        = "number_type"         // the number's type cannot or must not receive codes
	ReasonVelocityIP        = "velocity_ip"         // too many sends from the IP
	ReasonVelocitySubject   = "velocity_subject"    // too many sends for the subject
	ReasonVelocityNumber    = "velocity_number"     // too many sends to the number
	ReasonVelocityPrefix    = "velocity_prefix"     // too many sends to the prefix
	ReasonVelocityCountry   = "velocity_country"    // too many sends to the country
	ReasonBreakerPrefix     = "breaker_prefix"      // the prefix's conversion collapsed; its breaker is open
	ReasonBreakerCountry    = "breaker_country"     // the country's conversion collapsed; its breaker is open
	ReasonSpendCapCountry   = "spend_cap_country"   // the country's spend cap for the day is reached
	ReasonSpendCapTotal     = "spend_cap_total"     // the total spend cap for the day is reached
	ReasonChallengeRequired = "challenge_required"  // a proof-of-work challenge must be solved first
	ReasonChallengeInvalid  = "challenge_invalid"   // the solution given is wrong, expired, replayed or for another client
)

// reason is the internal index of a reason, a bit in a reasons set.
type reason uint8

const (
	rBlocklist         reason = 0                             // + kind
	rVelocity          reason = rBlocklist + reason(numKinds) // + kind
	rCountryNotAllowed reason = rVelocity + reason(numKinds)
	rNumberType        reason = rCountryNotAllowed + 1
	rBreakerPrefix     reason = rNumberType + 1
	rBreakerCountry    reason = rBreakerPrefix + 1
	rSpendCapCountry   reason = rBreakerCountry + 1
	rSpendCapTotal     reason = rSpendCapCountry + 1
	rChallengeRequired reason = rSpendCapTotal + 1
	rChallengeInvalid  reason = rChallengeRequired + 1
	numReasons                = int(rChallengeInvalid) + 1
)

var reasonNames = [numReasons]string{
	rBlocklist + reason(kNumber):  ReasonBlocklistNumber,
	rBlocklist + reason(kPrefix):  ReasonBlocklistPrefix,
	rBlocklist + reason(kCountry): ReasonBlocklistCountry,
	rBlocklist + reason(kIP):      ReasonBlocklistIP,
	rBlocklist + reason(kSubject): ReasonBlocklistSubject,
	rVelocity + reason(kNumber):   ReasonVelocityNumber,
	rVelocity + reason(kPrefix):   ReasonVelocityPrefix,
	rVelocity + reason(kCountry):  ReasonVelocityCountry,
	rVelocity + reason(kIP):       ReasonVelocityIP,
	rVelocity + reason(kSubject):  ReasonVelocitySubject,
	rCountryNotAllowed:            ReasonCountryNotAllowed,
	rNumberType:                   ReasonNumberType,
	rBreakerPrefix:                ReasonBreakerPrefix,
	rBreakerCountry:               ReasonBreakerCountry,
	rSpendCapCountry:              ReasonSpendCapCountry,
	rSpendCapTotal:                ReasonSpendCapTotal,
	rChallengeRequired:            ReasonChallengeRequired,
	rChallengeInvalid:             ReasonChallengeInvalid,
}

// Reasons lists every reason a Decision may give, in a fixed order; metrics
// can create their series from it.
func Reasons() []string { return append([]string(nil), reasonNames[:]...) }

// reasons is a set of reasons.
type reasons uint32

func (rs *reasons) add(r reason)     { *rs |= 1 << r }
func (rs reasons) has(r reason) bool { return rs&(1<<r) != 0 }
func (rs reasons) strings() []string {
	if rs == 0 {
		return nil
	}
	out := make([]string, 0, 2)
	for r := range reason(numReasons) {
		if rs.has(r) {
			out = append(out, reasonNames[r])
		}
	}
	return out
}
