package akvcreds

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/akvcreds/akvcreds/internal/azure"
	"github.com/akvcreds/akvcreds/internal/cache"
	"github.com/akvcreds/akvcreds/internal/cloud"
	"github.com/akvcreds/akvcreds/internal/ident"
)

// Defaults and limits of the options.
const (
	// DefaultConcurrency is the default ceiling on Key Vault requests in
	// flight per Client, across all vaults and calls.
	DefaultConcurrency = 32
	// MaxConcurrency is the largest value WithConcurrency accepts.
	MaxConcurrency = 1024
	// DefaultMaxRetries is how often a transient failure (408, 5xx, a dropped
	// connection) is retried per request. Throttling (429) is retried
	// separately, see WithThrottleRetries.
	DefaultMaxRetries = 3
	// DefaultThrottleRetries is how many 429 answers one request may get
	// before its secret is reported as ErrThrottled.
	DefaultThrottleRetries = 8
)

// Option configures a Client. Options are created by the With* functions of
// this package only, and validated together by New.
type Option interface {
	apply(*settings)
}

type optionFunc func(*settings)

func (f optionFunc) apply(s *settings) { f(s) }

// Cloud selects the Azure cloud: its Key Vault host suffix and its Entra ID
// authority host.
type Cloud int

// The supported clouds.
const (
	AzurePublic       Cloud = iota // .vault.azure.net, login.microsoftonline.com
	AzureChina                     // .vault.azure.cn, login.chinacloudapi.cn
	AzureUSGovernment              // .vault.usgovcloudapi.net, login.microsoftonline.us
)

// String returns the cloud's name, e.g. "AzurePublic".
func (c Cloud) String() string {
	if cc, ok := c.internal(); ok {
		return cc.Name
	}
	return fmt.Sprintf("Cloud(%d)", int(c))
}

func (c Cloud) internal() (cloud.Cloud, bool) {
	switch c {
	case AzurePublic:
		return cloud.Public(), true
	case AzureChina:
		return cloud.China(), true
	case AzureUSGovernment:
		return cloud.USGovernment(), true
	}
	return cloud.Cloud{}, false
}

// ParseCloud parses a cloud name such as "public", "AzureChina" or "usgov"
// (case-insensitive).
func ParseCloud(name string) (Cloud, error) {
	cc, ok := cloud.ByName(name)
	if ok {
		for _, c := range []Cloud{AzurePublic, AzureChina, AzureUSGovernment} {
			if x, _ := c.internal(); x.Name == cc.Name {
				return c, nil
			}
		}
	}
	return 0, invalid("ParseCloud", fmt.Errorf("unknown cloud %q: use public, china or usgovernment", name))
}

type authSetting struct {
	option string
	cfg    azure.AuthConfig
}

// settings collects the raw option values; New validates them all at once.
type settings struct {
	auths           []authSetting
	vaults          []string
	secrets         []string
	httpClient      *http.Client
	httpClientSet   bool
	concurrency     int
	cacheTTL        time.Duration
	cacheSet        bool
	cloud           Cloud
	logger          *slog.Logger
	loggerSet       bool
	maxRetries      int
	throttleRetries int
	problems        []error // found while applying the options
	filters         filters
	mapping         mapping
	namingSet       bool
	mapperSet       bool
	staleMax        time.Duration
	staleSet        bool
}

func defaultSettings() settings {
	return settings{
		concurrency:     DefaultConcurrency,
		cloud:           AzurePublic,
		maxRetries:      DefaultMaxRetries,
		throttleRetries: DefaultThrottleRetries,
	}
}

// WithVaults sets the vaults FetchCredentials reads, by name ("myvault") or
// URL ("https://myvault.vault.azure.net/"), in the order results are
// returned. Repeated calls add vaults; duplicates (names are
// case-insensitive) collapse.
func WithVaults(vaults ...string) Option {
	return optionFunc(func(s *settings) { s.vaults = append(s.vaults, vaults...) })
}

