package akvcreds_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/akvcreds/akvcreds"
	"github.com/akvcreds/akvcreds/akvcredstest"
)

// newServer starts an emulator; the test fails if anything tried to leave
// loopback.
func newServer(t testing.TB, opts ...akvcredstest.Option) *akvcredstest.Server {
	t.Helper()
	return akvcredstest.NewTestServer(t, opts...)
}

// secretAuth is client-secret authentication as the emulator's default app.
func secretAuth() akvcreds.Option {
	return akvcreds.WithClientSecret(akvcredstest.DefaultTenantID, akvcredstest.DefaultClientID, akvcredstest.DefaultClientSecret)
}

// newClient makes a Client whose traffic all goes to s.
func newClient(t testing.TB, s *akvcredstest.Server, opts ...akvcreds.Option) *akvcreds.Client {
	t.Helper()
	return hardClient(t, s.Client(), opts...)
}

// counts are the count fields of a Batch (FetchSummary, Watch), comparable
// with ==; Duration is left out (zero), as it varies.
type counts struct {
	Vaults, Listed, Fetched, FromCache, Stale, FilteredOut      int
	SkippedDisabled, SkippedExpired, SkippedNotYetValid, Failed int
	ListPages, Reads, CertificatesExpiring                      int
}

// countsOf returns the counts of b.
func countsOf(b akvcreds.Batch) counts {
	return counts{
		Vaults: b.Vaults, Listed: b.Listed, Fetched: b.Fetched, FromCache: b.FromCache, Stale: b.Stale,
		FilteredOut: b.FilteredOut, SkippedDisabled: b.SkippedDisabled, SkippedExpired: b.SkippedExpired,
		SkippedNotYetValid: b.SkippedNotYetValid, Failed: b.Failed, ListPages: b.ListPages, Reads: b.Reads,
		CertificatesExpiring: b.CertificatesExpiring,
	}
}

// countKind counts the logged requests of one kind to one host ("" any).
func countKind(s *akvcredstest.Server, kind akvcredstest.RequestKind, host string) int {
	n := 0
	for _, r := range s.Requests() {
		if r.Kind == kind && (host == "" || r.Host == host) {
			n++
		}
	}
	return n
}

// names lists the credentials' names.
func names(creds []akvcreds.Credential) []string {
	out := make([]string, len(creds))
	for i, c := range creds {
		out[i] = c.Name
	}
	return out
}

// The helpers below account for every credential a fault, load or safety
// test asks for (faults_test.go, safety_test.go).

// hardSecretValue is the value the tests give secret SECRET of vault VAULT.
func hardSecretValue(vault, secret string) string { return "value-of-" + vault + "/" + secret }

// hardSecrets adds n secrets s00, s01, ... to vault and returns their names.
func hardSecrets(s *akvcredstest.Server, vault string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("s%02d", i)
		s.SetSecret(vault, out[i], hardSecretValue(vault, out[i]))
	}
	return out
}

// hardServer returns a new emulator (newServer, with opts) and the names
// of the n secrets it holds in vault (hardSecrets).
func hardServer(t testing.TB, vault string, n int, opts ...akvcredstest.Option) (*akvcredstest.Server, []string) {
	t.Helper()
	s := newServer(t, opts...)
	return s, hardSecrets(s, vault, n)
}

// hardWant lists "vault/secret" for every pair.
func hardWant(vaults []string, secrets []string) []string {
	var out []string
	for _, v := range vaults {
		for _, s := range secrets {
			out = append(out, v+"/"+s)
		}
	}
	return out
}

// hardSentinels are the kinds a *FetchError wraps exactly one of.
var hardSentinels = []error{
	akvcreds.ErrInvalidArgument, akvcreds.ErrUnauthenticated, akvcreds.ErrForbidden, akvcreds.ErrNotFound,
	akvcreds.ErrDisabled, akvcreds.ErrThrottled, akvcreds.ErrUnavailable, akvcreds.ErrMalformed, akvcreds.ErrExpired,
}

// hardKind returns the one sentinel err wraps, nil for none; it fails t if
// err wraps more than one.
func hardKind(t testing.TB, err error) error {
	t.Helper()
	var kind error
	for _, s := range hardSentinels {
		if errors.Is(err, s) {
			if kind != nil {
				t.Errorf("%v wraps both %v and %v", err, kind, s)
			}
			kind = s
		}
	}
	return kind
}

