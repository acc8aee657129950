// Package ident validates and parses the names and identifiers akvcreds
// accepts from its callers: vault names and URLs, secret names, secret
// versions, tenant and client IDs, and "vault/secret[/version]" identifiers.
//
// Errors are plain errors whose message names the problem precisely and
// quotes the offending value with %q (names and IDs are not secret; very long
// values are shortened, and a value that looks like a client secret is never
// shown). Callers wrap them with their option name and their own sentinel.
// Nothing is silently normalised: surrounding spaces, percent-escapes and
// similar are errors, not things to trim. The one normalisation is the vault
// name, which is case-insensitive in DNS and returned in lower case.
package ident

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/akvcreds/akvcreds/internal/cloud"
)

// Limits from the Key Vault documentation.
const (
	vaultNameMin  = 3
	vaultNameMax  = 24
	secretNameMax = 127
	versionLen    = 32
	domainMax     = 253
	labelMax      = 63
)

// maxQuote is the longest value quoted whole in an error message.
const maxQuote = 256

// managedHSMSuffixes are the Managed HSM host suffixes of every cloud; such a
// host is not a Key Vault vault.
var managedHSMSuffixes = []string{".managedhsm.azure.net", ".managedhsm.azure.cn", ".managedhsm.usgovcloudapi.net"}

const guidExample = "00000000-0000-0000-0000-000000000000"

// VaultName reports whether s is a valid Key Vault name: 3 to 24 characters
// of ASCII letters, digits and hyphens, starting with a letter, ending with a
// letter or digit, with no consecutive hyphens. The error describes the first
// rule broken.
func VaultName(s string) error {
	if s == "" {
		return errors.New("vault name is empty: it must be 3 to 24 characters")
	}
	if p := spaceProblem(s); p != "" {
		return fmt.Errorf("vault name %s has %s: remove it", quote(s), p)
	}
	if pos, c, ok := firstInvalid(s, isNameByte); ok {
		return fmt.Errorf("vault name %s contains %q at position %d: only ASCII letters, digits and hyphens are allowed", quote(s), c, pos)
	}
	switch {
	case len(s) < vaultNameMin:
		return fmt.Errorf("vault name %s is too short: it must be 3 to 24 characters", quote(s))
	case len(s) > vaultNameMax:
		return fmt.Errorf("vault name %s is too long (%d characters): it must be 3 to 24 characters", quote(s), len(s))
	case !isLetter(s[0]):
		return fmt.Errorf("vault name %s starts with %q: it must start with a letter", quote(s), s[:1])
	case s[len(s)-1] == '-':
		return fmt.Errorf("vault name %s ends with a hyphen: it must end with a letter or digit", quote(s))
	}
	if i := strings.Index(s, "--"); i >= 0 {
		return fmt.Errorf("vault name %s contains consecutive hyphens (\"--\") at position %d: they are not allowed", quote(s), i+1)
	}
	return nil
}

// SecretName reports whether s is a valid Key Vault secret name: 1 to 127
// characters of ASCII letters, digits and hyphens.
func SecretName(s string) error {
	if s == "" {
		return errors.New("secret name is empty: it must be 1 to 127 characters")
	}
	if p := spaceProblem(s); p != "" {
		return fmt.Errorf("secret name %s has %s: remove it", quote(s), p)
	}
	if pos, c, ok := firstInvalid(s, isNameByte); ok {
		return fmt.Errorf("secret name %s contains %q at position %d: only ASCII letters, digits and hyphens are allowed", quote(s), c, pos)
	}
	if len(s) > secretNameMax {
		return fmt.Errorf("secret name %s is too long (%d characters): it must be 1 to 127 characters", quote(s), len(s))
	}
	return nil
}

