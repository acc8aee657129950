package akvcredstest_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"

	"github.com/akvcreds/akvcreds/akvcredstest"
	"github.com/akvcreds/akvcreds/internal/testutil"
)

func TestSDKUpdateSecretProperties(t *testing.T) {
	ctx := context.Background()
	clock := testutil.NewClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	s := akvcredstest.NewTestServer(t, akvcredstest.WithClock(clock.Now), akvcredstest.WithTokenLifetime(365*24*time.Hour))
	v1 := s.SetSecret("upvault", "api", "first", akvcredstest.ContentType("text/plain"),
		akvcredstest.Tags(map[string]string{"owner": "a", "team": "b"}))
	clock.Advance(time.Minute)
	v2 := s.SetSecret("upvault", "api", "second")
	c := defaultClient(t, s, "upvault")

	clock.Advance(time.Hour)
	exp := time.Date(2040, 1, 1, 1, 1, 1, 0, time.UTC)
	up, err := c.UpdateSecretProperties(ctx, "api", v1, azsecrets.UpdateSecretPropertiesParameters{
		SecretAttributes: &azsecrets.SecretAttributes{Enabled: to.Ptr(false), Expires: &exp},
		Tags:             map[string]*string{"owner": to.Ptr("c")},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if up.ID.Version() != v1 || up.Value != nil || *up.Attributes.Enabled || !up.Attributes.Expires.Equal(exp) ||
		*up.ContentType != "text/plain" || len(up.Tags) != 1 || *up.Tags["owner"] != "c" {
		t.Errorf("update v1: %+v %+v", up.Secret, *up.Attributes)
	}
	if !up.Attributes.Updated.Equal(clock.Now()) || up.Attributes.Created.Equal(clock.Now()) {
		t.Errorf("update v1: created %v updated %v, clock %v", up.Attributes.Created, up.Attributes.Updated, clock.Now())
	}
	_, err = c.GetSecret(ctx, "api", v1, nil)
	checkErr(t, "get a version disabled by an update", err, 403, "Forbidden", "SecretDisabled")

	// No version: the latest (v2); leaving tags out keeps them.
	up, err = c.UpdateSecretProperties(ctx, "api", "", azsecrets.UpdateSecretPropertiesParameters{ContentType: to.Ptr("application/json")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.GetSecret(ctx, "api", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if up.ID.Version() != v2 || *got.ContentType != "application/json" || *got.Value != "second" || !*got.Attributes.Enabled {
		t.Errorf("update latest: %s %+v", *up.ID, got.Secret)
	}
	// Re-enable v1 the way an operator does.
	if _, err := c.UpdateSecretProperties(ctx, "api", v1, azsecrets.UpdateSecretPropertiesParameters{
		SecretAttributes: &azsecrets.SecretAttributes{Enabled: to.Ptr(true)}}, nil); err != nil {
		t.Fatal(err)
	}
	if got, err := c.GetSecret(ctx, "api", v1, nil); err != nil || *got.Value != "first" || *got.Tags["owner"] != "c" {
		t.Errorf("re-enabled v1: %v", err)
	}

	_, err = c.UpdateSecretProperties(ctx, "api", "0123456789abcdef0123456789abcdef", azsecrets.UpdateSecretPropertiesParameters{}, nil)
	checkErr(t, "update a missing version", err, 404, "SecretNotFound", "")
	wantMessage(t, err, "A secret with (name/id) api/0123456789abcdef0123456789abcdef was not found in this key vault. If you recently deleted this secret you may be able to recover it using the correct recovery command. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182")
	_, err = c.UpdateSecretProperties(ctx, "nope", "", azsecrets.UpdateSecretPropertiesParameters{}, nil)
	checkErr(t, "update a missing secret", err, 404, "SecretNotFound", "")
	if n := s.Count(akvcredstest.KindUpdateSecret); n != 5 {
		t.Errorf("%d update requests logged, want 5", n)
	}
}

func TestSDKBackupRestore(t *testing.T) {
	ctx := context.Background()
	s := akvcredstest.NewTestServer(t)
	s.AddVault("bkvault", akvcredstest.VaultRetentionDays(7))
	v1 := s.SetSecret("bkvault", "cert-pass", "old-value", akvcredstest.Tags(map[string]string{"k": "v"}))
	v2 := s.SetSecret("bkvault", "cert-pass", "new-value", akvcredstest.ContentType("text/plain"))
	c := defaultClient(t, s, "bkvault")

	bk, err := c.BackupSecret(ctx, "cert-pass", nil)
	if err != nil {
		t.Fatal(err)
	}
	// Opaque: neither the blob nor its decoding shows a value.
	raw := bk.Value // the SDK has decoded the base64url "value"
	if !strings.HasPrefix(string(raw), ")AzureKeyVaultSecretBackupV1.microsoft.com") {
		t.Errorf("blob does not start as Azure's: %q", raw[:min(len(raw), 60)])
	}
	for _, leak := range []string{"old-value", "new-value", "text/plain"} {
		if strings.Contains(string(raw), leak) || strings.Contains(base64.StdEncoding.EncodeToString(raw), base64.StdEncoding.EncodeToString([]byte(leak))) {
			t.Errorf("backup blob shows %q", leak)
		}
	}

	// Restore onto the existing secret: 409, as recorded.
	_, err = c.RestoreSecret(ctx, azsecrets.RestoreSecretParameters{SecretBackup: bk.Value}, nil)
	checkErr(t, "restore over an existing secret", err, 409, "Conflict", "")
	wantMessage(t, err, "There was a conflict restoring the secret 'https://bkvault.vault.azure.net/secrets/cert-pass/"+v2+"'. This can happen if either: a second secret with the same name was created after the first secret was deleted; thus trying to restore a secret whose name is already in use. To fix this, rename the second secret to something else so that the restore works. The second probable cause of this exception is when multiple operations are performed in parallel against the secret. To avoid this error, perform operations against a secret in a sequential manner.")

	// Onto a deleted, recoverable name: 409 as for a set.
	if _, err := c.DeleteSecret(ctx, "cert-pass", nil); err != nil {
		t.Fatal(err)
	}
	_, err = c.RestoreSecret(ctx, azsecrets.RestoreSecretParameters{SecretBackup: bk.Value}, nil)
	checkErr(t, "restore over a deleted secret", err, 409, "Conflict", "ObjectIsDeletedButRecoverable")

	// After the purge: back with every version, ids and times as they were.
	if _, err := c.PurgeDeletedSecret(ctx, "cert-pass", nil); err != nil {
		t.Fatal(err)
	}
	res, err := c.RestoreSecret(ctx, azsecrets.RestoreSecretParameters{SecretBackup: bk.Value}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.ID.Name() != "cert-pass" || res.ID.Version() != v2 || res.Value != nil || *res.Attributes.RecoveryLevel != "CustomizedRecoverable+Purgeable" {
		t.Errorf("restore: %+v", res.Secret)
	}
	old, err := c.GetSecret(ctx, "cert-pass", v1, nil)
	if err != nil || *old.Value != "old-value" || *old.Tags["k"] != "v" {
		t.Errorf("restored v1: %v", err)
	}
	if latest, err := c.GetSecret(ctx, "cert-pass", "", nil); err != nil || *latest.Value != "new-value" || latest.ID.Version() != v2 {
		t.Errorf("restored latest: %v", err)
	}

	// Into another vault of the same server (Azure: same subscription and
	// geography): under that vault's URL and settings.
	s.AddVault("othervault", akvcredstest.VaultPurgeProtection())
	res, err = defaultClient(t, s, "othervault").RestoreSecret(ctx, azsecrets.RestoreSecretParameters{SecretBackup: bk.Value}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if *res.ID != azsecrets.ID("https://othervault.vault.azure.net/secrets/cert-pass/"+v2) || *res.Attributes.RecoveryLevel != "Recoverable" {
		t.Errorf("restore into another vault: %s %s", *res.ID, *res.Attributes.RecoveryLevel)
	}

	_, err = c.BackupSecret(ctx, "missing", nil)
	checkErr(t, "backup a missing secret", err, 404, "SecretNotFound", "")
	assertNoRefusedDials(t, s)
}

// TestRestoreRefusesTamperedBlobs checks the blob's integrity: any change,
// a blob of another server, or garbage is Azure's 400 "Malformed backup
// blob".
func TestRestoreRefusesTamperedBlobs(t *testing.T) {
	ctx := context.Background()
	s := akvcredstest.NewTestServer(t)
	s.SetSecret("tamper", "s", "value")
	c := defaultClient(t, s, "tamper")
	bk, err := c.BackupSecret(ctx, "s", nil)
	if err != nil {
		t.Fatal(err)
	}
	if !s.DeleteSecret("tamper", "s") || !s.PurgeDeletedSecret("tamper", "s") {
		t.Fatal("could not clear the name")
	}
	other := akvcredstest.NewTestServer(t)
	other.SetSecret("tamper", "s", "value")
	foreign, err := defaultClient(t, other, "tamper").BackupSecret(ctx, "s", nil)
	if err != nil {
		t.Fatal(err)
	}
	other.DeleteSecret("tamper", "s")
	other.PurgeDeletedSecret("tamper", "s")

	flip := func(i int) []byte {
		b := append([]byte(nil), bk.Value...)
		b[i] ^= 0x01
		return b
	}
	for name, blob := range map[string][]byte{
		"prefix":       flip(3),
		"header":       flip(60),
		"middle":       flip(len(bk.Value) / 2),
		"tag":          flip(len(bk.Value) - 2),
		"truncated":    bk.Value[:len(bk.Value)-10],
		"zeros":        make([]byte, 4728),
		"other server": foreign.Value,
	} {
		_, err := c.RestoreSecret(ctx, azsecrets.RestoreSecretParameters{SecretBackup: blob}, nil)
		checkErr(t, name, err, 400, "Malformed backup blob", "")
		wantMessage(t, err, "Backup blob contains invalid or corrupt version.")
	}
	// The untouched blob still restores.
	if _, err := c.RestoreSecret(ctx, azsecrets.RestoreSecretParameters{SecretBackup: bk.Value}, nil); err != nil {
		t.Errorf("untouched blob: %v", err)
	}

	// Raw: a body that is not JSON, or has no value.
	tok := rawToken(t, s, "https://vault.azure.net/.default")
	for _, body := range []string{"", "{", `{"other":1}`} {
		resp, got := do(t, s, http.MethodPost, "https://tamper.vault.azure.net/secrets/restore?api-version=2025-07-01", tok, strings.NewReader(body))
		var e struct {
			Error struct{ Code string } `json:"error"`
		}
		if resp.StatusCode != 400 || json.Unmarshal(got, &e) != nil || e.Error.Code != "BadParameter" {
			t.Errorf("restore body %q: %d %s", body, resp.StatusCode, got)
		}
	}
}
