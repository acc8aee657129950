package akvcreds_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/akvcreds/akvcreds"
	"github.com/akvcreds/akvcreds/akvcredstest"
)

const (
	wiIssuer   = "https://oidc.prod-aks.azure.com/11111111-2222-3333-4444-555555555555/"
	wiSubjectA = "system:serviceaccount:payments:api"
	wiSubjectB = "system:serviceaccount:payments:worker"
	wiClientID = "00000000-0000-0000-0000-00000000f0ed"
)

// The federated token file is read for every token request: after the
// kubelet replaces it, the next token request presents the new content.
// Each step reads a new vault, whose Key Vault client has no token yet, and
// the emulator's one-minute tokens are too short for azidentity to cache
// (it renews tokens five minutes before expiry), so every step makes exactly
// one token request; what Entra ID answers shows which token it was sent.
func TestWorkloadIdentityTokenRotation(t *testing.T) {
	t.Parallel()
	s := newServer(t, akvcredstest.WithTokenLifetime(time.Minute))
	s.AddFederatedCredential(akvcredstest.DefaultTenantID, wiClientID, wiIssuer, wiSubjectA)
	s.AddFederatedCredential(akvcredstest.DefaultTenantID, wiClientID, wiIssuer, wiSubjectB)
	for _, v := range []string{"wi-one", "wi-two", "wi-three", "wi-four", "wi-five"} {
		s.SetSecret(v, "s", v+"-value")
	}
	tokenFile := writeTemp(t, "azure-identity-token", []byte(s.IssueFederatedToken(wiIssuer, wiSubjectA, time.Hour)))
	c := newClient(t, s, akvcreds.WithWorkloadIdentity(akvcredstest.DefaultTenantID, wiClientID, tokenFile), akvcreds.WithVaults("wi-one"))
	ctx := context.Background()

	steps := []struct {
		vault string
		token string // new file content, "" to keep it
		want  []string
	}{
		{vault: "wi-one"},
		{vault: "wi-two", token: s.IssueFederatedToken(wiIssuer, "system:serviceaccount:payments:intruder", time.Hour),
			want: []string{"AADSTS700213", "system:serviceaccount:payments:intruder", "(workload identity)", "no federated identity credential", "api://AzureADTokenExchange"}},
		{vault: "wi-three", token: s.IssueFederatedToken(wiIssuer, wiSubjectA, -time.Minute),
			want: []string{"AADSTS700024", "the federated token has expired"}},
		{vault: "wi-four", token: s.IssueFederatedToken(wiIssuer, wiSubjectB, time.Hour)},
		{vault: "wi-five", token: s.IssueFederatedToken("https://another-cluster.example/", wiSubjectB, time.Hour),
			want: []string{"AADSTS700211", "https://another-cluster.example/"}},
	}
	for i, st := range steps {
		if st.token != "" {
			replaceFile(t, tokenFile, st.token+"\n")
		}
		cred, err := c.FetchCredential(ctx, st.vault+"/s")
		if st.want == nil {
			if err != nil || cred.Password.Reveal() != st.vault+"-value" {
				t.Fatalf("step %d (%s): %v", i+1, st.vault, err)
			}
		} else {
			wantErr(t, err, akvcreds.ErrUnauthenticated, st.want...)
		}
		if n := s.Count(akvcredstest.KindToken); n != i+1 {
			t.Fatalf("after step %d: %d token requests, want %d", i+1, n, i+1)
		}
	}
}

// Within the access token's lifetime, the token file is not read again:
// one token request serves every vault and fetch.
func TestWorkloadIdentityCachesTokens(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	s.AddFederatedCredential(akvcredstest.DefaultTenantID, wiClientID, wiIssuer, wiSubjectA)
	s.SetSecret("wi-cache-a", "s", "1")
	s.SetSecret("wi-cache-b", "s", "2")
	tokenFile := writeTemp(t, "token", []byte(s.IssueFederatedToken(wiIssuer, wiSubjectA, time.Hour)))
	c := newClient(t, s, akvcreds.WithWorkloadIdentity(akvcredstest.DefaultTenantID, wiClientID, tokenFile),
		akvcreds.WithVaults("wi-cache-a", "wi-cache-b"), akvcreds.WithSecrets("s"))
	for range 3 {
		creds, err := c.FetchCredentials(context.Background())
		if err != nil || len(creds) != 2 {
			t.Fatalf("%v %v", names(creds), err)
		}
	}
	if n := s.Count(akvcredstest.KindToken); n != 1 {
		t.Errorf("%d token requests, want 1", n)
	}
	if n := s.Count(akvcredstest.KindIMDS); n != 0 {
		t.Errorf("%d IMDS requests", n)
	}
}

