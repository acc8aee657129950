package azure

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	goruntime "runtime"
	"strings"
	"sync/atomic"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/tracing"
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
	// HTTPClient sends every request (nil: a default client). Its response
	// bodies are read up to MaxBodySize.
	HTTPClient    *http.Client
	MaxRetries    int           // transient failures (408, 5xx, connection errors); 429 is left to the caller
	RetryDelay    time.Duration // first backoff
	MaxRetryDelay time.Duration
	TryTimeout    time.Duration // per attempt; 0: none
	// Pacer, when set, paces every request to the vault and retries its
	// 429s (see Pacer); without one, a 429 is returned at once.
	Pacer Pacer
	// Tracing receives the SDK's spans: one per operation (a read, a list
	// page) and one per HTTP request. The zero Provider records none.
	Tracing tracing.Provider
	// Retrying, when set, is called as the attempt-th request of a call
	// made under CountAttempts is sent with a token, for attempt 2, 3, ...
	// (after a transient failure or a 429): the caller records retries.
	Retrying func(ctx context.Context, attempt int)
}

// MaxListPages caps the pages one listing follows: 100,000 pages of Key
// Vault's 25 items are 2.5 million secrets, far above any real vault. A
// listing that goes on fails with KindMalformed (a nextLink that never
// ends), as does one whose nextLink repeats a page already followed.
const MaxListPages = 100_000

// Vault reads secrets from one vault through one azsecrets client, so the
// authentication challenge and token are reused for the Client's life.
type Vault struct {
	client     *azsecrets.Client
	host       string
	tryTimeout time.Duration
}

// NewVault makes the client for vaultURL ("https://NAME.vault.azure.net/").
func NewVault(vaultURL string, cred azcore.TokenCredential, o VaultOptions) (*Vault, error) {
	u, err := url.Parse(vaultURL)
	if err != nil {
		return nil, err
	}
	host := u.Hostname()
	copts := azcore.ClientOptions{
		Retry:            vaultRetry(o),
		Telemetry:        policy.TelemetryOptions{ApplicationID: "akvcreds"},
		PerCallPolicies:  []policy.Policy{callPolicy{host: host, pacer: o.Pacer}},
		PerRetryPolicies: []policy.Policy{tryPolicy{host: host, retrying: o.Retrying}},
		Transport:        limitTransport(o.HTTPClient),
		TracingProvider:  o.Tracing,
	}
	c, err := azsecrets.NewClient(vaultURL, cred, &azsecrets.ClientOptions{ClientOptions: copts})
	if err != nil {
		return nil, err
	}
	return &Vault{client: c, host: host, tryTimeout: o.TryTimeout}, nil
}

// vaultRetry is azcore's retry configuration for o.
func vaultRetry(o VaultOptions) policy.RetryOptions {
	retries := o.MaxRetries
	if retries == 0 {
		retries = -1 // azcore: 0 means its default of 3; -1 means none
	}
	return policy.RetryOptions{
		MaxRetries:    int32(retries),
		RetryDelay:    o.RetryDelay,
		MaxRetryDelay: o.MaxRetryDelay,
		TryTimeout:    o.TryTimeout,
		// 429 is deliberately absent: the caller's per-vault limiter handles
		// throttling so every request to the vault slows down together.
		StatusCodes: []int{http.StatusRequestTimeout, http.StatusInternalServerError,
			http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout},
	}
}

// foreignHost refuses a request to a host other than the vault's own,
// before the authentication policy can attach a token: the SDK's pager
// follows a list's nextLink verbatim, to any host. nil when the request is
// for the vault.
func foreignHost(req *policy.Request, host string) error {
	u := req.Raw().URL
	port := u.Port()
	if u.Scheme == "https" && strings.EqualFold(u.Hostname(), host) && (port == "" || port == "443") {
		return nil
	}
	return &Error{
		Kind:   KindUnknown,
		Code:   "ForeignHost",
		Detail: fmt.Sprintf("refused a request to %s://%s: Key Vault sent a link outside the vault %s, which would expose the token", u.Scheme, u.Host, host),
	}
}

type attemptsKey struct{}

// CountAttempts returns a context under which every authenticated request a
// Vault sends (each retry included, the unauthenticated challenge request
// excluded) adds one to the returned counter (see tryPolicy).
func CountAttempts(ctx context.Context) (context.Context, *atomic.Int32) {
	n := new(atomic.Int32)
	return context.WithValue(ctx, attemptsKey{}, n), n
}

// nonRetriable marks an error as final for azcore's retry policy, which
// looks for a NonRetriable method.
type nonRetriable struct{ error }

func (nonRetriable) NonRetriable() {}

func (e nonRetriable) Unwrap() error { return e.error }