// WithSecrets sets the secret names FetchCredentials reads from every vault,
// in the order results are returned; "name/version" pins a version. Without
// it (or with no names), FetchCredentials lists each vault and fetches every
// enabled secret within its validity period. Duplicates collapse.
func WithSecrets(names ...string) Option {
	return optionFunc(func(s *settings) { s.secrets = append(s.secrets, names...) })
}

// WithHTTPClient sends every request — Entra ID token requests, the
// managed-identity endpoint and Key Vault — through hc. akvcreds never
// follows redirects, so an Authorization header cannot travel to another
// host. Default: a client with its own copy of http.DefaultTransport.
func WithHTTPClient(hc *http.Client) Option {
	return optionFunc(func(s *settings) { s.httpClient, s.httpClientSet = hc, true })
}

// WithConcurrency sets the ceiling on Key Vault requests in flight for the
// Client, across all vaults and concurrent calls (1 to MaxConcurrency;
// default DefaultConcurrency). Each vault is further paced below Key Vault's
// service limit of 4,000 requests per 10 seconds.
func WithConcurrency(n int) Option {
	return optionFunc(func(s *settings) { s.concurrency = n })
}

// WithCache keeps fetched credentials in memory for ttl (less up to a tenth,
// at random, so entries do not all expire together); repeat fetches within
// that time make no request. Concurrent identical fetches always share one
// request, cached or not.
func WithCache(ttl time.Duration) Option {
	return optionFunc(func(s *settings) { s.cacheTTL, s.cacheSet = ttl, true })
}

// WithCloud selects the Azure cloud (default AzurePublic): vault names
// resolve with its Key Vault suffix, vault URLs must belong to it, and
// client-secret authentication uses its Entra ID authority host.
func WithCloud(c Cloud) Option {
	return optionFunc(func(s *settings) { s.cloud = c })
}

// WithLogger sets the structured logger (default: silent). akvcreds logs
// vault and secret names, versions, outcomes, attempts and durations — never
// a secret value, client secret or token.
func WithLogger(l *slog.Logger) Option {
	return optionFunc(func(s *settings) { s.logger, s.loggerSet = l, true })
}

// WithMaxRetries sets how often a transient failure (408, 500, 502, 503,
// 504, a dropped connection) is retried per request to Key Vault and to the
// Entra ID token endpoint, with exponential backoff (0 to 10; default
// DefaultMaxRetries; 0 disables). Managed-identity requests on a VM use
// their own bounded retries (4 attempts, backoff from 0.5 s).
func WithMaxRetries(n int) Option {
	return optionFunc(func(s *settings) { s.maxRetries = n })
}

// WithThrottleRetries sets how many 429 answers one request may get before
// its secret is reported as ErrThrottled (1 to 100; default
// DefaultThrottleRetries). Between them the whole vault pauses for the
// Retry-After Azure sends, or a jittered backoff when it sends none.
func WithThrottleRetries(n int) Option {
	return optionFunc(func(s *settings) { s.throttleRetries = n })
}

// WithStaleOnError serves a cached credential up to maxStale past its TTL,
// marked Stale, when Key Vault cannot give a fresh one because of the
// network, a 5xx, persistent throttling or an unreachable token endpoint —
// not when Azure answers that the secret is gone, disabled or forbidden. A
// stale serve is logged as a warning and counted in the Summary. Needs
// WithCache.
func WithStaleOnError(maxStale time.Duration) Option {
	return optionFunc(func(s *settings) { s.staleMax, s.staleSet = maxStale, true })
}

// WithFilters keeps only the secrets that pass every filter (see Filter).
// In listing mode they run on the list's metadata, so a secret filtered out
// is never read. Repeated calls add filters.
func WithFilters(f ...Filter) Option {
	return optionFunc(func(s *settings) { s.filters = append(s.filters, f...) })
}

// WithUsernameTag takes each credential's username from the secret's tag of
// that name (for example "username"), falling back to the secret name when
// the tag is absent or empty.
func WithUsernameTag(tag string) Option {
	return optionFunc(func(s *settings) { s.mapping.usernameTag = tag; s.problems = append(s.problems, tagProblem(tag)...) })
}

