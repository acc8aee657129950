package akvcreds

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"mime"
	"strconv"
	"strings"
	"time"
)

// redacted is what a Password shows wherever it is printed or encoded.
const redacted = "[REDACTED]"

// Password holds a secret's value. It prints as "[REDACTED]" (fmt's %v, %s,
// %q, and log/slog's text output) and encodes as "[REDACTED]" in
// encoding/json; Reveal is the only way to read it. The value is kept in a
// closure, so no other fmt verb, encoder or reflection-based dumper (such as
// the ones assertion libraries print a mismatch with) can reach it either.
// The zero Password is empty.
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

// String returns "[REDACTED]".
func (p Password) String() string { return redacted }

// MarshalJSON encodes the password as the string "[REDACTED]".
func (p Password) MarshalJSON() ([]byte, error) { return []byte(strconv.Quote(redacted)), nil }

// SecretInfo is what Key Vault tells about a secret without its value: what
// a listing shows, or what comes with a value. Filters (WithFilters) and the
// mapping function (WithMapper) see it. Time fields are zero when Key Vault
// does not set them.
type SecretInfo struct {
	Vault       string            // vault name, lower case
	Secret      string            // secret name as Key Vault returns it
	Version     string            // 32 hex characters; "" in a listing
	ContentType string            // e.g. "application/json"; "" when not set
	Tags        map[string]string // nil when there are none
	Enabled     bool
	NotBefore   time.Time
	Expires     time.Time
	Created     time.Time
	Updated     time.Time
	Managed     bool // the secret backs a Key Vault certificate
}

// Credential is one Key Vault secret as a credential: Name "vault/secret",
// Username the secret's name and Password its value (unless WithMapper or
// a JSON value says otherwise). The other fields are the secret's metadata,
// as in SecretInfo.
type Credential struct {
	Name     string   `json:"name"`     // "vault/secret"
	Vault    string   `json:"vault"`    // vault name, lower case
	Secret   string   `json:"secret"`   // secret name: as asked for, or as listed
	Username string   `json:"username"` // by default the secret name
	Password Password `json:"password"` // prints as [REDACTED]; Reveal() for the value

	Version     string            `json:"version,omitempty"` // 32 hex characters
	ID          string            `json:"id,omitempty"`      // https://VAULT.vault.azure.net/secrets/SECRET/VERSION
	ContentType string            `json:"contentType,omitempty"`
	Tags        map[string]string `json:"tags,omitempty"`
	Enabled     bool              `json:"enabled"`
	NotBefore   time.Time         `json:"notBefore,omitzero"`
	Expires     time.Time         `json:"expires,omitzero"`
	Created     time.Time         `json:"created,omitzero"`
	Updated     time.Time         `json:"updated,omitzero"`
	Managed     bool              `json:"managed,omitempty"` // backs a Key Vault certificate

	// Stale reports a value served from the cache after its time to live
	// because Key Vault could not be reached (see WithCache).
	Stale bool `json:"stale,omitempty"`

	// cert is the parsed certificate of a value whose content type is a
	// certificate's (nil otherwise), shared by copies (see Certificate).
	cert *parsedCert
}

// info returns the credential's metadata.
func (c *Credential) info() SecretInfo {
	return SecretInfo{Vault: c.Vault, Secret: c.Secret, Version: c.Version, ContentType: c.ContentType, Tags: c.Tags,
		Enabled: c.Enabled, NotBefore: c.NotBefore, Expires: c.Expires, Created: c.Created, Updated: c.Updated, Managed: c.Managed}
}

// newCredential makes the default credential of a secret read from Key Vault.
func newCredential(info SecretInfo, id, value string) Credential {
	return Credential{
		Name: info.Vault + "/" + info.Secret, Vault: info.Vault, Secret: info.Secret, Username: info.Secret,
		Password: newPassword(value), Version: info.Version, ID: id, ContentType: info.ContentType, Tags: info.Tags,
		Enabled: info.Enabled, NotBefore: info.NotBefore, Expires: info.Expires, Created: info.Created, Updated: info.Updated,
		Managed: info.Managed, cert: newParsedCert(info.ContentType),
	}
}