// Get reads a secret; version "" means the latest. The answer must be a
// secret bundle with a value whose id names this vault, the secret asked
// for (in any letter case) and a version (the one asked for, when pinned);
// anything else is a KindMalformed failure.
func (v *Vault) Get(ctx context.Context, name, version string) (Secret, error) {
	var raw *http.Response
	res, err := v.getSecret(policy.WithCaptureResponse(ctx, &raw), name, version)
	if err != nil {
		return Secret{}, v.callError(ctx, err, raw, "get")
	}
	return v.secret(res, raw, name, version)
}

// getSecret calls the SDK, turning a panic into an error.
func (v *Vault) getSecret(ctx context.Context, name, version string) (res azsecrets.GetSecretResponse, err error) {
	defer recoverPanic("get", &err)
	return v.client.GetSecret(ctx, name, version, nil)
}

// secret checks a GET's answer and converts it.
func (v *Vault) secret(res azsecrets.GetSecretResponse, raw *http.Response, name, version string) (Secret, error) {
	if res.ID == nil {
		return Secret{}, malformed("get", raw, "Key Vault's answer has no secret id")
	}
	id, err := parseSecretID(string(*res.ID), v.host)
	switch {
	case err != nil:
		return Secret{}, malformed("get", raw, "the secret id in Key Vault's answer "+err.Error())
	case !strings.EqualFold(id.name, name):
		return Secret{}, malformed("get", raw, fmt.Sprintf("Key Vault answered with the secret %s, not %s", quoteShort(id.name), quoteShort(name)))
	case id.version == "":
		return Secret{}, malformed("get", raw, "the secret id in Key Vault's answer has no version")
	case version != "" && !strings.EqualFold(id.version, version):
		return Secret{}, malformed("get", raw, "Key Vault answered with another version than the one asked for")
	case res.Value == nil:
		return Secret{}, malformed("get", raw, "Key Vault's answer has no value")
	}
	p := props(id, string(*res.ID), res.Attributes, res.ContentType, res.Tags, res.Managed)
	return Secret{SecretProps: p, Value: *res.Value}, nil
}

// callError classifies the failure of a Vault call made under ctx, whose
// last HTTP answer (if any) is raw. A context error while ctx is alive is a
// per-try timeout (of the request or of the token request inside it):
// KindUnavailable, never a cancellation. A 200 whose body the SDK could not
// decode is KindMalformed.
func (v *Vault) callError(ctx context.Context, err error, raw *http.Response, op string) *Error {
	c := *Classify(err, op) // a copy: the *Error may be shared
	e := &c
	if e.Op == "" {
		e.Op = op
	}
	switch {
	case e.Kind == KindCanceled && ctx.Err() == nil:
		e.Kind = KindUnavailable
		e.Err = errTryTimeout
		e.Detail = "Key Vault did not answer within the per-try timeout" + v.timeoutText()
		if e.Op == "token" {
			e.Detail = "getting a token for " + e.who + ": no token came within the Key Vault request's per-try timeout" + v.timeoutText()
		}
	case e.Kind == KindUnknown && raw != nil && raw.StatusCode == http.StatusOK:
		// The SDK's decoding error is not kept: it can quote the answer.
		e = malformed(op, raw, "Key Vault's answer is not the JSON expected")
	}
	return e
}

func (v *Vault) timeoutText() string {
	if v.tryTimeout <= 0 {
		return ""
	}
	return " (" + v.tryTimeout.String() + ")"
}

// errTryTimeout is the cause of a per-try timeout: not a context error, so
// that nothing takes it for the caller's cancellation.
var errTryTimeout = errors.New("the per-try timeout expired")

// malformed is a KindMalformed failure of op on the answer raw (nil when
// unknown). detail must not quote a secret value.
func malformed(op string, raw *http.Response, detail string) *Error {
	e := &Error{Kind: KindMalformed, Op: op, Detail: detail}
	if raw != nil {
		e.Status = raw.StatusCode
		e.RequestID = raw.Header.Get("x-ms-request-id")
	}
	e.Err = &causeError{msg: detail}
	return e
}

// recoverPanic, deferred in a function calling the SDK, turns a panic of
// that call into a KindMalformed *Error in *errp: the SDK panicked on
// something in Azure's answer, and the host process must not die of it.
func recoverPanic(op string, errp *error) {
	if r := recover(); r != nil {
		*errp = panicError(op, r)
	}
}

// panicError describes a recovered panic: a runtime error's text (safe:
// it names no data), else only the panic value's type.
func panicError(op string, r any) *Error {
	what := fmt.Sprintf("a %T", r)
	if re, ok := r.(goruntime.Error); ok {
		what = firstLine(re.Error())
	}
	d := "the Azure SDK panicked on Azure's answer (" + what + ")"
	if op == "token" {
		d = "the credential panicked (" + what + ")"
	}
	return &Error{Kind: KindMalformed, Op: op, Code: "Panic", Detail: d, Err: &causeError{msg: d}}
}