// Version reports whether s is a valid secret version: exactly 32
// hexadecimal characters, upper or lower case.
func Version(s string) error {
	if s == "" {
		return errors.New("version is empty: it must be 32 hexadecimal characters")
	}
	if p := spaceProblem(s); p != "" {
		return fmt.Errorf("version %s has %s: remove it", quote(s), p)
	}
	if pos, c, ok := firstInvalid(s, isHex); ok {
		return fmt.Errorf("version %s contains %q at position %d: a version is 32 hexadecimal characters (0-9, a-f)", quote(s), c, pos)
	}
	if len(s) != versionLen {
		return fmt.Errorf("version %s is %d characters long: it must be exactly 32 hexadecimal characters", quote(s), len(s))
	}
	return nil
}

// ClientID reports whether s is a valid application (client) ID: a GUID in
// the 8-4-4-4-12 hexadecimal form, without braces.
func ClientID(s string) error {
	if s == "" {
		return errors.New("client ID is empty")
	}
	if looksLikeClientSecret(s) {
		return fmt.Errorf("client ID (%d characters, not shown) looks like a client secret: check that the client ID and the client secret are not swapped", len(s))
	}
	if p := spaceProblem(s); p != "" {
		return fmt.Errorf("client ID %s has %s: remove it", idQuote(s), p)
	}
	if p := guidProblem(s); p != "" {
		if !idShowable(s) {
			p = hiddenProblem(s, func(b byte) bool { return isHex(b) || b == '-' }, "a hexadecimal digit or a hyphen")
		}
		return fmt.Errorf("client ID %s is not a GUID: %s; application (client) IDs look like %q", idQuote(s), p, guidExample)
	}
	return nil
}

// TenantID reports whether s is a valid, specific Entra ID tenant: a GUID in
// the 8-4-4-4-12 form, or a domain name such as contoso.onmicrosoft.com
// (labels of ASCII letters, digits and hyphens separated by dots, at least
// one dot, at most 253 characters). The multi-tenant aliases "common",
// "organizations" and "consumers" are refused: client credentials need a
// specific tenant.
func TenantID(s string) error {
	if s == "" {
		return errors.New("tenant ID is empty: give the directory's tenant ID (a GUID) or a domain such as contoso.onmicrosoft.com")
	}
	if looksLikeClientSecret(s) {
		return fmt.Errorf("tenant ID (%d characters, not shown) looks like a client secret: check the order of tenant ID, client ID and client secret", len(s))
	}
	if p := spaceProblem(s); p != "" {
		return fmt.Errorf("tenant ID %s has %s: remove it", idQuote(s), p)
	}
	switch lower(s) {
	case "common", "organizations", "consumers":
		return fmt.Errorf("tenant ID %s is not a specific tenant: client credentials need the directory's own tenant ID (a GUID) or a domain such as contoso.onmicrosoft.com", quote(s))
	}
	if !strings.Contains(s, ".") && strings.Contains(s, "-") {
		if _, _, bad := firstInvalid(s, func(b byte) bool { return isHex(b) || b == '-' }); !bad {
			// Only hex digits and hyphens: meant as a GUID.
			if p := guidProblem(s); p != "" {
				return fmt.Errorf("tenant ID %s is not a GUID: %s; tenant IDs look like %q", idQuote(s), p, guidExample)
			}
			return nil
		}
	}
	if guidProblem(s) == "" {
		return nil
	}
	if p := domainProblem(s); p != "" {
		if !idShowable(s) {
			if p = hiddenProblem(s, func(b byte) bool { return isNameByte(b) || b == '.' }, "a letter, digit, hyphen or dot"); p == "" {
				p = "a domain name needs at least one dot"
			}
			p += " (a domain looks like contoso.onmicrosoft.com)"
		}
		return fmt.Errorf("tenant ID %s is neither a GUID nor a domain name: %s", idQuote(s), p)
	}
	return nil
}