func hardIsCtxErr(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// hardAccounted asserts that every credential asked for (want, as
// "vault/secret") was returned with its own value (hardSecretValue) or
// reported, exactly once; that nothing else was returned or reported; that
// err joins *FetchError values only; and that each wraps exactly one
// sentinel (matching its Kind), or the context's error. A failed listing
// (a *FetchError with no Secret) accounts for the secrets of its vault that
// were neither returned nor reported. It returns the reports by
// "vault/secret" ("vault/" for a listing).
func hardAccounted(t testing.TB, creds []akvcreds.Credential, err error, want []string) map[string]*akvcreds.FetchError {
	t.Helper()
	wanted := map[string]bool{}
	for _, w := range want {
		wanted[w] = true
	}
	seen := map[string]string{}
	for _, c := range creds {
		key := c.Vault + "/" + c.Secret
		switch {
		case !wanted[key]:
			t.Errorf("returned %s, which was not asked for", key)
		case seen[key] != "":
			t.Errorf("%s returned twice", key)
		case c.Password.Reveal() != hardSecretValue(c.Vault, c.Secret):
			t.Errorf("%s returned with the wrong value", key)
		}
		seen[key] = "returned"
	}
	hardOnlyFetchErrors(t, err)
	reports := map[string]*akvcreds.FetchError{}
	listingFailed := map[string]bool{}
	for _, fe := range akvcreds.FetchErrors(err) {
		key := fe.Vault + "/" + fe.Secret
		switch {
		case fe.Secret == "":
			listingFailed[fe.Vault] = true
		case !wanted[key]:
			t.Errorf("reported %s, which was not asked for: %v", key, fe)
		case seen[key] != "":
			t.Errorf("%s %s and reported: %v", key, seen[key], fe)
		}
		seen[key] = "reported"
		reports[key] = fe
		kind := hardKind(t, fe)
		switch {
		case kind == nil && !hardIsCtxErr(fe):
			t.Errorf("%s: the error wraps no sentinel and no context error: %v", key, fe)
		case kind != nil && kind != error(fe.Kind):
			t.Errorf("%s: Kind %v but the error wraps %v: %v", key, fe.Kind, kind, fe)
		}
		if !strings.Contains(fe.Error(), fe.Vault) {
			t.Errorf("%s: the message does not name the vault: %v", key, fe)
		}
	}
	for _, w := range want {
		vault, _, _ := strings.Cut(w, "/")
		if seen[w] == "" && !listingFailed[vault] {
			t.Errorf("%s silently missing: neither returned nor reported", w)
		}
	}
	if n := len(akvcreds.FetchErrors(err)); len(listingFailed) == 0 && len(creds)+n != len(want) {
		t.Errorf("%d returned + %d reported != %d asked for", len(creds), n, len(want))
	}
	return reports
}

// hardFetch fetches with c and checks with hardAccounted that each of
// vault's secrets was returned or reported; it returns the reports.
func hardFetch(t testing.TB, ctx context.Context, c *akvcreds.Client, vault string, secrets []string) map[string]*akvcreds.FetchError {
	t.Helper()
	creds, err := c.FetchCredentials(ctx)
	return hardAccounted(t, creds, err, hardWant([]string{vault}, secrets))
}

// hardOnlyFetchErrors fails t unless err is nil or joins *FetchError values
// only.
func hardOnlyFetchErrors(t testing.TB, err error) {
	t.Helper()
	if err == nil {
		return
	}
	parts := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		parts = j.Unwrap()
	}
	for _, p := range parts {
		if _, ok := p.(*akvcreds.FetchError); !ok {
			t.Errorf("the error joins a %T, not a *FetchError: %v", p, p)
		}
	}
}

// hardHook wraps a transport: before runs as a request is sent, after when
// its answer (or failure) comes back.
type hardHook struct {
	base   http.RoundTripper
	before func(*http.Request)
	after  func(*http.Request, *http.Response, error)
}

func (h *hardHook) RoundTrip(r *http.Request) (*http.Response, error) {
	if h.before != nil {
		h.before(r)
	}
	res, err := h.base.RoundTrip(r)
	if h.after != nil {
		h.after(r, res, err)
	}
	return res, err
}

// hardHTTPClient is the emulator's client with a hook on its transport.
func hardHTTPClient(s *akvcredstest.Server, before func(*http.Request), after func(*http.Request, *http.Response, error)) *http.Client {
	hc := s.Client()
	hc.Transport = &hardHook{base: hc.Transport, before: before, after: after}
	return hc
}

// hardClient makes a Client whose traffic all goes through hc.
func hardClient(t testing.TB, hc *http.Client, opts ...akvcreds.Option) *akvcreds.Client {
	t.Helper()
	c, err := akvcreds.New(append([]akvcreds.Option{akvcreds.WithHTTPClient(hc)}, opts...)...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

// wantErr checks that err matches target (nil: any) and contains every part.
func wantErr(t *testing.T, err, target error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %v", target)
	}
	if target != nil && !errors.Is(err, target) {
		t.Errorf("error %q does not match %v", err, target)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error %q lacks %q", err, p)
		}
	}
}

// primedClient starts an emulator holding secret "a" (value "1") in vault
// and returns it with a Client that reads vault/a and has fetched it once,
// so that its token and the vault's challenge are behind it when the test
// injects faults.
func primedClient(t testing.TB, vault string, opts ...akvcreds.Option) (*akvcredstest.Server, *akvcreds.Client) {
	t.Helper()
	s := newServer(t)
	s.SetSecret(vault, "a", "1")
	c := newClient(t, s, append([]akvcreds.Option{secretAuth(), akvcreds.WithVaults(vault), akvcreds.WithSecrets("a")}, opts...)...)
	if _, err := c.FetchCredentials(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s, c
}
