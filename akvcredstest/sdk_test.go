package akvcredstest_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"

	"github.com/akvcreds/akvcreds/akvcredstest"
)

func clientOpts(s *akvcredstest.Server, maxRetries int32) azcore.ClientOptions {
	// Short retry delays keep tests fast; no assertion depends on them.
	return azcore.ClientOptions{
		Transport: s.Client(),
		Retry:     policy.RetryOptions{MaxRetries: maxRetries, RetryDelay: time.Millisecond, MaxRetryDelay: 10 * time.Millisecond},
	}
}

func secretCred(t *testing.T, s *akvcredstest.Server, tenant, client, secret string, disableDiscovery bool) azcore.TokenCredential {
	t.Helper()
	cred, err := azidentity.NewClientSecretCredential(tenant, client, secret, &azidentity.ClientSecretCredentialOptions{
		ClientOptions:            clientOpts(s, -1),
		DisableInstanceDiscovery: disableDiscovery,
	})
	if err != nil {
		t.Fatal(err)
	}
	return cred
}

func secretsClient(t *testing.T, s *akvcredstest.Server, vaultURL string, cred azcore.TokenCredential, maxRetries int32) *azsecrets.Client {
	t.Helper()
	c, err := azsecrets.NewClient(vaultURL, cred, &azsecrets.ClientOptions{ClientOptions: clientOpts(s, maxRetries)})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func defaultClient(t *testing.T, s *akvcredstest.Server, vault string) *azsecrets.Client {
	t.Helper()
	cred := secretCred(t, s, akvcredstest.DefaultTenantID, akvcredstest.DefaultClientID, akvcredstest.DefaultClientSecret, true)
	return secretsClient(t, s, "https://"+vault+".vault.azure.net", cred, -1)
}

func assertNoRefusedDials(t *testing.T, s *akvcredstest.Server) {
	t.Helper()
	if r := s.RefusedDials(); len(r) != 0 {
		t.Errorf("refused dials: %v", r)
	}
}

func TestSDKClientSecretFlow(t *testing.T) {
	for _, disable := range []bool{true, false} {
		t.Run(fmt.Sprintf("DisableInstanceDiscovery=%v", disable), func(t *testing.T) {
			ctx := context.Background()
			s := akvcredstest.NewTestServer(t)
			v1 := s.SetSecret("myvault", "db-password", "first", akvcredstest.ContentType("text/plain"),
				akvcredstest.Tags(map[string]string{"env": "test"}))
			v2 := s.SetSecret("myvault", "db-password", "second")
			cred := secretCred(t, s, akvcredstest.DefaultTenantID, akvcredstest.DefaultClientID, akvcredstest.DefaultClientSecret, disable)
			c := secretsClient(t, s, "https://myvault.vault.azure.net", cred, -1)

			got, err := c.GetSecret(ctx, "db-password", "", nil)
			if err != nil {
				t.Fatal(err)
			}
			if *got.Value != "second" || got.ID.Version() != v2 || got.ID.Name() != "db-password" {
				t.Errorf("latest: value %q id %s", *got.Value, *got.ID)
			}
			got, err = c.GetSecret(ctx, "db-password", v1, nil)
			if err != nil {
				t.Fatal(err)
			}
			if *got.Value != "first" || *got.ContentType != "text/plain" || *got.Tags["env"] != "test" {
				t.Errorf("by version: %+v", got)
			}
			if got.Attributes == nil || !*got.Attributes.Enabled || *got.Attributes.RecoveryLevel != "Recoverable+Purgeable" || *got.Attributes.RecoverableDays != 90 {
				t.Errorf("attributes: %+v", got.Attributes)
			}
			set, err := c.SetSecret(ctx, "new-secret", azsecrets.SetSecretParameters{Value: to.Ptr("v")}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(set.ID.Version()) != 32 || *set.Value != "v" {
				t.Errorf("set: %s", *set.ID)
			}
			for range 5 {
				if _, err := c.GetSecret(ctx, "new-secret", "", nil); err != nil {
					t.Fatal(err)
				}
			}
			if n := s.Count(akvcredstest.KindChallenge); n != 1 {
				t.Errorf("challenges = %d, want 1", n)
			}
			if n := s.Count(akvcredstest.KindToken); n != 1 {
				t.Errorf("token requests = %d, want 1", n)
			}
			if n := s.Count(akvcredstest.KindOpenID); n != 1 {
				t.Errorf("openid requests = %d, want 1", n)
			}
			wantDisc := 1
			if disable {
				wantDisc = 0
			}
			if n := s.Count(akvcredstest.KindDiscovery); n != wantDisc {
				t.Errorf("discovery requests = %d, want %d", n, wantDisc)
			}
			for _, r := range s.Requests() {
				if r.Status >= 400 && r.Kind != akvcredstest.KindChallenge {
					t.Errorf("unexpected failure: %+v", r)
				}
			}
			assertNoRefusedDials(t, s)
		})
	}
}

func TestSDKListPagers(t *testing.T) {
	s := akvcredstest.NewTestServer(t)
	var want []string
	for i := range 60 {
		name := fmt.Sprintf("secret-%02d", i)
		want = append(want, name)
		s.SetSecret("listvault", name, "value")
	}
	c := defaultClient(t, s, "listvault")
	pages := allPages(t, c.NewListSecretPropertiesPager(nil))
	var got []string
	for _, page := range pages {
		for _, p := range page.Value {
			if p.ID.Version() != "" {
				t.Errorf("list item id has a version: %s", *p.ID)
			}
			got = append(got, p.ID.Name())
		}
	}
	sort.Strings(got)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("listed %v", got)
	}
	if len(pages) != 3 {
		t.Errorf("pages = %d, want 3", len(pages))
	}
	if n := s.Count(akvcredstest.KindListSecrets); n != 3 {
		t.Errorf("list requests = %d, want 3", n)
	}
	for _, r := range s.Requests() {
		if r.Kind == akvcredstest.KindListSecrets && r.Host != "listvault.vault.azure.net" {
			t.Errorf("list went to %s", r.Host)
		}
	}

	var versions []string
	for range 3 {
		versions = append(versions, s.SetSecret("listvault", "rotated", "x"))
	}
	var gotVersions []string
	for _, page := range allPages(t, c.NewListSecretPropertiesVersionsPager("rotated", nil)) {
		for _, p := range page.Value {
			gotVersions = append(gotVersions, p.ID.Version())
		}
	}
	sort.Strings(versions)
	sort.Strings(gotVersions)
	if fmt.Sprint(versions) != fmt.Sprint(gotVersions) {
		t.Errorf("versions %v, want %v", gotVersions, versions)
	}
	assertNoRefusedDials(t, s)
}

func responseError(t *testing.T, err error) *azcore.ResponseError {
	t.Helper()
	var re *azcore.ResponseError
	if !errors.As(err, &re) {
		t.Fatalf("error %v (%T) is not an *azcore.ResponseError", err, err)
	}
	return re
}

func innerCode(t *testing.T, re *azcore.ResponseError) string {
	t.Helper()
	var body struct {
		Error struct {
			InnerError struct{ Code string } `json:"innererror"`
		} `json:"error"`
	}
	if err := decodeBody(re.RawResponse, &body); err != nil {
		t.Fatal(err)
	}
	return body.Error.InnerError.Code
}

func TestSDKErrors(t *testing.T) {
	ctx := context.Background()
	s := akvcredstest.NewTestServer(t)
	s.SetSecret("rbacvault", "s1", "v")
	s.SetSecret("rbacvault", "off", "v", akvcredstest.Disabled())
	s.AddVault("apvault", akvcredstest.VaultAccessPolicy())
	s.SetSecret("apvault", "s1", "v")
	s.SetSecret("fwvault", "s1", "v")
	s.SetFirewall("fwvault", true)

	rbac := defaultClient(t, s, "rbacvault")
	ap := defaultClient(t, s, "apvault")
	fw := defaultClient(t, s, "fwvault")

	_, err := rbac.GetSecret(ctx, "missing", "", nil)
	checkErr(t, "not found", err, 404, "SecretNotFound", "")
	_, err = rbac.GetSecret(ctx, "s1", "0123456789abcdef0123456789abcdef", nil)
	checkErr(t, "unknown version", err, 404, "SecretNotFound", "")
	_, err = rbac.GetSecret(ctx, "off", "", nil)
	checkErr(t, "disabled", err, 403, "Forbidden", "SecretDisabled")
	_, err = rbac.GetSecret(ctx, "bad_name", "", nil)
	checkErr(t, "bad name", err, 400, "BadParameter", "")

	s.SetPermissions("rbacvault", akvcredstest.DefaultClientID, akvcredstest.Permissions{List: true})
	_, err = rbac.GetSecret(ctx, "s1", "", nil)
	checkErr(t, "rbac get", err, 403, "Forbidden", "ForbiddenByRbac")

	s.SetPermissions("apvault", akvcredstest.DefaultClientID, akvcredstest.Permissions{List: true})
	_, err = ap.GetSecret(ctx, "s1", "", nil)
	checkErr(t, "access policy get", err, 403, "Forbidden", "AccessDenied")
	assertMessageContains(t, err, "does not have secrets get permission on key vault 'apvault;location=eastus'")

	s.SetPermissions("apvault", akvcredstest.DefaultClientID, akvcredstest.Permissions{Get: true})
	_, err = ap.NewListSecretPropertiesPager(nil).NextPage(ctx)
	checkErr(t, "access policy list", err, 403, "Forbidden", "AccessDenied")
	assertMessageContains(t, err, "does not have secrets list permission on key vault")

	_, err = fw.GetSecret(ctx, "s1", "", nil)
	checkErr(t, "firewall", err, 403, "Forbidden", "ForbiddenByFirewall")

	// Expired secrets are still returned.
	s.SetSecret("rbacvault", "old", "v", akvcredstest.Expires(s2000()))
	s.SetPermissions("rbacvault", akvcredstest.DefaultClientID, akvcredstest.Permissions{Get: true, List: true})
	if _, err := rbac.GetSecret(ctx, "old", "", nil); err != nil {
		t.Errorf("expired secret: %v", err)
	}
	assertNoRefusedDials(t, s)
}

func TestSDKAuthenticationErrors(t *testing.T) {
	ctx := context.Background()
	s := akvcredstest.NewTestServer(t)
	s.SetSecret("authvault", "s1", "v")
	const otherTenant = "11111111-2222-3333-4444-555555555555"
	cases := []struct {
		name, tenant, client, secret string
		code                         string
		status                       int
	}{
		{"bad secret", akvcredstest.DefaultTenantID, akvcredstest.DefaultClientID, "wrong", "AADSTS7000215", 401},
		{"unknown app", akvcredstest.DefaultTenantID, "99999999-9999-9999-9999-999999999999", "x", "AADSTS700016", 400},
		{"unknown tenant", otherTenant, akvcredstest.DefaultClientID, akvcredstest.DefaultClientSecret, "AADSTS90002", 400},
	}
	for _, tc := range cases {
		for _, disable := range []bool{true, false} {
			cred := secretCred(t, s, tc.tenant, tc.client, tc.secret, disable)
			_, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{"https://vault.azure.net/.default"}})
			var afe *azidentity.AuthenticationFailedError
			if !errors.As(err, &afe) {
				t.Errorf("%s: %v (%T), want *azidentity.AuthenticationFailedError", tc.name, err, err)
				continue
			}
			if afe.RawResponse == nil || afe.RawResponse.StatusCode != tc.status {
				t.Errorf("%s: raw response %v", tc.name, afe.RawResponse)
			}
			assertMessageContains(t, err, tc.code)
		}
	}
	// Through azsecrets: the error surfaces from GetSecret.
	cred := secretCred(t, s, akvcredstest.DefaultTenantID, akvcredstest.DefaultClientID, "wrong", true)
	c := secretsClient(t, s, "https://authvault.vault.azure.net", cred, -1)
	_, err := c.GetSecret(ctx, "s1", "", nil)
	var afe *azidentity.AuthenticationFailedError
	if !errors.As(err, &afe) {
		t.Errorf("GetSecret with bad secret: %v", err)
	}

	// A vault owned by another tenant: azidentity refuses the challenge's tenant.
	s.AddVault("othertenant", akvcredstest.VaultTenant(otherTenant))
	s.SetSecret("othertenant", "s1", "v")
	good := secretCred(t, s, akvcredstest.DefaultTenantID, akvcredstest.DefaultClientID, akvcredstest.DefaultClientSecret, true)
	c = secretsClient(t, s, "https://othertenant.vault.azure.net", good, -1)
	if _, err := c.GetSecret(ctx, "s1", "", nil); err == nil {
		t.Error("wrong-tenant vault: no error")
	} else {
		assertMessageContains(t, err, otherTenant)
	}
	assertNoRefusedDials(t, s)
}

