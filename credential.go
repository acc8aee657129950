package akvcreds

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"
)

// redacted is what a Password shows wherever it is printed or encoded.
const redacted = "[REDACTED]"

// Password holds a secret's value. It prints, encodes and logs as
// "[REDACTED]" in every fmt verb, encoding/json, encoding/xml and log/slog;
// Reveal is the only way to read it. The value is kept in a closure, so even
// reflection-based dumpers (such as the ones test assertion libraries use to
// print a mismatch) cannot show it. The zero Password is empty.
//
// Password values are not comparable with ==; compare Reveal() results.
type Password struct {
	reveal func() string
}

// newPassword wraps a secret value.
func newPassword(v string) Password {
	return Password{reveal: func() string { return v }}
}

// Reveal returns the secret value. Handle it with care: never log it.
func (p Password) Reveal() string {
	if p.reveal == nil {
		return ""
	}
	return p.reveal()
}

// IsEmpty reports whether the value is the empty string.
func (p Password) IsEmpty() bool { return p.Reveal() == "" }

// String returns "[REDACTED]".
func (p Password) String() string { return redacted }

// GoString returns a redacted Go-syntax representation for %#v.
func (p Password) GoString() string { return "akvcreds.Password(" + strconv.Quote(redacted) + ")" }

// Format writes "[REDACTED]" for every verb (quoted for %q, Go syntax for %#v).
func (p Password) Format(f fmt.State, verb rune) {
	switch {
	case verb == 'q':
		_, _ = io.WriteString(f, strconv.Quote(redacted))
	case verb == 'v' && f.Flag('#'):
		_, _ = io.WriteString(f, p.GoString())
	default:
		_, _ = io.WriteString(f, redacted)
	}
}

// MarshalJSON encodes the password as the string "[REDACTED]".
func (p Password) MarshalJSON() ([]byte, error) { return []byte(strconv.Quote(redacted)), nil }

// MarshalText encodes the password as "[REDACTED]" (encoding/xml, YAML and
// other text encoders).
func (p Password) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// LogValue implements slog.LogValuer: the password logs as "[REDACTED]".
func (p Password) LogValue() slog.Value { return slog.StringValue(redacted) }

// Credential is one Key Vault secret as a credential: the established
// mapping is Name "vault/secret", Username the secret's name and Password its
// value. The other fields are the secret's metadata; time fields are zero
// when Key Vault does not set them.
type Credential struct {
	Name     string   `json:"name"`     // "vault/secret"
	Vault    string   `json:"vault"`    // vault name, lower case
	Secret   string   `json:"secret"`   // secret name as Key Vault returns it
	Username string   `json:"username"` // the secret name
	Password Password `json:"password"` // prints as [REDACTED]; Reveal() for the value

	Version     string            `json:"version,omitempty"` // 32 hex characters
	ID          string            `json:"id,omitempty"`      // https://vault.vault.azure.net/secrets/secret/version
	ContentType string            `json:"contentType,omitempty"`
	Tags        map[string]string `json:"tags,omitempty" xml:"-"`
	Enabled     bool              `json:"enabled"`
	NotBefore   time.Time         `json:"notBefore,omitzero"`
	Expires     time.Time         `json:"expires,omitzero"`
	Created     time.Time         `json:"created,omitzero"`
	Updated     time.Time         `json:"updated,omitzero"`

	// Stale reports a value served from the cache after its TTL because Key
	// Vault could not be reached (WithStaleOnError).
	Stale bool `json:"stale,omitempty"`
}

// Expired reports whether the secret's expiry time has passed at now. Key
// Vault still returns expired secrets; akvcreds leaves the decision to you.
func (c Credential) Expired(now time.Time) bool {
	return !c.Expires.IsZero() && !now.Before(c.Expires)
}

// LogValue implements slog.LogValuer: the credential's identity and metadata,
// never its value.
func (c Credential) LogValue() slog.Value {
	attrs := []slog.Attr{
		slog.String("name", c.Name),
		slog.String("username", c.Username),
		slog.String("password", redacted),
	}
	if c.Version != "" {
		attrs = append(attrs, slog.String("version", c.Version))
	}
	if c.ContentType != "" {
		attrs = append(attrs, slog.String("contentType", c.ContentType))
	}
	return slog.GroupValue(attrs...)
}

