package azure

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// maxSecretNameLength is the longest secret name Key Vault allows.
const maxSecretNameLength = 127

// secretID is a parsed secret identifier,
// https://{host}/secrets/{name}[/{version}].
type secretID struct {
	name    string
	version string // "" when the id has none
}

// parseSecretID parses id as the identifier of a secret of the vault at
// host, without the SDK's helpers (which dereference nil on ids without a
// name). The host must be the vault's (any letter case, optionally with
// port 443), the name valid and the version, when present, 32 hex digits.
// The error says what is wrong in a few safe words; it quotes only host
// names and secret names, escaped.
func parseSecretID(id, host string) (secretID, error) {
	if strings.Contains(id, "%") {
		// Nothing in a secret id needs escaping; an escaped host or name
		// would be checked in a form other than the one sent.
		return secretID{}, fmt.Errorf("is not a plain URL (it has %%-escapes)")
	}
	u, err := url.Parse(id)
	if err != nil {
		return secretID{}, fmt.Errorf("is not a URL")
	}
	if err := checkIDURL(u, host); err != nil {
		return secretID{}, err
	}
	rest, ok := strings.CutPrefix(u.Path, "/secrets/")
	if !ok {
		return secretID{}, fmt.Errorf("is not under /secrets/")
	}
	name, version, versioned := strings.Cut(rest, "/")
	switch {
	case name == "":
		return secretID{}, fmt.Errorf("has no secret name")
	case !validSecretName(name):
		return secretID{}, fmt.Errorf("names an invalid secret name %s", quoteShort(name))
	case versioned && !validVersion(version):
		return secretID{}, fmt.Errorf("has a version that is not 32 hex digits")
	}
	return secretID{name: name, version: version}, nil
}

// checkIDURL checks everything of a secret id but its path: https, the
// vault's host, nothing else.
func checkIDURL(u *url.URL, host string) error {
	switch {
	case u.Scheme != "https" || u.Opaque != "" || u.Host == "":
		return fmt.Errorf("is not an https URL")
	case u.User != nil || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || u.RawFragment != "":
		return fmt.Errorf("has user info, a query or a fragment")
	case !sameHost(u, host):
		return fmt.Errorf("names the host %s, not the vault's %s", quoteShort(u.Host), host)
	}
	return nil
}

// sameHost reports whether u's host is host, in any letter case, with no
// port or port 443.
func sameHost(u *url.URL, host string) bool {
	p := u.Port()
	return strings.EqualFold(u.Hostname(), host) && (p == "" || p == "443") && !strings.HasSuffix(u.Host, ":")
}

// validSecretName reports whether name is a valid Key Vault secret name:
// 1 to 127 letters, digits and hyphens.
func validSecretName(name string) bool {
	if name == "" || len(name) > maxSecretNameLength {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !isAlnum(c) && c != '-' {
			return false
		}
	}
	return true
}

// validVersion reports whether v is a secret version: 32 hex digits.
func validVersion(v string) bool {
	if len(v) != 32 {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}

// quoteShort quotes s (escaping control characters and invalid UTF-8),
// cut so that the quoted form stays within 80 bytes: a piece of Azure's
// answer fit for a one-line message.
func quoteShort(s string) string {
	const max = 80
	q := strconv.Quote(s)
	if len(q) <= max {
		return q
	}
	n := min(len(s), max)
	for n > 0 && len(strconv.Quote(s[:n])) > max-3 {
		n--
	}
	return strconv.Quote(s[:n]) + "..."
}

// linkKey is the form of a nextLink by which repeats are recognised: the
// host in lower case without port 443, the path and query as sent.
func linkKey(link string) string {
	u, err := url.Parse(link)
	if err != nil {
		return link
	}
	host := strings.ToLower(u.Hostname())
	if p := u.Port(); p != "" && p != "443" {
		host += ":" + p
	}
	return strings.ToLower(u.Scheme) + "://" + host + u.EscapedPath() + "?" + u.RawQuery
}
