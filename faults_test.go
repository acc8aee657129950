package akvcreds_test

// Fault injection: dropped connections, bursts of 5xx, the token endpoint
// down, slow and truncated answers, tokens expiring mid-fetch, clock skew
// and cancellation mid-flight; then a hostile or degraded Azure (issue 18):
// an http.RoundTripper in front of the emulator rewrites what "Azure"
// answers where the emulator cannot say it — malformed, endless, looping or
// throttled answers. Whatever happens, the call returns by itself (no
// crash, no spin), in bounded time and memory, and no credential asked for
// goes missing or is invented: each is returned with its own value or
// reported by a *FetchError that wraps a sentinel (or the context's error).
// No goroutine outlives the test (TestMain runs goleak). internal/azure
// tests the same answers at the adapter level.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/akvcreds/akvcreds"
	"github.com/akvcreds/akvcreds/akvcredstest"
	"github.com/akvcreds/akvcreds/internal/testutil"
)

// faultRetried fetches the n secrets s00, s01, ... of a new vault, by name,
// with faults injected (for the vault's host unless they name one), and
// fails t unless every one is returned: the faults were retried (or, for
// delays, waited out). It returns the emulator, for counting.
func faultRetried(t *testing.T, vault string, n int, faults ...akvcredstest.Fault) *akvcredstest.Server {
	t.Helper()
	s, secrets := hardServer(t, vault, n)
	for _, f := range faults {
		if f.Host == "" {
			f.Host = vault + ".vault.azure.net"
		}
		s.Inject(f)
	}
	c := newClient(t, s, secretAuth(), akvcreds.WithVaults(vault), akvcreds.WithSecrets(secrets...))
	creds, err := c.FetchCredentials(context.Background())
	hardAccounted(t, creds, err, hardWant([]string{vault}, secrets))
	if err != nil {
		t.Errorf("the faults were not retried: %v", err)
	}
	return s
}

// hardIsGet reports whether r is an authenticated get of secret in any vault.
func hardIsGet(r *http.Request, secret string) bool {
	return r.Method == http.MethodGet && r.Header.Get("Authorization") != "" &&
		(r.URL.Path == "/secrets/"+secret || r.URL.Path == "/secrets/"+secret+"/")
}

// hardCount counts the logged requests that match.
func hardCount(s *akvcredstest.Server, match func(akvcredstest.Request) bool) int {
	n := 0
	for _, r := range s.Requests() {
		if match(r) {
			n++
		}
	}
	return n
}

// hardGroup runs subtests at once, each from its own goroutine, as they
// are added. They spend their time waiting (retry backoffs, injected
// delays), not computing, so they do not queue for go test's -parallel
// slots (GOMAXPROCS of them: two on a 2-core CI machine) as t.Parallel
// subtests would.
type hardGroup struct {
	t  *testing.T
	wg sync.WaitGroup
}

func newHardGroup(t *testing.T) *hardGroup { return &hardGroup{t: t} }

// Run starts the subtest in its own goroutine.
func (g *hardGroup) Run(name string, f func(*testing.T)) {
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		g.t.Run(name, f)
	}()
}

// Wait waits for every subtest started with Run.
func (g *hardGroup) Wait() { g.wg.Wait() }

// TestFaults runs every fault-injection scenario, all at once.
func TestFaults(t *testing.T) {
	t.Parallel()
	g := newHardGroup(t)
	defer g.Wait()
	g.Run("dropped connections", faultDroppedConnections)
	g.Run("5xx bursts", fault5xxBursts)
	g.Run("token endpoint down", faultTokenEndpointDown)
	g.Run("slow and truncated answers", faultSlowAndTruncated)
	g.Run("token expires mid-fetch", faultTokenExpiresMidFetch)
	g.Run("clock skew", faultClockSkew)
	g.Run("cancelled mid-flight", faultCancelMidFlight)
}

func faultDroppedConnections(t *testing.T) {
	g := newHardGroup(t)
	defer g.Wait()
	ctx := context.Background()

	// A secret's connection dropped (or its answer cut off halfway) once,
	// or every time.
	for _, tc := range []struct {
		vault, once, always string
		fault               akvcredstest.Fault
	}{
		{"drop", "one drop per secret is retried", "a secret whose connections always drop is reported", akvcredstest.Fault{Drop: true}},
		{"cut", "each answer truncated once is retried", "a secret whose answers are always truncated is reported", akvcredstest.Fault{Truncate: true}},
	} {
		g.Run(tc.once, func(t *testing.T) {
			var faults []akvcredstest.Fault
			for i := range 8 {
				f := tc.fault
				f.Path = fmt.Sprintf("/secrets/s%02d/", i)
				faults = append(faults, f)
			}
			s := faultRetried(t, tc.vault+"-once", 8, faults...)
			if n := hardCount(s, func(r akvcredstest.Request) bool { return r.Status == 0 }); tc.fault.Drop && n != 8 {
				t.Errorf("%d dropped requests, want 8", n)
			}
		})

		g.Run(tc.always, func(t *testing.T) {
			s := newServer(t)
			vault := tc.vault + "-always"
			secrets := hardSecrets(s, vault, 6)
			var sent safetySent
			c := hardClient(t, sent.client(s), secretAuth(), akvcreds.WithVaults(vault), akvcreds.WithSecrets(secrets...), akvcreds.WithMaxRetries(2))
			// Authenticate first: were s03 the request that meets the
			// challenge, its tries would all go without a token.
			if _, err := c.FetchCredential(ctx, vault+"/s00"); err != nil {
				t.Fatal(err)
			}
			f := tc.fault
			f.Host, f.Path, f.Count = vault+".vault.azure.net", "/secrets/s03/", 1000
			s.Inject(f)
			creds, err := c.FetchCredentials(ctx)
			reports := hardAccounted(t, creds, err, hardWant([]string{vault}, secrets))
			if len(reports) != 1 {
				t.Errorf("%d reported, want only s03: %v", len(reports), err)
			}
			mustReport(t, reports[vault+"/s03"], akvcreds.ErrUnavailable)
			if n := sent.count(readSent(vault, "s03")); n != 3 {
				t.Errorf("s03 was tried %d times, want 1 + 2 retries", n)
			}
		})
	}

	g.Run("every connection to the vault drops", func(t *testing.T) {
		s, secrets := hardServer(t, "drop-all", 5)
		s.SetSecret("drop-none", "s00", hardSecretValue("drop-none", "s00"))
		s.Inject(akvcredstest.Fault{Host: "drop-all.vault.azure.net", Drop: true, Count: 1000})
		c := newClient(t, s, secretAuth(), akvcreds.WithVaults("drop-all", "drop-none"), akvcreds.WithSecrets(secrets...), akvcreds.WithMaxRetries(1))
		creds, err := c.FetchCredentials(ctx)
		// drop-none has s00 only: the others are not found there.
		reports := hardAccounted(t, creds, err, hardWant([]string{"drop-all", "drop-none"}, secrets))
		for _, n := range secrets {
			mustReport(t, reports["drop-all/"+n], akvcreds.ErrUnavailable)
			if n != "s00" {
				mustReport(t, reports["drop-none/"+n], akvcreds.ErrNotFound)
			}
		}
		if len(creds) != 1 || creds[0].Name != "drop-none/s00" {
			t.Errorf("returned %v, want drop-none/s00", names(creds))
		}
	})

	for name, f := range map[string]akvcredstest.Fault{"dropped": {Drop: true}, "truncated": {Truncate: true}} {
		g.Run("a "+name+" list page is retried", func(t *testing.T) {
			s := newServer(t, akvcredstest.WithPageSize(3))
			vault := name + "-list"
			secrets := hardSecrets(s, vault, 7)
			c := newClient(t, s, secretAuth(), akvcreds.WithVaults(vault))
			if _, err := c.FetchCredential(ctx, vault+"/s00"); err != nil { // authenticate
				t.Fatal(err)
			}
			// The next request is the first list page.
			f.Host, f.Path = vault+".vault.azure.net", "/secrets"
			s.Inject(f)
			creds, err := c.FetchCredentials(ctx)
			hardAccounted(t, creds, err, hardWant([]string{vault}, secrets))
			if err != nil || len(creds) != len(secrets) {
				t.Errorf("listing after a %s page: %d credentials, %v", name, len(creds), err)
			}
		})
	}
}

func fault5xxBursts(t *testing.T) {
	g := newHardGroup(t)
	defer g.Wait()
	ctx := context.Background()
	for _, status := range []int{408, 500, 502, 503, 504} {
		g.Run(fmt.Sprintf("a burst of three %d is retried", status), func(t *testing.T) {
			// Three failures in a row across the vault: no secret can see more
			// than the three retries it has.
			s := faultRetried(t, fmt.Sprintf("burst-%d", status), 6, akvcredstest.Fault{Status: status, Count: 3})
			if n := hardCount(s, func(r akvcredstest.Request) bool { return r.Status == status }); n != 3 {
				t.Errorf("%d answers of %d, want 3", n, status)
			}
		})
	}

	g.Run("bursts longer than the retries are reported, the rest is returned", func(t *testing.T) {
		s, secrets := hardServer(t, "burst-mixed", 6)
		host := "burst-mixed.vault.azure.net"
		s.Inject(akvcredstest.Fault{Host: host, Path: "/secrets/s00/", Status: 500, Count: 1})
		s.Inject(akvcredstest.Fault{Host: host, Path: "/secrets/s01/", Status: 502, Count: 2})
		s.Inject(akvcredstest.Fault{Host: host, Path: "/secrets/s02/", Status: 503, Count: 4}) // 1 + 3 retries
		s.Inject(akvcredstest.Fault{Host: host, Path: "/secrets/s03/", Status: 504, Count: 3})
		s.Inject(akvcredstest.Fault{Host: host, Path: "/secrets/s04/", Status: 500, Count: 1000})
		c := newClient(t, s, secretAuth(), akvcreds.WithVaults("burst-mixed"), akvcreds.WithSecrets(secrets...))
		creds, err := c.FetchCredentials(ctx)
		reports := hardAccounted(t, creds, err, hardWant([]string{"burst-mixed"}, secrets))
		if len(reports) != 2 {
			t.Errorf("reported %d, want s02 and s04: %v", len(reports), err)
		}
		for _, n := range []string{"s02", "s04"} {
			fe := reports["burst-mixed/"+n]
			mustReport(t, fe, akvcreds.ErrUnavailable)
			if fe != nil && !strings.Contains(fe.Error(), "HTTP 50") {
				t.Errorf("%s: the message does not give Azure's status: %v", n, fe)
			}
		}
	})

	g.Run("a failing list page is reported with what was listed before it", func(t *testing.T) {
		s, secrets := hardServer(t, "burst-list", 5, akvcredstest.WithPageSize(2))
		// Every list page after the first fails with 503, without being sent
		// (the emulator's faults match paths by prefix, and "/secrets" is a
		// prefix of every get); gets are answered.
		hc := hostileFunc(func(r *http.Request, next http.RoundTripper) (*http.Response, error) {
			if isPage(r, "burst-list", true) {
				return hostileAnswer(r, http.StatusServiceUnavailable, `{"error":{"code":"ServiceUnavailable","message":"Service Unavailable"}}`,
					"X-Ms-Request-Id", "00000000-0000-4000-8000-000000000503"), nil
			}
			return next.RoundTrip(r)
		}).client(s, nil)
		c := hardClient(t, hc, secretAuth(), akvcreds.WithVaults("burst-list"), akvcreds.WithMaxRetries(1))
		creds, err := c.FetchCredentials(ctx)
		reports := hardAccounted(t, creds, err, hardWant([]string{"burst-list"}, secrets))
		mustReport(t, reports["burst-list/"], akvcreds.ErrUnavailable)
		if len(creds) != 2 {
			t.Errorf("returned %v, want the first page's s00 and s01", names(creds))
		}
	})
}