// Vault parses a vault given as a name ("myvault") or as a URL
// ("https://myvault.vault.azure.net", with an optional trailing "/" and an
// optional ":443") for cloud c. It returns the vault name in lower case and
// the canonical URL "https://myvault.vault.azure.net/".
//
// A URL must use https, carry no user info, query or fragment, have an empty
// or "/" path, an empty or 443 port, and a host made of a valid vault name
// followed by c.VaultSuffix (compared without regard to case). Percent-escapes
// are refused.
func Vault(s string, c cloud.Cloud) (name, url string, err error) {
	if c.VaultSuffix == "" {
		return "", "", errors.New("no Azure cloud configured: the vault suffix is empty")
	}
	if s == "" {
		return "", "", fmt.Errorf("vault is empty: give a vault name such as \"myvault\" or a URL such as \"https://myvault%s/\"", c.VaultSuffix)
	}
	if p := spaceProblem(s); p != "" {
		return "", "", fmt.Errorf("vault %s has %s: remove it", quote(s), p)
	}
	switch {
	case strings.Contains(s, "://"):
		var path string
		name, path, err = parseVaultURL(s, c, "vault URL")
		if err != nil {
			return "", "", err
		}
		if path != "" && path != "/" {
			return "", "", fmt.Errorf("vault URL %s has a path (%q): a vault URL is only \"https://NAME%s/\"", displayURL(s), path, c.VaultSuffix)
		}
	case strings.ContainsAny(s, "./:"):
		return "", "", fmt.Errorf("vault %s is neither a vault name nor a URL: give the name (\"myvault\") or the full URL with https:// (\"https://myvault%s/\")", quote(s), c.VaultSuffix)
	default:
		if err := VaultName(s); err != nil {
			return "", "", err
		}
		name = s
	}
	name = lower(name)
	return name, "https://" + name + c.VaultSuffix + "/", nil
}

// Identifier names one secret, optionally at one version.
type Identifier struct {
	// Vault is the vault name in lower case.
	Vault string
	// Secret is the secret name as given.
	Secret string
	// Version is the secret version as given, or "" for the latest.
	Version string
}

// String returns "vault/secret", or "vault/secret/version" when a version
// is set.
func (id Identifier) String() string {
	if id.Version == "" {
		return id.Vault + "/" + id.Secret
	}
	return id.Vault + "/" + id.Secret + "/" + id.Version
}

// ParseIdentifier parses "vault/secret" or "vault/secret/version", or a full
// secret ID URL "https://vault.vault.azure.net/secrets/secret[/version]" (an
// optional trailing "/" and ":443" allowed) for cloud c. Each part is
// validated with VaultName, SecretName and Version, and the error says which
// part is wrong. The vault name is returned in lower case.
func ParseIdentifier(s string, c cloud.Cloud) (Identifier, error) {
	const forms = `"vault/secret" or "vault/secret/version"`
	if s == "" {
		return Identifier{}, errors.New("identifier is empty: expected " + forms)
	}
	if p := spaceProblem(s); p != "" {
		return Identifier{}, fmt.Errorf("identifier %s has %s: remove it", quote(s), p)
	}
	if strings.Contains(s, "://") {
		return parseSecretURL(s, c)
	}
	parts := strings.Split(s, "/")
	switch {
	case len(parts) == 1:
		return Identifier{}, fmt.Errorf("identifier %s has no \"/\": expected %s", quote(s), forms)
	case len(parts) > 3:
		return Identifier{}, fmt.Errorf("identifier %s has %d parts separated by \"/\": expected %s", quote(s), len(parts), forms)
	}
	if err := VaultName(parts[0]); err != nil {
		return Identifier{}, fmt.Errorf("identifier %s: %w", quote(s), err)
	}
	id := Identifier{Vault: lower(parts[0]), Secret: parts[1]}
	if err := SecretName(id.Secret); err != nil {
		return Identifier{}, fmt.Errorf("identifier %s: %w", quote(s), err)
	}
	if len(parts) == 3 {
		id.Version = parts[2]
		if err := Version(id.Version); err != nil {
			return Identifier{}, fmt.Errorf("identifier %s: %w", quote(s), err)
		}
	}
	return id, nil
}

