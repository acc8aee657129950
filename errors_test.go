package akvcreds_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/akvcreds/akvcreds"
	"github.com/akvcreds/akvcreds/akvcredstest"
)

// Every Kind has a short label, the same from String and Error; the
// sentinels are Kinds.
func TestKindLabels(t *testing.T) {
	t.Parallel()
	tests := []struct {
		sentinel error
		label    string
	}{
		{akvcreds.ErrInvalidArgument, "invalid argument"},
		{akvcreds.ErrUnauthenticated, "unauthenticated"},
		{akvcreds.ErrForbidden, "forbidden"},
		{akvcreds.ErrNotFound, "not found"},
		{akvcreds.ErrDisabled, "disabled"},
		{akvcreds.ErrThrottled, "throttled"},
		{akvcreds.ErrUnavailable, "unavailable"},
		{akvcreds.ErrMalformed, "malformed"},
		{akvcreds.ErrExpired, "expired"},
	}
	seen := map[akvcreds.Kind]bool{}
	for _, tt := range tests {
		k, ok := tt.sentinel.(akvcreds.Kind)
		if !ok {
			t.Errorf("%v is a %T, not a Kind", tt.sentinel, tt.sentinel)
			continue
		}
		if k.Error() != tt.label || tt.sentinel.Error() != tt.label || fmt.Sprint(k) != tt.label {
			t.Errorf("Kind %d: Error %q, Sprint %q, want %q", uint8(k), k.Error(), fmt.Sprint(k), tt.label)
		}
		if seen[k] {
			t.Errorf("two sentinels share the Kind %v", k)
		}
		seen[k] = true
		if !errors.Is(fmt.Errorf("wrapped: %w", tt.sentinel), k) {
			t.Errorf("errors.Is(wrapped %v, Kind) = false", k)
		}
	}
	// The cancelled call's kind, which is no sentinel.
	c := newClient(t, newServer(t), secretAuth())
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := c.FetchCredential(ctx, "somevault/secret")
	var fe *akvcreds.FetchError
	if !errors.As(err, &fe) || fe.Kind.Error() != "canceled" || seen[fe.Kind] {
		t.Errorf("cancelled call: %v", err)
	}
	if got := akvcreds.Kind(0).Error(); got != "unknown" {
		t.Errorf("Kind(0) = %q", got)
	}
	if got := akvcreds.Kind(200).Error(); got != "Kind(200)" {
		t.Errorf("Kind(200) = %q", got)
	}
}

// goIdentifier matches an option or function name of this package, which a
// Remedy (shown to operators and on the command line) never names.
var goIdentifier = regexp.MustCompile(`\b(With|Fetch|Watch)[A-Z][A-Za-z]*|\bakvcreds\.`)

// requestID is the shape of Key Vault's x-ms-request-id.
var requestID = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// rewriteBody is an emulator client that replaces the body of every
// successful GET of path with body: Azure, or something in its place,
// answering in another shape.
func rewriteBody(s *akvcredstest.Server, path, body string) *http.Client {
	return hardHTTPClient(s, nil, func(r *http.Request, res *http.Response, err error) {
		if err == nil && r.Method == http.MethodGet && strings.TrimSuffix(r.URL.Path, "/") == path && res.StatusCode == http.StatusOK {
			_ = res.Body.Close()
			res.Body = io.NopCloser(strings.NewReader(body))
			res.ContentLength = int64(len(body))
			res.Header.Set("Content-Length", fmt.Sprint(len(body)))
		}
	})
}

