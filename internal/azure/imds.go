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

const (
	imdsAPIVersion   = "2018-02-01"
	imdsAttempts     = 4
	imdsFirstBackoff = 500 * time.Millisecond
	imdsTryTimeout   = 20 * time.Second
	refreshMargin    = 5 * time.Minute
)

// imdsCredential gets managed-identity tokens from IMDS. Unlike azidentity's
// ManagedIdentityCredential it keeps its token cache in the credential, not in
// a package-global cache shared by every credential of the process, and it
// retries a bounded number of times instead of minutes.
type imdsCredential struct {
	hc       *http.Client
	endpoint string
	clientID string // "" for the system-assigned identity

	mu     sync.Mutex
	tokens map[string]azcore.AccessToken // by resource
	group  singleflight.Group
	now    func() time.Time
}

func newIMDSCredential(hc *http.Client, endpoint, clientID string) *imdsCredential {
	if hc == nil {
		hc = http.DefaultClient
	}
	if endpoint == "" {
		endpoint = DefaultIMDSEndpoint
	}
	return &imdsCredential{hc: hc, endpoint: endpoint, clientID: clientID, tokens: map[string]azcore.AccessToken{}, now: time.Now}
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
			continue // another caller's context ended, not ours: try again
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

func (c *imdsCredential) fetch(ctx context.Context, resource string) (azcore.AccessToken, error) {
	backoff := imdsFirstBackoff
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
	q := url.Values{}
	q.Set("api-version", imdsAPIVersion)
	q.Set("resource", resource)
	if c.clientID != "" {
		q.Set("client_id", c.clientID)
	}
	ctx, cancel := context.WithTimeout(ctx, imdsTryTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.endpoint+"?"+q.Encode(), nil)
	if err != nil {
		return azcore.AccessToken{}, false, err
	}
	req.Header.Set("Metadata", "true")
	res, err := c.hc.Do(req)
	if err != nil {
		if ctx.Err() != nil && errors.Is(err, context.Canceled) {
			return azcore.AccessToken{}, false, err
		}
		return azcore.AccessToken{}, true, &Error{
			Kind:   KindUnavailable,
			Op:     "token",
			Detail: "the managed identity endpoint (IMDS) is unreachable; is this program running on an Azure resource with a managed identity? " + firstLine(err.Error()),
			Err:    err,
		}
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		return azcore.AccessToken{}, true, &Error{Kind: KindUnavailable, Op: "token", Status: res.StatusCode,
			Detail: "reading the managed identity endpoint's response: " + err.Error(), Err: err}
	}
	if res.StatusCode != http.StatusOK {
		var eb entraBody
		_ = json.Unmarshal(body, &eb)
		e := &Error{Kind: KindUnauthenticated, Op: "token", Status: res.StatusCode, Code: eb.Error}
		desc := firstLine(eb.ErrorDescription)
		switch {
		case res.StatusCode == http.StatusBadRequest && c.clientID != "":
			e.Detail = fmt.Sprintf("%s isn't assigned to this Azure resource (IMDS: %s); assign it to the resource or fix the client ID", c.who(), desc)
		case res.StatusCode == http.StatusBadRequest:
			e.Detail = fmt.Sprintf("this Azure resource has no system-assigned managed identity (IMDS: %s); enable it on the resource", desc)
		case res.StatusCode == http.StatusTooManyRequests:
			e.Kind = KindThrottled
			e.Detail = "the managed identity endpoint is throttling token requests"
		default:
			e.Kind = KindUnavailable
			e.Detail = fmt.Sprintf("the managed identity endpoint answered HTTP %d %s", res.StatusCode, desc)
		}
		retry := res.StatusCode == http.StatusNotFound || res.StatusCode == http.StatusGone ||
			res.StatusCode == http.StatusTooManyRequests || res.StatusCode >= 500
		return azcore.AccessToken{}, retry, e
	}
	var t imdsToken
	if err := json.Unmarshal(body, &t); err != nil || t.AccessToken == "" {
		return azcore.AccessToken{}, false, &Error{Kind: KindUnauthenticated, Op: "token", Status: res.StatusCode,
			Detail: "the managed identity endpoint's response is not an IMDS token response; something else answers at its address"}
	}
	now := c.now()
	tk := azcore.AccessToken{Token: t.AccessToken}
	if on, err := strconv.ParseInt(t.ExpiresOn.String(), 10, 64); err == nil && on > 0 {
		tk.ExpiresOn = time.Unix(on, 0).UTC()
	} else if in, err := strconv.ParseInt(t.ExpiresIn.String(), 10, 64); err == nil && in > 0 {
		tk.ExpiresOn = now.Add(delay(in, time.Second)).UTC()
	} else {
		return azcore.AccessToken{}, false, &Error{Kind: KindUnauthenticated, Op: "token", Status: res.StatusCode,
			Detail: "the managed identity endpoint's token has no expiry (expires_on / expires_in)"}
	}
	if in, err := strconv.ParseInt(t.RefreshIn.String(), 10, 64); err == nil && in > 0 {
		tk.RefreshOn = now.Add(delay(in, time.Second)).UTC()
	}
	// A refresh_in beyond the expiry would serve the token after it expires.
	if life := tk.ExpiresOn.Sub(now); tk.RefreshOn.After(tk.ExpiresOn) || (tk.RefreshOn.IsZero() && life < 2*refreshMargin) {
		tk.RefreshOn = now.Add(life / 2).UTC()
	}
	return tk, false, nil
}
