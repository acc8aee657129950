package akvcreds_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/akvcreds/akvcreds"
	"github.com/akvcreds/akvcreds/akvcredstest"
)

// Every failure kind end to end: the good credentials come back, and each
// failure is one *FetchError wrapping the right sentinel whose message says
// what to do.
func TestFailureKinds(t *testing.T) {
	t.Parallel()
	const otherTenant = "11111111-2222-3333-4444-555555555555"
	const otherApp = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
	tests := []struct {
		name    string
		inner   string // FetchError.InnerCode
		setup   func(s *akvcredstest.Server, vault string)
		auth    akvcreds.Option
		opts    []akvcreds.Option
		secret  string // the failing secret ("" for a vault-level failure)
		kind    error
		message []string // substrings of the error
		okToo   bool     // the vault's good secret still comes back
	}{
		{
			name:    "not found",
			secret:  "missing",
			kind:    akvcreds.ErrNotFound,
			message: []string{"SecretNotFound", `no secret "missing"`, "HTTP 404"},
			okToo:   true,
		},
		{
			name:    "disabled",
			inner:   "SecretDisabled",
			setup:   func(s *akvcredstest.Server, v string) { s.SetSecret(v, "off", "x", akvcredstest.Disabled()) },
			secret:  "off",
			kind:    akvcreds.ErrDisabled,
			message: []string{"SecretDisabled", "enable it"},
			okToo:   true,
		},
		{
			name:  "forbidden by RBAC",
			inner: "ForbiddenByRbac",
			setup: func(s *akvcredstest.Server, v string) {
				s.SetPermissions(v, akvcredstest.DefaultClientID, akvcredstest.Permissions{List: true})
			},
			secret:  "good",
			kind:    akvcreds.ErrForbidden,
			message: []string{"ForbiddenByRbac", `"Key Vault Secrets User" role`, "HTTP 403"},
		},
		{
			name:  "access policy lacks Get",
			inner: "AccessDenied",
			setup: func(s *akvcredstest.Server, v string) {
				s.AddVault(v, akvcredstest.VaultAccessPolicy())
				s.SetPermissions(v, akvcredstest.DefaultClientID, akvcredstest.Permissions{List: true})
			},
			secret:  "good",
			kind:    akvcreds.ErrForbidden,
			message: []string{"AccessDenied", `"Get" permission`, "access policy"},
		},
		{
			name:    "firewall",
			inner:   "ForbiddenByFirewall",
			setup:   func(s *akvcredstest.Server, v string) { s.SetFirewall(v, true) },
			secret:  "good",
			kind:    akvcreds.ErrForbidden,
			message: []string{"ForbiddenByFirewall", "firewall", "Networking"},
		},
		{
			name:    "wrong client secret",
			auth:    akvcreds.WithClientSecret(akvcredstest.DefaultTenantID, akvcredstest.DefaultClientID, "not-the-secret"),
			secret:  "good",
			kind:    akvcreds.ErrUnauthenticated,
			message: []string{"AADSTS7000215", "Value", "Secret ID"},
		},
		{
			name:    "unknown application",
			auth:    akvcreds.WithClientSecret(akvcredstest.DefaultTenantID, otherApp, "whatever"),
			secret:  "good",
			kind:    akvcreds.ErrUnauthenticated,
			message: []string{"AADSTS700016", "client (application) ID"},
		},
		{
			// A mistyped tenant ID never reaches Entra ID: the vault's
			// challenge names its real tenant, and akvcreds names both.
			name:    "mistyped tenant ID",
			auth:    akvcreds.WithClientSecret(otherTenant, akvcredstest.DefaultClientID, akvcredstest.DefaultClientSecret),
			secret:  "good",
			kind:    akvcreds.ErrUnauthenticated,
			message: []string{akvcredstest.DefaultTenantID, otherTenant, "use the vault's tenant ID"},
		},
		{
			name: "vault in another tenant",
			setup: func(s *akvcredstest.Server, v string) {
				s.AddTenant(otherTenant)
				s.AddApp(otherTenant, otherApp, "other-secret")
			},
			auth:    akvcreds.WithClientSecret(otherTenant, otherApp, "other-secret"),
			secret:  "good",
			kind:    akvcreds.ErrUnauthenticated,
			message: []string{akvcredstest.DefaultTenantID, otherTenant, "configured for tenant"},
		},
		{
			name: "throttled for longer than akvcreds waits",
			setup: func(s *akvcredstest.Server, v string) {
				s.SetRateLimit(v, 1, time.Hour, true) // Retry-After ≈ 3600 s
			},
			secret:  "missing", // the second request is throttled
			kind:    akvcreds.ErrThrottled,
			message: []string{"Throttled", "HTTP 429", "WithConcurrency"},
			okToo:   true,
		},
		{
			name: "persistent 5xx",
			setup: func(s *akvcredstest.Server, v string) {
				s.Inject(akvcredstest.Fault{Host: v + ".vault.azure.net", Path: "/secrets/missing", Status: 503, Count: 100})
			},
			opts:    []akvcreds.Option{akvcreds.WithMaxRetries(1)},
			secret:  "missing",
			kind:    akvcreds.ErrUnavailable,
			message: []string{"HTTP 503", "network path"},
			okToo:   true,
		},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newServer(t)
			vault := "kinds" + string(rune('a'+i))
			s.SetSecret(vault, "good", "good-value")
			if tt.setup != nil {
				tt.setup(s, vault)
			}
			auth := tt.auth
			if auth == nil {
				auth = secretAuth()
			}
			secrets := []string{"good"}
			if tt.secret != "good" {
				secrets = append(secrets, tt.secret)
			}
			opts := append([]akvcreds.Option{auth, akvcreds.WithVaults(vault), akvcreds.WithSecrets(secrets...), akvcreds.WithConcurrency(1)}, tt.opts...)
			c := newClient(t, s, opts...)
			creds, err := c.FetchCredentials(context.Background())
			if tt.okToo {
				if len(creds) != 1 || creds[0].Password.Reveal() != "good-value" {
					t.Errorf("the good secret did not come back: %v", names(creds))
				}
			}
			fes := akvcreds.FetchErrors(err)
			var fe *akvcreds.FetchError
			for _, e := range fes {
				if e.Secret == tt.secret {
					fe = e
				}
			}
			if fe == nil {
				t.Fatalf("no FetchError for %q in %v", tt.secret, err)
			}
			if fe.Vault != vault {
				t.Errorf("FetchError.Vault = %q", fe.Vault)
			}
			if fe.InnerCode != tt.inner {
				t.Errorf("FetchError.InnerCode = %q, want %q", fe.InnerCode, tt.inner)
			}
			if !errors.Is(err, tt.kind) || !errors.Is(fe, tt.kind) {
				t.Errorf("error does not wrap %v: %v", tt.kind, fe)
			}
			for _, sub := range tt.message {
				if !strings.Contains(fe.Error(), sub) {
					t.Errorf("message lacks %q:\n%s", sub, fe.Error())
				}
			}
			if len(creds)+len(fes) != len(secrets) {
				t.Errorf("%d credentials + %d errors for %d secrets: something went missing", len(creds), len(fes), len(secrets))
			}
		})
	}
}

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
	if msg := fes[0].Error(); !strings.Contains(msg, `"List" permission`) || !strings.Contains(msg, "WithSecrets") {
		t.Errorf("message does not explain the List permission: %s", msg)
	}
}

