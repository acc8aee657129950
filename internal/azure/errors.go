package azure

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
)

// Kind classifies a failure the way akvcreds reports it.
type Kind int

// The kinds of failure. The root package maps each to its sentinel error.
const (
	KindUnknown         Kind = iota
	KindInvalidArgument      // the request itself is wrong (400 BadParameter, bad vault URL)
	KindUnauthenticated      // no token could be had, or the vault rejected it (401)
	KindForbidden            // 403: RBAC, access policy or firewall
	KindNotFound             // 404 SecretNotFound
	KindDisabled             // 403 SecretDisabled
	KindThrottled            // 429 Throttled
	KindUnavailable          // network failure or 5xx
	KindCanceled             // the caller's context ended
	KindMalformed            // Azure's answer cannot be understood (bad JSON or ids, a paging loop, too large)
)

// String returns the kind's name, for messages and tests.
func (k Kind) String() string {
	switch k {
	case KindInvalidArgument:
		return "invalid argument"
	case KindUnauthenticated:
		return "unauthenticated"
	case KindForbidden:
		return "forbidden"
	case KindNotFound:
		return "not found"
	case KindDisabled:
		return "disabled"
	case KindThrottled:
		return "throttled"
	case KindUnavailable:
		return "unavailable"
	case KindCanceled:
		return "canceled"
	case KindMalformed:
		return "malformed"
	}
	return "unknown"
}

// Error is a classified Azure failure. Its fields come from Azure's response
// (status, codes, request ID) and never carry a secret value or a token.
type Error struct {
	Kind       Kind
	Status     int           // HTTP status, 0 when there was no response
	Code       string        // Key Vault error.code, or the Entra ID error (e.g. invalid_client)
	InnerCode  string        // Key Vault innererror.code (ForbiddenByRbac, AccessDenied, ...)
	AADSTS     string        // Entra ID error code, e.g. "AADSTS7000215"
	RequestID  string        // x-ms-request-id
	RetryAfter time.Duration // from a 429's Retry-After, 0 when absent
	Detail     string        // a short, safe description of what Azure said
	Op         string        // "get", "list" or "token"
	Err        error         // the underlying error (SDK error, network error, context error)

	// Auth is the authentication mode of the credential whose token request
	// failed (Op "token"): for AuthEnvironment the mode it resolved to,
	// AuthCustom for a caller's credential; 0 for other failures.
	Auth AuthKind

	who string // the credential's description, for a token failure's Detail
}

// Error returns a one-line description; the root package composes the
// user-facing message from the fields instead.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Detail)
	if e.Status != 0 {
		fmt.Fprintf(&b, " (HTTP %d", e.Status)
		if e.Code != "" {
			b.WriteString(" " + e.Code)
		}
		if e.InnerCode != "" {
			b.WriteString("/" + e.InnerCode)
		}
		b.WriteString(")")
	}
	return b.String()
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

var aadstsRE = regexp.MustCompile(`AADSTS\d+`)

// errorBody is Key Vault's error shape.
type errorBody struct {
	Error struct {
		Code       string `json:"code"`
		Message    string `json:"message"`
		InnerError *struct {
			Code string `json:"code"`
		} `json:"innererror"`
	} `json:"error"`
}

// entraBody is Entra ID's and IMDS's error shape.
type entraBody struct {
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
	ErrorCodes       []int  `json:"error_codes"`
}

// Classify turns any error from the Azure SDK, the network or the context
// into an *Error. op names the operation for messages. An *Error passes
// through unchanged. A body over MaxBodySize is KindMalformed.
func Classify(err error, op string) *Error {
	if err == nil {
		return nil
	}
	var ae *Error
	if errors.As(err, &ae) {
		return ae
	}
	e := &Error{Op: op, Err: err}
	if !classifyKnown(e, err) {
		classifyText(e, err)
	}
	e.Err = sanitize(err, e)
	return e
}

