package akvcreds

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/akvcreds/akvcreds/internal/azure"
	"github.com/akvcreds/akvcreds/internal/cloud"
	"github.com/akvcreds/akvcreds/internal/ident"
)

// Option configures a Client. Options are made by the With* functions of
// this package only; each checks its own values as New applies it, and New
// reports every problem together.
type Option interface {
	apply(*settings) error
}

// option is an Option named after the function that made it.
type option struct {
	name string
	fn   func(*settings) error
}

// apply applies the option, labelling every problem with its name.
func (o option) apply(s *settings) error {
	err := o.fn(s)
	if err == nil {
		return nil
	}
	var errs []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			errs = append(errs, invalid(o.name, e))
		}
		return errors.Join(errs...)
	}
	return invalid(o.name, err)
}

func newOption(name string, fn func(*settings) error) Option { return option{name: name, fn: fn} }

// maxConcurrency is the largest value WithConcurrency accepts.
const maxConcurrency = 1024

// settings collects the option values; New checks what spans options.
type settings struct {
	auths       []authSetting
	vaults      []vaultInput
	secrets     []secretRef
	httpClient  *http.Client
	concurrency int
	cacheTTL    time.Duration
	cloud       *cloud.Cloud // nil: from the vault URLs, else public
	logger      *slog.Logger
	filters     filters
	mapper      mapper
	tracers     trace.TracerProvider // nil: no spans
	meters      metric.MeterProvider // nil: no metrics
	certExpiry  time.Duration        // 0: no near-expiry warning
	eventGrid   *EventGrid           // nil: no receiver
	// Not options: set by the package's tests.
	maxRetries     int
	throttleBudget time.Duration
	imdsEndpoint   string
	now            func() time.Time
}

func defaultSettings() settings {
	return settings{concurrency: 32, maxRetries: 3, now: time.Now, certExpiry: defaultCertificateExpiry}
}

// vaultInput is a vault as given: its name, and the cloud of its URL (nil
// for a bare name).
type vaultInput struct {
	name  string
	cloud *cloud.Cloud
}

// secretRef names a secret, optionally at one version.
type secretRef struct{ name, version string }

// WithVaults sets the vaults to read, by name ("myvault") or URL
// ("https://myvault.vault.azure.net/"), in the order results are returned.
// Repeated calls add vaults; duplicates (names are case-insensitive)
// collapse. Default: none (every call must then name its vaults, with
// FetchNames or FetchCredential).
func WithVaults(vaults ...string) Option {
	return newOption("WithVaults", func(s *settings) error {
		var errs []error
		for _, v := range vaults {
			in, err := parseVaultInput(v)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			s.vaults = append(s.vaults, in)
		}
		return errors.Join(errs...)
	})
}

// parseVaultInput checks a vault name, or a vault URL of any known cloud.
func parseVaultInput(v string) (vaultInput, error) {
	if !strings.Contains(v, "://") {
		name, _, err := ident.Vault(v, cloud.Public())
		return vaultInput{name: name}, err
	}
	c, ok := cloud.Public(), false
	if i := strings.Index(v, "://"); i >= 0 {
		host, _, _ := strings.Cut(v[i+3:], "/")
		c, ok = cloud.ForVaultHost(host)
	}
	if !ok {
		c = cloud.Public() // ident.Vault explains what is wrong with it
	}
	name, _, err := ident.Vault(v, c)
	return vaultInput{name: name, cloud: &c}, err
}

// WithSecrets sets the secret names to read from every vault, in the order
// results are returned; "name/version" pins a version. Duplicates collapse.
// Default: none, which means every enabled secret of each vault that is
// within its validity period, listed (that needs the "List" permission).
func WithSecrets(names ...string) Option {
	return newOption("WithSecrets", func(s *settings) error {
		refs, err := parseSecrets(names)
		s.secrets = append(s.secrets, refs...)
		return err
	})
}

