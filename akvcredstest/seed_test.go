package akvcredstest_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"

	"github.com/akvcreds/akvcreds/akvcredstest"
)

func TestLoadSeed(t *testing.T) {
	ctx := context.Background()
	s := akvcredstest.NewTestServer(t)
	f, err := os.Open("testdata/seed.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := s.LoadSeed(f); err != nil {
		t.Fatal(err)
	}
	cred := secretCred(t, s, akvcredstest.DefaultTenantID, "6f1d8e2a-0000-4000-8000-0000000000a2", "demo-app-secret", true)
	c := secretsClient(t, s, "https://demo-vault.vault.azure.net", cred, -1)
	got, err := c.GetSecret(ctx, "db-password", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if *got.Value != "s3cr3t-db" || *got.ContentType != "text/plain" || *got.Tags["owner"] != "data-team" {
		t.Errorf("db-password: %+v", got)
	}
	n := 0
	for _, page := range allPages(t, c.NewListSecretPropertiesVersionsPager("db-password", nil)) {
		n += len(page.Value)
	}
	if n != 2 {
		t.Errorf("versions %d", n)
	}
	_, err = c.GetSecret(ctx, "retired", "", nil)
	if re := responseError(t, err); re.StatusCode != 403 || innerCode(t, re) != "SecretDisabled" {
		t.Errorf("retired: %v", err)
	}
	pc := secretsClient(t, s, "https://policy-vault.vault.azure.net", cred, -1)
	if _, err := pc.GetSecret(ctx, "smtp", "", nil); err != nil {
		t.Errorf("policy get: %v", err)
	}
	_, err = pc.NewListSecretPropertiesPager(nil).NextPage(ctx)
	if re := responseError(t, err); re.StatusCode != 403 || innerCode(t, re) != "AccessDenied" {
		t.Errorf("policy list: %v", err)
	} else {
		assertMessageContains(t, err, "policy-vault;location=westeurope")
	}
	lc := secretsClient(t, s, "https://locked-vault.vault.azure.net", cred, -1)
	_, err = lc.NewListSecretPropertiesPager(nil).NextPage(ctx)
	if re := responseError(t, err); re.StatusCode != 403 || innerCode(t, re) != "ForbiddenByFirewall" {
		t.Errorf("firewall: %v", err)
	}

	checkSeedCertificates(t, s, c)

	for _, bad := range []string{`{"vaults":[{"name":"bad.name"}]}`, `{"unknown":1}`, `{"vaults":[{"name":"v","accessModel":"x"}]}`, `not json`} {
		if err := s.LoadSeed(strings.NewReader(bad)); err == nil {
			t.Errorf("seed %s accepted", bad)
		}
	}
	assertNoRefusedDials(t, s)
}

// checkSeedCertificates checks testdata/seed.json's certificates: client-tls
// renewed once (PEM, CA-signed, 90 days), old-tls expired (PFX, self-signed).
func checkSeedCertificates(t *testing.T, s *akvcredstest.Server, c *azsecrets.Client) {
	t.Helper()
	ctx := context.Background()
	got, err := c.GetSecret(ctx, "client-tls", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if *got.ContentType != pemType || !*got.Managed || got.PreviousVersion == nil ||
		string(*got.KID) != "https://demo-vault.vault.azure.net/keys/client-tls/"+got.ID.Version() {
		t.Errorf("client-tls: contentType %s managed %v previousVersion %v kid %s", *got.ContentType, *got.Managed, got.PreviousVersion, *got.KID)
	}
	_, chain := parseBacking(t, pemType, *got.Value)
	leaf := chain[0]
	if leaf.Subject.String() != "CN=connector,O=Contoso" || leaf.DNSNames[0] != "connector.contoso.com" ||
		leaf.NotAfter.Sub(leaf.NotBefore) != 90*24*time.Hour+10*time.Minute || len(chain) != 2 || !chain[1].Equal(s.CertificateCA()) {
		t.Errorf("client-tls: %q %v %v..%v, chain of %d", leaf.Subject, leaf.DNSNames, leaf.NotBefore, leaf.NotAfter, len(chain))
	}
	old, err := c.GetSecret(ctx, "old-tls", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	_, chain = parseBacking(t, pfxType, *old.Value)
	if want := time.Date(2021, 1, 1, 0, 0, 0, 0, time.UTC); !chain[0].NotAfter.Equal(want) || !old.Attributes.Expires.Equal(want) || len(chain) != 1 {
		t.Errorf("old-tls: exp %v, attribute %v, chain of %d", chain[0].NotAfter, old.Attributes.Expires, len(chain))
	}
}

// TestLoadSeedCertificateErrors: a bad certificates entry is refused with
// its place and what is wrong.
func TestLoadSeedCertificateErrors(t *testing.T) {
	t.Parallel()
	s := akvcredstest.NewTestServer(t)
	for _, tc := range []struct{ cert, want string }{
		{`{"name":"c","issuer":"digicert"}`, `vaults[0].certificates[0]: issuer "digicert" is not "self" or "ca"`},
		{`{"name":"c","key":"dsa"}`, `vaults[0].certificates[0]: certificate c: key "dsa" is not one of`},
		{`{"name":"c","validDays":-1}`, `validDays must be positive and not given with exp`},
		{`{"name":"c","validDays":5,"exp":"2031-01-01T00:00:00Z"}`, `validDays must be positive and not given with exp`},
		{`{"name":"c","contentType":"text/plain","key":"ec-p256"}`, `content type "text/plain" is not`},
		{`{"name":"c_1"}`, `invalid certificate name "c_1"`},
		{`{"name":"c","password":"x"}`, `unknown field "password"`},
	} {
		err := s.LoadSeed(strings.NewReader(`{"vaults":[{"name":"v","certificates":[` + tc.cert + `]}]}`))
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "akvcredstest: seed: ") {
			t.Errorf("%s: %v, want %q", tc.cert, err, tc.want)
		}
	}
}
