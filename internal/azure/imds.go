package azure

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"golang.org/x/sync/singleflight"
)

// DefaultIMDSEndpoint is Azure's instance metadata token endpoint.
const DefaultIMDSEndpoint = "http://169.254.169.254/metadata/identity/oauth2/token"

// The IMDS client's timings. Its worst case (imdsWorstCase: 4 tries of 10 s
// and backoffs of 0.5, 1 and 2 s, 43.5 s) fits well inside Key Vault's 60 s
// per-try timeout, in which the SDK asks for the token, and below the
// guarded credential's tokenTimeout (50 s).
const (
	imdsAPIVersion   = "2018-02-01"
	imdsAttempts     = 4
	imdsFirstBackoff = 500 * time.Millisecond
	imdsTryTimeout   = 10 * time.Second
	refreshMargin    = 5 * time.Minute
)

// imdsWorstCase is the longest a token request to an IMDS that never
// answers takes: every try's timeout and the backoffs between them.
func imdsWorstCase() time.Duration {
	d := time.Duration(imdsAttempts) * imdsTryTimeout
	for i, b := 1, imdsFirstBackoff; i < imdsAttempts; i, b = i+1, b*2 {
		d += b
	}
	return d
}

// imdsCredential gets managed-identity tokens from IMDS. Unlike azidentity's
// ManagedIdentityCredential it keeps its token cache in the credential, not in
// a package-global cache shared by every credential of the process, and it
// retries a bounded number of times instead of minutes.
type imdsCredential struct {
	hc       policy.Transporter // bounded: bodies over MaxBodySize fail
	endpoint string
	clientID string // "" for the system-assigned identity

	tryTimeout   time.Duration // per try; imdsTryTimeout
	firstBackoff time.Duration // imdsFirstBackoff, doubled after each try

	mu     sync.Mutex
	tokens map[string]azcore.AccessToken // by resource
	group  singleflight.Group
	now    func() time.Time
}

func newIMDSCredential(hc *http.Client, endpoint, clientID string) *imdsCredential {
	if endpoint == "" {
		endpoint = DefaultIMDSEndpoint
	}
	return &imdsCredential{
		hc: limitTransport(hc), endpoint: endpoint, clientID: clientID,
		tryTimeout: imdsTryTimeout, firstBackoff: imdsFirstBackoff,
		tokens: map[string]azcore.AccessToken{}, now: time.Now,
	}
}

// GetToken implements azcore.TokenCredential.
func (c *imdsCredential) GetToken(ctx context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, error) {
	if len(opts.Scopes) != 1 {
		return azcore.AccessToken{}, fmt.Errorf("managed identity needs exactly one scope, got %d", len(opts.Scopes))
	}
	resource := strings.TrimSuffix(opts.Scopes[0], "/.default")
	c.mu.Lock()
	tk, ok := c.tokens[resource]
	c.mu.Unlock()
	if ok && c.now().Before(refreshAt(tk)) {
		return tk, nil
	}
	for {
		// Concurrent callers share one request; it runs under the context of
		// the caller that started it.
		v, err, _ := c.group.Do(resource, func() (any, error) {
			tk, err := c.fetch(ctx, resource)
			if err != nil {
				return nil, err
			}
			c.mu.Lock()
			c.tokens[resource] = tk
			c.mu.Unlock()
			return tk, nil
		})
		if err == nil {
			return v.(azcore.AccessToken), nil
		}
		if ctx.Err() != nil {
			return azcore.AccessToken{}, ctx.Err()
		}
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			continue // the context of the caller that started it ended, not ours: try again
		}
		if ok && c.now().Before(tk.ExpiresOn) {
			return tk, nil // the refresh failed but the old token is still valid
		}
		return azcore.AccessToken{}, err
	}
}

