package azure

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/akvcreds/akvcreds/internal/cloud"
	"github.com/akvcreds/akvcreds/internal/testutil"
)

const (
	envTenant = "72f988bf-86f1-41af-91ab-2d7cd011db47"
	envClient = "00000000-0000-0000-0000-00000000c11e"
	// a JWT-shaped token (the content is never checked locally)
	jwtA = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIn0.c2lnbmF0dXJl"
	jwtB = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJiIn0.c2lnbmF0dXJl"
)

func TestReadTokenFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := filepath.Join(dir, "token")
	for _, tt := range []struct{ content, want, err string }{
		{content: jwtA, want: jwtA},
		{content: jwtA + "\n", want: jwtA},
		{content: "", err: "is empty"},
		{content: " \n", err: "is empty"},
		{content: "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n", err: "does not hold a JWT"},
		{content: "a.b", err: "does not hold a JWT"},
	} {
		testutil.ReplaceFile(t, p, []byte(tt.content))
		got, err := ReadTokenFile(p)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) || !strings.Contains(err.Error(), p) {
				t.Errorf("%q: %v, want %q", tt.content, err, tt.err)
			}
			if err != nil && strings.TrimSpace(tt.content) != "" && strings.Contains(err.Error(), strings.TrimSpace(tt.content)) {
				t.Errorf("error shows the content: %v", err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%q: %q %v", tt.content, got, err)
		}
	}
	if err := CheckWorkloadIdentity(""); err == nil {
		t.Error("empty path accepted")
	}
	if err := CheckWorkloadIdentity(filepath.Join(dir, "missing")); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("missing file: %v", err)
	}
}

// The assertion callback reads the file on every call: a rotated token is
// used by the next token request.
func TestTokenFileAssertionRereads(t *testing.T) {
	t.Parallel()
	p := filepath.Join(t.TempDir(), "token")
	get := tokenFileAssertion(p)
	testutil.ReplaceFile(t, p, []byte(jwtA))
	if got, err := get(context.Background()); err != nil || got != jwtA {
		t.Fatalf("%q %v", got, err)
	}
	testutil.ReplaceFile(t, p, []byte(jwtB+"\n"))
	if got, err := get(context.Background()); err != nil || got != jwtB {
		t.Fatalf("after rotation: %q %v", got, err)
	}
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	if _, err := get(context.Background()); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("removed file: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := get(ctx); err == nil {
		t.Fatal("cancelled context ignored")
	}
}