func faultTokenEndpointDown(t *testing.T) {
	g := newHardGroup(t)
	defer g.Wait()
	ctx := context.Background()
	tokenPath := "/" + akvcredstest.DefaultTenantID + "/oauth2/v2.0/token"
	for _, tc := range []struct {
		name  string
		fault akvcredstest.Fault
	}{
		{"503", akvcredstest.Fault{Host: "login.microsoftonline.com", Path: tokenPath, Status: 503, Count: 1000}},
		{"dropped", akvcredstest.Fault{Host: "login.microsoftonline.com", Path: tokenPath, Drop: true, Count: 1000}},
	} {
		g.Run("Entra ID "+tc.name, func(t *testing.T) {
			s, secrets := hardServer(t, "token-down", 10)
			s.Inject(tc.fault)
			c := newClient(t, s, secretAuth(), akvcreds.WithVaults("token-down"), akvcreds.WithSecrets(secrets...))
			creds, err := c.FetchCredentials(ctx)
			reports := hardAccounted(t, creds, err, hardWant([]string{"token-down"}, secrets))
			for _, n := range secrets {
				mustReport(t, reports["token-down/"+n], akvcreds.ErrUnavailable)
			}
			// One token attempt (with the SDK's own retries) for the vault,
			// not one per secret.
			tokens := s.Count(akvcredstest.KindToken)
			if tokens == 0 || tokens > 4 {
				t.Errorf("%d token requests for %d secrets, want 1 to 4", tokens, len(secrets))
			}
			t.Logf("token endpoint %s: %d token requests for %d secrets", tc.name, tokens, len(secrets))

			// Back up: the same Client recovers.
			s.ClearFaults()
			creds, err = c.FetchCredentials(ctx)
			hardAccounted(t, creds, err, hardWant([]string{"token-down"}, secrets))
			if err != nil {
				t.Errorf("after the token endpoint recovered: %v", err)
			}
		})
	}

	g.Run("Entra ID transient 503", func(t *testing.T) {
		faultRetried(t, "token-blip", 4, akvcredstest.Fault{Host: "login.microsoftonline.com", Path: tokenPath, Status: 503})
	})

	g.Run("Entra ID truncated token response", func(t *testing.T) {
		s, secrets := hardServer(t, "token-cut", 4)
		s.Inject(akvcredstest.Fault{Host: "login.microsoftonline.com", Path: tokenPath, Truncate: true})
		c := newClient(t, s, secretAuth(), akvcreds.WithVaults("token-cut"), akvcreds.WithSecrets(secrets...))
		creds, err := c.FetchCredentials(ctx)
		hardAccounted(t, creds, err, hardWant([]string{"token-cut"}, secrets))
		creds, err = c.FetchCredentials(ctx)
		hardAccounted(t, creds, err, hardWant([]string{"token-cut"}, secrets))
		if err != nil {
			t.Errorf("the next fetch did not recover: %v", err)
		}
	})

	for i, tc := range []struct {
		name  string
		count int
	}{{"IMDS down", 1000}, {"IMDS transient 503", 2}} {
		g.Run(tc.name, func(t *testing.T) {
			s := newServer(t)
			// A user-assigned identity of its own: no token cache is shared.
			id := fmt.Sprintf("00000000-0000-4000-8000-0000000fa11%d", i)
			s.AddManagedIdentity(akvcredstest.ManagedIdentity{ClientID: id})
			secrets := hardSecrets(s, "imds-down", 10)
			s.Inject(akvcredstest.Fault{Host: "169.254.169.254", Status: 503, Count: tc.count})
			c := newClient(t, s, akvcreds.WithUserAssignedIdentity(id), akvcreds.WithVaults("imds-down"), akvcreds.WithSecrets(secrets...))
			creds, err := c.FetchCredentials(ctx)
			reports := hardAccounted(t, creds, err, hardWant([]string{"imds-down"}, secrets))
			imds := s.Count(akvcredstest.KindIMDS)
			if tc.count > 4 {
				for _, n := range secrets {
					mustReport(t, reports["imds-down/"+n], akvcreds.ErrUnavailable)
				}
				// Bounded retries for the vault, not a storm per secret.
				if imds != 4 {
					t.Errorf("%d IMDS requests for %d secrets, want 4 (one bounded retry sequence)", imds, len(secrets))
				}
				s.ClearFaults()
				creds, err = c.FetchCredentials(ctx)
				hardAccounted(t, creds, err, hardWant([]string{"imds-down"}, secrets))
				if err != nil {
					t.Errorf("after IMDS recovered: %v", err)
				}
			} else {
				if err != nil {
					t.Errorf("transient IMDS failures were not retried: %v", err)
				}
				if imds != tc.count+1 {
					t.Errorf("%d IMDS requests, want %d", imds, tc.count+1)
				}
			}
		})
	}
}

func faultSlowAndTruncated(t *testing.T) {
	g := newHardGroup(t)
	defer g.Wait()
	ctx := context.Background()

	g.Run("slow answers", func(t *testing.T) {
		faultRetried(t, "slow-all", 6, akvcredstest.Fault{Delay: 300 * time.Millisecond, Count: 1000})
	})

	g.Run("an answer slower than the deadline", func(t *testing.T) {
		s, secrets := hardServer(t, "slow-one", 6)
		c := newClient(t, s, secretAuth(), akvcreds.WithVaults("slow-one"), akvcreds.WithSecrets(secrets...))
		if _, err := c.FetchCredential(ctx, "slow-one/s00"); err != nil { // authenticate
			t.Fatal(err)
		}
		s.Inject(akvcredstest.Fault{Host: "slow-one.vault.azure.net", Path: "/secrets/s04/", Delay: time.Hour})
		dctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		reports := hardFetch(t, dctx, c, "slow-one", secrets)
		mustCancel(t, reports["slow-one/s04"], context.DeadlineExceeded)
	})

	g.Run("truncated error answers", func(t *testing.T) {
		s, secrets := hardServer(t, "cut-error", 4)
		s.SetSecret("cut-error", "off", "x", akvcredstest.Disabled())
		c := newClient(t, s, secretAuth(), akvcreds.WithVaults("cut-error"), akvcreds.WithSecrets(append(secrets, "off", "absent")...), akvcreds.WithMaxRetries(1))
		if _, err := c.FetchCredential(ctx, "cut-error/s00"); err != nil { // authenticate
			t.Fatal(err)
		}
		for _, p := range []string{"/secrets/off/", "/secrets/absent/", "/secrets/s01/"} {
			s.Inject(akvcredstest.Fault{Host: "cut-error.vault.azure.net", Path: p, Status: 403, Truncate: true, Count: 1000})
		}
		creds, err := c.FetchCredentials(ctx)
		reports := hardAccounted(t, creds, err, hardWant([]string{"cut-error"}, append(secrets, "off", "absent")))
		if len(reports) != 3 {
			t.Errorf("reported %d, want off, absent and s01: %v", len(reports), err)
		}
	})
}

func faultTokenExpiresMidFetch(t *testing.T) {
	g := newHardGroup(t)
	defer g.Wait()
	ctx := context.Background()

	g.Run("the fetch outlives its tokens", func(t *testing.T) {
		// Each request takes 100 ms and tokens live 3 s (Key Vault counts
		// whole seconds: 2 to 3 s): 90 secrets two at a time outlast the
		// first token. The requests in flight when it expires are rejected
		// (401 [TokenExpired]); the SDK's challenge handling gets a new
		// token and repeats them. (With 2 s tokens, a loaded CI machine
		// sometimes took over a second to repeat a request, and its new
		// token had expired too.)
		s, secrets := hardServer(t, "expiring", 90, akvcredstest.WithTokenLifetime(3*time.Second), akvcredstest.WithLatency(100*time.Millisecond, 100*time.Millisecond))
		c := newClient(t, s, secretAuth(), akvcreds.WithVaults("expiring"), akvcreds.WithSecrets(secrets...), akvcreds.WithConcurrency(2))
		creds, err := c.FetchCredentials(ctx)
		hardAccounted(t, creds, err, hardWant([]string{"expiring"}, secrets))
		if err != nil {
			t.Errorf("tokens expiring during the fetch: %v", err)
		}
		t.Logf("%d token requests; %d requests rejected with an expired token and repeated",
			s.Count(akvcredstest.KindToken), hardCount(s, func(r akvcredstest.Request) bool { return r.Authorization && r.Status == 401 }))
		if n := s.Count(akvcredstest.KindToken); n < 2 {
			t.Errorf("%d token requests: the fetch did not outlive a token", n)
		}
		if n := s.Count(akvcredstest.KindChallenge); n != 1 {
			t.Errorf("%d challenges, want 1", n)
		}
	})

	g.Run("every token expires in transit", func(t *testing.T) {
		// Tokens live 1 s, every request takes 1.1 s: each token has expired
		// when Key Vault checks it, however often it is renewed.
		s, secrets := hardServer(t, "expired", 6, akvcredstest.WithTokenLifetime(time.Second), akvcredstest.WithLatency(1100*time.Millisecond, 1100*time.Millisecond))
		c := newClient(t, s, secretAuth(), akvcreds.WithVaults("expired"), akvcreds.WithSecrets(secrets...))
		creds, err := c.FetchCredentials(ctx)
		reports := hardAccounted(t, creds, err, hardWant([]string{"expired"}, secrets))
		for _, n := range secrets {
			fe := reports["expired/"+n]
			mustReport(t, fe, akvcreds.ErrUnauthenticated)
		}
		if fe := reports["expired/s00"]; fe != nil && !strings.Contains(fe.Error()+fmt.Sprint(akvcreds.FetchErrors(err)), "TokenExpired") {
			t.Errorf("no report names the expired token: %v", err)
		}
		// Decided once for the vault, not retried per secret.
		if n := s.Count(akvcredstest.KindGetSecret); n > 4 {
			t.Errorf("%d authenticated gets for a token that always expires, want at most 4", n)
		}
	})
}