// parseSecretURL parses a secret ID URL for ParseIdentifier.
func parseSecretURL(s string, c cloud.Cloud) (Identifier, error) {
	if c.VaultSuffix == "" {
		return Identifier{}, errors.New("no Azure cloud configured: the vault suffix is empty")
	}
	name, path, err := parseVaultURL(s, c, "secret ID")
	if err != nil {
		return Identifier{}, err
	}
	expected := "https://NAME" + c.VaultSuffix + "/secrets/SECRET[/VERSION]"
	rest, ok := strings.CutPrefix(path, "/secrets/")
	if !ok {
		if path == "" || path == "/" {
			return Identifier{}, fmt.Errorf("secret ID %s names no secret: expected %s", displayURL(s), expected)
		}
		return Identifier{}, fmt.Errorf("secret ID %s has path %q: expected %s", displayURL(s), path, expected)
	}
	rest = strings.TrimSuffix(rest, "/")
	parts := strings.Split(rest, "/")
	if len(parts) > 2 {
		return Identifier{}, fmt.Errorf("secret ID %s has path %q with too many segments: expected %s", displayURL(s), path, expected)
	}
	id := Identifier{Vault: lower(name), Secret: parts[0]}
	if err := SecretName(id.Secret); err != nil {
		return Identifier{}, fmt.Errorf("secret ID %s: %w", displayURL(s), err)
	}
	if len(parts) == 2 {
		id.Version = parts[1]
		if err := Version(id.Version); err != nil {
			return Identifier{}, fmt.Errorf("secret ID %s: %w", displayURL(s), err)
		}
	}
	return id, nil
}

// parseVaultURL checks everything about a vault or secret URL except its
// path, and returns the vault name (case as given) and the path. what names
// the value in messages ("vault URL", "secret ID").
func parseVaultURL(s string, c cloud.Cloud, what string) (name, path string, err error) {
	shown := displayURL(s)
	u, perr := url.Parse(s)
	if perr != nil {
		if strings.Contains(s, "%") {
			return "", "", fmt.Errorf("%s %s contains a percent-escape: write it without escapes", what, shown)
		}
		var ue *url.Error
		if errors.As(perr, &ue) {
			perr = ue.Err
		}
		return "", "", fmt.Errorf("%s %s is not a valid URL: %v", what, shown, perr)
	}
	if p := urlShapeProblem(u, s, c); p != "" {
		return "", "", fmt.Errorf("%s %s %s", what, shown, p)
	}
	name, err = vaultHostName(u, c)
	if err != nil {
		return "", "", fmt.Errorf("%s %s%w", what, shown, err)
	}
	return name, u.Path, nil
}

// urlShapeProblem describes what is wrong with a vault URL's scheme, user
// info, query, fragment, escapes and port ("" when nothing is).
func urlShapeProblem(u *url.URL, s string, c cloud.Cloud) string {
	switch {
	case u.Scheme == "http":
		return "uses http: Key Vault requires https"
	case u.Scheme != "https":
		return fmt.Sprintf("has scheme %q: Key Vault requires https", u.Scheme)
	case u.Opaque != "":
		return fmt.Sprintf("is not a valid URL: expected https://NAME%s/", c.VaultSuffix)
	case u.User != nil:
		return "contains user info (before \"@\"): remove it"
	case u.RawQuery != "" || u.ForceQuery:
		return "has a query (\"?...\"): remove it"
	case strings.Contains(s, "#"):
		return "has a fragment (\"#...\"): remove it"
	case strings.Contains(s, "%"):
		return "contains a percent-escape: write it without escapes"
	case strings.HasSuffix(u.Host, ":"):
		return "has an empty port after \":\": remove the \":\" (Key Vault uses port 443)"
	case u.Port() != "" && u.Port() != "443":
		return fmt.Sprintf("has port %s: Key Vault uses port 443 only", u.Port())
	case u.Hostname() == "":
		return fmt.Sprintf("has no host: expected https://NAME%s/", c.VaultSuffix)
	}
	if _, ipErr := netip.ParseAddr(u.Hostname()); ipErr == nil || strings.HasPrefix(u.Host, "[") {
		return fmt.Sprintf("has an IP address as host: use the vault's DNS name, NAME%s", c.VaultSuffix)
	}
	return ""
}

