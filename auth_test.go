package akvcreds_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/akvcreds/akvcreds"
	"github.com/akvcreds/akvcreds/akvcredstest"
)

// A managed identity asks IMDS for one token per Client, with the identity's
// client ID when user-assigned, and never Entra ID. A missing identity is an
// authentication failure with IMDS's message and a remedy about the
// resource's identity, after one request: IMDS's 400 is not retried.
func TestManagedIdentity(t *testing.T) {
	t.Parallel()
	const uaClientID = "0f0f0f0f-1111-2222-3333-444444444444"
	tests := []struct {
		name     string
		auth     akvcreds.Option
		setup    func(*akvcredstest.Server)
		clientID string // expected client_id query, "" for none
		fail     string // the failure's message, "" for success
	}{
		{name: "system-assigned", auth: akvcreds.WithSystemAssignedIdentity()},
		// The same identity again, on another emulator: akvcreds keeps no
		// process-global token cache, so this Client asks its own IMDS.
		{name: "system-assigned again", auth: akvcreds.WithSystemAssignedIdentity()},
		{name: "user-assigned", auth: akvcreds.WithUserAssignedIdentity(akvcredstest.DefaultUserAssignedClientID), clientID: akvcredstest.DefaultUserAssignedClientID},
		{
			name:     "another user-assigned",
			auth:     akvcreds.WithUserAssignedIdentity(uaClientID),
			setup:    func(s *akvcredstest.Server) { s.AddManagedIdentity(akvcredstest.ManagedIdentity{ClientID: uaClientID}) },
			clientID: uaClientID,
		},
		{
			name:     "user-assigned identity not assigned",
			auth:     akvcreds.WithUserAssignedIdentity("99999999-9999-9999-9999-999999999999"),
			clientID: "99999999-9999-9999-9999-999999999999",
			fail:     "isn't assigned to this Azure resource",
		},
		{
			name:  "no system-assigned identity",
			auth:  akvcreds.WithSystemAssignedIdentity(),
			setup: func(s *akvcredstest.Server) { s.RemoveSystemAssignedIdentity() },
			fail:  "no system-assigned managed identity",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newServer(t)
			if tt.setup != nil {
				tt.setup(s)
			}
			s.SetSecret("mi-vault", "a", "1")
			s.SetSecret("mi-vault", "b", "2")
			s.SetSecret("mi-other", "a", "3")
			c := newClient(t, s, tt.auth, akvcreds.WithVaults("mi-vault", "mi-other"), akvcreds.WithSecrets("a", "b"))
			for range 2 {
				if tt.fail != "" {
					// One vault: vaults failing together could share one token request.
					_, err := c.FetchCredential(context.Background(), "mi-vault/a")
					wantErr(t, err, akvcreds.ErrUnauthenticated, tt.fail, "To fix: check that the managed identity is enabled on (or assigned to) this Azure resource")
					break
				}
				creds, err := c.FetchCredentials(context.Background())
				if len(creds) != 3 || creds[2].Password.Reveal() != "3" {
					t.Fatalf("creds %v", names(creds))
				}
				if !errors.Is(err, akvcreds.ErrNotFound) || len(akvcreds.FetchErrors(err)) != 1 {
					t.Fatalf("want one not-found (mi-other/b), got %v", err)
				}
			}
			if n := countKind(s, akvcredstest.KindIMDS, ""); n != 1 {
				t.Fatalf("%d IMDS requests, want 1 (cached per Client across vaults and fetches; a 400 is not retried)", n)
			}
			reqs := s.Requests()
			q := reqs[slices.IndexFunc(reqs, func(r akvcredstest.Request) bool { return r.Kind == akvcredstest.KindIMDS })].Query
			if got := q.Get("client_id"); got != tt.clientID || (tt.clientID == "" && q.Has("client_id")) {
				t.Errorf("client_id = %q, want %q", got, tt.clientID)
			}
			if q.Get("resource") != "https://vault.azure.net" || q.Get("api-version") == "" {
				t.Errorf("IMDS query %v", q)
			}
			if n := s.Count(akvcredstest.KindToken); n != 0 {
				t.Errorf("%d Entra ID token requests for a managed identity", n)
			}
		})
	}
}

// Each cloud has its vault and Entra ID hosts, chosen by WithCloud or, by
// default, by the vault URLs.
func TestClouds(t *testing.T) {
	t.Parallel()
	tests := []struct {
		cloud     string // for WithCloud
		vaultHost string
		loginHost string
	}{
		{"public", "cloudy.vault.azure.net", "login.microsoftonline.com"},
		{"china", "cloudy.vault.azure.cn", "login.chinacloudapi.cn"},
		{"usgovernment", "cloudy.vault.usgovcloudapi.net", "login.microsoftonline.us"},
	}
	for _, tt := range tests {
		for _, explicit := range []bool{true, false} {
			name := tt.cloud
			opts := []akvcreds.Option{secretAuth(), akvcreds.WithVaults("https://" + tt.vaultHost + "/"), akvcreds.WithSecrets("a")}
			if explicit {
				name += " by WithCloud"
				opts = append(opts, akvcreds.WithCloud(tt.cloud))
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				s := newServer(t)
				s.SetSecret("cloudy", "a", "1")
				c := newClient(t, s, opts...)
				creds, err := c.FetchCredentials(context.Background())
				if err != nil || len(creds) != 1 {
					t.Fatalf("creds %v err %v", names(creds), err)
				}
				for _, r := range s.Requests() {
					switch r.Kind {
					case akvcredstest.KindGetSecret, akvcredstest.KindChallenge:
						if r.Host != tt.vaultHost {
							t.Errorf("vault request to %s", r.Host)
						}
					case akvcredstest.KindToken:
						if r.Host != tt.loginHost {
							t.Errorf("token request to %s", r.Host)
						}
					}
				}
				if countKind(s, akvcredstest.KindToken, tt.loginHost) != 1 {
					t.Errorf("no token request to %s", tt.loginHost)
				}
			})
		}
	}
}