func faultClockSkew(t *testing.T) {
	g := newHardGroup(t)
	defer g.Wait()
	ctx := context.Background()
	for i, skew := range []time.Duration{-2 * time.Hour, -10 * time.Minute, 10 * time.Minute, 2 * time.Hour} {
		for j, auth := range []string{"client secret", "managed identity"} {
			g.Run(fmt.Sprintf("%s/server clock %+v", auth, skew), func(t *testing.T) {
				// The emulator's clock (tokens' iat/nbf/exp, IMDS expires_on,
				// Key Vault's expiry check) is off from the client's.
				s := newServer(t, akvcredstest.WithClock(func() time.Time { return time.Now().Add(skew) }))
				vault := fmt.Sprintf("skew-%d-%d", i, j)
				secrets := hardSecrets(s, vault, 8)
				opt := secretAuth()
				if j == 1 {
					id := fmt.Sprintf("00000000-0000-4000-8000-00000005c%d%d0", i, j)
					s.AddManagedIdentity(akvcredstest.ManagedIdentity{ClientID: id})
					opt = akvcreds.WithUserAssignedIdentity(id)
				}
				c := newClient(t, s, opt, akvcreds.WithVaults(vault), akvcreds.WithSecrets(secrets...), akvcreds.WithConcurrency(2))
				creds, err := c.FetchCredentials(ctx)
				reports := hardAccounted(t, creds, err, hardWant([]string{vault}, secrets))
				tokens := s.Count(akvcredstest.KindToken) + s.Count(akvcredstest.KindIMDS)
				t.Logf("%d token requests for %d secrets", tokens, len(secrets))
				// Entra ID tokens carry a relative lifetime (expires_in): the
				// skew changes nothing. IMDS tokens carry an absolute one
				// (expires_on), read by the client's clock: with the server's
				// clock two hours behind, IMDS issues a token (an hour's
				// lifetime) that had expired an hour before, by the client's
				// clock, when it was issued. Such a token is refused
				// (ErrUnauthenticated, "check this machine's clock") once for
				// the vault: it used to be accepted and fetched again for every
				// request (issue 18 #14).
				expiredOnIssue := j == 1 && skew < -time.Hour
				switch {
				case expiredOnIssue:
					for _, n := range secrets {
						fe := reports[vault+"/"+n]
						mustReport(t, fe, akvcreds.ErrUnauthenticated)
						if fe != nil && !strings.Contains(fe.Error(), "already expired") {
							t.Errorf("%s: the report does not say the token had expired when issued: %v", n, fe)
						}
					}
				case err != nil:
					t.Errorf("with the server's clock %v off: %v", skew, err)
				}
				if tokens != 1 {
					t.Errorf("%d token requests, want 1", tokens)
				}
			})
		}
	}
}

func faultCancelMidFlight(t *testing.T) {
	g := newHardGroup(t)
	defer g.Wait()

	g.Run("a get in flight", func(t *testing.T) {
		s, secrets := hardServer(t, "cancel-get", 12)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var once sync.Once
		hc := hardHTTPClient(s, func(r *http.Request) {
			if hardIsGet(r, "s05") {
				once.Do(func() { go cancel() }) // while the request is under way
			}
		}, nil)
		c := hardClient(t, hc, secretAuth(), akvcreds.WithVaults("cancel-get"), akvcreds.WithSecrets(secrets...), akvcreds.WithConcurrency(3))
		if _, err := c.FetchCredential(context.Background(), "cancel-get/s00"); err != nil { // authenticate
			t.Fatal(err)
		}
		s.Inject(akvcredstest.Fault{Host: "cancel-get.vault.azure.net", Path: "/secrets/s05/", Delay: time.Hour})
		creds, err := c.FetchCredentials(ctx)
		reports := hardAccounted(t, creds, err, hardWant([]string{"cancel-get"}, secrets))
		if !errors.Is(err, context.Canceled) {
			t.Errorf("the error does not wrap context.Canceled: %v", err)
		}
		mustCancel(t, reports["cancel-get/s05"], context.Canceled)
		for _, fe := range reports {
			mustCancel(t, fe, context.Canceled)
		}
	})

	g.Run("the token request in flight", func(t *testing.T) {
		s, secrets := hardServer(t, "cancel-token", 6)
		s.Inject(akvcredstest.Fault{Host: "login.microsoftonline.com", Path: "/" + akvcredstest.DefaultTenantID + "/oauth2/v2.0/token", Delay: time.Hour})
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var once sync.Once
		hc := hardHTTPClient(s, func(r *http.Request) {
			if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/oauth2/v2.0/token") {
				once.Do(func() { go cancel() })
			}
		}, nil)
		c := hardClient(t, hc, secretAuth(), akvcreds.WithVaults("cancel-token"), akvcreds.WithSecrets(secrets...))
		reports := hardFetch(t, ctx, c, "cancel-token", secrets)
		if len(reports) != len(secrets) {
			t.Errorf("%d reported, want all %d", len(reports), len(secrets))
		}
		for _, fe := range reports {
			mustCancel(t, fe, context.Canceled)
		}
	})

	g.Run("a list page in flight", func(t *testing.T) {
		s, secrets := hardServer(t, "cancel-list", 9, akvcredstest.WithPageSize(2))
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		hc := hardHTTPClient(s, func(r *http.Request) {
			if r.URL.Path == "/secrets" && strings.Contains(r.URL.RawQuery, "skiptoken") {
				cancel() // as the second page is asked for
			}
		}, nil)
		c := hardClient(t, hc, secretAuth(), akvcreds.WithVaults("cancel-list"))
		reports := hardFetch(t, ctx, c, "cancel-list", secrets)
		mustCancel(t, reports["cancel-list/"], context.Canceled)
	})

	g.Run("waiting out a throttled vault", func(t *testing.T) {
		s, secrets := hardServer(t, "cancel-pause", 6)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		hc := hardHTTPClient(s, nil, func(r *http.Request, res *http.Response, err error) {
			if err == nil && res.StatusCode == http.StatusTooManyRequests {
				cancel() // the vault now pauses for 110 s
			}
		})
		c := hardClient(t, hc, secretAuth(), akvcreds.WithVaults("cancel-pause"), akvcreds.WithSecrets(secrets...))
		if _, err := c.FetchCredential(context.Background(), "cancel-pause/s00"); err != nil { // authenticate
			t.Fatal(err)
		}
		s.Inject(akvcredstest.Fault{Host: "cancel-pause.vault.azure.net", Status: 429, RetryAfter: "110", Count: 1000})
		type result struct {
			creds []akvcreds.Credential
			err   error
		}
		done := make(chan result, 1)
		go func() {
			creds, err := c.FetchCredentials(ctx)
			done <- result{creds, err}
		}()
		// A watchdog, not a measurement: the pause is 110 s.
		select {
		case r := <-done:
			reports := hardAccounted(t, r.creds, r.err, hardWant([]string{"cancel-pause"}, secrets))
			if len(reports) != len(secrets) {
				t.Errorf("%d reported, want all %d", len(reports), len(secrets))
			}
			if !errors.Is(r.err, context.Canceled) {
				t.Errorf("the error does not wrap context.Canceled: %v", r.err)
			}
		case <-time.After(60 * time.Second):
			t.Fatal("FetchCredentials kept waiting out Retry-After after the context was cancelled")
		}
	})

	g.Run("cancelled before the call", func(t *testing.T) {
		s, secrets := hardServer(t, "cancel-early", 5)
		c := newClient(t, s, secretAuth(), akvcreds.WithVaults("cancel-early"), akvcreds.WithSecrets(secrets...))
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		reports := hardFetch(t, ctx, c, "cancel-early", secrets)
		if len(reports) != len(secrets) {
			t.Errorf("%d reported, want all %d", len(reports), len(secrets))
		}
		_, err1 := c.FetchCredential(ctx, "cancel-early/s00")
		var fe *akvcreds.FetchError
		if !errors.As(err1, &fe) || !errors.Is(err1, context.Canceled) {
			t.Errorf("FetchCredential = %v, want a *FetchError wrapping context.Canceled", err1)
		}
		if n := len(s.Requests()); n != 0 {
			t.Errorf("%d requests made with a cancelled context", n)
		}
	})

	g.Run("many concurrent calls cancelled together", func(t *testing.T) {
		s, secrets := hardServer(t, "cancel-many", 20, akvcredstest.WithLatency(20*time.Millisecond, 60*time.Millisecond))
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var gets atomic.Int32
		hc := hardHTTPClient(s, func(r *http.Request) {
			if r.Header.Get("Authorization") != "" && gets.Add(1) == 15 {
				cancel()
			}
		}, nil)
		c := hardClient(t, hc, secretAuth(), akvcreds.WithVaults("cancel-many"), akvcreds.WithConcurrency(4))
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if i%2 == 0 {
					creds, err := c.FetchCredentials(ctx, akvcreds.FetchNames(hardWant([]string{"cancel-many"}, secrets)...))
					hardAccounted(t, creds, err, hardWant([]string{"cancel-many"}, secrets))
					return
				}
				cred, err := c.FetchCredential(ctx, "cancel-many/"+secrets[i])
				if err == nil {
					hardAccounted(t, []akvcreds.Credential{cred}, nil, []string{"cancel-many/" + secrets[i]})
				} else {
					hardAccounted(t, nil, err, []string{"cancel-many/" + secrets[i]})
				}
			}()
		}
		wg.Wait()
	})
}

// Issue 18: a hostile or degraded Azure, as a caller of FetchCredentials,
// FetchCredential and Watch sees it.

// hostileFunc answers a request in Azure's place: it passes it on to the
// emulator (next) and changes the answer, or answers by itself.
type hostileFunc func(r *http.Request, next http.RoundTripper) (*http.Response, error)

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// client is the emulator's client with f in front of it; sent, when not
// nil, records every request sent.
func (f hostileFunc) client(s *akvcredstest.Server, sent *safetySent) *http.Client {
	hc := s.Client()
	next := hc.Transport
	hc.Transport = roundTripFunc(func(r *http.Request) (*http.Response, error) {
		if sent != nil {
			sent.record(r)
		}
		return f(r, next)
	})
	return hc
}

// pageSent matches the list pages sent to vault with a token.
func pageSent(vault string) func(safetyRequest) bool {
	return func(r safetyRequest) bool {
		return r.host == vault+".vault.azure.net" && r.auth != "" && r.path == "/secrets"
	}
}

// readSent matches the reads of secret ("" any) sent to vault with a token.
func readSent(vault, secret string) func(safetyRequest) bool {
	return func(r safetyRequest) bool {
		name, ok := strings.CutPrefix(strings.TrimSuffix(r.path, "/"), "/secrets/")
		return r.host == vault+".vault.azure.net" && r.auth != "" && ok && (secret == "" || name == secret)
	}
}

// hostileAnswer is an answer to r made up in Azure's place.
func hostileAnswer(r *http.Request, status int, body string, header ...string) *http.Response {
	rec := httptest.NewRecorder()
	rec.Header().Set("Content-Type", "application/json; charset=utf-8")
	for i := 0; i+1 < len(header); i += 2 {
		rec.Header().Set(header[i], header[i+1])
	}
	rec.WriteHeader(status)
	_, _ = io.WriteString(rec, body)
	res := rec.Result()
	res.ContentLength = int64(len(body))
	res.Request = r
	return res
}

// withBody replaces the body of res (an answer of the emulator) with body.
func withBody(res *http.Response, body io.Reader, length int64) *http.Response {
	_ = res.Body.Close()
	res.Body = io.NopCloser(body)
	res.ContentLength = length
	res.Header.Del("Content-Length")
	return res
}