// classifyKnown classifies the errors recognised by type; it reports
// whether err was one.
func classifyKnown(e *Error, err error) bool {
	var re *azcore.ResponseError
	var afe *azidentity.AuthenticationFailedError
	var cue interface{ IsCredentialUnavailable() }
	switch {
	case isBodyTooLarge(err):
		e.Kind = KindMalformed
		e.Code = "BodyTooLarge"
		e.Detail = bodyTooLargeDetail
	case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		e.Kind = KindCanceled
		e.Detail = "the operation was cancelled: " + contextReason(err)
	case errors.As(err, &afe):
		e.Op = "token"
		classifyAuthFailure(e, afe)
	case errors.As(err, &re):
		classifyResponse(e, re)
	case isDNSNotFound(err):
		e.Kind = KindUnavailable
		e.Code = "NoSuchHost"
		e.Detail = "the host name does not resolve: " + firstLine(err.Error())
	case errors.As(err, &cue):
		e.Op = "token"
		e.Kind = KindUnauthenticated
		e.Detail = "no managed identity is available: " + firstLine(err.Error())
	default:
		return false
	}
	return true
}

// classifyText classifies the rest: network failures, and errors the SDK
// keeps as text only.
func classifyText(e *Error, err error) {
	switch {
	case isNetwork(err):
		e.Kind = KindUnavailable
		e.Detail = "network failure: " + firstLine(err.Error())
	case strings.Contains(err.Error(), "isn't configured to acquire tokens for tenant"):
		e.Op = "token"
		e.Kind = KindUnauthenticated
		e.Detail = firstLine(err.Error())
	default:
		e.Kind = KindUnknown
		e.Detail = firstLine(err.Error())
	}
}

// causeError is the sanitized cause of an Error: its text only.
type causeError struct{ msg string }

func (c *causeError) Error() string { return c.msg }

// sanitize returns what Error keeps of the SDK's error. The SDK's errors
// hold the HTTP exchange: a Key Vault *azcore.ResponseError holds the
// request with its Authorization header (the bearer token), and a token
// failure holds the token request, whose body carries the client secret.
// Reflection-based dumpers (the ones assertion libraries print with) would
// show them, so only safe parts are kept: a stripped *azcore.ResponseError
// (errors.As still finds it), the context's error (errors.Is still works),
// network errors (addresses only), and otherwise the first line of text.
func sanitize(err error, e *Error) error {
	var re *azcore.ResponseError
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return context.DeadlineExceeded
	case errors.Is(err, context.Canceled):
		return context.Canceled
	case e.Op != "token" && errors.As(err, &re):
		return &azcore.ResponseError{ErrorCode: re.ErrorCode, StatusCode: re.StatusCode}
	case e.Op != "token" && errors.As(err, &ne):
		return ne
	}
	return &causeError{msg: e.Detail}
}

func contextReason(err error) string {
	if errors.Is(err, context.DeadlineExceeded) {
		return "deadline exceeded"
	}
	return "context canceled"
}

func firstLine(s string) string {
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		s = s[:i]
	}
	const max = 300
	if len(s) > max {
		cut := max
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut-- // never split a character
		}
		s = s[:cut] + "..."
	}
	return strings.TrimSpace(s)
}

func isDNSNotFound(err error) bool {
	var de *net.DNSError
	return errors.As(err, &de) && de.IsNotFound
}

func isNetwork(err error) bool {
	var ne net.Error
	var oe *net.OpError
	var de *net.DNSError
	if errors.As(err, &ne) || errors.As(err, &oe) || errors.As(err, &de) {
		return true
	}
	s := err.Error()
	for _, frag := range []string{"EOF", "connection reset", "connection refused", "broken pipe", "tls:", "x509:", "unexpected EOF", "server closed"} {
		if strings.Contains(s, frag) {
			return true
		}
	}
	return false
}

func classifyResponse(e *Error, re *azcore.ResponseError) {
	e.Status = re.StatusCode
	e.Code = re.ErrorCode
	if res := re.RawResponse; res != nil {
		e.RequestID = res.Header.Get("x-ms-request-id")
		e.RetryAfter = RetryAfter(res.Header)
		readErrorBody(e, res)
	}
	if e.Detail == "" {
		e.Detail = http.StatusText(e.Status)
	}
	e.Kind = statusKind(e)
}

