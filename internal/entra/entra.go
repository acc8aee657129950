// Package entra validates the Microsoft Entra ID access tokens that Azure
// Event Grid puts in the Authorization header of a Microsoft
// Entra-protected webhook delivery: RS256 signatures checked against the
// tenant's published signing keys (found through its OpenID configuration,
// fetched through the caller's *http.Client and cached), the issuer (v1.0
// and v2.0 forms), the audience, the expiry and not-before times with a
// small skew, and the app role Event Grid's service principal holds on the
// webhook's application.
//
// Errors never quote the token or any part of it.
package entra

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

const (
	// MaxToken is the largest bearer token accepted, in bytes. Entra's
	// access tokens are a few kilobytes.
	MaxToken = 16 << 10
	// Skew is how far the token's exp and nbf may be off the local clock.
	Skew = 2 * time.Minute
	// RefreshEvery is how often, at most, an unknown key ID makes the
	// validator fetch the tenant's keys again.
	RefreshEvery = 5 * time.Minute
	// KeysTTL is how long fetched keys are used before they are fetched
	// again (Entra rolls its keys over days, announcing new ones early).
	KeysTTL = 24 * time.Hour
	// Role is the app role Event Grid's service principal is assigned on
	// the webhook's application (Microsoft's setup script creates it).
	Role = "AzureEventGridSecureWebhookSubscriber"
	// maxDocument bounds the OpenID configuration and key set documents.
	maxDocument = 1 << 20
)

// ErrInvalid is wrapped by every rejection of a token.
var ErrInvalid = errors.New("invalid token")

// ErrKeys is wrapped when the tenant's keys cannot be fetched.
var ErrKeys = errors.New("signing keys unavailable")

