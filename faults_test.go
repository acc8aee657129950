package akvcreds_test

// Fault injection: dropped connections, bursts of 5xx, the token endpoint
// down, slow and truncated answers, tokens expiring mid-fetch, clock skew
// and cancellation mid-flight. Whatever happens, no credential asked for
// goes missing: each is returned or reported by a *FetchError that wraps a
// sentinel (or the context's error), and no goroutine outlives the test
// (TestMain runs goleak).

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/akvcreds/akvcreds"
	"github.com/akvcreds/akvcreds/akvcredstest"
)

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

func hardMustKind(t *testing.T, fe *akvcreds.FetchError, want error) {
	t.Helper()
	if fe == nil {
		t.Errorf("not reported, want %v", want)
		return
	}
	if !errors.Is(fe, want) {
		t.Errorf("%s/%s: %v, want %v", fe.Vault, fe.Secret, fe, want)
	}
}

func faultDroppedConnections(t *testing.T) {
	g := newHardGroup(t)
	defer g.Wait()
	ctx := context.Background()

	g.Run("one drop per secret is retried", func(t *testing.T) {
		s := newServer(t)
		secrets := hardSecrets(s, "drop-once", 8)
		for _, n := range secrets {
			s.Inject(akvcredstest.Fault{Host: "drop-once.vault.azure.net", Path: "/secrets/" + n + "/", Drop: true})
		}
		c := newClient(t, s, secretAuth(), akvcreds.WithVaults("drop-once"), akvcreds.WithSecrets(secrets...))
		creds, err := c.FetchCredentials(ctx)
		hardAccounted(t, creds, err, hardWant([]string{"drop-once"}, secrets))
		if err != nil {
			t.Errorf("transient drops were not retried: %v", err)
		}
		if n := hardCount(s, func(r akvcredstest.Request) bool { return r.Status == 0 }); n != len(secrets) {
			t.Errorf("%d dropped requests, want %d", n, len(secrets))
		}
	})

	g.Run("a secret whose connections always drop is reported", func(t *testing.T) {
		s := newServer(t)
		secrets := hardSecrets(s, "drop-one", 6)
		s.Inject(akvcredstest.Fault{Host: "drop-one.vault.azure.net", Path: "/secrets/s03/", Drop: true, Count: 1000})
		c := newClient(t, s, secretAuth(), akvcreds.WithVaults("drop-one"), akvcreds.WithSecrets(secrets...), akvcreds.WithMaxRetries(2))
		creds, err := c.FetchCredentials(ctx)
		reports := hardAccounted(t, creds, err, hardWant([]string{"drop-one"}, secrets))
		if len(reports) != 1 {
			t.Errorf("%d reported, want only s03: %v", len(reports), err)
		}
		hardMustKind(t, reports["drop-one/s03"], akvcreds.ErrUnavailable)
		if n := hardCount(s, func(r akvcredstest.Request) bool { return r.Secret == "s03" && r.Status == 0 }); n < 3 {
			t.Errorf("s03 was tried %d times, want 1 + 2 retries", n)
		}
	})

	g.Run("every connection to the vault drops", func(t *testing.T) {
		s := newServer(t)
		secrets := hardSecrets(s, "drop-all", 5)
		s.SetSecret("drop-none", "s00", hardSecretValue("drop-none", "s00"))
		s.Inject(akvcredstest.Fault{Host: "drop-all.vault.azure.net", Drop: true, Count: 1000})
		c := newClient(t, s, secretAuth(), akvcreds.WithVaults("drop-all", "drop-none"), akvcreds.WithSecrets(secrets...), akvcreds.WithMaxRetries(1))
		creds, err := c.FetchCredentials(ctx)
		// drop-none has s00 only: the others are not found there.
		reports := hardAccounted(t, creds, err, hardWant([]string{"drop-all", "drop-none"}, secrets))
		for _, n := range secrets {
			hardMustKind(t, reports["drop-all/"+n], akvcreds.ErrUnavailable)
			if n != "s00" {
				hardMustKind(t, reports["drop-none/"+n], akvcreds.ErrNotFound)
			}
		}
		if len(creds) != 1 || creds[0].Name != "drop-none/s00" {
			t.Errorf("returned %v, want drop-none/s00", names(creds))
		}
	})

	g.Run("a dropped list page is retried", func(t *testing.T) {
		s := newServer(t, akvcredstest.WithPageSize(3))
		secrets := hardSecrets(s, "drop-list", 7)
		c := newClient(t, s, secretAuth(), akvcreds.WithVaults("drop-list"))
		if _, err := c.FetchCredential(ctx, "drop-list/s00"); err != nil { // authenticate
			t.Fatal(err)
		}
		// The next request is the first list page.
		s.Inject(akvcredstest.Fault{Host: "drop-list.vault.azure.net", Path: "/secrets", Drop: true})
		creds, err := c.FetchCredentials(ctx)
		hardAccounted(t, creds, err, hardWant([]string{"drop-list"}, secrets))
		if err != nil || len(creds) != len(secrets) {
			t.Errorf("listing after a drop: %d credentials, %v", len(creds), err)
		}
	})
}