func tagProblem(tag string) []error {
	if tag == "" {
		return []error{invalid("WithUsernameTag", errors.New("the tag name is empty"))}
	}
	return nil
}

// WithJSONValues says when a value is read as a JSON credential
// {"username": ..., "password": ...} (default JSONByContentType).
func WithJSONValues(m JSONMode) Option {
	return optionFunc(func(s *settings) { s.mapping.json = m })
}

// WithMapper maps each secret to its username and password with m, instead
// of the secret name, WithUsernameTag and WithJSONValues.
func WithMapper(m Mapper) Option {
	return optionFunc(func(s *settings) { s.mapping.mapper, s.mapperSet = m, true })
}

// WithNaming names each credential with f(vault, secret) instead of
// "vault/secret".
func WithNaming(f func(vault, secret string) string) Option {
	return optionFunc(func(s *settings) { s.mapping.naming, s.namingSet = f, true })
}

// WithExpiredPolicy says what becomes of a named secret that is expired or
// not yet valid (default ExpiredReturn). Listing always skips them.
func WithExpiredPolicy(p ExpiredPolicy) Option {
	return optionFunc(func(s *settings) { s.mapping.expired = p })
}

// invalid wraps a validation problem: "akvcreds: OPTION: PROBLEM".
func invalid(option string, err error) error {
	return fmt.Errorf("akvcreds: %s: %w", option, &argError{err})
}

// argError is a validation problem; it matches ErrInvalidArgument.
type argError struct{ err error }

func (e *argError) Error() string        { return e.err.Error() }
func (e *argError) Unwrap() error        { return e.err }
func (e *argError) Is(target error) bool { return target == ErrInvalidArgument }

type retryPolicy struct {
	maxRetries      int
	delay           time.Duration
	maxDelay        time.Duration
	tryTimeout      time.Duration
	throttleRetries int
}