// Config configures a Validator.
type Config struct {
	HTTPClient *http.Client
	// LoginHost is the cloud's Entra ID authority host with its trailing
	// slash ("https://login.microsoftonline.com/").
	LoginHost string
	// STSHost is the cloud's v1.0 issuer host with its trailing slash
	// ("https://sts.windows.net/").
	STSHost string
	// TenantID is the tenant's ID (a GUID).
	TenantID string
	// Audience is the accepted aud: the application ID URI or client ID.
	Audience string
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// Validator checks tokens. It is safe for concurrent use.
type Validator struct {
	cfg     Config
	issuers [2]string

	mu       sync.Mutex
	keys     map[string]*rsa.PublicKey
	fetched  time.Time // when keys were fetched (zero: never)
	tried    time.Time // when a fetch was last tried
	fetching chan struct{}
}

// New returns a Validator for cfg, which the caller has checked.
func New(cfg Config) *Validator {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	tid := strings.ToLower(cfg.TenantID)
	return &Validator{cfg: cfg, issuers: [2]string{
		cfg.STSHost + tid + "/",
		cfg.LoginHost + tid + "/v2.0",
	}}
}

// CheckTenantID reports a problem with a tenant ID for token validation:
// the issuer of a token carries the tenant's GUID, never a domain name.
func CheckTenantID(s string) error {
	if len(s) != 36 {
		return errors.New("the tenant ID must be the tenant's GUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx), which token issuers carry; a domain name cannot be checked")
	}
	for i := 0; i < len(s); i++ {
		if !guidByte(i, s[i]) {
			return errors.New("the tenant ID is not a GUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)")
		}
	}
	return nil
}

// guidByte reports whether c may stand at position i of a GUID.
func guidByte(i int, c byte) bool {
	if i == 8 || i == 13 || i == 18 || i == 23 {
		return c == '-'
	}
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// header is a JWT's JOSE header.
type header struct {
	Alg string `json:"alg"`
	Kid string `json:"kid"`
	Typ string `json:"typ"`
}

// claims are the claims checked.
type claims struct {
	Iss   string          `json:"iss"`
	Aud   json.RawMessage `json:"aud"`
	Exp   *json.Number    `json:"exp"`
	Nbf   *json.Number    `json:"nbf"`
	Tid   string          `json:"tid"`
	Roles []string        `json:"roles"`
}

// Validate checks a bearer token (without the "Bearer " prefix).
func (v *Validator) Validate(ctx context.Context, token string) error {
	if len(token) > MaxToken {
		return fmt.Errorf("%w: longer than %d bytes", ErrInvalid, MaxToken)
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return fmt.Errorf("%w: not a signed JWT (three base64url parts)", ErrInvalid)
	}
	var h header
	if err := decodePart(parts[0], &h); err != nil {
		return fmt.Errorf("%w: header: %v", ErrInvalid, err)
	}
	if h.Alg != "RS256" {
		return fmt.Errorf("%w: algorithm %q is not RS256", ErrInvalid, printable(h.Alg))
	}
	if h.Kid == "" {
		return fmt.Errorf("%w: no key ID (kid)", ErrInvalid)
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return fmt.Errorf("%w: signature is not base64url", ErrInvalid)
	}
	key, err := v.key(ctx, h.Kid)
	if err != nil {
		return err
	}
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if rsa.VerifyPKCS1v15(key, crypto.SHA256, digest[:], sig) != nil {
		return fmt.Errorf("%w: the signature does not verify with the tenant's key %q", ErrInvalid, printable(h.Kid))
	}
	var c claims
	if err := decodePart(parts[1], &c); err != nil {
		return fmt.Errorf("%w: claims: %v", ErrInvalid, err)
	}
	return v.checkClaims(c)
}

// checkClaims checks the issuer, audience, times and role.
func (v *Validator) checkClaims(c claims) error {
	if c.Iss != v.issuers[0] && c.Iss != v.issuers[1] {
		return fmt.Errorf("%w: issuer %q is not the tenant's (%s or %s)", ErrInvalid, printable(c.Iss), v.issuers[0], v.issuers[1])
	}
	if !audienceMatches(c.Aud, v.cfg.Audience) {
		return fmt.Errorf("%w: audience is not %q", ErrInvalid, v.cfg.Audience)
	}
	now := v.cfg.Now()
	exp, ok := unix(c.Exp)
	switch {
	case !ok:
		return fmt.Errorf("%w: no expiry (exp)", ErrInvalid)
	case !now.Before(exp.Add(Skew)):
		return fmt.Errorf("%w: expired at %s", ErrInvalid, exp.UTC().Format(time.RFC3339))
	}
	if nbf, ok := unix(c.Nbf); ok && now.Add(Skew).Before(nbf) {
		return fmt.Errorf("%w: not valid before %s", ErrInvalid, nbf.UTC().Format(time.RFC3339))
	}
	for _, r := range c.Roles {
		if r == Role {
			return nil
		}
	}
	return fmt.Errorf("%w: the roles claim lacks %s (assign Event Grid's service principal that app role of the webhook's application)", ErrInvalid, Role)
}

// audienceMatches reports whether aud (a string or an array of strings)
// holds want.
func audienceMatches(aud json.RawMessage, want string) bool {
	var one string
	if json.Unmarshal(aud, &one) == nil {
		return one != "" && one == want
	}
	var many []string
	if json.Unmarshal(aud, &many) != nil {
		return false
	}
	for _, a := range many {
		if a != "" && a == want {
			return true
		}
	}
	return false
}

// unix turns a NumericDate into a time.
func unix(n *json.Number) (time.Time, bool) {
	if n == nil {
		return time.Time{}, false
	}
	f, err := n.Float64()
	if err != nil || f < 0 || f > 1e11 {
		return time.Time{}, false
	}
	return time.Unix(int64(f), 0), true
}

// decodePart decodes one base64url JSON part of a JWT.
func decodePart(s string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return errors.New("not base64url")
	}
	d := json.NewDecoder(strings.NewReader(string(b)))
	d.UseNumber()
	if err := d.Decode(v); err != nil {
		return errors.New("not a JSON object")
	}
	return nil
}

// printable bounds and cleans a token field for an error message (a
// header or claim, never the signature or the whole token).
func printable(s string) string {
	if len(s) > 64 {
		s = s[:64] + "..."
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, s)
}

// key returns the tenant's key kid, fetching the keys when none are held,
// when they are older than KeysTTL, or when kid is unknown and the last
// fetch was tried more than RefreshEvery ago.
func (v *Validator) key(ctx context.Context, kid string) (*rsa.PublicKey, error) {
	for {
		v.mu.Lock()
		k, wait, err := v.lookup(kid)
		if k != nil || err != nil {
			v.mu.Unlock()
			return k, err
		}
		if wait != nil {
			v.mu.Unlock()
			select {
			case <-wait:
				continue
			case <-ctx.Done():
				return nil, fmt.Errorf("%w: %w", ErrKeys, ctx.Err())
			}
		}
		now := v.cfg.Now()
		done := make(chan struct{})
		v.fetching, v.tried = done, now
		v.mu.Unlock()
		keys, ferr := v.fetch(ctx)
		v.mu.Lock()
		if ferr == nil {
			v.keys, v.fetched = keys, now
		}
		v.fetching = nil
		close(done)
		held := v.keys[kid]
		v.mu.Unlock()
		if ferr != nil && held == nil {
			return nil, ferr
		}
	}
}

// lookup decides, under v.mu, what key returns: a key, an error, a fetch
// to wait for, or (all nil) a fetch to start.
func (v *Validator) lookup(kid string) (*rsa.PublicKey, chan struct{}, error) {
	k := v.keys[kid]
	now := v.cfg.Now()
	stale := v.fetched.IsZero() || now.Sub(v.fetched) >= KeysTTL
	may := v.tried.IsZero() || now.Sub(v.tried) >= RefreshEvery || now.Before(v.tried)
	switch {
	case k != nil && (!stale || !may):
		return k, nil, nil // fresh, or stale but fetched again too recently
	case !may:
		return nil, nil, fmt.Errorf("%w: key ID %q is not among the tenant's keys", ErrInvalid, printable(kid))
	case v.fetching != nil:
		return nil, v.fetching, nil
	}
	return nil, nil, nil
}

// fetch reads the tenant's OpenID configuration and then its key set.
func (v *Validator) fetch(ctx context.Context) (map[string]*rsa.PublicKey, error) {
	var oc struct {
		JWKSURI string `json:"jwks_uri"`
	}
	if err := v.get(ctx, v.cfg.LoginHost+url.PathEscape(v.cfg.TenantID)+"/v2.0/.well-known/openid-configuration", &oc); err != nil {
		return nil, err
	}
	u, err := url.Parse(oc.JWKSURI)
	login, _ := url.Parse(v.cfg.LoginHost)
	if err != nil || u.Scheme != "https" || !strings.EqualFold(u.Host, login.Host) || u.User != nil {
		return nil, fmt.Errorf("%w: the OpenID configuration's jwks_uri is not on %s", ErrKeys, login.Host)
	}
	var set struct {
		Keys []jwk `json:"keys"`
	}
	if err := v.get(ctx, u.String(), &set); err != nil {
		return nil, err
	}
	keys := map[string]*rsa.PublicKey{}
	for _, k := range set.Keys {
		if pk := k.public(); pk != nil && k.Kid != "" {
			keys[k.Kid] = pk
		}
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%w: the tenant's key set holds no RSA signing key", ErrKeys)
	}
	return keys, nil
}

// jwk is a JSON Web Key of the key set.
type jwk struct {
	Kty string `json:"kty"`
	Use string `json:"use"`
	Kid string `json:"kid"`
	N   string `json:"n"`
	E   string `json:"e"`
}

// public returns the RSA public key, or nil for another kind of key or a
// malformed one.
func (k jwk) public() *rsa.PublicKey {
	if k.Kty != "RSA" || k.Use != "" && k.Use != "sig" {
		return nil
	}
	n, err1 := base64.RawURLEncoding.DecodeString(k.N)
	e, err2 := base64.RawURLEncoding.DecodeString(k.E)
	if err1 != nil || err2 != nil || len(n) < 256 || len(n) > 1024 || len(e) == 0 || len(e) > 4 {
		return nil // under 2048 or over 8192 bits, or a silly exponent
	}
	ev := int(new(big.Int).SetBytes(e).Int64())
	if ev < 3 || ev%2 == 0 {
		return nil
	}
	return &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: ev}
}

// get fetches a JSON document, bounded in size.
func (v *Validator) get(ctx context.Context, u string, dst any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrKeys, err)
	}
	req.Header.Set("Accept", "application/json")
	res, err := v.cfg.HTTPClient.Do(req)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrKeys, err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("%w: GET %s answered %s", ErrKeys, req.URL.Redacted(), res.Status)
	}
	body, err := io.ReadAll(io.LimitReader(res.Body, maxDocument+1))
	switch {
	case err != nil:
		return fmt.Errorf("%w: reading %s: %w", ErrKeys, req.URL.Redacted(), err)
	case len(body) > maxDocument:
		return fmt.Errorf("%w: %s is larger than %d bytes", ErrKeys, req.URL.Redacted(), maxDocument)
	}
	if err := json.Unmarshal(body, dst); err != nil {
		return fmt.Errorf("%w: %s is not the JSON expected", ErrKeys, req.URL.Redacted())
	}
	return nil
}