// Every failure kind end to end: the good credentials come back, and each
// failure is one *FetchError whose Kind is the sentinel it wraps, whose
// Remedy says what to change in Azure (never a Go option), and whose Status,
// Code, InnerCode and RequestID are what Azure answered.
func TestFailureKinds(t *testing.T) {
	t.Parallel()
	const otherTenant = "11111111-2222-3333-4444-555555555555"
	const otherApp = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
	past := time.Now().Add(-time.Hour).Truncate(time.Second)
	refuseExpired := akvcreds.WithMapper(func(info akvcreds.SecretInfo, value akvcreds.Password) (string, string, error) {
		if !info.Expires.IsZero() && !time.Now().Before(info.Expires) {
			return "", "", fmt.Errorf("the secret expired at %s: %w", info.Expires.UTC().Format(time.RFC3339), akvcreds.ErrExpired)
		}
		return info.Secret, value.Reveal(), nil
	})
	rbacOnly := func(p akvcredstest.Permissions) func(*akvcredstest.Server, string) {
		return func(s *akvcredstest.Server, v string) { s.SetPermissions(v, akvcredstest.DefaultClientID, p) }
	}
	policyOnly := func(p akvcredstest.Permissions) func(*akvcredstest.Server, string) {
		return func(s *akvcredstest.Server, v string) {
			s.AddVault(v, akvcredstest.VaultAccessPolicy())
			s.SetPermissions(v, akvcredstest.DefaultClientID, p)
		}
	}
	tests := []struct {
		name     string
		sentinel error  // nil: a cancellation
		secret   string // the failing secret; "" when the vault is listed
		setup    func(s *akvcredstest.Server, vault string)
		auth     akvcreds.Option
		opts     []akvcreds.Option
		hc       func(s *akvcredstest.Server) *http.Client
		canceled bool
		okToo    bool // the vault's good secret, fetched first, still comes back
		// What Azure answered (Status 0: nothing, or no Key Vault answer).
		status      int
		code, inner string
		aadsts      string
		message     []string // substrings of the error
		remedy      string   // a substring of the Remedy
	}{
		{
			name: "not found", sentinel: akvcreds.ErrNotFound, secret: "missing", okToo: true,
			status: 404, code: "SecretNotFound",
			message: []string{`no secret "missing"`}, remedy: `vault "%v" has no secret "missing"`,
		},
		{
			name: "disabled", sentinel: akvcreds.ErrDisabled, secret: "off", okToo: true,
			setup:  func(s *akvcredstest.Server, v string) { s.SetSecret(v, "off", "hunter2-off", akvcredstest.Disabled()) },
			status: 403, code: "Forbidden", inner: "SecretDisabled",
			remedy: "enable it",
		},
		{
			name: "forbidden by RBAC, get", sentinel: akvcreds.ErrForbidden, secret: "good",
			setup:  rbacOnly(akvcredstest.Permissions{List: true}),
			status: 403, code: "Forbidden", inner: "ForbiddenByRbac",
			remedy: `assign it the "Key Vault Secrets User" role on vault "%v"`,
		},
		{
			name: "forbidden by RBAC, list", sentinel: akvcreds.ErrForbidden,
			setup:  rbacOnly(akvcredstest.Permissions{Get: true}),
			status: 403, code: "Forbidden", inner: "ForbiddenByRbac",
			remedy: "may not list secrets under Azure RBAC",
		},
		{
			name: "access policy lacks Get", sentinel: akvcreds.ErrForbidden, secret: "good",
			setup:  policyOnly(akvcredstest.Permissions{List: true}),
			status: 403, code: "Forbidden", inner: "AccessDenied",
			remedy: `lacks the secret "Get" permission`,
		},
		{
			name: "access policy lacks List", sentinel: akvcreds.ErrForbidden,
			setup:  policyOnly(akvcredstest.Permissions{Get: true}),
			status: 403, code: "Forbidden", inner: "AccessDenied",
			remedy: `add "List", or name the secrets to fetch`,
		},
		{
			name: "firewall", sentinel: akvcreds.ErrForbidden, secret: "good",
			setup:  func(s *akvcredstest.Server, v string) { s.SetFirewall(v, true) },
			status: 403, code: "Forbidden", inner: "ForbiddenByFirewall",
			remedy: "Networking settings",
		},
		{
			name: "wrong client secret", sentinel: akvcreds.ErrUnauthenticated, secret: "good",
			auth:   akvcreds.WithClientSecret(akvcredstest.DefaultTenantID, akvcredstest.DefaultClientID, "not-the-secret"),
			status: 401, code: "invalid_client", aadsts: "AADSTS7000215",
			remedy: "not its Secret ID",
		},
		{
			name: "unknown application", sentinel: akvcreds.ErrUnauthenticated, secret: "good",
			auth:   akvcreds.WithClientSecret(akvcredstest.DefaultTenantID, otherApp, "whatever"),
			status: 400, code: "unauthorized_client", aadsts: "AADSTS700016",
			remedy: "client (application) ID",
		},
		{
			// A mistyped tenant ID never reaches Entra ID: the vault's
			// challenge names its real tenant, and akvcreds names both.
			name: "mistyped tenant ID", sentinel: akvcreds.ErrUnauthenticated, secret: "good",
			auth:    akvcreds.WithClientSecret(otherTenant, akvcredstest.DefaultClientID, akvcredstest.DefaultClientSecret),
			code:    "WrongTenant",
			message: []string{akvcredstest.DefaultTenantID, otherTenant}, remedy: "use the vault's tenant ID",
		},
		{
			name: "vault in another tenant", sentinel: akvcreds.ErrUnauthenticated, secret: "good",
			setup: func(s *akvcredstest.Server, v string) {
				s.AddTenant(otherTenant)
				s.AddApp(otherTenant, otherApp, "other-secret")
			},
			auth:    akvcreds.WithClientSecret(otherTenant, otherApp, "other-secret"),
			code:    "WrongTenant",
			message: []string{akvcredstest.DefaultTenantID, otherTenant, "configured for tenant"},
			remedy:  "use the vault's tenant ID",
		},
		{
			// The vault accepts one request an hour and sends no
			// Retry-After: akvcreds backs off until its throttling budget
			// is spent, then gives up.
			name: "throttled past the budget", sentinel: akvcreds.ErrThrottled, secret: "later", okToo: true,
			setup: func(s *akvcredstest.Server, v string) {
				s.SetSecret(v, "later", "hunter2-later")
				s.SetRateLimit(v, 1, time.Hour, false)
			},
			opts:   []akvcreds.Option{akvcreds.WithThrottleBudget(300 * time.Millisecond)},
			status: 429, code: "Throttled",
			remedy: "fetch less often",
		},
		{
			name: "throttled with a Retry-After beyond the budget", sentinel: akvcreds.ErrThrottled, secret: "later", okToo: true,
			setup: func(s *akvcredstest.Server, v string) {
				s.SetSecret(v, "later", "hunter2-later")
				s.Inject(akvcredstest.Fault{Host: v + ".vault.azure.net", Path: "/secrets/later", Status: 429, RetryAfter: "3600"})
			},
			status: 429, code: "Throttled",
			remedy: "4,000 requests per 10 seconds",
		},
		{
			name: "persistent 5xx", sentinel: akvcreds.ErrUnavailable, secret: "missing", okToo: true,
			setup: func(s *akvcredstest.Server, v string) {
				s.Inject(akvcredstest.Fault{Host: v + ".vault.azure.net", Path: "/secrets/missing", Status: 503, Count: 100})
			},
			opts:   []akvcreds.Option{akvcreds.WithMaxRetries(1)},
			status: 503, code: "ServiceUnavailable",
			remedy: "check the network path to %v.vault.azure.net",
		},
		{
			name: "value is not the JSON its content type says", sentinel: akvcreds.ErrMalformed, secret: "json", okToo: true,
			setup: func(s *akvcredstest.Server, v string) {
				s.SetSecret(v, "json", "user=bob;pw=hunter2-json", akvcredstest.ContentType("application/json"))
			},
			message: []string{"not valid JSON", "at byte 1"},
			remedy:  "store the value as JSON",
		},
		{
			name: "Azure's answer is not Key Vault's", sentinel: akvcreds.ErrMalformed, secret: "odd", okToo: true,
			setup: func(s *akvcredstest.Server, v string) { s.SetSecret(v, "odd", "hunter2-odd") },
			hc: func(s *akvcredstest.Server) *http.Client {
				return rewriteBody(s, "/secrets/odd", `{"unexpected":true}`)
			},
			status: 200,
			remedy: "may be answering in Key Vault's place",
		},
		{
			name: "expired, refused by the mapping function", sentinel: akvcreds.ErrExpired, secret: "old", okToo: true,
			setup: func(s *akvcredstest.Server, v string) {
				s.SetSecret(v, "old", "hunter2-old", akvcredstest.Expires(past))
			},
			opts:    []akvcreds.Option{refuseExpired},
			message: []string{"expired at " + past.UTC().Format(time.RFC3339)},
			remedy:  "later expiry date",
		},
		{
			name: "canceled", secret: "good", canceled: true,
			message: []string{"canceled"},
		},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newServer(t)
			vault := fmt.Sprintf("kinds-%02d", i)
			s.SetSecret(vault, "good", "good-value")
			if tt.setup != nil {
				tt.setup(s, vault)
			}
			auth := tt.auth
			if auth == nil {
				auth = secretAuth()
			}
			hc := s.Client()
			if tt.hc != nil {
				hc = tt.hc(s)
			}
			opts := append([]akvcreds.Option{akvcreds.WithHTTPClient(hc), auth, akvcreds.WithVaults(vault), akvcreds.WithConcurrency(1)}, tt.opts...)
			want := []string{vault + "/good"}
			if tt.secret != "" {
				secrets := []string{"good"}
				if tt.secret != "good" {
					secrets = append(secrets, tt.secret)
					want = append(want, vault+"/"+tt.secret)
				}
				opts = append(opts, akvcreds.WithSecrets(secrets...))
			}
			c, err := akvcreds.New(opts...)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tt.canceled {
				cancel()
			}
			creds, err := c.FetchCredentials(ctx)
			if tt.okToo && (len(creds) != 1 || creds[0].Password.Reveal() != "good-value") {
				t.Errorf("the good secret did not come back: %v", names(creds))
			}
			if !tt.okToo && len(creds) != 0 {
				t.Errorf("got %v", names(creds))
			}
			hardOnlyFetchErrors(t, err)
			if tt.secret != "" {
				if n := len(creds) + len(akvcreds.FetchErrors(err)); n != len(want) {
					t.Errorf("%d credentials + errors for %d secrets", n, len(want))
				}
			}
			var fe *akvcreds.FetchError
			for _, e := range akvcreds.FetchErrors(err) {
				if e.Secret == tt.secret {
					fe = e
				}
			}
			if fe == nil {
				t.Fatalf("no FetchError for %q in %v", tt.secret, err)
			}
			checkFetchError(t, fe, vault, tt.sentinel)
			if !tt.canceled && !errors.Is(err, tt.sentinel) {
				t.Errorf("the joined error does not wrap %v", tt.sentinel)
			}
			if tt.canceled && (!errors.Is(err, context.Canceled) || fe.Kind.Error() != "canceled") {
				t.Errorf("cancelled: %v (Kind %v)", err, fe.Kind)
			}
			if fe.Status != tt.status || fe.Code != tt.code || fe.InnerCode != tt.inner || fe.AADSTS != tt.aadsts {
				t.Errorf("Status %d Code %q InnerCode %q AADSTS %q, want %d %q %q %q",
					fe.Status, fe.Code, fe.InnerCode, fe.AADSTS, tt.status, tt.code, tt.inner, tt.aadsts)
			}
			msg := fe.Error()
			if tt.status != 0 {
				// Key Vault's request ID; Entra ID's answers carry none.
				if kv := tt.aadsts == ""; kv != requestID.MatchString(fe.RequestID) {
					t.Errorf("RequestID = %q", fe.RequestID)
				}
				head := fmt.Sprintf("HTTP %d", tt.status)
				if tt.code != "" {
					head += " " + tt.code
				}
				if tt.inner != "" {
					head += "/" + tt.inner
				}
				if fe.RequestID != "" {
					head += ", request ID " + fe.RequestID
				}
				if !strings.Contains(msg, "("+head+")") {
					t.Errorf("message lacks %q:\n%s", "("+head+")", msg)
				}
			}
			for _, sub := range tt.message {
				if !strings.Contains(msg, sub) {
					t.Errorf("message lacks %q:\n%s", sub, msg)
				}
			}
			if r := strings.ReplaceAll(tt.remedy, "%v", vault); !strings.Contains(fe.Remedy, r) {
				t.Errorf("Remedy lacks %q: %q", r, fe.Remedy)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("the error shows a secret value: %v", err)
			}
		})
	}
}

