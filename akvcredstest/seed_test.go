package akvcredstest_test

import (
	"context"
	"os"
	"strings"
	"testing"

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

	for _, bad := range []string{`{"vaults":[{"name":"bad.name"}]}`, `{"unknown":1}`, `{"vaults":[{"name":"v","accessModel":"x"}]}`, `not json`} {
		if err := s.LoadSeed(strings.NewReader(bad)); err == nil {
			t.Errorf("seed %s accepted", bad)
		}
	}
	assertNoRefusedDials(t, s)
}
