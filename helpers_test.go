package akvcreds_test

import (
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
	all := append([]akvcreds.Option{akvcreds.WithHTTPClient(s.Client())}, opts...)
	c, err := akvcreds.New(all...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
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