// JSONMode says when a secret's value is read as a JSON credential,
// {"username": "...", "password": "..."}.
type JSONMode int

// The JSON modes.
const (
	// JSONByContentType (the default) reads values whose content type is
	// application/json (or ends in +json). A JSON object with a string
	// "password" field becomes the credential's password (and its "username",
	// if any, the username); other valid JSON is kept whole as the password,
	// as before; a value that is not valid JSON is an ErrMalformed failure.
	JSONByContentType JSONMode = iota
	// JSONAlways reads every value as a JSON credential: a value that is not
	// a JSON object with a string "password" field is an ErrMalformed failure.
	JSONAlways
	// JSONNever keeps every value whole as the password.
	JSONNever
)

// MapInput is what a Mapper sees of one secret.
type MapInput struct {
	Vault       string
	Secret      string
	Version     string
	ContentType string
	Tags        map[string]string
	Value       Password
}

// Mapper turns a secret into a credential's username and password; it is
// the escape hatch when neither the secret name, a tag nor a JSON value
// holds the username. An error fails that secret with ErrMalformed (the
// error's text is included: do not put the value in it).
type Mapper func(in MapInput) (username, password string, err error)

// ExpiredPolicy says what becomes of a named secret that is expired or not
// yet valid. Key Vault still returns such secrets; listing skips them.
type ExpiredPolicy int

// The expiry policies.
const (
	// ExpiredReturn (the default) returns the credential, as Key Vault does,
	// and logs a warning; Credential.Expired tells.
	ExpiredReturn ExpiredPolicy = iota
	// ExpiredReject reports the secret as a *FetchError wrapping ErrExpired.
	ExpiredReject
)

// mapping is how secrets become credentials.
type mapping struct {
	usernameTag string
	json        JSONMode
	mapper      Mapper
	naming      func(vault, secret string) string
	expired     ExpiredPolicy
}

// custom reports whether username or password need more than the defaults.
func (m *mapping) custom() bool {
	return m.usernameTag != "" || m.json != JSONNever || m.mapper != nil
}

// credentialJSON is the shape of a JSON credential value.
type credentialJSON struct {
	Username *string `json:"username"`
	Password *string `json:"password"`
}

// isJSONContentType reports whether a content type says JSON.
func isJSONContentType(ct string) bool {
	mt := mediaType(ct)
	return mt == "application/json" || strings.HasSuffix(mt, "+json")
}

// apply computes the username and password of a secret. Errors never quote
// the value.
func (m *mapping) apply(cred *Credential) error {
	if m.mapper != nil {
		u, p, err := m.mapper(MapInput{Vault: cred.Vault, Secret: cred.Secret, Version: cred.Version,
			ContentType: cred.ContentType, Tags: cred.Tags, Value: cred.Password})
		if err != nil {
			return fmt.Errorf("the Mapper failed: %w", err)
		}
		cred.Username, cred.Password = u, newPassword(p)
		return nil
	}
	if m.usernameTag != "" {
		if u := cred.Tags[m.usernameTag]; u != "" {
			cred.Username = u
		}
	}
	if m.json == JSONNever || (m.json == JSONByContentType && !isJSONContentType(cred.ContentType)) {
		return nil
	}
	value := cred.Password.Reveal()
	why := "content type " + strconv.Quote(cred.ContentType)
	if m.json == JSONAlways {
		why = "JSONAlways"
	}
	if !json.Valid([]byte(value)) {
		var se *json.SyntaxError
		var probe any
		if err := json.Unmarshal([]byte(value), &probe); errors.As(err, &se) {
			return fmt.Errorf("the value is not valid JSON (%s; syntax error at byte %d)", why, se.Offset)
		}
		return fmt.Errorf("the value is not valid JSON (%s)", why)
	}
	var cj credentialJSON
	if err := json.Unmarshal([]byte(value), &cj); err != nil || cj.Password == nil {
		if m.json == JSONByContentType {
			return nil // JSON, but not a credential: the value stays whole
		}
		return errors.New(`the value is not a JSON object with a string "password" field (JSONAlways)`)
	}
	cred.Password = newPassword(*cj.Password)
	if cj.Username != nil && *cj.Username != "" {
		cred.Username = *cj.Username
	}
	return nil
}