// readErrorBody takes the code, inner code and message of Key Vault's
// error body.
func readErrorBody(e *Error, res *http.Response) {
	body, err := runtime.Payload(res)
	if err != nil || len(body) == 0 {
		return
	}
	var eb errorBody
	if json.Unmarshal(body, &eb) != nil {
		return
	}
	if e.Code == "" {
		e.Code = eb.Error.Code
	}
	if eb.Error.InnerError != nil {
		e.InnerCode = eb.Error.InnerError.Code
	}
	e.Detail = firstLine(strings.ReplaceAll(eb.Error.Message, "\r", ""))
}

// statusKind is the kind of a Key Vault error response.
func statusKind(e *Error) Kind {
	switch {
	case e.Status == http.StatusTooManyRequests || e.Code == "Throttled":
		return KindThrottled
	case e.InnerCode == "SecretDisabled":
		return KindDisabled
	case e.Status == http.StatusForbidden:
		return KindForbidden
	case e.Status == http.StatusUnauthorized:
		return KindUnauthenticated
	case e.Status == http.StatusNotFound:
		return KindNotFound
	case e.Status == http.StatusBadRequest:
		return KindInvalidArgument
	case e.Status == http.StatusRequestTimeout || e.Status >= 500:
		return KindUnavailable
	}
	return KindUnknown
}

func classifyAuthFailure(e *Error, afe *azidentity.AuthenticationFailedError) {
	e.Kind = KindUnauthenticated
	msg := afe.Error()
	e.AADSTS = aadstsRE.FindString(msg)
	if res := afe.RawResponse; res != nil {
		e.Status = res.StatusCode
		if body, err := runtime.Payload(res); err == nil && len(body) > 0 {
			var eb entraBody
			if json.Unmarshal(body, &eb) == nil {
				e.Code = eb.Error
				if d := aadstsRE.FindString(eb.ErrorDescription); d != "" {
					e.AADSTS = d
				}
				e.Detail = firstLine(strings.ReplaceAll(eb.ErrorDescription, "\r", ""))
			}
		}
		if e.Status == http.StatusTooManyRequests {
			e.Kind = KindThrottled
		} else if e.Status >= 500 {
			e.Kind = KindUnavailable
		}
	}
	if e.Detail == "" {
		// the message without azidentity's multi-line response dump; MSAL
		// puts a transport failure's reason on the line after its prefix
		e.Detail = firstLine(strings.ReplaceAll(msg, ":\n ", ": "))
	}
	if e.Status == 0 && (isNetwork(afe) || strings.Contains(msg, msalNoResponse) || strings.Contains(msg, msalNoBody)) {
		e.Kind = KindUnavailable
	}
}

// MSAL's prefixes for a token request that got no HTTP answer or whose
// answer could not be read. azidentity keeps only the text of MSAL's error,
// so the transport's own error (a *url.Error) cannot be unwrapped.
const (
	msalNoResponse = "server response error:"
	msalNoBody     = "could not read the body of an HTTP Response"
)

// RetryAfter reads the delay a throttled response asks for, in the order
// azcore honours them; 0 when absent or unparsable.
func RetryAfter(h http.Header) time.Duration {
	for _, k := range []string{"Retry-After-Ms", "X-Ms-Retry-After-Ms"} {
		if v := h.Get(k); v != "" {
			if ms, err := strconv.ParseInt(v, 10, 64); err == nil && ms > 0 {
				return delay(ms, time.Millisecond)
			}
		}
	}
	v := h.Get("Retry-After")
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseInt(v, 10, 64); err == nil {
		if s <= 0 {
			return 0
		}
		return delay(s, time.Second)
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := time.Until(t); d > 0 {
			return d
		}
	}
	return 0
}

// maxDelay bounds the delays read from headers, far above any akvcreds
// waits for, so that a huge value cannot overflow into a negative one.
const maxDelay = 24 * time.Hour

// delay is n units, at most maxDelay.
func delay(n int64, unit time.Duration) time.Duration {
	if n > int64(maxDelay/unit) {
		return maxDelay
	}
	return time.Duration(n) * unit
}