// editJSON passes r on and, when the answer is a 200, changes its JSON
// object with edit.
func editJSON(r *http.Request, next http.RoundTripper, edit func(map[string]any)) (*http.Response, error) {
	res, err := next.RoundTrip(r)
	if err != nil || res.StatusCode != http.StatusOK {
		return res, err
	}
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	edit(m)
	b, _ = json.Marshal(m)
	return withBody(res, bytes.NewReader(b), int64(len(b))), nil
}

// isRead reports whether r is an authenticated read of a secret of vault.
func isRead(r *http.Request, vault, secret string) bool {
	return r.URL.Hostname() == vault+".vault.azure.net" && hardIsGet(r, secret)
}

// isPage reports whether r is an authenticated list request (a page) of
// vault; page 2 and later carry a skiptoken.
func isPage(r *http.Request, vault string, later bool) bool {
	return r.URL.Hostname() == vault+".vault.azure.net" && r.Header.Get("Authorization") != "" &&
		r.URL.Path == "/secrets" && strings.Contains(r.URL.RawQuery, "skiptoken") == later
}

// endless is a body that never ends; it counts what was read of it.
type endless struct{ read *atomic.Int64 }

func (e endless) Read(p []byte) (int, error) {
	clear(p)
	e.read.Add(int64(len(p)))
	return len(p), nil
}

// hostileLimit is the most a bounded read may take of an endless body: 1 MiB
// and a read buffer.
const hostileLimit = 1<<20 + 64<<10

// mustReport fails t unless fe is reported with kind.
func mustReport(t *testing.T, fe *akvcreds.FetchError, kind error) {
	t.Helper()
	switch {
	case fe == nil:
		t.Errorf("not reported, want %v", kind)
	case !errors.Is(fe, kind) || fe.Kind != kind:
		t.Errorf("%s/%s: %v (kind %v), want %v", fe.Vault, fe.Secret, fe, fe.Kind, kind)
	case hardIsCtxErr(fe):
		t.Errorf("%s/%s: reported as a cancellation: %v", fe.Vault, fe.Secret, fe)
	}
}

// mustCancel fails t unless fe is reported with target, the context's error,
// in its chain.
func mustCancel(t *testing.T, fe *akvcreds.FetchError, target error) {
	t.Helper()
	if fe == nil || !errors.Is(fe, target) {
		t.Errorf("reported %v, want %v in its chain", fe, target)
	}
}

// namedAndListed runs f as two parallel subtests, prefix+"listed=false"
// with the secrets named and prefix+"listed=true" with the vault listed.
func namedAndListed(t *testing.T, prefix string, f func(t *testing.T, listed bool)) {
	for _, listed := range []bool{false, true} {
		t.Run(fmt.Sprintf("%slisted=%v", prefix, listed), func(t *testing.T) {
			t.Parallel()
			f(t, listed)
		})
	}
}

// namedUnless names secrets (WithSecrets) unless the vault is listed.
func namedUnless(listed bool, secrets []string) []akvcreds.Option {
	if listed {
		return nil
	}
	return []akvcreds.Option{akvcreds.WithSecrets(secrets...)}
}

// vaultFailed fails t unless the vault failed as a whole with kind: its
// listing, or, when not listed, each of its secrets.
func vaultFailed(t *testing.T, reports map[string]*akvcreds.FetchError, vault string, secrets []string, listed bool, kind error) {
	t.Helper()
	if listed {
		mustReport(t, reports[vault+"/"], kind)
		return
	}
	for _, n := range secrets {
		mustReport(t, reports[vault+"/"+n], kind)
	}
}

// hostileFetch fetches under a generous deadline and fails t if the call
// only ended with it: a call against a hostile Azure must end by itself.
func hostileFetch(t *testing.T, c *akvcreds.Client, opts ...akvcreds.FetchOption) ([]akvcreds.Credential, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	creds, err := c.FetchCredentials(ctx, opts...)
	if ctx.Err() != nil {
		t.Fatalf("FetchCredentials ended only with its deadline: %v", err)
	}
	return creds, err
}

// A GET answer Key Vault would never send fails that secret alone, as
// ErrMalformed: no panic, no credential with an empty password or another
// secret's identity, nothing read past 1 MiB; the other secrets are
// returned (issue 18 #1, #7, #8, #13).
func TestHostileGetAnswer(t *testing.T) {
	t.Parallel()
	const vault = "hostile-get"
	other := func(m map[string]any) string { return strings.Replace(m["id"].(string), "/s01/", "/s02/", 1) }
	edits := []jsonCase{
		{"id without a name", func(m map[string]any) { m["id"] = "https://" + vault + ".vault.azure.net/" }},
		{"id with an empty name", func(m map[string]any) {
			m["id"] = "https://" + vault + ".vault.azure.net/secrets//0123456789abcdef0123456789abcdef"
		}},
		{"id %zz", func(m map[string]any) { m["id"] = "%zz" }},
		{"id x", func(m map[string]any) { m["id"] = "x" }},
		{"no id", func(m map[string]any) { delete(m, "id") }},
		{"id of another secret", func(m map[string]any) { m["id"] = other(m) }},
		{"id of another vault", func(m map[string]any) {
			m["id"] = strings.Replace(m["id"].(string), vault+".vault.azure.net", "other-vault.vault.azure.net", 1)
		}},
		{"no value", func(m map[string]any) { delete(m, "value") }},
		{"value null", func(m map[string]any) { m["value"] = nil }},
		{"value not a string", func(m map[string]any) { m["value"] = map[string]any{"a": 1} }},
		{"empty object", func(m map[string]any) { clear(m) }},
	}
	answers := badAnswers(edits,
		hostileCase{"1 GiB body", endlessAnswer(1 << 30)},
		hostileCase{"value over 1 MiB", jsonEdit(func(m map[string]any) { m["value"] = strings.Repeat("v", 1<<20) })})
	for _, a := range answers {
		t.Run(a.name, func(t *testing.T) {
			t.Parallel()
			s, secrets := hardServer(t, vault, 4)
			var read atomic.Int64
			var reads atomic.Int32
			hc := hostileFunc(func(r *http.Request, next http.RoundTripper) (*http.Response, error) {
				if !isRead(r, vault, "s01") {
					return next.RoundTrip(r)
				}
				reads.Add(1)
				return a.answer(r, next, &read)
			}).client(s, nil)
			c := hardClient(t, hc, secretAuth(), akvcreds.WithVaults(vault))
			creds, err := hostileFetch(t, c)
			reports := hardAccounted(t, creds, err, hardWant([]string{vault}, secrets))
			if len(reports) != 1 {
				t.Errorf("%d reports, want s01's only: %v", len(reports), err)
			}
			mustReport(t, reports[vault+"/s01"], akvcreds.ErrMalformed)
			if n := read.Load(); n > int64(reads.Load())*hostileLimit {
				t.Errorf("%d bytes read of %d answers: the body was not bounded", n, reads.Load())
			}
			// The same through FetchCredential.
			_, err = c.FetchCredential(context.Background(), vault+"/s01")
			if fe := akvcreds.FetchErrors(err); len(fe) != 1 {
				t.Errorf("FetchCredential = %v, want one *FetchError", err)
			} else {
				mustReport(t, fe[0], akvcreds.ErrMalformed)
			}
		})
	}
}

// A list page Key Vault would never send fails the vault's listing, as
// ErrMalformed: the pages before it are read, nothing of it or after it,
// no secret is read under an empty name, no per-secret error stands in for
// the listing's, and the call never returns "no credentials, no error"
// (issue 18 #1, #6, #9, #13).
func TestHostileListPage(t *testing.T) {
	t.Parallel()
	const vault = "hostile-list"
	item := func(edit func(it map[string]any)) func(map[string]any) {
		return func(m map[string]any) { edit(m["value"].([]any)[0].(map[string]any)) }
	}
	edits := []jsonCase{
		{"item id without a name", item(func(it map[string]any) { it["id"] = "https://" + vault + ".vault.azure.net/" })},
		{"item id with an empty name", item(func(it map[string]any) { it["id"] = "https://" + vault + ".vault.azure.net/secrets/" })},
		{"item id %zz", item(func(it map[string]any) { it["id"] = "%zz" })},
		{"item id x", item(func(it map[string]any) { it["id"] = "x" })},
		{"item without id", item(func(it map[string]any) { delete(it, "id") })},
		{"item id of another vault", item(func(it map[string]any) {
			it["id"] = strings.Replace(it["id"].(string), vault+".vault.azure.net", "other-vault.vault.azure.net", 1)
		})},
		{"item id with a version", item(func(it map[string]any) { it["id"] = it["id"].(string) + "/0123456789abcdef0123456789abcdef" })},
		{"item null", func(m map[string]any) { m["value"].([]any)[0] = nil }},
		{"empty object", func(m map[string]any) { clear(m) }},
		{"value null", func(m map[string]any) { m["value"] = nil }},
		{"value not an array", func(m map[string]any) { m["value"] = "x" }},
	}
	answers := badAnswers(edits)
	for _, a := range answers {
		for _, later := range []bool{false, true} {
			name := a.name + "/page 1"
			want := []string{}
			if later {
				name, want = a.name+"/page 2", []string{vault + "/s00", vault + "/s01"}
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				s, secrets := hardServer(t, vault, 5, akvcredstest.WithPageSize(2))
				calm := hardSecrets(s, "calm-list", 3)
				var read atomic.Int64
				var pages atomic.Int32
				var sent safetySent
				hc := hostileFunc(func(r *http.Request, next http.RoundTripper) (*http.Response, error) {
					if !isPage(r, vault, later) {
						return next.RoundTrip(r)
					}
					pages.Add(1)
					return a.answer(r, next, &read)
				}).client(s, &sent)
				c := hardClient(t, hc, secretAuth(), akvcreds.WithVaults(vault, "calm-list"))
				creds, err := hostileFetch(t, c)
				reports := hardAccounted(t, creds, err, append(hardWant([]string{vault}, secrets), hardWant([]string{"calm-list"}, calm)...))
				if err == nil {
					t.Fatalf("%d credentials and no error", len(creds))
				}
				if len(reports) != 1 {
					t.Errorf("%d reports, want the listing's only: %v", len(reports), err)
				}
				mustReport(t, reports[vault+"/"], akvcreds.ErrMalformed)
				var got []string
				for _, n := range names(creds) {
					if strings.HasPrefix(n, vault+"/") {
						got = append(got, n)
					}
				}
				if fmt.Sprint(got) != fmt.Sprint(want) {
					t.Errorf("returned %v of %s, want %v (the pages before the bad one)", got, vault, want)
				}
				if n := sent.count(readSent(vault, "")) - sent.count(readSent(vault, "s00")) - sent.count(readSent(vault, "s01")); n != 0 {
					t.Errorf("%d reads of %s other than s00 and s01: the bad page was used (%v)", n, vault, sent.snapshot())
				}
				if n := read.Load(); n > int64(pages.Load())*hostileLimit {
					t.Errorf("%d bytes read of %d pages: the body was not bounded", n, pages.Load())
				}
			})
		}
	}
}