func fault5xxBursts(t *testing.T) {
	g := newHardGroup(t)
	defer g.Wait()
	ctx := context.Background()
	for _, status := range []int{408, 500, 502, 503, 504} {
		g.Run(fmt.Sprintf("a burst of three %d is retried", status), func(t *testing.T) {
			vault := fmt.Sprintf("burst-%d", status)
			s := newServer(t)
			secrets := hardSecrets(s, vault, 6)
			// Three failures in a row across the vault: no secret can see more
			// than the three retries it has.
			s.Inject(akvcredstest.Fault{Host: vault + ".vault.azure.net", Status: status, Count: 3})
			c := newClient(t, s, secretAuth(), akvcreds.WithVaults(vault), akvcreds.WithSecrets(secrets...))
			creds, err := c.FetchCredentials(ctx)
			hardAccounted(t, creds, err, hardWant([]string{vault}, secrets))
			if err != nil {
				t.Errorf("a burst within the retries was reported: %v", err)
			}
			if n := hardCount(s, func(r akvcredstest.Request) bool { return r.Status == status }); n != 3 {
				t.Errorf("%d answers of %d, want 3", n, status)
			}
		})
	}

	g.Run("bursts longer than the retries are reported, the rest is returned", func(t *testing.T) {
		s := newServer(t)
		secrets := hardSecrets(s, "burst-mixed", 6)
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
			hardMustKind(t, fe, akvcreds.ErrUnavailable)
			if fe != nil && !strings.Contains(fe.Error(), "HTTP 50") {
				t.Errorf("%s: the message does not give Azure's status: %v", n, fe)
			}
		}
	})

	g.Run("a failing list page is reported with what was listed before it", func(t *testing.T) {
		s := newServer(t, akvcredstest.WithPageSize(2))
		secrets := hardSecrets(s, "burst-list", 5)
		// Every list page after the first fails with 503; gets are answered.
		hc := s.Client()
		hc.Transport = hardLaterPagesFail{hc.Transport}
		c := hardClient(t, hc, secretAuth(), akvcreds.WithVaults("burst-list"), akvcreds.WithMaxRetries(1))
		creds, err := c.FetchCredentials(ctx)
		reports := hardAccounted(t, creds, err, hardWant([]string{"burst-list"}, secrets))
		hardMustKind(t, reports["burst-list/"], akvcreds.ErrUnavailable)
		if len(creds) != 2 {
			t.Errorf("returned %v, want the first page's s00 and s01", names(creds))
		}
	})
}

// hardLaterPagesFail answers every list page after the first with Key Vault's
// 503, without sending it (the emulator's faults match paths by prefix, and
// "/secrets" is a prefix of every get).
type hardLaterPagesFail struct{ base http.RoundTripper }

