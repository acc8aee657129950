package akvcreds_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/akvcreds/akvcreds"
	"github.com/akvcreds/akvcreds/akvcredstest"
)

// tokenCounter is a caller's credential: it records the options of each
// call and passes them to get.
type tokenCounter struct {
	get func(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error)

	mu    sync.Mutex
	calls []policy.TokenRequestOptions
}

func (c *tokenCounter) GetToken(ctx context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, error) {
	c.mu.Lock()
	c.calls = append(c.calls, opts)
	c.mu.Unlock()
	return c.get(ctx, opts)
}

func (c *tokenCounter) recorded() []policy.TokenRequestOptions {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]policy.TokenRequestOptions(nil), c.calls...)
}

// failing is a get function that fails with err.
func failing(err error) func(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return func(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
		return azcore.AccessToken{}, err
	}
}

// The caller's credential is asked once per vault for the vault's scope and
// tenant, and its tokens are reused across fetches.
func TestTokenCredentialUsed(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	s.SetSecret("tc-one", "a", "1")
	s.SetSecret("tc-one", "b", "2")
	s.SetSecret("tc-two", "a", "3")
	inner, err := azidentity.NewClientSecretCredential(akvcredstest.DefaultTenantID, akvcredstest.DefaultClientID, akvcredstest.DefaultClientSecret,
		&azidentity.ClientSecretCredentialOptions{ClientOptions: azcore.ClientOptions{Transport: s.Client()}})
	if err != nil {
		t.Fatal(err)
	}
	cred := &tokenCounter{get: inner.GetToken}
	c := newClient(t, s, akvcreds.WithTokenCredential(cred), akvcreds.WithVaults("tc-one", "tc-two"))
	for range 3 {
		creds, err := c.FetchCredentials(context.Background())
		if err != nil || len(creds) != 3 {
			t.Fatalf("%v %v", names(creds), err)
		}
	}
	calls := cred.recorded()
	if len(calls) != 2 {
		t.Fatalf("%d GetToken calls, want 2 (one per vault)", len(calls))
	}
	for _, o := range calls {
		if len(o.Scopes) != 1 || o.Scopes[0] != "https://vault.azure.net/.default" || o.TenantID != akvcredstest.DefaultTenantID {
			t.Errorf("token request options %+v", o)
		}
	}
	if n := s.Count(akvcredstest.KindToken); n != 1 {
		t.Errorf("%d Entra ID token requests, want 1 (the inner credential caches)", n)
	}
}

type unavailableErr struct{}

func (unavailableErr) Error() string            { return "no credential here" }
func (unavailableErr) IsCredentialUnavailable() {}

// Whatever the caller's credential fails with is an authentication problem,
// decided once per vault and call, with the credential's message.
func TestTokenCredentialErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  error
		want []string
	}{
		{"plain error", errors.New("vault token service said no"), []string{"the supplied token credential", "vault token service said no"}},
		{"credential unavailable", unavailableErr{}, []string{"no credential here"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newServer(t)
			s.SetSecret("tc-err", "a", "1")
			s.SetSecret("tc-err", "b", "2")
			cred := &tokenCounter{get: failing(tt.err)}
			c := newClient(t, s, akvcreds.WithTokenCredential(cred), akvcreds.WithVaults("tc-err"), akvcreds.WithSecrets("a", "b"))
			creds, err := c.FetchCredentials(context.Background())
			if len(creds) != 0 {
				t.Errorf("creds %v", names(creds))
			}
			wantErr(t, err, akvcreds.ErrUnauthenticated, tt.want...)
			fes := akvcreds.FetchErrors(err)
			if len(fes) != 2 {
				t.Errorf("%d fetch errors, want 2", len(fes))
			}
			for _, fe := range fes {
				if fe.Kind != akvcreds.ErrUnauthenticated || fe.Remedy == "" {
					t.Errorf("%v: kind %v, remedy %q", fe, fe.Kind, fe.Remedy)
				}
			}
			if n := len(cred.recorded()); n != 1 {
				t.Errorf("%d GetToken calls, want 1 (a token failure stops the vault for this call)", n)
			}
			if n := s.Count(akvcredstest.KindGetSecret); n != 0 {
				t.Errorf("%d secret reads without a token", n)
			}
		})
	}
}

// A caller's credential that honours the context stops with it: the call
// is cancelled, not an authentication failure.
func TestTokenCredentialCancelled(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	s.SetSecret("tc-cancel", "a", "1")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	block := &tokenCounter{get: func(ctx context.Context, _ policy.TokenRequestOptions) (azcore.AccessToken, error) {
		cancel() // the caller gives up while the credential works
		<-ctx.Done()
		return azcore.AccessToken{}, ctx.Err()
	}}
	c := newClient(t, s, akvcreds.WithTokenCredential(block), akvcreds.WithVaults("tc-cancel"))
	_, err := c.FetchCredentials(ctx)
	if !errors.Is(err, context.Canceled) || errors.Is(err, akvcreds.ErrUnauthenticated) {
		t.Fatalf("got %v", err)
	}
	fes := akvcreds.FetchErrors(err)
	if len(fes) != 1 || fes[0].Kind.Error() != "canceled" || fes[0].Remedy != "" {
		t.Errorf("fetch errors %+v, want one canceled, without remedy", fes)
	}
	if n := len(block.recorded()); n != 1 {
		t.Errorf("%d GetToken calls, want 1", n)
	}
}

// WithTokenCredential(nil) is refused by New.
func TestTokenCredentialNil(t *testing.T) {
	t.Parallel()
	_, err := akvcreds.New(akvcreds.WithTokenCredential(nil), akvcreds.WithVaults("myvault"))
	wantErr(t, err, akvcreds.ErrInvalidArgument, "akvcreds: WithTokenCredential: the credential is nil")
}