// hostileWatch runs Watch over c, cycle after cycle driven by WatchTrigger;
// before cycle i (from 1) it calls before(i). It returns the first n
// batches, failing t unless Watch delivers them before a generous deadline.
func hostileWatch(t *testing.T, c *akvcreds.Client, n int, before func(cycle int)) []akvcreds.Batch {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	trigger := make(chan time.Time, 1)
	var batches []akvcreds.Batch
	err := c.Watch(ctx, time.Hour, func(b akvcreds.Batch) error {
		batches = append(batches, b)
		if len(batches) == n {
			cancel()
			return nil
		}
		before(len(batches))
		trigger <- time.Now()
		return nil
	}, akvcreds.WatchTrigger(trigger))
	if len(batches) < n {
		t.Fatalf("Watch = %v after %d batches, want %d", err, len(batches), n)
	}
	return batches
}

// Watch keeps what it holds when Azure's answer cannot be understood: a
// list page without a value array removes nothing, a read without a value
// changes nothing; the failure is in Batch.Errors (issue 18 #6, #7).
func TestHostileWatchKeeps(t *testing.T) {
	t.Parallel()
	const vault = "hostile-watch"
	tests := []struct {
		name   string
		bad    func(r *http.Request) bool // the requests answered badly from cycle 1 on
		answer hostileAnswerFunc
		want   string // the report: "vault/" or "vault/secret"
	}{
		{"list page {}", func(r *http.Request) bool { return isPage(r, vault, false) },
			fixedAnswer("{}"), vault + "/"},
		{"list page empty", func(r *http.Request) bool { return isPage(r, vault, false) },
			fixedAnswer(""), vault + "/"},
		{"list page value null", func(r *http.Request) bool { return isPage(r, vault, false) },
			jsonEdit(func(m map[string]any) { m["value"] = nil }), vault + "/"},
		{"read without value", func(r *http.Request) bool { return isRead(r, vault, "s01") },
			jsonEdit(func(m map[string]any) { delete(m, "value") }), vault + "/s01"},
		{"read value null", func(r *http.Request) bool { return isRead(r, vault, "s01") },
			jsonEdit(func(m map[string]any) { m["value"] = nil }), vault + "/s01"},
		{"read empty", func(r *http.Request) bool { return isRead(r, vault, "s01") },
			fixedAnswer(""), vault + "/s01"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// The server's clock moves ten minutes before cycle 1, so that s01's
			// new version has another updated time and is read again.
			clock := testutil.NewClock(time.Now())
			s, secrets := hardServer(t, vault, 5, akvcredstest.WithClock(clock.Now))
			var hostile atomic.Bool
			hc := hostileFunc(func(r *http.Request, next http.RoundTripper) (*http.Response, error) {
				if hostile.Load() && tt.bad(r) {
					return tt.answer(r, next, nil)
				}
				return next.RoundTrip(r)
			}).client(s, nil)
			c := hardClient(t, hc, secretAuth(), akvcreds.WithVaults(vault))
			batches := hostileWatch(t, c, 2, func(int) {
				clock.Advance(10 * time.Minute)
				s.SetSecret(vault, "s01", "a new value nobody reads")
				hostile.Store(true)
			})
			if got := batches[0]; len(got.Added) != len(secrets) || len(got.Errors) != 0 {
				t.Fatalf("cycle 0: %d added, errors %v", len(got.Added), got.Errors)
			}
			b := batches[1]
			if len(b.Removed) != 0 || len(b.Changed) != 0 || len(b.Added) != 0 {
				t.Errorf("cycle 1: removed %v, changed %v, added %v; want nothing", names(b.Removed), names(b.Changed), names(b.Added))
			}
			if len(b.Errors) != 1 || b.Errors[0].Vault+"/"+b.Errors[0].Secret != tt.want {
				t.Fatalf("cycle 1 errors %v, want one for %s", b.Errors, tt.want)
			}
			mustReport(t, b.Errors[0], akvcreds.ErrMalformed)
			// Current still holds every secret with its last good value.
			hardAccounted(t, b.Current, nil, hardWant([]string{vault}, secrets))
		})
	}
}

// A nextLink that leads back to a page already listed ends the listing as
// ErrMalformed: the call (and Watch's first cycle) ends, and the secrets
// listed before are returned once each (issue 18 #5).
func TestHostileNextLinkLoop(t *testing.T) {
	t.Parallel()
	const vault = "hostile-loop"
	tests := []struct {
		name string
		// link is the nextLink of a page: first is the first page's URL,
		// self the page's own.
		link  func(first, self string, later bool) string
		pages int // the pages requested: the loop is caught on the next
		want  []string
	}{
		{"page 1 to itself", func(first, self string, later bool) string { return self }, 2, []string{"s00", "s01"}},
		{"page 2 to itself", func(first, self string, later bool) string {
			if later {
				return self
			}
			return ""
		}, 3, []string{"s00", "s01", "s02", "s03"}},
		{"page 2 back to page 1", func(first, self string, later bool) string {
			if later {
				return first
			}
			return ""
		}, 3, []string{"s00", "s01", "s02", "s03"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, secrets := hardServer(t, vault, 5, akvcredstest.WithPageSize(2))
			var mu sync.Mutex
			first := ""
			var sent safetySent
			hc := hostileFunc(func(r *http.Request, next http.RoundTripper) (*http.Response, error) {
				if !isPage(r, vault, false) && !isPage(r, vault, true) {
					return next.RoundTrip(r)
				}
				mu.Lock()
				if first == "" {
					first = r.URL.String()
				}
				link := tt.link(first, r.URL.String(), strings.Contains(r.URL.RawQuery, "skiptoken"))
				mu.Unlock()
				return editJSON(r, next, func(m map[string]any) {
					if link != "" {
						m["nextLink"] = link
					}
				})
			}).client(s, &sent)
			c := hardClient(t, hc, secretAuth(), akvcreds.WithVaults(vault))
			want := hardWant([]string{vault}, tt.want)
			check := func(t *testing.T, creds []akvcreds.Credential, errs []*akvcreds.FetchError) {
				t.Helper()
				if len(errs) != 1 || errs[0].Secret != "" {
					t.Fatalf("errors %v, want the listing's only", errs)
				}
				mustReport(t, errs[0], akvcreds.ErrMalformed)
				if fmt.Sprint(names(creds)) != fmt.Sprint(want) {
					t.Errorf("returned %v, want %v once each", names(creds), want)
				}
			}
			creds, err := hostileFetch(t, c)
			hardAccounted(t, creds, err, hardWant([]string{vault}, secrets))
			check(t, creds, akvcreds.FetchErrors(err))
			if n := sent.count(pageSent(vault)); n != tt.pages {
				t.Errorf("%d pages requested, want %d", n, tt.pages)
			}
			safetyTokensStayHome(t, s, sent.snapshot(), vault+".vault.azure.net")
			b := hostileWatch(t, c, 1, nil)[0]
			check(t, b.Added, b.Errors)
		})
	}
}

// A secret listed twice — on one page or across pages, in any letter case —
// is one credential, read once (issue 18 #5).
func TestHostileDuplicateNames(t *testing.T) {
	t.Parallel()
	const vault = "hostile-dup"
	item := func(name string) string {
		return fmt.Sprintf(`{"id":"https://%s.vault.azure.net/secrets/%s","attributes":{"enabled":true,"updated":1700000000}}`, vault, name)
	}
	page := func(next string, names ...string) string {
		items := make([]string, len(names))
		for i, n := range names {
			items[i] = item(n)
		}
		link := "null"
		if next != "" {
			link = fmt.Sprintf("%q", next)
		}
		return fmt.Sprintf(`{"value":[%s],"nextLink":%s}`, strings.Join(items, ","), link)
	}
	page2 := "https://" + vault + ".vault.azure.net:443/secrets?api-version=7.6&$skiptoken=2"
	for name, pages := range map[string][2]string{
		"one page":  {page("", "dup", "DUP", "dup"), ""},
		"two pages": {page(page2, "dup"), page("", "DUP", "dup", "Dup")},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := newServer(t)
			s.SetSecret(vault, "dup", hardSecretValue(vault, "dup"))
			var sent safetySent
			hc := hostileFunc(func(r *http.Request, next http.RoundTripper) (*http.Response, error) {
				switch {
				case isPage(r, vault, false):
					return hostileAnswer(r, 200, pages[0]), nil
				case isPage(r, vault, true):
					return hostileAnswer(r, 200, pages[1]), nil
				}
				return next.RoundTrip(r)
			}).client(s, &sent)
			c := hardClient(t, hc, secretAuth(), akvcreds.WithVaults(vault))
			creds, err := hostileFetch(t, c)
			hardAccounted(t, creds, err, []string{vault + "/dup"})
			if err != nil || len(creds) != 1 {
				t.Errorf("%v, %v; want %s/dup once", names(creds), err, vault)
			}
			if n := sent.count(readSent(vault, "")); n != 1 {
				t.Errorf("%d reads, want 1", n)
			}
		})
	}
}

// A 401 challenge the SDK would misread (authorization="https://x" once
// crashed it) fails the vault with ErrUnauthenticated, decided once: one
// request to the vault, not one per secret; other vaults are read (issue
// 18 #2).
func TestHostileChallenge(t *testing.T) {
	t.Parallel()
	const vault = "hostile-challenge"
	challenges := []string{
		`Bearer authorization="https://x", resource="https://vault.azure.net"`,
		`Bearer authorization="https://", resource="https://vault.azure.net"`,
		`Bearer authorization="", resource="https://vault.azure.net"`,
		`Bearer resource="https://vault.azure.net"`,
		`Bearer authorization="https://login.microsoftonline.com/` + akvcredstest.DefaultTenantID + `", resource="https://evil.example.com"`,
		`Basic realm="x"`,
	}
	for _, ch := range challenges {
		namedAndListed(t, ch+"/", func(t *testing.T, listed bool) {
			s, secrets := hardServer(t, vault, 6)
			calm := hardSecrets(s, "calm-challenge", 6)
			var sent atomic.Int32
			hc := hostileFunc(func(r *http.Request, next http.RoundTripper) (*http.Response, error) {
				if r.URL.Hostname() != vault+".vault.azure.net" {
					return next.RoundTrip(r)
				}
				sent.Add(1)
				return hostileAnswer(r, http.StatusUnauthorized,
					`{"error":{"code":"Unauthorized","message":"AKV10000: Request is missing a Bearer, PoP, or MTLS_POP token."}}`,
					"WWW-Authenticate", ch), nil
			}).client(s, nil)
			opts := []akvcreds.Option{secretAuth(), akvcreds.WithVaults(vault, "calm-challenge")}
			opts = append(opts, namedUnless(listed, secrets)...)
			c := hardClient(t, hc, opts...)
			creds, err := hostileFetch(t, c)
			reports := hardAccounted(t, creds, err, append(hardWant([]string{vault}, secrets), hardWant([]string{"calm-challenge"}, calm)...))
			vaultFailed(t, reports, vault, secrets, listed, akvcreds.ErrUnauthenticated)
			if len(creds) != len(calm) {
				t.Errorf("returned %v, want calm-challenge's", names(creds))
			}
			if n := sent.Load(); n != 1 {
				t.Errorf("%d requests to the vault, want 1 (decided once for the vault)", n)
			}
		})
	}
}