// checkFetchError checks what every *FetchError promises: its Kind is the
// one sentinel it wraps (compared both ways), its message names the vault,
// the secret and the kind and ends with the Remedy, and the Remedy is set
// (unless the call was cancelled) and names no Go option.
func checkFetchError(t *testing.T, fe *akvcreds.FetchError, vault string, sentinel error) {
	t.Helper()
	if fe.Vault != vault {
		t.Errorf("Vault = %q, want %q", fe.Vault, vault)
	}
	if got := hardKind(t, fe); got != sentinel {
		t.Errorf("the error wraps %v, want %v: %v", got, sentinel, fe)
	}
	if sentinel != nil && (fe.Kind != sentinel || !errors.Is(fe, sentinel) || !errors.Is(fe, fe.Kind)) {
		t.Errorf("Kind %v, want %v (errors.Is %v)", fe.Kind, sentinel, errors.Is(fe, sentinel))
	}
	msg := fe.Error()
	prefix := fmt.Sprintf("akvcreds: vault %q", vault)
	if fe.Secret != "" {
		prefix += fmt.Sprintf(" secret %q", fe.Secret)
	}
	prefix += ": " + fe.Kind.Error() + ": "
	if !strings.HasPrefix(msg, prefix) {
		t.Errorf("message does not start with %q:\n%s", prefix, msg)
	}
	switch {
	case sentinel == nil && fe.Remedy != "":
		t.Errorf("a cancellation has a Remedy: %q", fe.Remedy)
	case sentinel != nil && fe.Remedy == "":
		t.Errorf("no Remedy for %v: %s", fe.Kind, msg)
	case fe.Remedy != "" && !strings.HasSuffix(msg, ". To fix: "+fe.Remedy):
		t.Errorf("message does not end with the Remedy:\n%s", msg)
	}
	if m := goIdentifier.FindString(fe.Remedy); m != "" {
		t.Errorf("the Remedy names %q, a Go identifier: %q", m, fe.Remedy)
	}
}