// build validates the settings and makes the Client.
func (s *settings) build() (*Client, error) {
	errs := s.problems
	bad := func(option string, err error) { errs = append(errs, invalid(option, err)) }

	cc, ok := s.cloud.internal()
	if !ok {
		bad("WithCloud", fmt.Errorf("unknown cloud %d: use AzurePublic, AzureChina or AzureUSGovernment", int(s.cloud)))
		cc = cloud.Public()
	}

	var auth azure.AuthConfig
	switch len(s.auths) {
	case 0:
		bad("New", errors.New("no authentication: give exactly one of WithClientSecret, WithClientCertificate, WithWorkloadIdentity, WithEnvironmentCredential, WithSystemAssignedIdentity, WithUserAssignedIdentity or WithTokenCredential"))
	case 1:
		auth = s.auths[0].cfg
		if err := validateAuth(auth); err != nil {
			bad(s.auths[0].option, err)
		}
	default:
		names := make([]string, len(s.auths))
		for i, a := range s.auths {
			names[i] = a.option
		}
		bad("New", fmt.Errorf("more than one authentication option (%s): give exactly one", strings.Join(names, ", ")))
	}

	vaults, verrs := parseVaults(s.vaults, cc)
	for _, err := range verrs {
		bad("WithVaults", err)
	}
	secrets, serrs := parseSecrets(s.secrets)
	for _, err := range serrs {
		bad("WithSecrets", err)
	}
	if s.concurrency < 1 || s.concurrency > MaxConcurrency {
		bad("WithConcurrency", fmt.Errorf("%d is out of range: use 1 to %d", s.concurrency, MaxConcurrency))
	}
	if s.cacheSet && s.cacheTTL <= 0 {
		bad("WithCache", fmt.Errorf("TTL %v must be positive", s.cacheTTL))
	}
	if s.httpClientSet && s.httpClient == nil {
		bad("WithHTTPClient", errors.New("the *http.Client is nil"))
	}
	if s.loggerSet && s.logger == nil {
		bad("WithLogger", errors.New("the *slog.Logger is nil"))
	}
	if s.maxRetries < 0 || s.maxRetries > 10 {
		bad("WithMaxRetries", fmt.Errorf("%d is out of range: use 0 to 10", s.maxRetries))
	}
	if s.throttleRetries < 1 || s.throttleRetries > 100 {
		bad("WithThrottleRetries", fmt.Errorf("%d is out of range: use 1 to 100", s.throttleRetries))
	}
	errs = append(errs, s.filters.validate("WithFilters")...)
	if s.mapping.json < JSONByContentType || s.mapping.json > JSONNever {
		bad("WithJSONValues", fmt.Errorf("unknown JSONMode %d", int(s.mapping.json)))
	}
	if s.mapping.expired < ExpiredReturn || s.mapping.expired > ExpiredReject {
		bad("WithExpiredPolicy", fmt.Errorf("unknown ExpiredPolicy %d", int(s.mapping.expired)))
	}
	if s.staleSet && (s.staleMax <= 0 || !s.cacheSet) {
		bad("WithStaleOnError", fmt.Errorf("needs a positive duration (got %v) and WithCache", s.staleMax))
	}
	if s.mapperSet && s.mapping.mapper == nil {
		bad("WithMapper", errors.New("the Mapper is nil"))
	}
	if s.namingSet && s.mapping.naming == nil {
		bad("WithNaming", errors.New("the naming function is nil"))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}

	c := &Client{
		filters:  s.filters,
		mapping:  s.mapping,
		staleMax: s.staleMax,
		cloud:    cc,
		vaults:   vaults,
		secrets:  secrets,
		log:      s.logger,
		conc:     s.concurrency,
		sem:      make(chan struct{}, s.concurrency),
		conns:    map[string]*vaultConn{},
		retry: retryPolicy{
			maxRetries:      s.maxRetries,
			delay:           400 * time.Millisecond,
			maxDelay:        10 * time.Second,
			tryTimeout:      time.Minute,
			throttleRetries: s.throttleRetries,
		},
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	c.hc, c.ownedTr = noRedirectClient(s.httpClient, s.concurrency)
	if s.cacheSet {
		c.cache = cache.New[Credential](s.cacheTTL)
	}
	cred, err := newCredential(auth, cc, c.hc, s.maxRetries)
	if err != nil {
		return nil, invalid(s.auths[0].option, err)
	}
	c.cred = cred
	return c, nil
}

// noRedirectClient returns a copy of hc (or a new client with its own
// transport, keeping enough idle connections per host for the concurrency)
// that never follows redirects.
func noRedirectClient(hc *http.Client, concurrency int) (*http.Client, *http.Transport) {
	var owned *http.Transport
	if hc == nil {
		owned = http.DefaultTransport.(*http.Transport).Clone()
		owned.MaxIdleConnsPerHost = concurrency
		hc = &http.Client{Transport: owned}
	}
	cp := *hc
	cp.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &cp, owned
}

func parseVaults(in []string, cc cloud.Cloud) ([]vaultRef, []error) {
	var out []vaultRef
	var errs []error
	seen := map[string]bool{}
	for _, v := range in {
		name, u, err := ident.Vault(v, cc)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if seen[name] {
			continue
		}
		seen[name] = true
		out = append(out, vaultRef{name: name, url: u})
	}
	return out, errs
}

func parseSecrets(in []string) ([]secretRef, []error) {
	var out []secretRef
	var errs []error
	seen := map[string]bool{}
	for _, s := range in {
		ref, err := parseSecretRef(s)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		key := strings.ToLower(ref.name) + "/" + strings.ToLower(ref.version)
		if seen[key] {
			continue
		}
		seen[key] = true
		out = append(out, ref)
	}
	return out, errs
}

// parseSecretRef parses "name" or "name/version".
func parseSecretRef(s string) (secretRef, error) {
	name, version, pinned := strings.Cut(s, "/")
	if err := ident.SecretName(name); err != nil {
		return secretRef{}, err
	}
	if pinned {
		if err := ident.Version(version); err != nil {
			return secretRef{}, fmt.Errorf("secret %q: %w", name, err)
		}
	}
	return secretRef{name: name, version: version}, nil
}