// A vault that fails from its first request — 503s, dropped connections —
// is decided once: every secret is reported ErrUnavailable after the first
// request's retries, not one secret at a time (issue 18 #11).
func TestHostileVaultDown(t *testing.T) {
	t.Parallel()
	const vault = "hostile-down"
	const retries = 2
	for _, f := range []akvcredstest.Fault{
		{Host: vault + ".vault.azure.net", Status: 503, Count: 1 << 20},
		{Host: vault + ".vault.azure.net", Status: 500, Count: 1 << 20},
		{Host: vault + ".vault.azure.net", Drop: true, Count: 1 << 20},
	} {
		namedAndListed(t, fmt.Sprintf("status %d drop %v/", f.Status, f.Drop), func(t *testing.T, listed bool) {
			s, secrets := hardServer(t, vault, 20)
			s.Inject(f)
			opts := []akvcreds.Option{secretAuth(), akvcreds.WithVaults(vault), akvcreds.WithMaxRetries(retries)}
			opts = append(opts, namedUnless(listed, secrets)...)
			// Counted as sent: the emulator logs a dropped request only
			// once it has closed the connection.
			var sent safetySent
			c := hardClient(t, sent.client(s), opts...)
			creds, err := hostileFetch(t, c)
			reports := hardAccounted(t, creds, err, hardWant([]string{vault}, secrets))
			vaultFailed(t, reports, vault, secrets, listed, akvcreds.ErrUnavailable)
			// Listed: the listing's first page fails, and with it the
			// listing. Named: the first read fails, then a second read
			// (sent alone through the gate) confirms that the vault is down.
			want := retries + 1
			if !listed {
				want = 2 * (retries + 1)
			}
			if n := len(sent.snapshot()); n != want {
				t.Errorf("%d requests to a vault that is down, want %d (requests and their retries)", n, want)
			}
		})
	}
}

// A vault that answers nothing but 429 (without Retry-After) holds a call
// for its throttle budget, not for a pause per secret: then every secret
// waiting is reported ErrThrottled, after a bounded number of requests
// (issue 18 #12).
func TestHostileAlwaysThrottled(t *testing.T) {
	t.Parallel()
	const vault = "hostile-throttled"
	namedAndListed(t, "", func(t *testing.T, listed bool) {
		s, secrets := hardServer(t, vault, 40)
		s.Inject(akvcredstest.Fault{Host: vault + ".vault.azure.net", Status: 429, Count: 1 << 20})
		opts := []akvcreds.Option{secretAuth(), akvcreds.WithVaults(vault), akvcreds.WithThrottleBudget(2 * time.Second)}
		opts = append(opts, namedUnless(listed, secrets)...)
		var sent safetySent
		c := hardClient(t, sent.client(s), opts...)
		// The deadline is far below 40 secrets times the pause of one
		// (about 6 s each before the budget existed).
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		creds, err := c.FetchCredentials(ctx)
		if ctx.Err() != nil {
			t.Fatalf("FetchCredentials ended only with its deadline: %v", err)
		}
		reports := hardAccounted(t, creds, err, hardWant([]string{vault}, secrets))
		vaultFailed(t, reports, vault, secrets, listed, akvcreds.ErrThrottled)
		n := len(sent.snapshot())
		t.Logf("%d requests in the throttle budget", n)
		if n > 20 {
			t.Errorf("%d requests to a vault that always throttles, want at most 20", n)
		}
	})
}

// One 429 on list page 2 re-requests page 2: all 60 secrets are listed and
// read (issue 18 #10).
func TestHostileThrottledPage(t *testing.T) {
	t.Parallel()
	const vault = "hostile-page-429"
	for _, retryAfter := range []string{"", "0", "1"} {
		t.Run("Retry-After "+retryAfter, func(t *testing.T) {
			t.Parallel()
			s := newServer(t)
			secrets := make([]string, 60)
			for i := range secrets {
				secrets[i] = fmt.Sprintf("s%02d", i)
				s.SetSecret(vault, secrets[i], hardSecretValue(vault, secrets[i]))
			}
			var once sync.Once
			var sent safetySent
			hc := hostileFunc(func(r *http.Request, next http.RoundTripper) (*http.Response, error) {
				var res *http.Response
				if isPage(r, vault, true) {
					once.Do(func() {
						h := []string{}
						if retryAfter != "" {
							h = append(h, "Retry-After", retryAfter)
						}
						res = hostileAnswer(r, http.StatusTooManyRequests,
							`{"error":{"code":"Throttled","message":"Request was not processed because too many requests were received. Reason: VaultRequestTypeLimitReached"}}`, h...)
					})
				}
				if res != nil {
					return res, nil
				}
				return next.RoundTrip(r)
			}).client(s, &sent)
			c := hardClient(t, hc, secretAuth(), akvcreds.WithVaults(vault))
			creds, err := hostileFetch(t, c)
			hardAccounted(t, creds, err, hardWant([]string{vault}, secrets))
			if err != nil || len(creds) != len(secrets) {
				t.Errorf("%d credentials, %v; want all %d", len(creds), err, len(secrets))
			}
			if n := sent.count(pageSent(vault)); n != 4 {
				t.Errorf("%d pages requested, want 4 (3 and page 2 again after its 429)", n)
			}
		})
	}
}

// A managed-identity endpoint that takes the connection and never answers
// fails the vault with ErrUnavailable ("did not answer") after IMDS's four
// tries of 10 s: no spinning, no cancellation reported, one token attempt
// for all the secrets, and the call ends by itself (issue 18 #3). It takes
// the 43.5 s of those tries.
func TestHostileIMDSHangs(t *testing.T) {
	t.Parallel()
	const vault = "hostile-imds"
	s, secrets := hardServer(t, vault, 6)
	s.Inject(akvcredstest.Fault{Host: "169.254.169.254", Delay: time.Hour, Count: 1 << 20})
	var sent safetySent
	c := hardClient(t, sent.client(s), akvcreds.WithSystemAssignedIdentity(), akvcreds.WithVaults(vault), akvcreds.WithSecrets(secrets...))
	creds, err := hostileFetch(t, c)
	reports := hardAccounted(t, creds, err, hardWant([]string{vault}, secrets))
	for _, n := range secrets {
		fe := reports[vault+"/"+n]
		mustReport(t, fe, akvcreds.ErrUnavailable)
		if fe != nil && !strings.Contains(fe.Error(), "managed identity endpoint did not answer") {
			t.Errorf("%s: %v, want the managed identity endpoint named as not answering", n, fe)
		}
	}
	imds := sent.count(func(r safetyRequest) bool { return r.host == "169.254.169.254" })
	if imds != 4 {
		t.Errorf("%d IMDS requests, want 4 (its documented tries)", imds)
	}
	if n := len(sent.snapshot()) - imds; n != 1 {
		t.Errorf("%d vault requests, want 1 (the challenge; then the vault is decided)", n)
	}
}

// An answer that never comes ends each try at the per-try timeout: without
// retries the read (or the listing) fails once with ErrUnavailable, "did not
// answer", never as a cancellation and never restarted (issue 18 #4).
func TestHostileHangingAnswer(t *testing.T) {
	t.Parallel()
	const vault = "hostile-hang"
	namedAndListed(t, "", func(t *testing.T, listed bool) {
		s, secrets := hardServer(t, vault, 3)
		var sent safetySent
		c := hardClient(t, sent.client(s), secretAuth(), akvcreds.WithVaults(vault), akvcreds.WithMaxRetries(0))
		akvcreds.SetTryTimeout(c, time.Second)
		if _, err := c.FetchCredential(context.Background(), vault+"/s00"); err != nil { // authenticate
			t.Fatal(err)
		}
		var fes []*akvcreds.FetchError
		hang := readSent(vault, "s01")
		if listed {
			// The next request is the first list page.
			s.Inject(akvcredstest.Fault{Host: vault + ".vault.azure.net", Path: "/secrets", Delay: time.Hour})
			creds, err := hostileFetch(t, c)
			reports := hardAccounted(t, creds, err, hardWant([]string{vault}, secrets))
			fes, hang = []*akvcreds.FetchError{reports[vault+"/"]}, pageSent(vault)
		} else {
			s.Inject(akvcredstest.Fault{Host: vault + ".vault.azure.net", Path: "/secrets/s01/", Delay: time.Hour, Count: 1 << 20})
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			_, err := c.FetchCredential(ctx, vault+"/s01")
			if ctx.Err() != nil {
				t.Fatalf("FetchCredential ended only with its deadline: %v", err)
			}
			fes = akvcreds.FetchErrors(err)
		}
		if len(fes) != 1 || fes[0] == nil {
			t.Fatalf("reports %v, want one", fes)
		}
		mustReport(t, fes[0], akvcreds.ErrUnavailable)
		if msg := fes[0].Error(); !strings.Contains(msg, "did not answer") || strings.Contains(msg, "cancel") {
			t.Errorf("%v: want \"did not answer\", and no cancellation", msg)
		}
		if n := sent.count(hang); n != 1 {
			t.Errorf("%d requests for the hanging answer, want 1 (no retries, no restart)", n)
		}
	})
}

// blockedIn waits until n goroutines are blocked in fn (a function name as
// runtime.Stack prints it, e.g. "akvcreds.(*Client).get(").
func blockedIn(t *testing.T, fn string, n int) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		buf := make([]byte, 1<<22)
		buf = buf[:runtime.Stack(buf, true)]
		blocked := 0
		for _, g := range strings.Split(string(buf), "\n\n") {
			header, _, _ := strings.Cut(g, "\n")
			if strings.Contains(g, fn) && !strings.Contains(header, "[running]") && !strings.Contains(header, "[runnable]") {
				blocked++
			}
		}
		if blocked >= n {
			return
		}
	}
	t.Fatalf("%d goroutines never blocked in %s", n, fn)
}