// FetchErrors finds the *FetchError values however they are joined or
// wrapped, in order, and nothing else.
func TestFetchErrors(t *testing.T) {
	t.Parallel()
	a := &akvcreds.FetchError{Vault: "va", Secret: "a", Kind: akvcreds.ErrNotFound.(akvcreds.Kind)}
	b := &akvcreds.FetchError{Vault: "vb", Secret: "b", Kind: akvcreds.ErrForbidden.(akvcreds.Kind)}
	c := &akvcreds.FetchError{Vault: "vc", Kind: akvcreds.ErrUnavailable.(akvcreds.Kind)}
	tests := []struct {
		name string
		err  error
		want []*akvcreds.FetchError
	}{
		{"nil", nil, nil},
		{"other error", errors.New("x"), nil},
		{"one", a, []*akvcreds.FetchError{a}},
		{"wrapped", fmt.Errorf("ctx: %w", a), []*akvcreds.FetchError{a}},
		{"joined", errors.Join(a, b, c), []*akvcreds.FetchError{a, b, c}},
		{"nested joins and others", errors.Join(errors.Join(a, errors.New("x")), fmt.Errorf("w: %w", errors.Join(b, c))), []*akvcreds.FetchError{a, b, c}},
	}
	for _, tt := range tests {
		if got := akvcreds.FetchErrors(tt.err); !slices.Equal(got, tt.want) {
			t.Errorf("%s: FetchErrors = %v, want %v", tt.name, got, tt.want)
		}
	}
	// A FetchError without a cause prints its kind.
	if got := c.Error(); got != `akvcreds: vault "vc": unavailable` {
		t.Errorf("Error() = %q", got)
	}
}

