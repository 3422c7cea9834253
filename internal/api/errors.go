package api

import (
	"errors"
	"math"
	"net/http"
	"strconv"

	"github.com/ringfence/ringfence/internal/access"
	"github.com/ringfence/ringfence/internal/apikey"
	"github.com/ringfence/ringfence/internal/identity"
	"github.com/ringfence/ringfence/internal/privacy"
	"github.com/ringfence/ringfence/internal/verify"
)

// handlerFunc is an API handler: it writes a success response or returns an
// error, which the one serveError turns into the error response.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// handle adapts h to http.Handler.
func (s *Server) handle(h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			s.serveError(w, r, err)
		}
	})
}

// Errors of the API itself, beside the sentinels of the domain packages.
var (
	errInvalidRequest   = errors.New("invalid request")
	errInvalidJSON      = errors.New("malformed JSON body")
	errBodyTooLarge     = errors.New("request body too large")
	errMediaType        = errors.New("request body is not application/json")
	errUnauthorized     = errors.New("missing or unknown API key")
	errForbidden        = errors.New("API key role not allowed")
	errNotFound         = errors.New("no such route")
	errMethodNotAllowed = errors.New("method not allowed")
	errNotReady         = errors.New("not ready")
)

// closedError is verify.ErrClosed with the status of the verification.
type closedError struct{ status verify.Status }

func (e *closedError) Error() string { return "verification is " + string(e.status) }
func (e *closedError) Unwrap() error { return verify.ErrClosed }

// The stable error codes of the API; openapi.json lists the same.
const (
	codeInvalidRequest        = "invalid_request"
	codeInvalidJSON           = "invalid_json"
	codeInvalidPhone          = "invalid_phone"
	codeUnsupportedNumberType = "unsupported_number_type"
	codeInvalidCode           = "invalid_code"
	codeUnauthorized          = "unauthorized"
	codeForbidden             = "forbidden"
	codeBlocked               = "blocked"
	codeNotFound              = "not_found"
	codeMethodNotAllowed      = "method_not_allowed"
	codeVerificationClosed    = "verification_closed"
	codeBodyTooLarge          = "body_too_large"
	codeUnsupportedMediaType  = "unsupported_media_type"
	codeIdempotencyMismatch   = "idempotency_mismatch"
	codeRateLimited           = "rate_limited"
	codeNotReady              = "not_ready"
	codeConflict              = "conflict"
	codeNoBoundNumber         = "no_bound_number"
	codeInternal              = "internal"
	codeInvalidLogin          = "invalid_login"
	codeLocked                = "locked"
	codeInvalidPurpose        = "invalid_purpose"
	codeSelfApproval          = "self_approval"
	codeAlreadyApproved       = "already_approved"
	codeRevealClosed          = "reveal_closed"
	codeRevealNotApproved     = "reveal_not_approved"
	codeRevealDenied          = "reveal_denied"
	codeRevealUsed            = "reveal_used"
	codeRevealExpired         = "reveal_expired"
	codeConfirmationMismatch  = "confirmation_mismatch"
	codeSubjectErased         = "subject_erased"
	codeUnknownMessage        = "unknown_message"
	codeReceiptReplayed       = "receipt_replayed"
	codeInvalidChannel        = "invalid_channel"
	codeInvalidEvidence       = "invalid_evidence"
	codeProviderUnavailable   = "provider_unavailable"
	codeProviderError         = "provider_error"
)

// errorKind is what a client sees of an error: a status, a stable code and a
// fixed message that never repeats the request.
type errorKind struct {
	status  int
	code    string
	message string
}

// internalError answers every error the table does not know.
var internalError = errorKind{http.StatusInternalServerError, codeInternal, "internal error"}