// refreshAt is when a token should be replaced: five minutes before expiry,
// or at half its remaining life for short-lived tokens.
func refreshAt(tk azcore.AccessToken) time.Time {
	if !tk.RefreshOn.IsZero() {
		return tk.RefreshOn
	}
	return tk.ExpiresOn.Add(-refreshMargin)
}

// fetch gets a token in at most imdsAttempts tries. Only the end of ctx
// gives a context error; a try that times out is KindUnavailable.
func (c *imdsCredential) fetch(ctx context.Context, resource string) (azcore.AccessToken, error) {
	backoff := c.firstBackoff
	var last error
	for attempt := 1; attempt <= imdsAttempts; attempt++ {
		tk, retry, err := c.try(ctx, resource)
		if err == nil {
			return tk, nil
		}
		last = err
		if !retry || attempt == imdsAttempts {
			break
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return azcore.AccessToken{}, ctx.Err()
		case <-t.C:
		}
		backoff *= 2
	}
	return azcore.AccessToken{}, last
}

type imdsToken struct {
	AccessToken string      `json:"access_token"`
	ExpiresIn   json.Number `json:"expires_in"`
	ExpiresOn   json.Number `json:"expires_on"`
	RefreshIn   json.Number `json:"refresh_in"`
	TokenType   string      `json:"token_type"`
}

func (c *imdsCredential) who() string {
	if c.clientID == "" {
		return "the system-assigned managed identity"
	}
	return "the user-assigned managed identity with client ID " + c.clientID
}

// try makes one request; retry says whether another attempt may help.
func (c *imdsCredential) try(ctx context.Context, resource string) (azcore.AccessToken, bool, error) {
	status, body, retry, err := c.exchange(ctx, resource)
	if err != nil {
		return azcore.AccessToken{}, retry, err
	}
	if status != http.StatusOK {
		retry, err := c.statusError(status, body)
		return azcore.AccessToken{}, retry, err
	}
	tk, err := c.parseToken(body)
	return tk, false, err
}