// Without the List permission, a listed vault fails as a whole, saying
// what to grant.
func TestListingNeedsListPermission(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	s.AddVault("nolist", akvcredstest.VaultAccessPolicy())
	s.SetSecret("nolist", "a", "1")
	s.SetPermissions("nolist", akvcredstest.DefaultClientID, akvcredstest.Permissions{Get: true})
	c := newClient(t, s, secretAuth(), akvcreds.WithVaults("nolist"))
	creds, err := c.FetchCredentials(context.Background())
	fes := akvcreds.FetchErrors(err)
	if len(creds) != 0 || len(fes) != 1 || fes[0].Secret != "" || !errors.Is(err, akvcreds.ErrForbidden) {
		t.Fatalf("creds %v, errors %v", names(creds), err)
	}
	// The remedy used to say "WithSecrets"; it now names no Go option.
	if msg := fes[0].Error(); !strings.Contains(msg, `"List" permission`) || !strings.Contains(msg, "name the secrets to fetch") {
		t.Errorf("message does not explain the List permission: %s", msg)
	}
}

// A token that cannot be had fails every secret of the vault, but the
// token endpoint is asked only once: the others are reported without
// repeating the request.
func TestAuthFailureIsNotRepeatedPerSecret(t *testing.T) {
	t.Parallel()
	s, secrets := hardServer(t, "authfail", 20)
	c := newClient(t, s, akvcreds.WithClientSecret(akvcredstest.DefaultTenantID, akvcredstest.DefaultClientID, "wrong"),
		akvcreds.WithVaults("authfail"), akvcreds.WithSecrets(secrets...))
	creds, err := c.FetchCredentials(context.Background())
	if len(creds) != 0 || len(akvcreds.FetchErrors(err)) != 20 || !errors.Is(err, akvcreds.ErrUnauthenticated) {
		t.Fatalf("creds %d, err %v", len(creds), err)
	}
	if n := s.Count(akvcredstest.KindToken); n != 1 {
		t.Errorf("%d token requests for one bad credential, want 1", n)
	}
	if n := s.Count(akvcredstest.KindChallenge); n != 1 {
		t.Errorf("%d challenges, want 1", n)
	}
}