func parseSecrets(names []string) ([]secretRef, error) {
	var errs []error
	var refs []secretRef
	for _, n := range names {
		name, version, pinned := strings.Cut(n, "/")
		err := ident.SecretName(name)
		if err == nil && pinned {
			if err = ident.Version(version); err != nil {
				err = fmt.Errorf("secret %q: %w", name, err)
			}
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		refs = append(refs, secretRef{name: name, version: version})
	}
	return refs, errors.Join(errs...)
}

// WithHTTPClient sends every request — Entra ID token requests, the
// managed-identity endpoint and Key Vault — through hc. akvcreds never
// follows redirects, so an Authorization header cannot travel to another
// host. Default: a transport shared by every Client of the process that has
// none, keeping up to 64 idle connections per host.
func WithHTTPClient(hc *http.Client) Option {
	return newOption("WithHTTPClient", func(s *settings) error {
		if hc == nil {
			return errors.New("the *http.Client is nil")
		}
		s.httpClient = hc
		return nil
	})
}

// WithConcurrency sets the ceiling on Key Vault requests in flight for the
// Client, across all vaults and concurrent calls (1 to 1024). Each vault is
// further paced below Key Vault's service limit of 4,000 requests per 10
// seconds. Default: 32.
func WithConcurrency(n int) Option {
	return newOption("WithConcurrency", func(s *settings) error {
		if n < 1 || n > maxConcurrency {
			return fmt.Errorf("%d is out of range: use 1 to %d", n, maxConcurrency)
		}
		s.concurrency = n
		return nil
	})
}

// WithCache keeps fetched credentials in memory for ttl (less up to a tenth,
// at random, so entries do not all expire together); repeat fetches within
// that time make no request. Concurrent identical reads always share one
// request, cached or not.
//
// A cached credential whose ttl has passed is still served, for up to
// another ttl, when Key Vault cannot give a fresh one — the network, a 5xx,
// throttling that outlasted the retries, an unreachable token endpoint —
// marked Stale (Credential.Stale, Batch.Stale) and logged as a warning;
// never when Azure answers that the secret is gone, disabled or forbidden.
// Watch never serves a stale value: it keeps its own last good one.
//
// Default: no cache.
func WithCache(ttl time.Duration) Option {
	return newOption("WithCache", func(s *settings) error {
		if ttl <= 0 {
			return fmt.Errorf("TTL %v must be positive", ttl)
		}
		s.cacheTTL = ttl
		return nil
	})
}

// WithCloud selects the Azure cloud by name: "public", "china" or
// "usgovernment" (case-insensitive). Vault names resolve with its Key Vault
// suffix, vault URLs must belong to it, and the app-registration modes
// authenticate with its Entra ID authority host. Default: the cloud of the
// vault URLs given to WithVaults, else "public".
func WithCloud(name string) Option {
	return newOption("WithCloud", func(s *settings) error {
		c, ok := cloud.ByName(name)
		if !ok {
			return fmt.Errorf("unknown cloud %q: use public, china or usgovernment", name)
		}
		s.cloud = &c
		return nil
	})
}

// WithLogger sets the structured logger. akvcreds logs vault and secret
// names, versions, outcomes, attempts and durations — never a secret value,
// client secret or token. Default: silent.
func WithLogger(l *slog.Logger) Option {
	return newOption("WithLogger", func(s *settings) error {
		if l == nil {
			return errors.New("the *slog.Logger is nil")
		}
		s.logger = l
		return nil
	})
}

// WithFilters keeps only the secrets that pass every filter (see Filter).
// Repeated calls add filters. Default: every secret.
func WithFilters(f ...Filter) Option {
	return newOption("WithFilters", func(s *settings) error {
		s.filters = append(s.filters, f...)
		return checkAll(f)
	})
}

// WithMapper maps each secret to its credential's username and password
// with m, which sees the secret's metadata and value. m's error fails that
// secret: with the kind of a sentinel m's error wraps (return ErrExpired to
// refuse an expired secret), else ErrMalformed; the error's text is shown,
// so never put the value in it. m must be safe for concurrent use.
//
// Default: the username is the secret's name and the password its value;
// a value whose content type is application/json (or ends in +json) and that
// is a JSON object with a string "password" field gives the password (and
// its non-empty "username" the username); a value with such a content type
// that is not JSON at all fails with ErrMalformed.
func WithMapper(m func(info SecretInfo, value Password) (username, password string, err error)) Option {
	return newOption("WithMapper", func(s *settings) error {
		if m == nil {
			return errors.New("the mapping function is nil")
		}
		s.mapper = m
		return nil
	})
}

// WithOpenTelemetry records OpenTelemetry spans with tp and metrics with mp;
// either may be nil. Vault and secret names, versions, counts, kinds and
// Azure's status and error codes are recorded — never a secret value, a
// token or a client secret. The instrumentation scope is
// "github.com/akvcreds/akvcreds". Default: none: nothing is recorded.
//
// Spans, all of kind internal: one per call, "akvcreds.FetchCredentials"
// or "akvcreds.FetchCredential", and one per Watch cycle, "akvcreds.Watch
// cycle"; under it one "akvcreds.vault" per vault (attribute
// akvcreds.vault, server.address), and under that "akvcreds.list" for the
// vault's listing and one "akvcreds.read" per secret read from Key Vault
// (akvcreds.secret); a credential served from the cache has no read span.
// The Azure SDK's own spans — its operation (Client.GetSecret, a list
// page) and every HTTP request, the authentication challenge and token
// requests included — nest under the list or read span. A 429 adds the
// event "akvcreds.throttled" (attributes akvcreds.throttle.pause and
// retry_after in seconds, akvcreds.throttle.give_up), a request sent again
// the event "akvcreds.retry" (akvcreds.attempt), to the list or read span.
// A failure sets the span's status to Error, and akvcreds.error.kind and
// error.type to its Kind's label ("forbidden"). A certificate expiring
// within WithCertificateExpiry's window adds the event
// "akvcreds.certificate.expiring" (akvcreds.secret,
// akvcreds.certificate.not_after, akvcreds.certificate.thumbprint).
//
// Metrics:
//
//	akvcreds.credentials.fetched  counter {credential}  akvcreds.source: keyvault, cache, stale
//	akvcreds.failures             counter {failure}     akvcreds.vault, akvcreds.error.kind: one per *FetchError
//	akvcreds.throttled            counter {response}    akvcreds.vault: 429 answers
//	akvcreds.throttle.wait        counter s             akvcreds.vault: pauses imposed after 429s before a request was sent again
//	akvcreds.request.duration     histogram s           akvcreds.vault, akvcreds.operation (get, list), akvcreds.error.kind (failures):
//	                                                    one Key Vault read or list page, pacing, retries and pauses included
//	akvcreds.cache.hits           counter {lookup}      credentials served by WithCache without a request
//	akvcreds.cache.misses         counter {lookup}      secrets read from Key Vault for want of a fresh cache entry
//	akvcreds.watch.changes        counter {change}      akvcreds.change: added, changed, removed, in batches the Watch handler accepted
func WithOpenTelemetry(tp trace.TracerProvider, mp metric.MeterProvider) Option {
	return newOption("WithOpenTelemetry", func(s *settings) error {
		s.tracers, s.meters = tp, mp
		return nil
	})
}

// WithCertificateExpiry sets the window within which a certificate
// credential's leaf counts as expiring soon. Every credential whose content
// type is a Key Vault certificate's (application/x-pkcs12,
// application/x-pem-file) is parsed as it is read: one that cannot be used
// fails with ErrMalformed (see Credential.Certificate), and one whose leaf
// has expired or is not valid yet fails with ErrExpired (a Watch removes
// it, as it does an expired secret). One whose leaf expires within window
// is returned, logged as a warning ("certificate expires soon", with its
// expiry and thumbprint), recorded as the span event
// "akvcreds.certificate.expiring" (WithOpenTelemetry) and counted in
// Batch.CertificatesExpiring. 0 turns the warning off; a negative window
// is an error. Default: 30 days, when Key Vault's own SecretNearExpiry
// event fires.
func WithCertificateExpiry(window time.Duration) Option {
	return newOption("WithCertificateExpiry", func(s *settings) error {
		if window < 0 {
			return fmt.Errorf("window %v must not be negative (0 turns the warning off)", window)
		}
		s.certExpiry = window
		return nil
	})
}

// resolve checks what spans options and returns the cloud and the vaults.
func (s *settings) resolve() (cloud.Cloud, []vaultRef, azure.AuthConfig, []error) {
	var errs []error
	bad := func(option string, err error) { errs = append(errs, invalid(option, err)) }
	cc := cloud.Public()
	switch {
	case s.cloud != nil:
		cc = *s.cloud
	default:
		for _, v := range s.vaults {
			if v.cloud != nil {
				cc = *v.cloud
				break
			}
		}
	}
	var vaults []vaultRef
	seen := map[string]bool{}
	for _, v := range s.vaults {
		if v.cloud != nil && v.cloud.Name != cc.Name {
			bad("WithVaults", fmt.Errorf("vault %q is in %s, but the client uses %s: give every vault of one cloud (WithCloud)", v.name, v.cloud.Name, cc.Name))
			continue
		}
		if !seen[v.name] {
			seen[v.name] = true
			vaults = append(vaults, vaultRef{name: v.name, url: "https://" + v.name + cc.VaultSuffix + "/"})
		}
	}
	var auth azure.AuthConfig
	switch len(s.auths) {
	case 0:
		bad("New", errors.New("no authentication: give exactly one of WithClientSecret, WithClientCertificate, WithEnvironmentCredential, WithSystemAssignedIdentity, WithUserAssignedIdentity or WithTokenCredential"))
	case 1:
		auth = s.auths[0].cfg
	default:
		names := make([]string, len(s.auths))
		for i, a := range s.auths {
			names[i] = a.option
		}
		bad("New", fmt.Errorf("more than one authentication option (%s): give exactly one", strings.Join(names, ", ")))
	}
	return cc, vaults, auth, errs
}

// dedupSecrets drops repeated secret names (case-insensitive), keeping the
// first.
func dedupSecrets(in []secretRef) []secretRef {
	if in == nil {
		return nil
	}
	out := make([]secretRef, 0, len(in))
	seen := map[string]bool{}
	for _, r := range in {
		key := strings.ToLower(r.name) + "/" + strings.ToLower(r.version)
		if !seen[key] {
			seen[key] = true
			out = append(out, r)
		}
	}
	return out
}
