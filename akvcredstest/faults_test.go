package akvcredstest_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/akvcreds/akvcreds/akvcredstest"
)

func fixedClock() func() time.Time {
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	return func() time.Time { return t0 }
}

func TestRateLimit(t *testing.T) {
	ctx := context.Background()
	for _, withRetryAfter := range []bool{true, false} {
		t.Run(fmt.Sprintf("RetryAfter=%v", withRetryAfter), func(t *testing.T) {
			s := akvcredstest.NewTestServer(t, akvcredstest.WithClock(fixedClock()))
			s.SetSecret("busy", "s", "v")
			s.SetRateLimit("busy", 3, 10*time.Second, withRetryAfter)
			c := defaultClient(t, s, "busy") // MaxRetries -1: see the raw 429
			for i := range 3 {
				if _, err := c.GetSecret(ctx, "s", "", nil); err != nil {
					t.Fatalf("request %d: %v", i, err)
				}
			}
			_, err := c.GetSecret(ctx, "s", "", nil)
			re := responseError(t, err)
			if re.StatusCode != http.StatusTooManyRequests || re.ErrorCode != "Throttled" {
				t.Fatalf("got %d %s", re.StatusCode, re.ErrorCode)
			}
			ra := re.RawResponse.Header.Get("Retry-After")
			if withRetryAfter && ra != "10" {
				t.Errorf("Retry-After %q, want 10", ra)
			}
			if !withRetryAfter && ra != "" {
				t.Errorf("Retry-After %q, want none", ra)
			}
			assertMessageContains(t, err, "VaultRequestTypeLimitReached")
			// The challenge is not counted: it is unauthenticated.
			if n := s.Count(akvcredstest.KindGetSecret); n != 4 {
				t.Errorf("get requests %d, want 4", n)
			}
			s.SetRateLimit("busy", 0, 0, false)
			if _, err := c.GetSecret(ctx, "s", "", nil); err != nil {
				t.Errorf("after removing the limit: %v", err)
			}
		})
	}
}

func TestInjectStatusRetried(t *testing.T) {
	ctx := context.Background()
	s := akvcredstest.NewTestServer(t)
	s.SetSecret("flaky", "s", "v")
	s.Inject(akvcredstest.Fault{Host: "flaky.vault.azure.net", Path: "/secrets/s", Count: 2, Status: http.StatusServiceUnavailable, RetryAfter: "0"})
	cred := secretCred(t, s, akvcredstest.DefaultTenantID, akvcredstest.DefaultClientID, akvcredstest.DefaultClientSecret, true)
	c := secretsClient(t, s, "https://flaky.vault.azure.net", cred, 3)
	if _, err := c.GetSecret(ctx, "s", "", nil); err != nil {
		t.Fatal(err)
	}
	n503 := 0
	for _, r := range s.Requests() {
		if r.Status == http.StatusServiceUnavailable {
			n503++
		}
	}
	if n503 != 2 {
		t.Errorf("503 answers %d, want 2: %+v", n503, s.Requests())
	}

	// Seen raw by the SDK (no retries): Key Vault-shaped error body.
	s.Inject(akvcredstest.Fault{Host: "flaky.vault.azure.net", Status: http.StatusInternalServerError})
	c2 := defaultClient(t, s, "flaky")
	_, err := c2.GetSecret(ctx, "s", "", nil)
	if re := responseError(t, err); re.StatusCode != 500 || re.ErrorCode != "InternalServerError" {
		t.Errorf("500: %v", err)
	}
	s.Inject(akvcredstest.Fault{Host: "flaky.vault.azure.net", Status: http.StatusTooManyRequests, RetryAfter: "7"})
	_, err = c2.GetSecret(ctx, "s", "", nil)
	if re := responseError(t, err); re.StatusCode != 429 || re.ErrorCode != "Throttled" || re.RawResponse.Header.Get("Retry-After") != "7" {
		t.Errorf("429: %v", err)
	}
}