// vaultHostName returns the vault name of a URL's host, or what is wrong
// with the host (the error text starts with ": " or " ", to follow the URL).
func vaultHostName(u *url.URL, c cloud.Cloud) (string, error) {
	host := u.Hostname()
	lh := lower(host)
	switch {
	case strings.HasSuffix(lh, c.VaultSuffix):
		name := host[:len(host)-len(c.VaultSuffix)]
		if err := VaultName(name); err != nil {
			return "", fmt.Errorf(": %w", err)
		}
		return name, nil
	case strings.HasSuffix(lh, c.VaultSuffix+"."):
		return "", fmt.Errorf(": host %s ends with a dot: remove it", quote(host))
	}
	if other, ok := cloud.ForVaultHost(lh); ok {
		return "", fmt.Errorf(" belongs to %s, but the client is configured for %s", other.Name, c.Name)
	}
	for _, hsm := range managedHSMSuffixes {
		if strings.HasSuffix(lh, hsm) {
			return "", fmt.Errorf(" is a Managed HSM, not a Key Vault vault: akvcreds reads secrets from vaults named NAME%s", c.VaultSuffix)
		}
	}
	return "", fmt.Errorf(": host %s is not a Key Vault host of %s: expected NAME%s", quote(host), c.Name, c.VaultSuffix)
}

// displayURL quotes a URL for an error message with any user info replaced,
// since it may hold a password.
func displayURL(s string) string {
	if i := strings.Index(s, "://"); i >= 0 {
		start := i + len("://")
		end := len(s)
		if j := strings.IndexAny(s[start:], "/?#"); j >= 0 {
			end = start + j
		}
		if at := strings.LastIndexByte(s[start:end], '@'); at >= 0 {
			s = s[:start] + "REDACTED" + s[start+at:]
		}
	}
	return quote(s)
}

// idQuote quotes a client or tenant ID for an error message only when it
// is made of the characters IDs are made of (hex digits and hyphens, or a
// domain name with a dot); anything else may be a secret passed in the
// wrong position, so only its length is shown.
func idQuote(s string) string {
	if idShowable(s) {
		return quote(s)
	}
	return fmt.Sprintf("(%d characters, not shown as it may be a secret)", len(s))
}

func idShowable(s string) bool {
	_, _, notGUIDish := firstInvalid(s, func(b byte) bool { return isHex(b) || b == '-' })
	_, _, notDomainish := firstInvalid(s, func(b byte) bool { return isNameByte(b) || b == '.' })
	guidShaped := len(s) == len(guidExample) && !notDomainish
	for i := 0; guidShaped && i < len(s); i++ {
		guidShaped = (s[i] == '-') == (guidExample[i] == '-')
	}
	return !notGUIDish || guidShaped || (!notDomainish && strings.Contains(s, "."))
}

// hiddenProblem describes, for a value that is not shown, where it first
// breaks the rule, without showing the character.
func hiddenProblem(s string, ok func(byte) bool, rule string) string {
	if pos, _, bad := firstInvalid(s, ok); bad {
		return fmt.Sprintf("character %d is not %s", pos, rule)
	}
	return ""
}

// quote returns s quoted as by %q, shortened when longer than maxQuote bytes.
func quote(s string) string {
	if len(s) <= maxQuote {
		return strconv.Quote(s)
	}
	cut := maxQuote / 2
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%q... (%d bytes)", s[:cut], len(s))
}

