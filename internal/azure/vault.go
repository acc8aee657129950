package azure

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"
)

// SecretProps is a secret's metadata, as listed or as returned with its value.
type SecretProps struct {
	ID          string // https://NAME.vault.azure.net/secrets/NAME[/VERSION]
	Name        string
	Version     string // "" in list results
	ContentType string
	Tags        map[string]string
	Enabled     bool
	NotBefore   time.Time
	Expires     time.Time
	Created     time.Time
	Updated     time.Time
	Managed     bool // backs a Key Vault certificate
}

// Secret is a secret's value with its metadata.
type Secret struct {
	SecretProps
	Value string
}

// VaultOptions configures a Vault's HTTP pipeline.
type VaultOptions struct {
	HTTPClient    *http.Client
	MaxRetries    int           // transient failures (408, 5xx, connection errors); 429 is left to the caller
	RetryDelay    time.Duration // first backoff
	MaxRetryDelay time.Duration
	TryTimeout    time.Duration // per attempt
}

// Vault reads secrets from one vault through one azsecrets client, so the
// authentication challenge and token are reused for the Client's life.
type Vault struct {
	client *azsecrets.Client
	host   string
}

// NewVault makes the client for vaultURL ("https://NAME.vault.azure.net/").
func NewVault(vaultURL string, cred azcore.TokenCredential, o VaultOptions) (*Vault, error) {
	u, err := url.Parse(vaultURL)
	if err != nil {
		return nil, err
	}
	retries := o.MaxRetries
	if retries == 0 {
		retries = -1 // azcore: 0 means its default of 3; -1 means none
	}
	copts := azcore.ClientOptions{
		Retry: policy.RetryOptions{
			MaxRetries:    int32(retries),
			RetryDelay:    o.RetryDelay,
			MaxRetryDelay: o.MaxRetryDelay,
			TryTimeout:    o.TryTimeout,
			// 429 is deliberately absent: the caller's per-vault limiter handles
			// throttling so every request to the vault slows down together.
			StatusCodes: []int{http.StatusRequestTimeout, http.StatusInternalServerError,
				http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout},
		},
		Telemetry:        policy.TelemetryOptions{ApplicationID: "akvcreds"},
		PerCallPolicies:  []policy.Policy{hostGuard{host: u.Hostname()}},
		PerRetryPolicies: []policy.Policy{failFastOnUnknownHost{}, countAttempts{}},
	}
	if o.HTTPClient != nil {
		copts.Transport = o.HTTPClient
	}
	c, err := azsecrets.NewClient(vaultURL, cred, &azsecrets.ClientOptions{ClientOptions: copts})
	if err != nil {
		return nil, err
	}
	return &Vault{client: c, host: u.Hostname()}, nil
}

// hostGuard refuses any request to a host other than the vault's own, before
// the authentication policy can attach a token. The SDK's pager follows a
// list's nextLink verbatim, to any host.
type hostGuard struct{ host string }

// Do implements policy.Policy.
func (g hostGuard) Do(req *policy.Request) (*http.Response, error) {
	u := req.Raw().URL
	port := u.Port()
	if u.Scheme != "https" || !strings.EqualFold(u.Hostname(), g.host) || (port != "" && port != "443") {
		return nil, &Error{
			Kind:   KindUnknown,
			Code:   "ForeignHost",
			Detail: fmt.Sprintf("refused a request to %s://%s: Key Vault sent a link outside the vault %s, which would expose the token", u.Scheme, u.Host, g.host),
		}
	}
	return req.Next()
}

type attemptsKey struct{}

// CountAttempts returns a context under which every authenticated request a
// Vault sends (each retry included, the unauthenticated challenge request
// excluded) adds one to the returned counter.
func CountAttempts(ctx context.Context) (context.Context, *atomic.Int32) {
	n := new(atomic.Int32)
	return context.WithValue(ctx, attemptsKey{}, n), n
}

// countAttempts is the per-retry policy behind CountAttempts; it runs after
// the authentication policy, so it sees whether a token is attached.
type countAttempts struct{}

// Do implements policy.Policy.
func (countAttempts) Do(req *policy.Request) (*http.Response, error) {
	if n, ok := req.Raw().Context().Value(attemptsKey{}).(*atomic.Int32); ok && req.Raw().Header.Get("Authorization") != "" {
		n.Add(1)
	}
	return req.Next()
}

// failFastOnUnknownHost stops azcore from retrying a vault host that does
// not resolve: no such vault exists (or its private DNS zone is missing), and
// retrying only delays the report by seconds per request.
type failFastOnUnknownHost struct{}

// Do implements policy.Policy.
func (failFastOnUnknownHost) Do(req *policy.Request) (*http.Response, error) {
	res, err := req.Next()
	if err != nil && isDNSNotFound(err) {
		return nil, nonRetriable{err}
	}
	return res, err
}

// nonRetriable marks an error as final for azcore's retry policy, which
// looks for a NonRetriable method.
type nonRetriable struct{ error }

func (nonRetriable) NonRetriable() {}

func (e nonRetriable) Unwrap() error { return e.error }

// Get reads a secret; version "" means the latest.
func (v *Vault) Get(ctx context.Context, name, version string) (Secret, error) {
	res, err := v.client.GetSecret(ctx, name, version, nil)
	if err != nil {
		return Secret{}, Classify(err, "get")
	}
	s := Secret{SecretProps: props(res.ID, res.Attributes, res.ContentType, res.Tags, res.Managed)}
	if res.Value != nil {
		s.Value = *res.Value
	}
	if s.Name == "" {
		s.Name = name
	}
	return s, nil
}

// Lister pages through a vault's secret properties. After a failed Next,
// calling Next again retries the same page.
type Lister struct {
	pager *runtime.Pager[azsecrets.ListSecretPropertiesResponse]
}

// Lister starts listing the vault's secrets (without values).
func (v *Vault) Lister() *Lister {
	return &Lister{pager: v.client.NewListSecretPropertiesPager(nil)}
}

// More reports whether another page remains.
func (l *Lister) More() bool { return l.pager.More() }

// Next fetches the next page, in Azure's order. Pages after the first come
// from Azure's nextLink, which the vault client refuses to follow to any host
// but the vault's own.
func (l *Lister) Next(ctx context.Context) ([]SecretProps, error) {
	res, err := l.pager.NextPage(ctx)
	if err != nil {
		return nil, Classify(err, "list")
	}
	items := make([]SecretProps, 0, len(res.Value))
	for _, it := range res.Value {
		if it == nil {
			continue
		}
		items = append(items, props(it.ID, it.Attributes, it.ContentType, it.Tags, it.Managed))
	}
	return items, nil
}

func props(id *azsecrets.ID, a *azsecrets.SecretAttributes, ct *string, tags map[string]*string, managed *bool) SecretProps {
	p := SecretProps{Enabled: true}
	if id != nil {
		p.ID = string(*id)
		p.Name = id.Name()
		p.Version = id.Version()
	}
	if ct != nil {
		p.ContentType = *ct
	}
	if len(tags) > 0 {
		p.Tags = make(map[string]string, len(tags))
		for k, v := range tags {
			if v != nil {
				p.Tags[k] = *v
			} else {
				p.Tags[k] = ""
			}
		}
	}
	if managed != nil {
		p.Managed = *managed
	}
	if a != nil {
		if a.Enabled != nil {
			p.Enabled = *a.Enabled
		}
		p.NotBefore = deref(a.NotBefore)
		p.Expires = deref(a.Expires)
		p.Created = deref(a.Created)
		p.Updated = deref(a.Updated)
	}
	return p
}

func deref(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}