// errorTable maps each error the API answers to what the client sees; the
// first entry that matches wins.
var errorTable = []struct {
	match func(error) bool
	kind  errorKind
}{
	{is(verify.ErrInvalidRequest), errorKind{400, codeInvalidRequest, "The request is missing a field or has a field with a bad value."}},
	{is(errInvalidRequest), errorKind{400, codeInvalidRequest, "The request is missing a field or has a field with a bad value."}},
	{is(errInvalidJSON), errorKind{400, codeInvalidJSON, "The request body is not a single valid JSON object."}},
	{is(verify.ErrInvalidPhone), errorKind{400, codeInvalidPhone, "The phone number is not valid."}},
	{is(verify.ErrNumberType), errorKind{400, codeUnsupportedNumberType, "This type of phone number cannot receive codes on this channel."}},
	{is(verify.ErrInvalidCode), errorKind{400, codeInvalidCode, "The code does not have the expected format."}},
	{is(errUnauthorized), errorKind{401, codeUnauthorized, "A valid API key is required."}},
	{is(errForbidden), errorKind{403, codeForbidden, "This API key may not do this."}},
	{is(errBadSignature), errorKind{403, codeForbidden, "The webhook signature does not verify."}},
	{as[*verify.BlockedError], errorKind{403, codeBlocked, "The request was refused by policy."}},
	{is(verify.ErrNotFound), errorKind{404, codeNotFound, "Not found."}},
	{is(apikey.ErrNotFound), errorKind{404, codeNotFound, "Not found."}},
	{is(errNotFound), errorKind{404, codeNotFound, "Not found."}},
	{is(identity.ErrNotFound), errorKind{404, codeNotFound, "Not found."}},
	{is(identity.ErrConflict), errorKind{409, codeConflict, "That already exists."}},
	{is(identity.ErrConfirm), errorKind{400, codeConfirmationMismatch, "The confirmation must repeat the subject id."}},
	{is(identity.ErrErased), errorKind{410, codeSubjectErased, "The subject was erased."}},
	{is(verify.ErrNoNumber), errorKind{409, codeNoBoundNumber, "The subject has no bound phone number."}},
	{is(errMethodNotAllowed), errorKind{405, codeMethodNotAllowed, "Method not allowed."}},
	{is(verify.ErrClosed), errorKind{409, codeVerificationClosed, "The verification is no longer pending."}},
	{is(errBodyTooLarge), errorKind{413, codeBodyTooLarge, "The request body is too large."}},
	{is(errMediaType), errorKind{415, codeUnsupportedMediaType, "The request body must be application/json."}},
	{is(verify.ErrIdempotencyMismatch), errorKind{422, codeIdempotencyMismatch, "The Idempotency-Key was already used with a different request."}},
	{as[*verify.RateLimitError], errorKind{429, codeRateLimited, "Too many requests; retry later."}},
	{is(errNotReady), errorKind{503, codeNotReady, "The service is not ready."}},
	{is(errNoGuard), errorKind{404, codeNotFound, "The fraud guard is off."}},

	// Providers' delivery receipts.
	{is(errBadCallback), errorKind{400, codeInvalidRequest, "The callback is not a delivery receipt."}},
	{is(errUnknownMessage), errorKind{404, codeUnknownMessage, "The receipt names no message sent through this provider."}},
	{is(verify.ErrReceiptDone), errorKind{409, codeReceiptReplayed, "The receipt was already recorded."}},

	// Providers that check their own codes.
	{providerTemporary, errorKind{503, codeProviderUnavailable, "The verification provider did not answer; the attempt was counted; retry later."}},
	{as[*verify.ProviderError], errorKind{502, codeProviderError, "The verification provider refused the check."}},

	// Staff access and reveals.
	{is(access.ErrInvalidRequest), errorKind{400, codeInvalidRequest, "The request is missing a field or has a field with a bad value."}},
	{is(access.ErrInvalidPurpose), errorKind{400, codeInvalidPurpose, "The purpose is not one a number may be revealed for."}},
	{is(access.ErrBadLogin), errorKind{401, codeInvalidLogin, "The email, password or code is wrong."}},
	{is(access.ErrForbidden), errorKind{403, codeForbidden, "Your role may not do this."}},
	{is(access.ErrSelfApproval), errorKind{403, codeSelfApproval, "The requester cannot approve their own request."}},
	{is(access.ErrNotFound), errorKind{404, codeNotFound, "Not found."}},
	{is(access.ErrConflict), errorKind{409, codeConflict, "That already exists."}},
	{is(access.ErrAlreadyApproved), errorKind{409, codeAlreadyApproved, "You already approved this request."}},
	{is(access.ErrClosed), errorKind{409, codeRevealClosed, "The reveal request is no longer pending."}},
	{is(access.ErrNotApproved), errorKind{409, codeRevealNotApproved, "The reveal request does not have its approvals yet."}},
	{is(access.ErrDenied), errorKind{409, codeRevealDenied, "The reveal request was denied."}},
	{is(access.ErrUsed), errorKind{409, codeRevealUsed, "The reveal was already used."}},
	{is(access.ErrExpired), errorKind{409, codeRevealExpired, "The reveal request expired."}},
	{as[*access.LockedError], errorKind{423, codeLocked, "Too many failed logins; the account is locked for a while."}},

	// Consents and the transparency report.
	{is(privacy.ErrNotFound), errorKind{404, codeNotFound, "Not found."}},
	{is(privacy.ErrInvalidRequest), errorKind{400, codeInvalidRequest, "The request is missing a field or has a field with a bad value."}},
	{is(privacy.ErrInvalidPurpose), errorKind{400, codeInvalidPurpose, "The purpose is not one a consent may be given for."}},
	{is(privacy.ErrInvalidChannel), errorKind{400, codeInvalidChannel, "The channel is unknown or not one this purpose may use."}},
	{is(privacy.ErrInvalidEvidence), errorKind{400, codeInvalidEvidence, "The evidence is not an approved verification of this subject's current number."}},
}