func TestFromEnvironment(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	testutil.ReplaceFile(t, tokenFile, []byte(jwtA))
	pfx := testutil.WriteFile(t, "legacy.pfx", testutil.LegacyPFX())
	ids := map[string]string{EnvTenantID: envTenant, EnvClientID: envClient}
	with := func(kv ...string) map[string]string { return testutil.EnvWith(ids, kv...) }
	tests := []struct {
		name string
		env  map[string]string
		kind AuthKind
		want []string // error parts
		not  []string // absent from the error
	}{
		{name: "nothing", env: map[string]string{},
			want: []string{"AZURE_TENANT_ID", "AZURE_CLIENT_ID", "one of AZURE_CLIENT_SECRET (client secret), AZURE_CLIENT_CERTIFICATE_PATH (certificate) or AZURE_FEDERATED_TOKEN_FILE (workload identity)", "never falls back to a managed identity"}},
		{name: "IDs only", env: with(), want: []string{"lacks one of AZURE_CLIENT_SECRET"}, not: []string{"lacks AZURE_TENANT_ID"}},
		{name: "secret without tenant", env: map[string]string{EnvClientID: envClient, EnvClientSecret: "s"}, want: []string{"lacks AZURE_TENANT_ID"}, not: []string{"AZURE_CLIENT_ID", "one of"}},
		{name: "managed identity host", env: map[string]string{"IDENTITY_ENDPOINT": "http://localhost:42356/msi/token"},
			want: []string{"IDENTITY_ENDPOINT is set", "WithSystemAssignedIdentity"}},
		{name: "username", env: with(envUsername, "u@contoso.com", "AZURE_PASSWORD", "p"), want: []string{"AZURE_USERNAME", "not supported"}, not: []string{"u@contoso.com"}},
		{name: "secret", env: with(EnvClientSecret, "s3cr3t"), kind: AuthClientSecret},
		{name: "secret wins", env: with(EnvClientSecret, "s3cr3t", EnvCertificatePath, "/nonexistent", EnvFederatedTokenFile, tokenFile), kind: AuthClientSecret},
		{name: "certificate", env: with(EnvCertificatePath, pfx, EnvCertificatePassword, testutil.PFXPassword, EnvSendCertChain, "true"), kind: AuthCertificate},
		{name: "certificate wins over token", env: with(EnvCertificatePath, pfx, EnvCertificatePassword, testutil.PFXPassword, EnvFederatedTokenFile, tokenFile), kind: AuthCertificate},
		{name: "certificate missing", env: with(EnvCertificatePath, filepath.Join(dir, "nope.pem")), kind: AuthCertificate, want: []string{"AZURE_CLIENT_CERTIFICATE_PATH", "does not exist"}},
		{name: "certificate wrong password", env: with(EnvCertificatePath, pfx, EnvCertificatePassword, "wrong"), kind: AuthCertificate,
			want: []string{"AZURE_CLIENT_CERTIFICATE_PATH", "password is wrong"}, not: []string{"wrong\""}},
		{name: "workload identity", env: with(EnvFederatedTokenFile, tokenFile, EnvAuthorityHost, "https://login.microsoftonline.com/"), kind: AuthWorkloadIdentity},
		{name: "token file missing", env: with(EnvFederatedTokenFile, filepath.Join(dir, "nope")), kind: AuthWorkloadIdentity, want: []string{"AZURE_FEDERATED_TOKEN_FILE", "does not exist"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg, err := FromEnvironment(testutil.Getenv(tt.env), time.Now())
			if cfg.Kind != tt.kind {
				t.Errorf("kind %d, want %d", cfg.Kind, tt.kind)
			}
			if tt.want != nil {
				if err == nil {
					t.Fatal("no error")
				}
				for _, w := range tt.want {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q lacks %q", err, w)
					}
				}
				for _, w := range tt.not {
					if strings.Contains(err.Error(), w) {
						t.Errorf("error %q has %q", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.TenantID != envTenant || cfg.ClientID != envClient || cfg.TenantVar != EnvTenantID || cfg.ClientVar != EnvClientID {
				t.Errorf("IDs %+v", cfg)
			}
			switch cfg.Kind {
			case AuthClientSecret:
				if cfg.ClientSecret != "s3cr3t" || cfg.SecretVar != EnvClientSecret {
					t.Error("client secret not taken")
				}
			case AuthCertificate:
				if cfg.Certificate == nil || cfg.Certificate.Thumbprint() != testutil.PFXThumbprint {
					t.Error("certificate not loaded")
				}
				if cfg.SendCertificateChain != (tt.env[EnvSendCertChain] == "true") {
					t.Error("AZURE_CLIENT_SEND_CERTIFICATE_CHAIN ignored")
				}
			case AuthWorkloadIdentity:
				if cfg.TokenFile != tokenFile || cfg.AuthorityHost != "https://login.microsoftonline.com/" {
					t.Errorf("workload %+v", cfg)
				}
			}
		})
	}
}

func TestCheckAuthorityHost(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		v     string
		c     cloud.Cloud
		wrong string // the other cloud, "" for no error
	}{
		{"", cloud.Public(), ""},
		{"https://login.microsoftonline.com/", cloud.Public(), ""},
		{"https://LOGIN.microsoftonline.com", cloud.Public(), ""},
		{"https://login.chinacloudapi.cn/", cloud.China(), ""},
		{"https://login.microsoftonline.us/", cloud.USGovernment(), ""},
		{"https://login.chinacloudapi.cn/", cloud.Public(), "AzureChina"},
		{"https://login.microsoftonline.com/", cloud.USGovernment(), "AzurePublic"},
		{"https://login.example.com/", cloud.Public(), ""},
	} {
		err := CheckAuthorityHost(tt.v, tt.c)
		if (err != nil) != (tt.wrong != "") || (err != nil && !strings.Contains(err.Error(), "select "+tt.wrong+" with WithCloud")) {
			t.Errorf("%q in %s: %v", tt.v, tt.c.Name, err)
		}
	}
}

func TestNewCredentialModes(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	testutil.ReplaceFile(t, tokenFile, []byte(jwtA))
	cert, err := LoadCertificate(testutil.LegacyPFX(), testutil.PFXPassword, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	o := CredentialOptions{Cloud: cloud.Public()}
	for _, cfg := range []AuthConfig{
		{Kind: AuthCertificate, TenantID: envTenant, ClientID: envClient, Certificate: cert},
		{Kind: AuthWorkloadIdentity, TenantID: envTenant, ClientID: envClient, TokenFile: tokenFile},
	} {
		cred, err := NewCredential(cfg, o)
		if err != nil {
			t.Fatal(err)
		}
		// A challenge from another tenant is refused before any request.
		_, err = cred.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{"https://vault.azure.net/.default"}, TenantID: "11111111-1111-1111-1111-111111111111"})
		ae, ok := err.(*Error)
		if !ok || ae.Code != "WrongTenant" || ae.Kind != KindUnauthenticated {
			t.Errorf("kind %d: %v", cfg.Kind, err)
		}
	}
	for _, cfg := range []AuthConfig{
		{Kind: AuthCertificate, TenantID: envTenant, ClientID: envClient},
		{Kind: AuthWorkloadIdentity, TenantID: envTenant, ClientID: envClient},
		{Kind: AuthWorkloadIdentity, TenantID: envTenant, ClientID: envClient, TokenFile: tokenFile, AuthorityHost: "https://login.chinacloudapi.cn/"},
		{Kind: AuthEnvironment, Prepare: func() (AuthConfig, error) { return FromEnvironment(testutil.Getenv(nil), time.Now()) }},
	} {
		if _, err := NewCredential(cfg, o); err == nil {
			t.Errorf("kind %d: no error", cfg.Kind)
		}
	}
}