// spaceProblem describes leading or trailing white space in s, or returns "".
func spaceProblem(s string) string {
	if r, _ := utf8.DecodeRuneInString(s); unicode.IsSpace(r) {
		return "a leading " + spaceWord(r)
	}
	if r, _ := utf8.DecodeLastRuneInString(s); unicode.IsSpace(r) {
		return "a trailing " + spaceWord(r)
	}
	return ""
}

func spaceWord(r rune) string {
	if r == ' ' {
		return "space"
	}
	return fmt.Sprintf("white space character (%q)", string(r))
}

// firstInvalid finds the first character of s for which ok is false (every
// non-ASCII character and every invalid UTF-8 byte is invalid) and returns
// its 1-based character position and the character itself.
func firstInvalid(s string, ok func(byte) bool) (pos int, char string, found bool) {
	n := 0
	for i, r := range s {
		n++
		if r < utf8.RuneSelf && ok(byte(r)) {
			continue
		}
		_, size := utf8.DecodeRuneInString(s[i:])
		return n, s[i : i+size], true
	}
	return 0, "", false
}

// guidProblem describes why s is not a GUID in the 8-4-4-4-12 form, or
// returns "".
func guidProblem(s string) string {
	if pos, c, bad := firstInvalid(s, func(b byte) bool { return isHex(b) || b == '-' }); bad {
		return fmt.Sprintf("it contains %q at position %d", c, pos)
	}
	if len(s) != len(guidExample) {
		return fmt.Sprintf("it is %d characters long, a GUID is 36", len(s))
	}
	for i := 0; i < len(s); i++ {
		if (s[i] == '-') != (guidExample[i] == '-') {
			return "its hyphens are misplaced (expected groups of 8-4-4-4-12 hexadecimal digits)"
		}
	}
	return ""
}

// domainProblem describes why s is not a domain name as TenantID accepts it,
// or returns "".
func domainProblem(s string) string {
	const example = "a domain looks like contoso.onmicrosoft.com"
	if pos, c, bad := firstInvalid(s, func(b byte) bool { return isNameByte(b) || b == '.' }); bad {
		return fmt.Sprintf("it contains %q at position %d (%s)", c, pos, example)
	}
	if len(s) > domainMax {
		return fmt.Sprintf("it is %d characters long, a domain name is at most %d", len(s), domainMax)
	}
	if !strings.Contains(s, ".") {
		return "a domain name needs at least one dot (" + example + ")"
	}
	labels := strings.Split(s, ".")
	for _, l := range labels {
		switch {
		case l == "":
			return "it has an empty label (a leading, trailing or doubled dot)"
		case len(l) > labelMax:
			return fmt.Sprintf("its label %q is longer than %d characters", l, labelMax)
		case l[0] == '-' || l[len(l)-1] == '-':
			return fmt.Sprintf("its label %q starts or ends with a hyphen", l)
		}
	}
	if _, _, bad := firstInvalid(labels[len(labels)-1], isDigit); !bad {
		return "it ends in a numeric label, like an IP address (" + example + ")"
	}
	return ""
}

// looksLikeClientSecret reports whether s resembles an Entra ID client secret
// (which contains "~", or for older secrets base64 "+" and "=") rather than an
// ID, so that an error message does not show it.
func looksLikeClientSecret(s string) bool {
	return strings.Contains(s, "~") || (len(s) >= 30 && strings.ContainsAny(s, "+="))
}

func isLetter(b byte) bool   { return 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' }
func isDigit(b byte) bool    { return '0' <= b && b <= '9' }
func isNameByte(b byte) bool { return isLetter(b) || isDigit(b) || b == '-' }
func isHex(b byte) bool      { return isDigit(b) || 'a' <= b && b <= 'f' || 'A' <= b && b <= 'F' }

// lower lower-cases ASCII letters only; Unicode case folding must never turn
// a foreign character into an accepted one.
func lower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