// Lister pages through a vault's secret properties. After a failed Next,
// More reports false and Next returns the same error: a listing that failed
// did not end, and its items must not be taken for the vault's content.
type Lister struct {
	pager    *runtime.Pager[azsecrets.ListSecretPropertiesResponse]
	vault    *Vault
	next     string              // the nextLink the pager follows next; "" before the first page
	followed map[string]struct{} // nextLinks followed, by linkKey
	seen     map[string]struct{} // names listed, in lower case
	pages    int
	maxPages int
	err      error
}

// Lister starts listing the vault's secrets (without values).
func (v *Vault) Lister() *Lister {
	return &Lister{
		pager:    v.client.NewListSecretPropertiesPager(nil),
		vault:    v,
		followed: map[string]struct{}{},
		seen:     map[string]struct{}{},
		maxPages: MaxListPages,
	}
}

// More reports whether another page remains.
func (l *Lister) More() bool { return l.err == nil && l.pager.More() }

// Next fetches the next page, in Azure's order. Pages after the first come
// from Azure's nextLink, which the vault client refuses to follow to any host
// but the vault's own. A name listed before (in any letter case, on any page)
// is left out. A page without a value array, an item whose id is not
// https://VAULT/secrets/NAME, a nextLink that repeats one already followed
// and a listing longer than MaxListPages are KindMalformed failures.
func (l *Lister) Next(ctx context.Context) ([]SecretProps, error) {
	if l.err != nil {
		return nil, l.err
	}
	if !l.pager.More() {
		return nil, nil
	}
	if err := l.admit(); err != nil {
		return l.fail(err)
	}
	var raw *http.Response
	res, err := l.nextPage(policy.WithCaptureResponse(ctx, &raw))
	if err != nil {
		return l.fail(l.vault.callError(ctx, err, raw, "list"))
	}
	items, err := l.items(res, raw)
	if err != nil {
		return l.fail(err)
	}
	l.next = ""
	if res.NextLink != nil {
		l.next = *res.NextLink
	}
	return items, nil
}

// fail ends the listing with err.
func (l *Lister) fail(err error) ([]SecretProps, error) {
	l.err = err
	return nil, err
}

// admit counts the page about to be fetched and refuses a repeated
// nextLink or one page too many.
func (l *Lister) admit() error {
	if l.pages >= l.maxPages {
		return malformed("list", nil, fmt.Sprintf("the listing did not end within %d pages: Key Vault keeps sending a nextLink", l.maxPages))
	}
	if l.next != "" {
		k := linkKey(l.next)
		if _, dup := l.followed[k]; dup {
			return malformed("list", nil, "Key Vault's nextLink repeats a page already listed (a paging loop)")
		}
		l.followed[k] = struct{}{}
	}
	l.pages++
	return nil
}

// nextPage calls the SDK, turning a panic into an error.
func (l *Lister) nextPage(ctx context.Context) (res azsecrets.ListSecretPropertiesResponse, err error) {
	defer recoverPanic("list", &err)
	return l.pager.NextPage(context.WithValue(ctx, listPageKey{}, true))
}

// items checks a page and returns its items not listed before.
func (l *Lister) items(res azsecrets.ListSecretPropertiesResponse, raw *http.Response) ([]SecretProps, error) {
	if res.Value == nil {
		return nil, malformed("list", raw, "Key Vault's list page has no value array")
	}
	page := make([]SecretProps, 0, len(res.Value))
	for i, it := range res.Value {
		if it == nil || it.ID == nil {
			return nil, malformed("list", raw, fmt.Sprintf("item %d of Key Vault's list page has no id", i+1))
		}
		id, err := parseSecretID(string(*it.ID), l.vault.host)
		if err == nil && id.version != "" {
			err = errors.New("has a version (a listed id has none)")
		}
		if err != nil {
			return nil, malformed("list", raw, fmt.Sprintf("the id of item %d of Key Vault's list page %s", i+1, err))
		}
		page = append(page, props(id, string(*it.ID), it.Attributes, it.ContentType, it.Tags, it.Managed))
	}
	items := page[:0]
	for _, p := range page {
		k := strings.ToLower(p.Name)
		if _, dup := l.seen[k]; !dup {
			l.seen[k] = struct{}{}
			items = append(items, p)
		}
	}
	return items, nil
}

// props converts the SDK's metadata of the secret whose parsed id is id.
func props(id secretID, rawID string, a *azsecrets.SecretAttributes, ct *string, tags map[string]*string, managed *bool) SecretProps {
	p := SecretProps{ID: rawID, Name: id.name, Version: id.version, Enabled: true, Tags: copyTags(tags)}
	if ct != nil {
		p.ContentType = *ct
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

// copyTags copies the SDK's tags; a null tag value is "".
func copyTags(tags map[string]*string) map[string]string {
	if len(tags) == 0 {
		return nil
	}
	out := make(map[string]string, len(tags))
	for k, v := range tags {
		out[k] = ""
		if v != nil {
			out[k] = *v
		}
	}
	return out
}

func deref(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}