// A few 429s, with or without Retry-After, are waited out and retried.
func TestThrottlingIsRetriedAndRecovers(t *testing.T) {
	t.Parallel()
	for _, retryAfter := range []string{"1", ""} {
		t.Run("Retry-After="+retryAfter, func(t *testing.T) {
			t.Parallel()
			s := newServer(t)
			vault := "throttle" + map[string]string{"1": "ra", "": "nora"}[retryAfter]
			s.SetSecret(vault, "a", "1")
			s.SetSecret(vault, "b", "2")
			s.Inject(akvcredstest.Fault{Host: vault + ".vault.azure.net", Path: "/secrets/b", Status: 429, RetryAfter: retryAfter, Count: 2})
			c := newClient(t, s, secretAuth(), akvcreds.WithVaults(vault), akvcreds.WithSecrets("a", "b"))
			creds, err := c.FetchCredentials(context.Background())
			if err != nil || len(creds) != 2 {
				t.Fatalf("creds %v, err %v", names(creds), err)
			}
			got := 0
			for _, r := range s.Requests() {
				if r.Secret == "b" && r.Status == 429 {
					got++
				}
			}
			if got != 2 {
				t.Errorf("%d throttled requests seen, want 2", got)
			}
		})
	}
}

// Transient network failures are retried: a dropped connection, and (the
// vault not answering at all) a failure reported as unavailable.
func TestNetworkFailures(t *testing.T) {
	t.Parallel()
	t.Run("dropped connection is retried", func(t *testing.T) {
		t.Parallel()
		s, c := primedClient(t, "dropper")
		s.Inject(akvcredstest.Fault{Host: "dropper.vault.azure.net", Path: "/secrets/a", Drop: true})
		creds, err := c.FetchCredentials(context.Background())
		if err != nil || len(creds) != 1 {
			t.Fatalf("creds %v, err %v", names(creds), err)
		}
		if n := s.Count(akvcredstest.KindGetSecret); n != 3 {
			t.Errorf("%d gets, want 3 (one dropped)", n)
		}
	})
	t.Run("nothing answers", func(t *testing.T) {
		t.Parallel()
		s := newServer(t)
		s.SetSecret("gone", "a", "1")
		hc := s.Client()
		s.Close() // nothing listens any more
		c := hardClient(t, hc, secretAuth(), akvcreds.WithVaults("gone"), akvcreds.WithSecrets("a"), akvcreds.WithMaxRetries(0))
		_, err := c.FetchCredentials(context.Background())
		fes := akvcreds.FetchErrors(err)
		if len(fes) != 1 || fes[0].Kind != akvcreds.ErrUnavailable || !errors.Is(err, akvcreds.ErrUnavailable) {
			t.Fatalf("want ErrUnavailable, got %v", err)
		}
		checkFetchError(t, fes[0], "gone", akvcreds.ErrUnavailable)
	})
}

