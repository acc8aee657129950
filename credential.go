package akvcreds

import (
	"fmt"
	"io"
	"log/slog"
	"strconv"
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