// Two concurrent reads of one secret share one request. When the context
// of the caller whose read it is ends, that caller gets its cancellation
// and the other, whose context is alive, reads again and gets the secret
// (issue 18 #4).
func TestHostileSharedReadOwnerCancelled(t *testing.T) {
	t.Parallel()
	const vault = "hostile-shared"
	s := newServer(t)
	hardSecrets(s, vault, 2)
	var sent safetySent
	inFlight := make(chan struct{})
	var once sync.Once
	hc := hostileFunc(func(r *http.Request, next http.RoundTripper) (*http.Response, error) {
		first := false
		if isRead(r, vault, "s01") {
			once.Do(func() { first = true })
		}
		if !first {
			return next.RoundTrip(r)
		}
		close(inFlight)
		<-r.Context().Done() // the first read of s01 hangs until its caller gives up
		return nil, r.Context().Err()
	}).client(s, &sent)
	c := hardClient(t, hc, secretAuth())
	if _, err := c.FetchCredential(context.Background(), vault+"/s00"); err != nil { // authenticate
		t.Fatal(err)
	}
	ctxA, cancelA := context.WithCancel(context.Background())
	defer cancelA()
	ctxB, cancelB := context.WithTimeout(context.Background(), time.Minute)
	defer cancelB()
	type result struct {
		cred akvcreds.Credential
		err  error
	}
	a, b := make(chan result, 1), make(chan result, 1)
	go func() {
		cred, err := c.FetchCredential(ctxA, vault+"/s01")
		a <- result{cred, err}
	}()
	<-inFlight
	go func() {
		cred, err := c.FetchCredential(ctxB, vault+"/s01")
		b <- result{cred, err}
	}()
	blockedIn(t, "akvcreds.(*Client).get(", 2) // A's read in flight, B waiting for it
	cancelA()
	ra, rb := <-a, <-b
	if !errors.Is(ra.err, context.Canceled) {
		t.Errorf("the cancelled caller got %v, want context.Canceled", ra.err)
	}
	if rb.err != nil || rb.cred.Password.Reveal() != hardSecretValue(vault, "s01") {
		t.Errorf("the caller whose context is alive got %v (%s), want the secret", rb.err, rb.cred.Name)
	}
	if n := sent.count(readSent(vault, "s01")); n != 2 {
		t.Errorf("%d reads of s01, want 2 (the cancelled one and the waiter's own)", n)
	}
}

// A token answer that cannot be used — an endless or huge body, a token
// over 64 KiB, a token already expired when issued — fails the vault once
// (one token request for all its secrets) with ErrUnauthenticated, or
// ErrMalformed for a body over 1 MiB, of which no more is read (issue 18
// #13, #14).
func TestHostileTokenAnswer(t *testing.T) {
	t.Parallel()
	const vault = "hostile-token"
	longToken := strings.Repeat("t", 65<<10)
	tests := []struct {
		name   string
		imds   bool
		answer hostileAnswerFunc // the token answer
		want   error
	}{
		{"Entra ID endless body", false, endlessAnswer(-1), akvcreds.ErrMalformed},
		{"Entra ID 1 GiB body", false, endlessAnswer(1 << 30), akvcreds.ErrMalformed},
		{"Entra ID token over 64 KiB", false, jsonEdit(func(m map[string]any) { m["access_token"] = longToken }), akvcreds.ErrUnauthenticated},
		{"Entra ID expires_in negative", false, jsonEdit(func(m map[string]any) { m["expires_in"] = -300 }), akvcreds.ErrUnauthenticated},
		{"Entra ID expires_in 0", false, jsonEdit(func(m map[string]any) { m["expires_in"] = 0 }), akvcreds.ErrUnauthenticated},
		{"IMDS endless body", true, endlessAnswer(-1), akvcreds.ErrMalformed},
		{"IMDS 1 GiB body", true, endlessAnswer(1 << 30), akvcreds.ErrMalformed},
		{"IMDS token over 64 KiB", true, jsonEdit(func(m map[string]any) { m["access_token"] = longToken }), akvcreds.ErrUnauthenticated},
		{"IMDS expires_on in the past", true, jsonEdit(func(m map[string]any) {
			m["expires_on"] = fmt.Sprint(time.Now().Add(-time.Hour).Unix())
		}), akvcreds.ErrUnauthenticated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, secrets := hardServer(t, vault, 6)
			var read atomic.Int64
			var sent safetySent
			isToken := func(host, path string) bool {
				if tt.imds {
					return host == "169.254.169.254"
				}
				return host == "login.microsoftonline.com" && strings.HasSuffix(path, "/oauth2/v2.0/token")
			}
			hc := hostileFunc(func(r *http.Request, next http.RoundTripper) (*http.Response, error) {
				if isToken(r.URL.Hostname(), r.URL.Path) {
					return tt.answer(r, next, &read)
				}
				return next.RoundTrip(r)
			}).client(s, &sent)
			auth := secretAuth()
			if tt.imds {
				auth = akvcreds.WithSystemAssignedIdentity()
			}
			c := hardClient(t, hc, auth, akvcreds.WithVaults(vault), akvcreds.WithSecrets(secrets...))
			creds, err := hostileFetch(t, c)
			reports := hardAccounted(t, creds, err, hardWant([]string{vault}, secrets))
			for _, n := range secrets {
				mustReport(t, reports[vault+"/"+n], tt.want)
			}
			tokens := sent.count(func(r safetyRequest) bool { return isToken(r.host, r.path) })
			if tokens != 1 {
				t.Errorf("%d token requests for %d secrets, want 1", tokens, len(secrets))
			}
			if n := read.Load(); n > int64(tokens)*hostileLimit {
				t.Errorf("%d bytes read of %d token answers: the body was not bounded", n, tokens)
			}
			for _, r := range sent.snapshot() {
				if r.auth != "" {
					t.Errorf("a token was sent to %s %s%s", r.method, r.host, r.path)
				}
			}
		})
	}
}

// endlessAnswer answers with the emulator's status and headers and a body
// of length bytes (-1: endless, of unknown length), counting what is read.
func endlessAnswer(length int64) hostileAnswerFunc {
	return func(r *http.Request, next http.RoundTripper, read *atomic.Int64) (*http.Response, error) {
		res, err := next.RoundTrip(r)
		if err != nil {
			return nil, err
		}
		var body io.Reader = endless{read}
		if length >= 0 {
			body = io.LimitReader(body, length)
		}
		return withBody(res, body, length), nil
	}
}

// hostileAnswerFunc answers r in Azure's place (next is the emulator);
// read counts what is read of a body it makes up.
type hostileAnswerFunc = func(r *http.Request, next http.RoundTripper, read *atomic.Int64) (*http.Response, error)

// hostileCase is a named way of answering.
type hostileCase struct {
	name   string
	answer hostileAnswerFunc
}

// jsonCase is a named edit of the JSON object the emulator answers.
type jsonCase struct {
	name string
	edit func(map[string]any)
}

// jsonEdit answers with the emulator's JSON object changed by edit.
func jsonEdit(edit func(map[string]any)) hostileAnswerFunc {
	return func(r *http.Request, next http.RoundTripper, _ *atomic.Int64) (*http.Response, error) {
		return editJSON(r, next, edit)
	}
}

// fixedAnswer answers 200 with body.
func fixedAnswer(body string) hostileAnswerFunc {
	return func(r *http.Request, _ http.RoundTripper, _ *atomic.Int64) (*http.Response, error) {
		return hostileAnswer(r, http.StatusOK, body), nil
	}
}

// badAnswers are the answers Key Vault would never send where it sends a
// JSON object: each edit, an empty body, HTML, an endless body, and more.
func badAnswers(edits []jsonCase, more ...hostileCase) []hostileCase {
	var out []hostileCase
	for _, e := range edits {
		out = append(out, hostileCase{e.name, jsonEdit(e.edit)})
	}
	out = append(out, hostileCase{"empty body", fixedAnswer("")},
		hostileCase{"not JSON", fixedAnswer("<html>captive portal</html>")},
		hostileCase{"endless body", endlessAnswer(-1)})
	return append(out, more...)
}

// A panic in the caller's code that akvcreds runs — a mapping function, a
// filter — becomes a *FetchError (ErrMalformed) for what it was deciding:
// the process survives, the other secrets are returned, and it is the same
// whether the value came from Key Vault or the cache, in a fetch or in Watch.
func TestHostilePanicBecomesFetchError(t *testing.T) {
	t.Parallel()
	const vault = "hostile-panic"
	mapper := akvcreds.WithMapper(func(info akvcreds.SecretInfo, value akvcreds.Password) (string, string, error) {
		if info.Secret == "s01" {
			panic("mapper: " + value.Reveal()) // the panic value must not be shown
		}
		return info.Secret, value.Reveal(), nil
	})
	keep := akvcreds.WithFilters(akvcreds.Filter{Keep: func(info akvcreds.SecretInfo) bool {
		if info.Secret == "s01" {
			var m map[string]int
			//lint:ignore SA5000 the runtime error is the point
			m["x"]++
		}
		return true
	}})
	tests := []struct {
		name   string
		opts   []akvcreds.Option
		listed bool
		want   string // the report
	}{
		{"mapper/named", []akvcreds.Option{mapper}, false, vault + "/s01"},
		{"mapper/listed", []akvcreds.Option{mapper}, true, vault + "/s01"},
		{"mapper/named/cache", []akvcreds.Option{mapper, akvcreds.WithCache(time.Hour)}, false, vault + "/s01"},
		{"mapper/listed/cache", []akvcreds.Option{mapper, akvcreds.WithCache(time.Hour)}, true, vault + "/s01"},
		{"filter/named", []akvcreds.Option{keep}, false, vault + "/s01"},
		{"filter/named/cache", []akvcreds.Option{keep, akvcreds.WithCache(time.Hour)}, false, vault + "/s01"},
		{"filter/listed", []akvcreds.Option{keep}, true, vault + "/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, secrets := hardServer(t, vault, 4)
			opts := append([]akvcreds.Option{secretAuth(), akvcreds.WithVaults(vault)}, tt.opts...)
			if !tt.listed {
				opts = append(opts, akvcreds.WithSecrets(secrets...))
			}
			c := newClient(t, s, opts...)
			check := func(t *testing.T, creds []akvcreds.Credential, err error) {
				t.Helper()
				reports := hardAccounted(t, creds, err, hardWant([]string{vault}, secrets))
				if len(reports) != 1 {
					t.Errorf("%d reports, want %s only: %v", len(reports), tt.want, err)
				}
				fe := reports[tt.want]
				mustReport(t, fe, akvcreds.ErrMalformed)
				if fe != nil && (!strings.Contains(fe.Error(), "panic") || strings.Contains(fe.Error(), hardSecretValue(vault, "s01"))) {
					t.Errorf("%v: want the panic named, without its value", fe)
				}
			}
			for i := range 2 { // the second from the cache, when there is one
				creds, err := hostileFetch(t, c)
				t.Run(fmt.Sprint("fetch ", i), func(t *testing.T) { check(t, creds, err) })
			}
			if tt.want != vault+"/" {
				_, err := c.FetchCredential(context.Background(), tt.want)
				t.Run("FetchCredential", func(t *testing.T) {
					fes := akvcreds.FetchErrors(err)
					if len(fes) != 1 || fes[0].Vault+"/"+fes[0].Secret != tt.want {
						t.Fatalf("%v, want one report for %s", err, tt.want)
					}
					mustReport(t, fes[0], akvcreds.ErrMalformed)
				})
			}
			b := hostileWatch(t, c, 1, nil)[0]
			t.Run("Watch", func(t *testing.T) { check(t, b.Added, errors.Join(fetchErrs(b.Errors)...)) })
		})
	}
}

// fetchErrs converts for errors.Join.
func fetchErrs(fes []*akvcreds.FetchError) []error {
	out := make([]error, len(fes))
	for i, fe := range fes {
		out[i] = fe
	}
	return out
}

// loadOutcome is what the load test expects for one secret.
type loadOutcome int