// sameCredential reports whether two reads of a secret found nothing new.
func sameCredential(a, b Credential) bool {
	return a.Version == b.Version && a.Username == b.Username && a.Password.Reveal() == b.Password.Reveal() &&
		a.ContentType == b.ContentType && a.Enabled == b.Enabled &&
		a.NotBefore.Equal(b.NotBefore) && a.Expires.Equal(b.Expires) && a.Updated.Equal(b.Updated) &&
		maps.Equal(a.Tags, b.Tags)
}

// outsideValidity describes why a secret is outside its validity period at
// now ("" when it is within it).
func outsideValidity(notBefore, expires, now time.Time) string {
	switch {
	case !notBefore.IsZero() && now.Before(notBefore):
		return "not valid before " + notBefore.UTC().Format(time.RFC3339)
	case !expires.IsZero() && !now.Before(expires):
		return "expired at " + expires.UTC().Format(time.RFC3339)
	}
	return ""
}

// mapper is the mapping function of WithMapper: it turns a secret into a
// credential's username and password.
type mapper = func(info SecretInfo, value Password) (username, password string, err error)

// mapCredential applies the mapping function (or, without one, the default
// mapping of JSON values) to a credential read from Key Vault. A failure
// never quotes the value.
func mapCredential(m mapper, cred *Credential) *failure {
	if m == nil {
		return mapJSON(cred)
	}
	u, p, err := m(cred.info(), cred.Password)
	if err == nil {
		if p != cred.Password.Reveal() {
			cred.Password, cred.cert = newPassword(p), newParsedCert(cred.ContentType)
		}
		cred.Username = u
		return nil
	}
	var k Kind
	if !errors.As(err, &k) || k == kindUnknown || k == kindCanceled {
		k = kindMalformed
	}
	return fail(k, "the mapping function (WithMapper) refused the secret: "+err.Error(),
		mapperRemedy(k, cred.Vault), err)
}

func mapperRemedy(k Kind, vault string) string {
	if k == kindExpired {
		return fmt.Sprintf("set a new version with a later expiry date in vault %q, or extend the secret's expiry", vault)
	}
	return "store the value in the form the mapping function expects, or change the mapping function"
}

// credentialJSON is the shape of a JSON credential value.
type credentialJSON struct {
	Username *string `json:"username"`
	Password *string `json:"password"`
}

// mapJSON is the default mapping: a value whose content type is
// application/json (or ends in +json) and that is a JSON object with a
// string "password" field becomes the password (and its "username", when not
// empty, the username); other JSON is kept whole; a value that is not JSON
// at all is malformed.
func mapJSON(cred *Credential) *failure {
	if !isJSONContentType(cred.ContentType) {
		return nil
	}
	value := []byte(cred.Password.Reveal())
	var cj credentialJSON
	err := json.Unmarshal(value, &cj)
	var se *json.SyntaxError
	switch {
	case errors.As(err, &se):
		return fail(kindMalformed,
			fmt.Sprintf("the value is not valid JSON though its content type is %q (syntax error at byte %d)", cred.ContentType, se.Offset),
			`store the value as JSON, e.g. {"username": "...", "password": "..."}, or change the secret's content type`, nil)
	case err != nil && !json.Valid(value):
		return fail(kindMalformed, fmt.Sprintf("the value is not valid JSON though its content type is %q", cred.ContentType),
			`store the value as JSON, e.g. {"username": "...", "password": "..."}, or change the secret's content type`, nil)
	case err != nil || cj.Password == nil:
		return nil // JSON, but not a credential: the value stays whole
	}
	cred.Password, cred.cert = newPassword(*cj.Password), nil
	if cj.Username != nil && *cj.Username != "" {
		cred.Username = *cj.Username
	}
	return nil
}

// isJSONContentType reports whether a content type says JSON.
func isJSONContentType(ct string) bool {
	mt := mediaType(ct)
	return mt == "application/json" || strings.HasSuffix(mt, "+json")
}

// mediaType is a content type's media type, lower case, without parameters.
func mediaType(ct string) string {
	if !strings.ContainsRune(ct, ';') {
		return strings.ToLower(strings.TrimSpace(ct)) // no allocation when already lower case
	}
	if mt, _, err := mime.ParseMediaType(ct); err == nil {
		return mt
	}
	return strings.ToLower(strings.TrimSpace(ct))
}