// Cancelling the context stops the work promptly; every secret is either
// returned or reported, with the context's error in the chain.
func TestCancelStopsPromptly(t *testing.T) {
	t.Parallel()
	s, secrets := hardServer(t, "cancel", 100)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var gets atomic.Int32
	hc := hardHTTPClient(s, nil, func(r *http.Request, _ *http.Response, _ error) {
		if strings.HasPrefix(r.URL.Path, "/secrets/") && gets.Add(1) == 10 {
			cancel()
		}
	})
	c := hardClient(t, hc, secretAuth(), akvcreds.WithVaults("cancel"), akvcreds.WithSecrets(secrets...), akvcreds.WithConcurrency(4))
	creds, err := c.FetchCredentials(ctx)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("want the context's error in the chain, got %v", err)
	}
	hardAccounted(t, creds, err, hardWant([]string{"cancel"}, secrets))
	for _, fe := range akvcreds.FetchErrors(err) {
		if errors.Is(fe, context.Canceled) {
			checkFetchError(t, fe, "cancel", nil)
		}
	}
	// Once cancelled, at most the requests already in flight were sent.
	if n := s.Count(akvcredstest.KindGetSecret); n > 10+4 {
		t.Errorf("%d gets: the work did not stop", n)
	}
}

// A vault that does not exist does not resolve in DNS: reported once per
// secret with the fix, without retrying for seconds.
func TestUnknownVault(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	c := newClient(t, s, secretAuth(), akvcreds.WithVaults("no-such-vault"), akvcreds.WithSecrets("a", "b", "c"))
	creds, err := c.FetchCredentials(context.Background())
	fes := akvcreds.FetchErrors(err)
	if len(creds) != 0 || len(fes) != 3 || !errors.Is(err, akvcreds.ErrUnavailable) {
		t.Fatalf("creds %v err %v", names(creds), err)
	}
	for _, fe := range fes {
		checkFetchError(t, fe, "no-such-vault", akvcreds.ErrUnavailable)
		if !strings.Contains(fe.Remedy, `check the vault name "no-such-vault"`) {
			t.Errorf("no remedy: %v", fe)
		}
	}
}

// Key Vault asks to wait an hour: the read that got the 429 fails, and the
// next call fails at once too, instead of waiting the hour (a call's time
// under persistent 429 is bounded by the throttling budget).
func TestLongRetryAfterFailsAtOnce(t *testing.T) {
	t.Parallel()
	s, c := primedClient(t, "patience")
	s.Inject(akvcredstest.Fault{Host: "patience.vault.azure.net", Path: "/secrets/a", Status: 429, RetryAfter: "3600"})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second) // a safety net, not a measure
	defer cancel()
	for i := range 2 {
		_, err := c.FetchCredentials(ctx)
		if !errors.Is(err, akvcreds.ErrThrottled) || ctx.Err() != nil {
			t.Fatalf("call %d: %v, want ErrThrottled at once", i+1, err)
		}
	}
	if n := s.Count(akvcredstest.KindGetSecret); n != 2 {
		t.Errorf("%d gets, want 2: the second call must not send during the pause", n)
	}
}
