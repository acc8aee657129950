package akvcredstest_test

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/akvcreds/akvcreds/akvcredstest"
	"github.com/akvcreds/akvcreds/internal/testutil"
)

const (
	fedIssuer  = "https://oidc.prod-aks.azure.com/00000000-0000-0000-0000-000000000000/"
	fedSubject = "system:serviceaccount:default:workload"
	fedAppID   = "00000000-0000-0000-0000-0000000fed01"
)

// postAssertion sends a client-credentials request with a client assertion
// and returns the status, the OAuth error and the AADSTS description.
func postAssertion(t *testing.T, s *akvcredstest.Server, clientID, assertion string) (int, string, string) {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {clientID},
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
		"client_assertion":      {assertion}, "scope": {"https://vault.azure.net/.default"}}
	status, m := postForm(t, s.Client(), "https://login.microsoftonline.com/"+akvcredstest.DefaultTenantID+"/oauth2/v2.0/token", form)
	if status == http.StatusOK {
		if m["access_token"] == "" || m["token_type"] != "Bearer" {
			t.Errorf("token response %v", m)
		}
		return status, "", ""
	}
	code, _ := m["error"].(string)
	desc, _ := m["error_description"].(string)
	return status, code, desc
}

func TestFederatedCredentialRaw(t *testing.T) {
	s := akvcredstest.NewTestServer(t)
	s.AddFederatedCredential(akvcredstest.DefaultTenantID, fedAppID, fedIssuer, fedSubject)
	s.AddFederatedCredential(akvcredstest.DefaultTenantID, fedAppID, fedIssuer, fedSubject) // idempotent
	const otherApp = "00000000-0000-0000-0000-0000000fed02"
	s.AddFederatedCredential(akvcredstest.DefaultTenantID, otherApp, "https://other-issuer.example/", "system:serviceaccount:x:y")

	// A forged token: right issuer and key ID, another key.
	good := s.IssueFederatedToken(fedIssuer, fedSubject, time.Hour)
	parts := strings.Split(good, ".")
	forgeKey := testutil.RSAKey(0) // any key but the issuer's, which the server made
	forged := parts[0] + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(mustSign(t, forgeKey, parts[0]+"."+parts[1]))

	tests := []struct {
		name      string
		clientID  string
		assertion string
		status    int
		code      string
		prefix    string
	}{
		{"valid", fedAppID, good, 200, "", ""},
		{"unknown issuer", fedAppID, s.IssueFederatedToken("https://unknown.example/", fedSubject, time.Hour), 400, "invalid_request",
			"AADSTS700211: No matching federated identity record found for presented assertion issuer 'https://unknown.example/'. Please check your federated identity credential Subject, Audience and Issuer against the presented assertion."},
		{"issuer differs in case", fedAppID, s.IssueFederatedToken(strings.ToUpper(fedIssuer), fedSubject, time.Hour), 400, "invalid_request", "AADSTS700211: "},
		{"issuer of another app", fedAppID, s.IssueFederatedToken("https://other-issuer.example/", "system:serviceaccount:x:y", time.Hour), 400, "invalid_request", "AADSTS700211: "},
		{"other subject", fedAppID, s.IssueFederatedToken(fedIssuer, "system:serviceaccount:default:other", time.Hour), 400, "invalid_request",
			"AADSTS700213: No matching federated identity record found for presented assertion subject 'system:serviceaccount:default:other'."},
		{"expired", fedAppID, s.IssueFederatedToken(fedIssuer, fedSubject, -time.Minute), 401, "invalid_client",
			"AADSTS700024: Client assertion is not within its valid time range. Current time: "},
		{"zero lifetime", fedAppID, s.IssueFederatedToken(fedIssuer, fedSubject, 0), 401, "invalid_client", "AADSTS700024: "},
		{"forged signature", fedAppID, forged, 401, "invalid_client", "AADSTS700027: Client assertion failed signature validation."},
		{"unknown app", "00000000-0000-0000-0000-0000000fed99", good, 400, "unauthorized_client", "AADSTS700016: "},
		{"malformed", fedAppID, "not-a-jwt", 401, "invalid_client", "AADSTS50027: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, code, desc := postAssertion(t, s, tt.clientID, tt.assertion)
			if st != tt.status || code != tt.code || !strings.HasPrefix(desc, tt.prefix) {
				t.Errorf("got %d %s %q, want %d %s %q", st, code, desc, tt.status, tt.code, tt.prefix)
			}
		})
	}
}