// providerTemporary matches a provider failure that a later try may cure.
func providerTemporary(err error) bool {
	var pe *verify.ProviderError
	return errors.As(err, &pe) && pe.Temporary
}

func is(target error) func(error) bool {
	return func(err error) bool { return errors.Is(err, target) }
}

func as[T error](err error) bool {
	var t T
	return errors.As(err, &t)
}

// errorResponse is the body of every error response.
type errorResponse struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string   `json:"code"`
	Message string   `json:"message"`
	Status  string   `json:"status,omitempty"`  // verification_closed: the verification's status
	Reasons []string `json:"reasons,omitempty"` // blocked: machine-readable reasons
	// blocked: a proof of work that lets the request through once solved
	Challenge *challengeResponse `json:"challenge,omitempty"`
	Limit     string             `json:"limit,omitempty"` // rate_limited: the limit that refused
}

// serveError writes the response for err. Only a 5xx is logged, with the
// detail the client never sees; the access log names the code of every error.
func (s *Server) serveError(w http.ResponseWriter, r *http.Request, err error) {
	kind := internalError
	for _, e := range errorTable {
		if e.match(err) {
			kind = e.kind
			break
		}
	}
	body := errorDetail{Code: kind.code, Message: kind.message}
	var (
		rl      *verify.RateLimitError
		blocked *verify.BlockedError
		closed  *closedError
		locked  *access.LockedError
	)
	switch {
	case errors.As(err, &locked):
		w.Header().Set("Retry-After", strconv.FormatInt(lockedRetryAfter(locked, s.now()), 10))
	case errors.As(err, &rl):
		w.Header().Set("Retry-After", strconv.FormatInt(retryAfterSeconds(rl), 10))
		body.Limit = rl.Limit
	case errors.As(err, &blocked):
		body.Reasons = blocked.Reasons
		if c := blocked.Challenge; c != nil {
			body.Challenge = &challengeResponse{Token: c.Token, Difficulty: c.Difficulty, ExpiresAt: timestamp(c.Expires)}
		}
	case errors.As(err, &closed):
		body.Status = string(closed.status)
	case kind.code == codeProviderUnavailable:
		w.Header().Set("Retry-After", "5")
	}
	if kind.status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", "Bearer")
	}
	st := stateOf(r.Context())
	if st != nil {
		st.errCode = kind.code
	}
	if kind.status >= 500 {
		s.log.ErrorContext(r.Context(), "request failed", attrRequestID, st.requestID(), attrRoute, st.routeName(), attrErr, err)
	} else {
		s.metrics.refusals.WithLabelValues(kind.code).Inc()
	}
	writeJSON(w, kind.status, errorResponse{Error: body})
}

// challengeResponse is a proof-of-work challenge: find a nonce such that
// SHA-256(token + ":" + nonce) starts with difficulty zero bits, and send
// "token:nonce" as pow.
type challengeResponse struct {
	Token      string `json:"token"`
	Difficulty int    `json:"difficulty"`
	ExpiresAt  string `json:"expires_at"`
}

// retryAfterSeconds is RetryAfter in whole seconds, rounded up, at least 1.
func retryAfterSeconds(e *verify.RateLimitError) int64 {
	return max(1, int64(math.Ceil(e.RetryAfter.Seconds())))
}