// exchange sends one request under the per-try timeout and reads the
// answer's status and body.
func (c *imdsCredential) exchange(ctx context.Context, resource string) (int, []byte, bool, error) {
	q := url.Values{}
	q.Set("api-version", imdsAPIVersion)
	q.Set("resource", resource)
	if c.clientID != "" {
		q.Set("client_id", c.clientID)
	}
	tctx, cancel := context.WithTimeout(ctx, c.tryTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(tctx, http.MethodGet, c.endpoint+"?"+q.Encode(), nil)
	if err != nil {
		return 0, nil, false, err
	}
	req.Header.Set("Metadata", "true")
	res, err := c.hc.Do(req)
	if err != nil {
		retry, err := c.transportError(ctx, tctx, 0, err,
			"the managed identity endpoint (IMDS) is unreachable; is this program running on an Azure resource with a managed identity? ")
		return 0, nil, retry, err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		retry, err := c.transportError(ctx, tctx, res.StatusCode, err, "reading the managed identity endpoint's response: ")
		return 0, nil, retry, err
	}
	return res.StatusCode, body, false, nil
}

// transportError classifies a failed request or body read: the caller's
// context ended (its error, final), the try's timeout (KindUnavailable,
// retried), a body over the limit (KindMalformed, final) or a network
// failure (KindUnavailable, retried).
func (c *imdsCredential) transportError(ctx, tctx context.Context, status int, err error, prefix string) (bool, error) {
	switch {
	case ctx.Err() != nil:
		return false, ctx.Err()
	case tctx.Err() != nil:
		d := imdsTimeoutDetail(c.tryTimeout)
		return true, &Error{Kind: KindUnavailable, Op: "token", Status: status, Detail: d, Err: errTryTimeout}
	case isBodyTooLarge(err):
		return false, &Error{Kind: KindMalformed, Op: "token", Status: status, Code: "BodyTooLarge", Detail: bodyTooLargeDetail, Err: errBodyTooLarge}
	}
	return true, &Error{Kind: KindUnavailable, Op: "token", Status: status, Detail: prefix + firstLine(err.Error()), Err: err}
}

// imdsTimeoutDetail says that a try got no answer within d.
func imdsTimeoutDetail(d time.Duration) string {
	s := d.String()
	if d%time.Second == 0 {
		s = fmt.Sprintf("%d s", d/time.Second)
	}
	return "the managed identity endpoint did not answer within " + s
}

// statusError describes an IMDS error answer; retry says whether another
// attempt may help.
func (c *imdsCredential) statusError(status int, body []byte) (bool, error) {
	var eb entraBody
	_ = json.Unmarshal(body, &eb)
	e := &Error{Kind: KindUnauthenticated, Op: "token", Status: status, Code: eb.Error}
	desc := firstLine(eb.ErrorDescription)
	switch {
	case status == http.StatusBadRequest && c.clientID != "":
		e.Detail = fmt.Sprintf("%s isn't assigned to this Azure resource (IMDS: %s); assign it to the resource or fix the client ID", c.who(), desc)
	case status == http.StatusBadRequest:
		e.Detail = fmt.Sprintf("this Azure resource has no system-assigned managed identity (IMDS: %s); enable it on the resource", desc)
	case status == http.StatusTooManyRequests:
		e.Kind = KindThrottled
		e.Detail = "the managed identity endpoint is throttling token requests"
	default:
		e.Kind = KindUnavailable
		e.Detail = fmt.Sprintf("the managed identity endpoint answered HTTP %d %s", status, desc)
	}
	retry := status == http.StatusNotFound || status == http.StatusGone ||
		status == http.StatusTooManyRequests || status >= 500
	return retry, e
}

// parseToken reads IMDS's token answer. A token without a value or expiry,
// or one that had already expired when issued, is refused.
func (c *imdsCredential) parseToken(body []byte) (azcore.AccessToken, error) {
	refuse := func(code, detail string) (azcore.AccessToken, error) {
		return azcore.AccessToken{}, &Error{Kind: KindUnauthenticated, Op: "token", Status: http.StatusOK, Code: code, Detail: detail}
	}
	var t imdsToken
	if err := json.Unmarshal(body, &t); err != nil || t.AccessToken == "" {
		return refuse("", "the managed identity endpoint's response is not an IMDS token response; something else answers at its address")
	}
	now := c.now()
	exp, ok := imdsExpiry(t, now)
	if !ok {
		return refuse("", "the managed identity endpoint's token has no expiry (expires_on / expires_in)")
	}
	if !exp.After(now) {
		return refuse("ExpiredToken", fmt.Sprintf("the managed identity endpoint issued a token that had already expired (expiry %s): check this machine's clock",
			exp.Format(time.RFC3339)))
	}
	tk := azcore.AccessToken{Token: t.AccessToken, ExpiresOn: exp}
	if in, err := strconv.ParseInt(t.RefreshIn.String(), 10, 64); err == nil && in > 0 {
		tk.RefreshOn = now.Add(delay(in, time.Second)).UTC()
	}
	// A refresh_in beyond the expiry would serve the token after it expires.
	if life := tk.ExpiresOn.Sub(now); tk.RefreshOn.After(tk.ExpiresOn) || (tk.RefreshOn.IsZero() && life < 2*refreshMargin) {
		tk.RefreshOn = now.Add(life / 2).UTC()
	}
	return tk, nil
}

// imdsExpiry is the token's expiry: expires_on (Unix seconds), else now
// plus expires_in.
func imdsExpiry(t imdsToken, now time.Time) (time.Time, bool) {
	if on, err := strconv.ParseInt(t.ExpiresOn.String(), 10, 64); err == nil {
		return time.Unix(on, 0).UTC(), true
	}
	if in, err := strconv.ParseInt(t.ExpiresIn.String(), 10, 64); err == nil {
		if in <= 0 {
			return now.UTC(), true
		}
		return now.Add(delay(in, time.Second)).UTC(), true
	}
	return time.Time{}, false
}
