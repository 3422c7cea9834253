package twilio

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/ringfence/ringfence/internal/sms"
)

// Post sends form to endpoint, a Twilio REST resource, authenticated as
// accountSID with authToken, and decodes a 2xx JSON answer into out. It
// returns the HTTP status and, on failure, an *sms.Error for provider: with
// Twilio's numeric error code (else "http_<status>"), CodeBadResponse for a
// 2xx answer that does not decode, or CodeNetwork when no answer came; or an
// error wrapping ctx.Err() if ctx ended. Packages twiliovoice and
// twilioverify use it for their own resources.
func Post(ctx context.Context, c *http.Client, provider, endpoint, accountSID, authToken string, form url.Values, out any) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return 0, fmt.Errorf("%s: new request: %w", provider, err)
	}
	req.SetBasicAuth(accountSID, authToken)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")

	resp, err := c.Do(req)
	if err != nil {
		return 0, TransportError(ctx, provider, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse+1))
	if err != nil {
		return 0, TransportError(ctx, provider, err)
	}
	if len(body) > maxResponse {
		body = nil // a truncated document cannot be decoded
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		if json.Unmarshal(body, out) != nil {
			return resp.StatusCode, &sms.Error{Provider: provider, Code: sms.CodeBadResponse, Status: resp.StatusCode}
		}
		return resp.StatusCode, nil
	}
	// Twilio's error document also holds "message", which may echo the
	// number: only the numeric code is decoded.
	var fail struct {
		Code json.Number `json:"code"`
	}
	code := "http_" + strconv.Itoa(resp.StatusCode)
	if json.Unmarshal(body, &fail) == nil {
		if n, err := strconv.ParseUint(string(fail.Code), 10, 32); err == nil && n > 0 && n <= 999999 {
			code = strconv.FormatUint(n, 10)
		}
	}
	return resp.StatusCode, &sms.Error{
		Provider:  provider,
		Code:      code,
		Status:    resp.StatusCode,
		Temporary: Temporary(resp.StatusCode),
	}
}

// Temporary reports whether a request answered with status may succeed later.
func Temporary(status int) bool {
	return status == http.StatusRequestTimeout || status == http.StatusTooManyRequests || status >= 500
}

// TransportError turns a failure to exchange a request into an error
// wrapping ctx.Err() if ctx ended, else a temporary *sms.Error for provider.
// The URL in a *url.Error is dropped: only the transport's own text is kept.
func TransportError(ctx context.Context, provider string, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%s: %w", provider, ctx.Err())
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return &sms.Error{Provider: provider, Code: sms.CodeNetwork, Temporary: true, Err: err}
}

// maxCallback bounds how much of a callback body is read.
const maxCallback = 64 << 10

// Errors returned by ReadCallback.
var (
	// ErrCallbackForm means the request is not a POST of an url-encoded
	// form of at most 64 KiB.
	ErrCallbackForm = errors.New("twilio: callback is not a form post")
	// ErrCallbackSignature means X-Twilio-Signature is missing or wrong.
	ErrCallbackSignature = errors.New("twilio: callback signature invalid")
)

// ReadCallback reads the form Twilio posted to publicURL (exactly as given
// to Twilio: it signs the URL it called) and checks its X-Twilio-Signature
// with authToken. It returns ErrCallbackForm or ErrCallbackSignature on
// failure; neither holds anything from the request.
//
// Twilio's signature has no timestamp: a captured callback can be replayed
// as is (never altered), so its handling must be idempotent.
func ReadCallback(r *http.Request, authToken, publicURL string) (url.Values, error) {
	if r.Method != http.MethodPost {
		return nil, ErrCallbackForm
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/x-www-form-urlencoded" {
		return nil, ErrCallbackForm
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxCallback+1))
	if err != nil || len(body) > maxCallback {
		return nil, ErrCallbackForm
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, ErrCallbackForm
	}
	if !ValidSignature(authToken, publicURL, form, r.Header.Get("X-Twilio-Signature")) {
		return nil, ErrCallbackSignature
	}
	return form, nil
}

// CallbackErrorCode returns a callback's numeric ErrorCode ("30006"), or ""
// when it has none or it is not a number Twilio uses.
func CallbackErrorCode(form url.Values) string {
	if n, err := strconv.ParseUint(form.Get("ErrorCode"), 10, 32); err == nil && n > 0 && n <= 999999 {
		return strconv.FormatUint(n, 10)
	}
	return ""
}