const (
	loadOK          loadOutcome = iota // no fault
	loadTransient5x                    // one 503: retried, returned
	loadDropOnce                       // one dropped connection: retried, returned
	loadCutOnce                        // one truncated answer: retried, returned
	loadThrottled                      // one 429 with Retry-After: the vault pauses, returned
	loadBroken                         // 503 on every attempt: reported, ErrUnavailable
	loadMissing                        // no such secret: reported, ErrNotFound
	loadDisabled                       // disabled: reported, ErrDisabled
)

var loadOutcomeNames = [...]string{"ok", "transient 503", "dropped once", "truncated once", "429 once", "503 always", "missing", "disabled"}

// loadRates are how often each fault is drawn: 5% a transient 503, 1% a
// dropped connection, 0.5% a truncated answer, 0.1% a 429, 0.5% a 503 on
// every attempt, 0.5% missing, 0.2% disabled; the rest none.
var loadRates = []struct {
	outcome loadOutcome
	p       float64
}{
	{loadTransient5x, 0.05}, {loadDropOnce, 0.01}, {loadCutOnce, 0.005}, {loadThrottled, 0.001},
	{loadBroken, 0.005}, {loadMissing, 0.005}, {loadDisabled, 0.002},
}

// loadPlan draws the fault for each secret (loadRates), deterministically
// from seed.
func loadPlan(seed uint64, n int) []loadOutcome {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	out := make([]loadOutcome, n)
	for i := range out {
		r := rng.Float64()
		for _, lr := range loadRates {
			if r < lr.p {
				out[i] = lr.outcome
				break
			}
			r -= lr.p
		}
	}
	return out
}

// TestLoadWithFaults fetches 10,000 credentials (2,000 with -short) from 10
// vaults through one Client shared by 40 goroutines — FetchCredentials in
// chunks of 50 and single FetchCredential calls — while the emulator
// injects faults into about 8% of the secrets. Every credential is returned
// or reported; the reported ones are exactly those whose fault outlasts the
// retries, each with the right kind.
//
// Not parallel: it is CPU-bound (TLS, JSON, the race detector), so it runs
// alone, before the parallel tests, rather than slowing them and itself.
func TestLoadWithFaults(t *testing.T) {
	const (
		vaults  = 10
		workers = 100
		chunk   = 50
		seed    = 20240611
	)
	total := 10_000
	if testing.Short() {
		total = 2_000
	}
	perVault := total / vaults

	const maxRetries = 2
	s := newServer(t)
	type secretRef struct {
		vault, secret string
		outcome       loadOutcome
	}
	plan := loadPlan(seed, total)
	refs := make([]secretRef, 0, total)
	counts := map[loadOutcome]int{}
	for v := range vaults {
		vault := fmt.Sprintf("load-%02d", v)
		s.AddVault(vault)
		for i := range perVault {
			name := fmt.Sprintf("s%04d", i)
			o := plan[v*perVault+i]
			if i < 8 {
				// The first requests authenticate the vault (one challenge,
				// one token): faults there are TestFaults' subject.
				o = loadOK
			}
			counts[o]++
			refs = append(refs, secretRef{vault, name, o})
			switch o {
			case loadMissing:
			case loadDisabled:
				s.SetSecret(vault, name, hardSecretValue(vault, name), akvcredstest.Disabled())
			default:
				s.SetSecret(vault, name, hardSecretValue(vault, name))
			}
		}
	}
	// A secret's fault is injected just before its chunk is fetched, so that
	// the emulator's list of faults (scanned on every request) stays short.
	inject := func(r secretRef) {
		f := akvcredstest.Fault{Host: r.vault + ".vault.azure.net", Path: "/secrets/" + r.secret + "/"}
		switch r.outcome {
		case loadTransient5x:
			f.Status = 503
		case loadDropOnce:
			f.Drop = true
		case loadCutOnce:
			f.Truncate = true
		case loadThrottled:
			f.Status, f.RetryAfter = 429, "1"
		case loadBroken:
			f.Status, f.Count = 503, 1+maxRetries
		default:
			return
		}
		s.Inject(f)
	}

	// The emulator's client with room for a kept-alive connection per
	// request in flight: the load is on akvcreds, not on TLS handshakes.
	hc := s.Client()
	tr := hc.Transport.(*http.Transport).Clone()
	tr.MaxIdleConns, tr.MaxIdleConnsPerHost = 0, 256
	t.Cleanup(tr.CloseIdleConnections)
	hc.Transport = tr
	c := hardClient(t, hc, secretAuth(), akvcreds.WithConcurrency(128), akvcreds.WithMaxRetries(maxRetries))
	ctx := context.Background()

	// The work: chunks of one vault's secrets, interleaved across vaults.
	type work struct {
		refs   []secretRef
		single bool // FetchCredential per secret instead of FetchCredentials
	}
	var jobs []work
	for off := 0; off < perVault; off += chunk {
		for v := range vaults {
			lo := v*perVault + off
			w := work{refs: refs[lo:min(lo+chunk, (v+1)*perVault)]}
			w.single = len(jobs)%10 == 3
			jobs = append(jobs, w)
		}
	}

	var (
		mu        sync.Mutex
		returned  = map[string]bool{}
		reported  = map[string]*akvcreds.FetchError{}
		calls     atomic.Int64
		nextJob   atomic.Int64
		wg        sync.WaitGroup
		startTime = time.Now()
	)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				j := int(nextJob.Add(1)) - 1
				if j >= len(jobs) {
					return
				}
				w := jobs[j]
				for _, r := range w.refs {
					inject(r)
				}
				want := make([]string, len(w.refs))
				for i, r := range w.refs {
					want[i] = r.vault + "/" + r.secret
				}
				var creds []akvcreds.Credential
				var err error
				if w.single {
					var errs []error
					for _, r := range w.refs {
						calls.Add(1)
						cred, e := c.FetchCredential(ctx, r.vault+"/"+r.secret)
						if e != nil {
							errs = append(errs, e)
							continue
						}
						creds = append(creds, cred)
					}
					err = errors.Join(errs...)
				} else {
					calls.Add(1)
					creds, err = c.FetchCredentials(ctx, akvcreds.FetchNames(want...))
				}
				reports := hardAccounted(t, creds, err, want)
				mu.Lock()
				for _, cr := range creds {
					returned[cr.Vault+"/"+cr.Secret] = true
				}
				for k, fe := range reports {
					reported[k] = fe
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(startTime)

	// Every secret accounted for, and reported exactly when its fault
	// outlasts the retries, with the kind that fault calls for.
	wantKind := map[loadOutcome]error{loadBroken: akvcreds.ErrUnavailable, loadMissing: akvcreds.ErrNotFound, loadDisabled: akvcreds.ErrDisabled}
	var unexpected []string
	for _, r := range refs {
		key := r.vault + "/" + r.secret
		fe := reported[key]
		kind := wantKind[r.outcome]
		switch {
		case !returned[key] && fe == nil:
			t.Errorf("%s (%s) silently missing", key, loadOutcomeNames[r.outcome])
		case kind == nil && fe != nil:
			unexpected = append(unexpected, fmt.Sprintf("%s (%s): %v", key, loadOutcomeNames[r.outcome], fe))
		case kind != nil && fe == nil:
			t.Errorf("%s (%s) returned, want it reported as %v", key, loadOutcomeNames[r.outcome], kind)
		case kind != nil && !errors.Is(fe, kind):
			t.Errorf("%s (%s): %v, want %v", key, loadOutcomeNames[r.outcome], fe, kind)
		}
	}
	sort.Strings(unexpected)
	for _, u := range unexpected {
		t.Errorf("reported though its fault is within the retries: %s", u)
	}
	if len(returned)+len(reported) != total {
		t.Errorf("%d returned + %d reported != %d asked for", len(returned), len(reported), total)
	}

	reqs := s.Requests()
	byStatus := map[int]int{}
	for _, r := range reqs {
		byStatus[r.Status]++
	}
	t.Logf("%d credentials from %d vaults by %d goroutines in %d calls: %d returned, %d reported, 0 missing; %v (%.0f credentials/s)",
		total, vaults, workers, calls.Load(), len(returned), len(reported), elapsed.Round(time.Millisecond), float64(total)/elapsed.Seconds())
	t.Logf("faults drawn (seed %d): %d transient 503, %d dropped once, %d truncated once, %d 429 once, %d 503 always, %d missing, %d disabled",
		seed, counts[loadTransient5x], counts[loadDropOnce], counts[loadCutOnce], counts[loadThrottled], counts[loadBroken], counts[loadMissing], counts[loadDisabled])
	t.Logf("emulator saw %d requests: %d gets, %d challenges, %d token requests; by status %v (0 = dropped)",
		len(reqs), s.Count(akvcredstest.KindGetSecret), s.Count(akvcredstest.KindChallenge), s.Count(akvcredstest.KindToken), byStatus)
	if n := s.Count(akvcredstest.KindChallenge); n != vaults {
		t.Errorf("%d authentication challenges, want one per vault (%d)", n, vaults)
	}
	if n := s.Count(akvcredstest.KindToken); n != 1 {
		t.Errorf("%d token requests, want 1", n)
	}
}

// loadConnCounter counts the connections a transport opens and reuses.
type loadConnCounter struct {
	base          http.RoundTripper
	fresh, reused atomic.Int64
}

func (cc *loadConnCounter) RoundTrip(r *http.Request) (*http.Response, error) {
	trace := &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) {
		if i.Reused {
			cc.reused.Add(1)
		} else {
			cc.fresh.Add(1)
		}
	}}
	return cc.base.RoundTrip(r.WithContext(httptrace.WithClientTrace(r.Context(), trace)))
}

// Connections are kept alive and reused: akvcreds reads and closes every
// answer, so a fetch of many secrets opens about one connection per request
// in flight (given a transport that keeps that many idle), not one per
// request.
func TestLoadConnectionReuse(t *testing.T) {
	t.Parallel()
	const conc, n = 8, 200
	// 5 ms a request, so that several are in flight at once.
	s := newServer(t, akvcredstest.WithLatency(5*time.Millisecond, 5*time.Millisecond))
	secrets := make([]string, n)
	for i := range secrets {
		secrets[i] = fmt.Sprintf("s%03d", i)
		s.SetSecret("reuse-vault", secrets[i], hardSecretValue("reuse-vault", secrets[i]))
	}
	tr := s.Client().Transport.(*http.Transport).Clone()
	tr.MaxIdleConns, tr.MaxIdleConnsPerHost = 0, conc
	t.Cleanup(tr.CloseIdleConnections)
	cc := &loadConnCounter{base: tr}
	c := hardClient(t, &http.Client{Transport: cc}, secretAuth(), akvcreds.WithVaults("reuse-vault"),
		akvcreds.WithSecrets(secrets...), akvcreds.WithConcurrency(conc))
	creds, err := c.FetchCredentials(context.Background())
	hardAccounted(t, creds, err, hardWant([]string{"reuse-vault"}, secrets))
	fresh, reused := cc.fresh.Load(), cc.reused.Load()
	t.Logf("%d secrets, %d in flight: %d connections opened, %d reused", n, conc, fresh, reused)
	// One per request in flight, to the vault and to the identity endpoint.
	if fresh > conc+4 {
		t.Errorf("%d connections opened for %d requests in flight: answers are not read and closed, or connections not kept", fresh, conc)
	}
}