func TestInjectTokenEndpointFailure(t *testing.T) {
	s := akvcredstest.NewTestServer(t)
	s.Inject(akvcredstest.Fault{Host: "login.microsoftonline.com", Path: "/" + akvcredstest.DefaultTenantID + "/oauth2", Status: http.StatusServiceUnavailable})
	cred := secretCred(t, s, akvcredstest.DefaultTenantID, akvcredstest.DefaultClientID, akvcredstest.DefaultClientSecret, true)
	_, err := cred.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{"https://vault.azure.net/.default"}})
	var afe *azidentity.AuthenticationFailedError
	if !errors.As(err, &afe) || afe.RawResponse == nil || afe.RawResponse.StatusCode != 503 {
		t.Errorf("token 503: %v", err)
	}
	// The fault is used up: the next attempt works.
	if _, err := cred.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{"https://vault.azure.net/.default"}}); err != nil {
		t.Errorf("after fault: %v", err)
	}
}

func TestDropAndTruncate(t *testing.T) {
	ctx := context.Background()
	s := akvcredstest.NewTestServer(t)
	s.SetSecret("bad-net", "s", "v")
	c := defaultClient(t, s, "bad-net")
	if _, err := c.GetSecret(ctx, "s", "", nil); err != nil { // warm up: challenge + token
		t.Fatal(err)
	}

	// Drop: two uses, since net/http itself retries an idempotent request once
	// when a reused connection closes before any response byte.
	s.Inject(akvcredstest.Fault{Host: "bad-net.vault.azure.net", Drop: true, Count: 2})
	_, err := c.GetSecret(ctx, "s", "", nil)
	var re *azcore.ResponseError
	if err == nil || errors.As(err, &re) {
		t.Errorf("drop: %v", err)
	}
	s.ClearFaults()
	dropped := 0
	for _, r := range s.Requests() {
		if r.Status == 0 {
			dropped++
		}
	}
	if dropped < 1 {
		t.Errorf("no dropped request logged: %+v", s.Requests())
	}

	s.Inject(akvcredstest.Fault{Host: "bad-net.vault.azure.net", Truncate: true})
	_, err = c.GetSecret(ctx, "s", "", nil)
	if err == nil || errors.As(err, &re) {
		t.Errorf("truncate: %v", err)
	}
	if _, err := c.GetSecret(ctx, "s", "", nil); err != nil {
		t.Errorf("after truncate: %v", err)
	}

	// Raw view of a truncated response: full Content-Length, half the body.
	s.Inject(akvcredstest.Fault{Host: "bad-net.vault.azure.net", Truncate: true})
	resp, err := s.Client().Get("https://bad-net.vault.azure.net/secrets/s?api-version=7.5")
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	n, _ := readFull(resp, buf)
	resp.Body.Close()
	if resp.StatusCode != 401 || resp.ContentLength <= int64(n) || n == 0 {
		t.Errorf("truncated: status %d, content-length %d, read %d", resp.StatusCode, resp.ContentLength, n)
	}
	assertNoRefusedDials(t, s)
}

func readFull(resp *http.Response, buf []byte) (int, error) {
	total := 0
	for total < len(buf) {
		n, err := resp.Body.Read(buf[total:])
		total += n
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

func TestDelayAndLatencyCancel(t *testing.T) {
	s := akvcredstest.NewTestServer(t, akvcredstest.WithLatency(time.Millisecond, 2*time.Millisecond))
	s.SetSecret("slow", "s", "v")
	s.Inject(akvcredstest.Fault{Host: "slow.vault.azure.net", Delay: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "https://slow.vault.azure.net/secrets/s?api-version=7.5", nil)
	done := make(chan error, 1)
	go func() {
		resp, err := s.Client().Do(req)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	time.Sleep(5 * time.Millisecond) // let the request reach the server (not required for the assertion)
	cancel()
	if err := <-done; err == nil {
		t.Fatal("delayed request answered")
	}
}

func TestConcurrentUse(t *testing.T) {
	ctx := context.Background()
	s := akvcredstest.NewTestServer(t)
	for i := range 20 {
		s.SetSecret("conc", fmt.Sprintf("s%d", i), "v")
	}
	c := defaultClient(t, s, "conc")
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for g := range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 10 {
				if _, err := c.GetSecret(ctx, fmt.Sprintf("s%d", (g+i)%20), "", nil); err != nil {
					errs <- err
				}
				s.SetSecret("conc", "churn", "x")
				_ = s.Requests()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := s.Count(akvcredstest.KindGetSecret); n != 100 {
		t.Errorf("gets %d, want 100", n)
	}
	if n := s.Count(akvcredstest.KindToken); n < 1 {
		t.Errorf("tokens %d", n)
	}
}