func (l hardLaterPagesFail) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodGet && r.URL.Path == "/secrets" && strings.Contains(r.URL.RawQuery, "skiptoken") && r.Header.Get("Authorization") != "" {
		body := `{"error":{"code":"ServiceUnavailable","message":"Service Unavailable"}}`
		return &http.Response{
			Status: "503 Service Unavailable", StatusCode: http.StatusServiceUnavailable, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
			Header:        http.Header{"Content-Type": {"application/json; charset=utf-8"}, "X-Ms-Request-Id": {"00000000-0000-4000-8000-000000000503"}},
			Body:          io.NopCloser(strings.NewReader(body)),
			ContentLength: int64(len(body)),
			Request:       r,
		}, nil
	}
	return l.base.RoundTrip(r)
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
			s := newServer(t)
			secrets := hardSecrets(s, "token-down", 10)
			s.Inject(tc.fault)
			c := newClient(t, s, secretAuth(), akvcreds.WithVaults("token-down"), akvcreds.WithSecrets(secrets...))
			creds, err := c.FetchCredentials(ctx)
			reports := hardAccounted(t, creds, err, hardWant([]string{"token-down"}, secrets))
			for _, n := range secrets {
				hardMustKind(t, reports["token-down/"+n], akvcreds.ErrUnavailable)
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
		s := newServer(t)
		secrets := hardSecrets(s, "token-blip", 4)
		s.Inject(akvcredstest.Fault{Host: "login.microsoftonline.com", Path: tokenPath, Status: 503})
		c := newClient(t, s, secretAuth(), akvcreds.WithVaults("token-blip"), akvcreds.WithSecrets(secrets...))
		creds, err := c.FetchCredentials(ctx)
		hardAccounted(t, creds, err, hardWant([]string{"token-blip"}, secrets))
		if err != nil {
			t.Errorf("a transient token failure was not retried: %v", err)
		}
	})

	g.Run("Entra ID truncated token response", func(t *testing.T) {
		s := newServer(t)
		secrets := hardSecrets(s, "token-cut", 4)
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
					hardMustKind(t, reports["imds-down/"+n], akvcreds.ErrUnavailable)
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
		s := newServer(t)
		secrets := hardSecrets(s, "slow-all", 6)
		s.Inject(akvcredstest.Fault{Host: "slow-all.vault.azure.net", Delay: 300 * time.Millisecond, Count: 1000})
		c := newClient(t, s, secretAuth(), akvcreds.WithVaults("slow-all"), akvcreds.WithSecrets(secrets...))
		creds, err := c.FetchCredentials(ctx)
		hardAccounted(t, creds, err, hardWant([]string{"slow-all"}, secrets))
		if err != nil {
			t.Errorf("slow answers failed: %v", err)
		}
	})

	g.Run("an answer slower than the deadline", func(t *testing.T) {
		s := newServer(t)
		secrets := hardSecrets(s, "slow-one", 6)
		c := newClient(t, s, secretAuth(), akvcreds.WithVaults("slow-one"), akvcreds.WithSecrets(secrets...))
		if _, err := c.FetchCredential(ctx, "slow-one/s00"); err != nil { // authenticate
			t.Fatal(err)
		}
		s.Inject(akvcredstest.Fault{Host: "slow-one.vault.azure.net", Path: "/secrets/s04/", Delay: time.Hour})
		dctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		creds, err := c.FetchCredentials(dctx)
		reports := hardAccounted(t, creds, err, hardWant([]string{"slow-one"}, secrets))
		if fe := reports["slow-one/s04"]; fe == nil || !errors.Is(fe, context.DeadlineExceeded) {
			t.Errorf("s04 = %v, want the deadline in its chain", fe)
		}
	})

	g.Run("each answer truncated once", func(t *testing.T) {
		s := newServer(t)
		secrets := hardSecrets(s, "cut-once", 6)
		for _, n := range secrets {
			s.Inject(akvcredstest.Fault{Host: "cut-once.vault.azure.net", Path: "/secrets/" + n + "/", Truncate: true})
		}
		c := newClient(t, s, secretAuth(), akvcreds.WithVaults("cut-once"), akvcreds.WithSecrets(secrets...))
		creds, err := c.FetchCredentials(ctx)
		hardAccounted(t, creds, err, hardWant([]string{"cut-once"}, secrets))
		if err != nil {
			t.Errorf("truncated answers were not retried: %v", err)
		}
	})

	g.Run("one answer always truncated", func(t *testing.T) {
		s := newServer(t)
		secrets := hardSecrets(s, "cut-always", 6)
		s.Inject(akvcredstest.Fault{Host: "cut-always.vault.azure.net", Path: "/secrets/s02/", Truncate: true, Count: 1000})
		c := newClient(t, s, secretAuth(), akvcreds.WithVaults("cut-always"), akvcreds.WithSecrets(secrets...), akvcreds.WithMaxRetries(1))
		creds, err := c.FetchCredentials(ctx)
		reports := hardAccounted(t, creds, err, hardWant([]string{"cut-always"}, secrets))
		if len(reports) != 1 {
			t.Errorf("reported %d, want s02 only: %v", len(reports), err)
		}
		hardMustKind(t, reports["cut-always/s02"], akvcreds.ErrUnavailable)
	})

	g.Run("truncated error answers", func(t *testing.T) {
		s := newServer(t)
		secrets := hardSecrets(s, "cut-error", 4)
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

	g.Run("a truncated list page is retried", func(t *testing.T) {
		s := newServer(t, akvcredstest.WithPageSize(2))
		secrets := hardSecrets(s, "cut-list", 5)
		c := newClient(t, s, secretAuth(), akvcreds.WithVaults("cut-list"))
		if _, err := c.FetchCredential(ctx, "cut-list/s00"); err != nil { // authenticate
			t.Fatal(err)
		}
		s.Inject(akvcredstest.Fault{Host: "cut-list.vault.azure.net", Path: "/secrets", Truncate: true}) // the first page
		creds, err := c.FetchCredentials(ctx)
		hardAccounted(t, creds, err, hardWant([]string{"cut-list"}, secrets))
		if err != nil || len(creds) != len(secrets) {
			t.Errorf("listing after a truncated page: %d credentials, %v", len(creds), err)
		}
	})
}

func faultTokenExpiresMidFetch(t *testing.T) {
	g := newHardGroup(t)
	defer g.Wait()
	ctx := context.Background()

	g.Run("the fetch outlives its tokens", func(t *testing.T) {
		// Each request takes 100 ms and tokens live 2 s (Key Vault counts
		// whole seconds: 1 to 2 s): 60 secrets two at a time outlast the
		// first token. The requests in flight when it expires are rejected
		// (401 [TokenExpired]); the SDK's challenge handling gets a new
		// token and repeats them.
		s := newServer(t, akvcredstest.WithTokenLifetime(2*time.Second), akvcredstest.WithLatency(100*time.Millisecond, 100*time.Millisecond))
		secrets := hardSecrets(s, "expiring", 60)
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
		s := newServer(t, akvcredstest.WithTokenLifetime(time.Second), akvcredstest.WithLatency(1100*time.Millisecond, 1100*time.Millisecond))
		secrets := hardSecrets(s, "expired", 6)
		c := newClient(t, s, secretAuth(), akvcreds.WithVaults("expired"), akvcreds.WithSecrets(secrets...))
		creds, err := c.FetchCredentials(ctx)
		reports := hardAccounted(t, creds, err, hardWant([]string{"expired"}, secrets))
		for _, n := range secrets {
			fe := reports["expired/"+n]
			hardMustKind(t, fe, akvcreds.ErrUnauthenticated)
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
						hardMustKind(t, fe, akvcreds.ErrUnauthenticated)
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
		s := newServer(t)
		secrets := hardSecrets(s, "cancel-get", 12)
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
		if fe := reports["cancel-get/s05"]; fe == nil || !errors.Is(fe, context.Canceled) {
			t.Errorf("s05 = %v, want context.Canceled", fe)
		}
		for key, fe := range reports {
			if !errors.Is(fe, context.Canceled) {
				t.Errorf("%s failed for another reason than the cancellation: %v", key, fe)
			}
		}
	})

	g.Run("the token request in flight", func(t *testing.T) {
		s := newServer(t)
		secrets := hardSecrets(s, "cancel-token", 6)
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
		creds, err := c.FetchCredentials(ctx)
		reports := hardAccounted(t, creds, err, hardWant([]string{"cancel-token"}, secrets))
		if len(reports) != len(secrets) {
			t.Errorf("%d reported, want all %d", len(reports), len(secrets))
		}
		for key, fe := range reports {
			if !errors.Is(fe, context.Canceled) {
				t.Errorf("%s: %v, want context.Canceled", key, fe)
			}
		}
	})

	g.Run("a list page in flight", func(t *testing.T) {
		s := newServer(t, akvcredstest.WithPageSize(2))
		secrets := hardSecrets(s, "cancel-list", 9)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		hc := hardHTTPClient(s, func(r *http.Request) {
			if r.URL.Path == "/secrets" && strings.Contains(r.URL.RawQuery, "skiptoken") {
				cancel() // as the second page is asked for
			}
		}, nil)
		c := hardClient(t, hc, secretAuth(), akvcreds.WithVaults("cancel-list"))
		creds, err := c.FetchCredentials(ctx)
		reports := hardAccounted(t, creds, err, hardWant([]string{"cancel-list"}, secrets))
		if fe := reports["cancel-list/"]; fe == nil || !errors.Is(fe, context.Canceled) {
			t.Errorf("the listing = %v, want context.Canceled", fe)
		}
	})

	g.Run("waiting out a throttled vault", func(t *testing.T) {
		s := newServer(t)
		secrets := hardSecrets(s, "cancel-pause", 6)
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
		s := newServer(t)
		secrets := hardSecrets(s, "cancel-early", 5)
		c := newClient(t, s, secretAuth(), akvcreds.WithVaults("cancel-early"), akvcreds.WithSecrets(secrets...))
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		creds, err := c.FetchCredentials(ctx)
		reports := hardAccounted(t, creds, err, hardWant([]string{"cancel-early"}, secrets))
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
		s := newServer(t, akvcredstest.WithLatency(20*time.Millisecond, 60*time.Millisecond))
		secrets := hardSecrets(s, "cancel-many", 20)
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