// A token that cannot be had fails every secret of the vault, but the
// token endpoint is asked only once: the others are reported without
// repeating the request.
func TestAuthFailureIsNotRepeatedPerSecret(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	var secrets []string
	for i := range 20 {
		secrets = append(secrets, "s"+string(rune('a'+i)))
		s.SetSecret("authfail", secrets[i], "v")
	}
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

func TestThrottlingIsRetriedAndRecovers(t *testing.T) {
	t.Parallel()
	for _, retryAfter := range []string{"1", ""} {
		t.Run("Retry-After="+retryAfter, func(t *testing.T) {
			t.Parallel()
			s := newServer(t)
			host := "throttle" + map[string]string{"1": "ra", "": "nora"}[retryAfter]
			s.SetSecret(host, "a", "1")
			s.SetSecret(host, "b", "2")
			s.Inject(akvcredstest.Fault{Host: host + ".vault.azure.net", Path: "/secrets/b", Status: 429, RetryAfter: retryAfter, Count: 2})
			c := newClient(t, s, secretAuth(), akvcreds.WithVaults(host), akvcreds.WithSecrets("a", "b"))
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

func TestDroppedConnectionIsRetried(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	s.SetSecret("dropper", "a", "1")
	c := newClient(t, s, secretAuth(), akvcreds.WithVaults("dropper"), akvcreds.WithSecrets("a"))
	if _, err := c.FetchCredentials(context.Background()); err != nil { // authenticate
		t.Fatal(err)
	}
	s.Inject(akvcredstest.Fault{Host: "dropper.vault.azure.net", Path: "/secrets/a", Drop: true})
	creds, err := c.FetchCredentials(context.Background())
	if err != nil || len(creds) != 1 {
		t.Fatalf("creds %v, err %v", names(creds), err)
	}
}

func TestNetworkFailureIsUnavailable(t *testing.T) {
	t.Parallel()
	s := akvcredstest.NewTestServer(t)
	hc := s.Client()
	s.Close() // nothing listens any more
	c, err := akvcreds.New(secretAuth(), akvcreds.WithHTTPClient(hc), akvcreds.WithVaults("gone"), akvcreds.WithSecrets("a"), akvcreds.WithMaxRetries(0))
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.FetchCredentials(context.Background())
	if !errors.Is(err, akvcreds.ErrUnavailable) {
		t.Fatalf("want ErrUnavailable, got %v", err)
	}
}

// Cancelling the context stops the work promptly; every secret is either
// returned or reported, with the context's error in the chain.
func TestCancelStopsPromptly(t *testing.T) {
	t.Parallel()
	s := newServer(t, akvcredstest.WithLatency(200*time.Millisecond, 200*time.Millisecond))
	var secrets []string
	for i := range 100 {
		name := "c" + string(rune('a'+i%26)) + string(rune('a'+i/26))
		secrets = append(secrets, name)
		s.SetSecret("cancel", name, "v")
	}
	c := newClient(t, s, secretAuth(), akvcreds.WithVaults("cancel"), akvcreds.WithSecrets(secrets...), akvcreds.WithConcurrency(4))
	ctx, cancel := context.WithTimeout(context.Background(), 900*time.Millisecond)
	defer cancel()
	creds, err := c.FetchCredentials(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("want the context's error in the chain, got %v", err)
	}
	if got := len(creds) + len(akvcreds.FetchErrors(err)); got != 100 {
		t.Errorf("%d of 100 secrets accounted for", got)
	}
	// 100 secrets at 4 × 200 ms would take 5 s; far fewer requests were made.
	if n := s.Count(akvcredstest.KindGetSecret); n > 40 {
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
	if len(creds) != 0 || len(akvcreds.FetchErrors(err)) != 3 || !errors.Is(err, akvcreds.ErrUnavailable) {
		t.Fatalf("creds %v err %v", names(creds), err)
	}
	if !strings.Contains(err.Error(), `check the vault name "no-such-vault"`) {
		t.Errorf("no remedy: %v", err)
	}
}
