package akvcreds

import (
	"errors"
	"fmt"
	"strings"
)

// Kind is the kind of a failure. The sentinel errors of this package
// (ErrForbidden, ...) are Kind values, so a kind is tested either way:
//
//	errors.Is(err, akvcreds.ErrForbidden)
//	fe.Kind == akvcreds.ErrForbidden
//
// String (and Error) return a short label such as "forbidden" or
// "not found", for logs, metrics and command-line output. A cancelled call
// has the kind labelled "canceled", which is no sentinel: test it with
// errors.Is(err, context.Canceled) or context.DeadlineExceeded.
type Kind uint8

const (
	kindUnknown Kind = iota
	kindInvalidArgument
	kindUnauthenticated
	kindForbidden
	kindNotFound
	kindDisabled
	kindThrottled
	kindUnavailable
	kindMalformed
	kindExpired
	kindCanceled
)

var kindLabels = [...]string{
	kindUnknown:         "unknown",
	kindInvalidArgument: "invalid argument",
	kindUnauthenticated: "unauthenticated",
	kindForbidden:       "forbidden",
	kindNotFound:        "not found",
	kindDisabled:        "disabled",
	kindThrottled:       "throttled",
	kindUnavailable:     "unavailable",
	kindMalformed:       "malformed",
	kindExpired:         "expired",
	kindCanceled:        "canceled",
}

// label returns the kind's label, e.g. "forbidden".
func (k Kind) label() string {
	if int(k) < len(kindLabels) {
		return kindLabels[k]
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// Error returns the kind's label, so that the sentinels are errors.
func (k Kind) Error() string { return k.label() }

// The kinds of failure. Every error from New and every *FetchError wraps
// exactly one of them (a cancelled call wraps the context's error instead).
var (
	// ErrInvalidArgument: an option, vault, secret name or identifier is malformed.
	ErrInvalidArgument error = kindInvalidArgument
	// ErrUnauthenticated: no token could be had (wrong tenant or client ID,
	// wrong or expired client secret, no managed identity), or Key Vault
	// rejected it.
	ErrUnauthenticated error = kindUnauthenticated
	// ErrForbidden: the identity lacks permission (RBAC role or access
	// policy), or the vault's firewall blocks the caller.
	ErrForbidden error = kindForbidden
	// ErrNotFound: no such secret (or version) in the vault; a deleted
	// secret too, until it is recovered.
	ErrNotFound error = kindNotFound
	// ErrDisabled: the secret is disabled.
	ErrDisabled error = kindDisabled
	// ErrThrottled: Key Vault kept answering 429 after akvcreds backed off
	// and retried.
	ErrThrottled error = kindThrottled
	// ErrUnavailable: the network, Entra ID, the managed-identity endpoint
	// or Key Vault failed (connection errors, timeouts, 5xx) after retries.
	ErrUnavailable error = kindUnavailable
	// ErrMalformed: Azure's answer could not be understood (not Key Vault's
	// shape, too large, naming another secret), or a secret's value is not
	// the JSON credential its content type announces, or a certificate
	// credential cannot be used as one (see Credential.Certificate), or the
	// mapping function (WithMapper) rejected it.
	ErrMalformed error = kindMalformed
	// ErrExpired: the secret is expired or not yet valid and the caller
	// refused it (a mapping function returned ErrExpired), or a
	// certificate credential's leaf is expired or not yet valid.
	ErrExpired error = kindExpired
)

// FetchError is one failed secret (or, with Secret empty, a failed listing
// or a failure of a whole vault). Kind says what went wrong and Remedy what
// to do about it; Err is the cause, whose chain holds Kind (so errors.Is
// with the sentinels works) and, for a cancelled call, the context's error.
type FetchError struct {
	Vault   string // vault name
	Secret  string // secret name; "" when listing the vault failed
	Version string // the pinned version, if any
	Kind    Kind   // the kind of failure, one of the sentinels (or "canceled")
	Remedy  string // what an operator should do about it; "" when nothing can be done
	Err     error  // the cause

	// What Azure answered, when it answered: the HTTP status, Key Vault's
	// error code ("Forbidden", "SecretNotFound", "Throttled", ...) or Entra
	// ID's ("invalid_client"), the inner code ("ForbiddenByRbac",
	// "AccessDenied", "ForbiddenByFirewall", "SecretDisabled"), the AADSTS
	// code of a token failure ("AADSTS7000215") and Key Vault's request ID
	// (x-ms-request-id), for support cases.
	Status    int
	Code      string
	InnerCode string
	AADSTS    string
	RequestID string
}

// Error says which secret failed, what went wrong and what to do:
// `akvcreds: vault "v" secret "s": forbidden: ... To fix: ...`.
func (e *FetchError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "akvcreds: vault %q", e.Vault)
	if e.Secret != "" {
		fmt.Fprintf(&b, " secret %q", e.Secret)
	}
	if e.Version != "" {
		fmt.Fprintf(&b, " version %s", e.Version)
	}
	b.WriteString(": ")
	if e.Err != nil {
		b.WriteString(strings.TrimSuffix(e.Err.Error(), "."))
	} else {
		b.WriteString(e.Kind.label())
	}
	if e.Remedy != "" {
		b.WriteString(". To fix: ")
		b.WriteString(e.Remedy)
	}
	return b.String()
}

// Unwrap returns Err.
func (e *FetchError) Unwrap() error { return e.Err }

// FetchErrors returns the *FetchError values joined in err (as returned by
// FetchCredentials), in order. It returns nil for nil.
func FetchErrors(err error) []*FetchError {
	var out []*FetchError
	var walk func(error)
	walk = func(err error) {
		switch e := err.(type) {
		case nil:
		case *FetchError:
			out = append(out, e)
		case interface{ Unwrap() []error }:
			for _, x := range e.Unwrap() {
				walk(x)
			}
		case interface{ Unwrap() error }:
			walk(e.Unwrap()) // a wrapped join (fmt.Errorf("...: %w", err)) keeps all its errors
		}
	}
	walk(err)
	return out
}

// failure is a classified cause: its message is "KIND: DETAIL", and it
// unwraps to its kind and to the underlying error.
type failure struct {
	kind   Kind
	msg    string
	remedy string // what to do; "" when nothing can be done
	cause  error
}

func (f *failure) Error() string { return f.msg }

func (f *failure) Unwrap() []error {
	if f.kind == kindCanceled || f.kind == kindUnknown {
		return []error{f.cause}
	}
	return []error{f.kind, f.cause}
}

// fail makes a failure of kind k with detail, remedy and cause.
func fail(k Kind, detail, remedy string, cause error) *failure {
	msg := k.label()
	if detail != "" {
		msg += ": " + detail
	}
	if cause == nil {
		cause = errors.New(detail)
	}
	return &failure{kind: k, msg: msg, remedy: remedy, cause: cause}
}

// invalid wraps a validation problem: "akvcreds: OPTION: PROBLEM", matching
// ErrInvalidArgument.
func invalid(option string, err error) error {
	return fmt.Errorf("akvcreds: %s: %w", option, &failure{kind: kindInvalidArgument, msg: err.Error(), cause: err})
}