func TestWorkloadIdentityRejected(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	empty := writeTemp(t, "empty", nil)
	notJWT := writeTemp(t, "ca.crt", []byte("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"))
	ok := writeTemp(t, "ok", []byte("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln"))
	tests := []struct {
		name                 string
		tenant, client, file string
		want                 []string
	}{
		{"missing file", akvcredstest.DefaultTenantID, wiClientID, filepath.Join(dir, "nope"), []string{"federated token file", "does not exist"}},
		{"empty file", akvcredstest.DefaultTenantID, wiClientID, empty, []string{"is empty"}},
		{"not a JWT", akvcredstest.DefaultTenantID, wiClientID, notJWT, []string{"does not hold a JWT"}},
		{"directory", akvcredstest.DefaultTenantID, wiClientID, dir, []string{"is a directory"}},
		{"bad IDs", "common", "not-a-guid", ok, []string{"tenant ID", "client ID"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := akvcreds.New(akvcreds.WithWorkloadIdentity(tt.tenant, tt.client, tt.file), akvcreds.WithVaults("myvault"))
			wantErr(t, err, akvcreds.ErrInvalidArgument, append([]string{"akvcreds: WithWorkloadIdentity: "}, tt.want...)...)
		})
	}
}

// A token file that disappears after New fails the token request, as an
// authentication problem naming the file.
func TestWorkloadIdentityFileRemoved(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	s.AddFederatedCredential(akvcredstest.DefaultTenantID, wiClientID, wiIssuer, wiSubjectA)
	s.SetSecret("wi-gone", "s", "1")
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	replaceFile(t, tokenFile, s.IssueFederatedToken(wiIssuer, wiSubjectA, time.Hour))
	c := newClient(t, s, akvcreds.WithWorkloadIdentity(akvcredstest.DefaultTenantID, wiClientID, tokenFile), akvcreds.WithVaults("wi-gone"))
	replaceFile(t, tokenFile, "")
	_, err := c.FetchCredential(context.Background(), "wi-gone/s")
	wantErr(t, err, akvcreds.ErrUnauthenticated, tokenFile, "is empty", "(workload identity)")
	if n := s.Count(akvcredstest.KindToken); n != 0 {
		t.Errorf("%d token requests without a token", n)
	}
}

// Defaults come from the environment the workload identity webhook sets.
// Not parallel: it sets environment variables.
func TestWorkloadIdentityFromEnvironment(t *testing.T) {
	s := newServer(t)
	s.AddFederatedCredential(akvcredstest.DefaultTenantID, wiClientID, wiIssuer, wiSubjectA)
	s.SetSecret("wi-env", "s", "1")
	tokenFile := writeTemp(t, "token", []byte(s.IssueFederatedToken(wiIssuer, wiSubjectA, time.Hour)))
	t.Setenv("AZURE_TENANT_ID", akvcredstest.DefaultTenantID)
	t.Setenv("AZURE_CLIENT_ID", wiClientID)
	t.Setenv("AZURE_FEDERATED_TOKEN_FILE", tokenFile)
	t.Setenv("AZURE_AUTHORITY_HOST", "https://login.microsoftonline.com/")
	c := newClient(t, s, akvcreds.WithWorkloadIdentity("", "", ""), akvcreds.WithVaults("wi-env"))
	if _, err := c.FetchCredential(context.Background(), "wi-env/s"); err != nil {
		t.Fatal(err)
	}
	// An argument wins over its variable.
	t.Setenv("AZURE_CLIENT_ID", "99999999-9999-9999-9999-999999999999")
	c = newClient(t, s, akvcreds.WithWorkloadIdentity("", wiClientID, ""), akvcreds.WithVaults("wi-env"))
	if _, err := c.FetchCredential(context.Background(), "wi-env/s"); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AZURE_CLIENT_ID", "not-a-guid")
	_, err := akvcreds.New(akvcreds.WithWorkloadIdentity("", "", ""), akvcreds.WithVaults("wi-env"))
	wantErr(t, err, akvcreds.ErrInvalidArgument, "AZURE_CLIENT_ID: client ID")
	t.Setenv("AZURE_CLIENT_ID", wiClientID)
	t.Setenv("AZURE_AUTHORITY_HOST", "https://login.chinacloudapi.cn/")
	_, err = akvcreds.New(akvcreds.WithWorkloadIdentity("", "", ""), akvcreds.WithVaults("wi-env"))
	wantErr(t, err, akvcreds.ErrInvalidArgument, "AZURE_AUTHORITY_HOST", "AzureChina", "WithCloud")
	t.Setenv("AZURE_FEDERATED_TOKEN_FILE", "")
	t.Setenv("AZURE_AUTHORITY_HOST", "")
	_, err = akvcreds.New(akvcreds.WithWorkloadIdentity("", "", ""), akvcreds.WithVaults("wi-env"))
	wantErr(t, err, akvcreds.ErrInvalidArgument, "the federated token file is empty and AZURE_FEDERATED_TOKEN_FILE is not set", "azure.workload.identity/use")
}