// systemOnce guards the one use of the system-assigned identity per process.
var systemOnce sync.Once

// uniqueClientID returns a fresh GUID, so that MSAL's process-global
// managed-identity token cache never answers for it.
func uniqueClientID() string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

func TestSDKManagedIdentity(t *testing.T) {
	ctx := context.Background()
	s := akvcredstest.NewTestServer(t)
	s.SetSecret("mivault", "s1", "hello")

	// System-assigned: only once per test process, because MSAL caches
	// managed-identity tokens globally (a second run with -count would get a
	// token signed by an earlier server).
	wantIMDS := 1
	systemOnce.Do(func() {
		wantIMDS = 2
		sys, err := azidentity.NewManagedIdentityCredential(&azidentity.ManagedIdentityCredentialOptions{ClientOptions: clientOpts(s, -1)})
		if err != nil {
			t.Fatal(err)
		}
		c := secretsClient(t, s, "https://mivault.vault.azure.net", sys, -1)
		got, err := c.GetSecret(ctx, "s1", "", nil)
		if err != nil {
			t.Fatal(err)
		}
		if *got.Value != "hello" {
			t.Errorf("value %q", *got.Value)
		}
	})

	// User-assigned: a fresh identity.
	uaID := uniqueClientID()
	s.AddManagedIdentity(akvcredstest.ManagedIdentity{ClientID: uaID})
	ua, err := azidentity.NewManagedIdentityCredential(&azidentity.ManagedIdentityCredentialOptions{
		ClientOptions: clientOpts(s, -1), ID: azidentity.ClientID(uaID),
	})
	if err != nil {
		t.Fatal(err)
	}
	c := secretsClient(t, s, "https://mivault.vault.azure.net", ua, -1)
	if _, err := c.GetSecret(ctx, "s1", "", nil); err != nil {
		t.Fatal(err)
	}
	var imds []akvcredstest.Request
	for _, r := range s.Requests() {
		if r.Kind == akvcredstest.KindIMDS {
			imds = append(imds, r)
		}
	}
	if len(imds) != wantIMDS {
		t.Fatalf("IMDS requests: %+v", imds)
	}
	if wantIMDS == 2 && (imds[0].Query.Has("client_id") || imds[0].Query.Get("resource") != "https://vault.azure.net") {
		t.Errorf("system-assigned query %v", imds[0].Query)
	}
	if last := imds[len(imds)-1]; last.Query.Get("client_id") != uaID || last.Host != "169.254.169.254" || last.Query.Get("resource") != "https://vault.azure.net" {
		t.Errorf("user-assigned request %+v", last)
	}

	// Permissions apply per identity.
	s.SetSecret("mivault2", "s1", "v")
	s.SetPermissions("mivault2", uaID, akvcredstest.Permissions{})
	c = secretsClient(t, s, "https://mivault2.vault.azure.net", ua, -1)
	_, err = c.GetSecret(ctx, "s1", "", nil)
	if re := responseError(t, err); re.StatusCode != 403 || innerCode(t, re) != "ForbiddenByRbac" {
		t.Errorf("MI denied: %v", err)
	}

	// Unknown user-assigned identity.
	unknown, err := azidentity.NewManagedIdentityCredential(&azidentity.ManagedIdentityCredentialOptions{
		ClientOptions: clientOpts(s, -1), ID: azidentity.ClientID(uniqueClientID()),
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = unknown.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{"https://vault.azure.net/.default"}})
	var afe *azidentity.AuthenticationFailedError
	if !errors.As(err, &afe) || afe.RawResponse == nil || afe.RawResponse.StatusCode != http.StatusBadRequest {
		t.Errorf("unknown identity: %v", err)
	}
	assertNoRefusedDials(t, s)
}