func mustSign(t *testing.T, k *rsa.PrivateKey, signing string) []byte {
	t.Helper()
	sig, err := rsaSign(k, signing)
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

// With the clock moved on, a token issued earlier expires.
func TestFederatedTokenServerClock(t *testing.T) {
	var now atomic.Int64
	now.Store(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC).Unix())
	s := akvcredstest.NewTestServer(t, akvcredstest.WithClock(func() time.Time { return time.Unix(now.Load(), 0) }))
	s.AddFederatedCredential(akvcredstest.DefaultTenantID, fedAppID, fedIssuer, fedSubject)
	tok := s.IssueFederatedToken(fedIssuer, fedSubject, time.Hour)
	if st, _, desc := postAssertion(t, s, fedAppID, tok); st != 200 {
		t.Fatalf("fresh token: %d %s", st, desc)
	}
	now.Add(2 * 3600)
	if _, _, desc := postAssertion(t, s, fedAppID, tok); !strings.HasPrefix(desc, "AADSTS700024: ") || !strings.Contains(desc, "Current time: 2030-01-01T02:00:00.0000000Z, assertion valid from 2030-01-01T00:00:00.0000000Z, expiry time of assertion 2030-01-01T01:00:00.0000000Z.") {
		t.Errorf("expired by the server's clock: %s", desc)
	}
}

// The Azure SDK's client-assertion credential (what workload identity uses)
// gets a token with a federated token, and reads Key Vault with it.
func TestFederatedCredentialSDK(t *testing.T) {
	s := akvcredstest.NewTestServer(t)
	s.AddFederatedCredential(akvcredstest.DefaultTenantID, fedAppID, fedIssuer, fedSubject)
	s.SetSecret("fedvault", "s", "v")
	var subject atomic.Value
	subject.Store(fedSubject)
	var calls atomic.Int32
	cred, err := azidentity.NewClientAssertionCredential(akvcredstest.DefaultTenantID, fedAppID, func(context.Context) (string, error) {
		calls.Add(1)
		return s.IssueFederatedToken(fedIssuer, subject.Load().(string), time.Hour), nil
	}, &azidentity.ClientAssertionCredentialOptions{ClientOptions: clientOpts(s, -1), DisableInstanceDiscovery: true})
	if err != nil {
		t.Fatal(err)
	}
	c := secretsClient(t, s, "https://fedvault.vault.azure.net", cred, -1)
	got, err := c.GetSecret(context.Background(), "s", "", nil)
	if err != nil || *got.Value != "v" {
		t.Fatalf("%v", err)
	}
	if calls.Load() != 1 || s.Count(akvcredstest.KindToken) != 1 {
		t.Errorf("%d assertions, %d token requests", calls.Load(), s.Count(akvcredstest.KindToken))
	}
	assertNoRefusedDials(t, s)

	// An unregistered subject fails as Entra ID fails it.
	subject.Store("system:serviceaccount:default:intruder")
	cred2, _ := azidentity.NewClientAssertionCredential(akvcredstest.DefaultTenantID, fedAppID, func(context.Context) (string, error) {
		return s.IssueFederatedToken(fedIssuer, subject.Load().(string), time.Hour), nil
	}, &azidentity.ClientAssertionCredentialOptions{ClientOptions: clientOpts(s, -1), DisableInstanceDiscovery: true})
	_, err = secretsClient(t, s, "https://fedvault.vault.azure.net", cred2, -1).GetSecret(context.Background(), "s", "", nil)
	var afe *azidentity.AuthenticationFailedError
	if !errors.As(err, &afe) {
		t.Errorf("unregistered subject: %v", err)
	}
	assertMessageContains(t, err, "AADSTS700213")
}

func rsaSign(k *rsa.PrivateKey, signing string) ([]byte, error) {
	digest := sha256.Sum256([]byte(signing))
	return rsa.SignPKCS1v15(rand.Reader, k, crypto.SHA256, digest[:])
}
