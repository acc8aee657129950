package akvcredstest_test

// A secret's life beyond set and get, through the SDK and raw requests:
// soft delete, recovery and purge, property updates, backup and restore.

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"

	"github.com/akvcreds/akvcreds/akvcredstest"
	"github.com/akvcreds/akvcreds/internal/testutil"
)

// checkErr fails the test unless err is a Key Vault error with the status,
// code and innererror given.
func checkErr(t *testing.T, what string, err error, status int, code, inner string) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: no error", what)
		return
	}
	re := responseError(t, err)
	if re.StatusCode != status || re.ErrorCode != code {
		t.Errorf("%s: got %d %s, want %d %s (%v)", what, re.StatusCode, re.ErrorCode, status, code, err)
	}
	if got := innerCode(t, re); got != inner {
		t.Errorf("%s: innererror %q, want %q", what, got, inner)
	}
}

// wantMessage fails the test unless err is a Key Vault error whose message
// is want.
func wantMessage(t *testing.T, err error, want string) {
	t.Helper()
	if err == nil {
		t.Errorf("no error, want %q", want)
		return
	}
	var body struct {
		Error struct{ Message string } `json:"error"`
	}
	if err := decodeBody(responseError(t, err).RawResponse, &body); err != nil {
		t.Fatal(err)
	}
	if body.Error.Message != want {
		t.Errorf("message %q, want %q", body.Error.Message, want)
	}
}

// deletedNames lists the deleted secrets' names through the SDK's pager and
// counts the pages.
func deletedNames(t *testing.T, c *azsecrets.Client) (names []string, pages int) {
	t.Helper()
	all := allPages(t, c.NewListDeletedSecretPropertiesPager(nil))
	for _, page := range all {
		for _, d := range page.Value {
			if d.ID.Version() != "" {
				t.Errorf("listed deleted secret %s names a version", *d.ID)
			}
			names = append(names, d.ID.Name())
		}
	}
	return names, len(all)
}

// secretNames lists the vault's secrets through the SDK.
func secretNames(t *testing.T, c *azsecrets.Client) []string {
	t.Helper()
	var names []string
	for _, page := range allPages(t, c.NewListSecretPropertiesPager(nil)) {
		for _, it := range page.Value {
			names = append(names, it.ID.Name())
		}
	}
	return names
}

func TestSDKSoftDelete(t *testing.T) {
	ctx := context.Background()
	s := akvcredstest.NewTestServer(t, akvcredstest.WithPageSize(1))
	s.AddVault("sdvault", akvcredstest.VaultRetentionDays(7))
	c := defaultClient(t, s, "sdvault")

	set, err := c.SetSecret(ctx, "db", azsecrets.SetSecretParameters{
		Value: to.Ptr("v1"), ContentType: to.Ptr("text/plain"), Tags: map[string]*string{"env": to.Ptr("prod")},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"keep", "gone-a", "gone-b"} {
		if _, err := c.SetSecret(ctx, name, azsecrets.SetSecretParameters{Value: to.Ptr("x")}, nil); err != nil {
			t.Fatal(err)
		}
	}

	del, err := c.DeleteSecret(ctx, "db", nil)
	if err != nil {
		t.Fatal(err)
	}
	if *del.ID != *set.ID || *del.RecoveryID != "https://sdvault.vault.azure.net/deletedsecrets/db" || del.Value != nil {
		t.Errorf("delete: id %s recoveryId %s", *del.ID, *del.RecoveryID)
	}
	if got := del.ScheduledPurgeDate.Sub(*del.DeletedDate); got != 7*24*time.Hour {
		t.Errorf("scheduledPurgeDate - deletedDate = %v, want 7 days", got)
	}
	if *del.Attributes.RecoveryLevel != "CustomizedRecoverable+Purgeable" || *del.Attributes.RecoverableDays != 7 ||
		*del.ContentType != "text/plain" || *del.Tags["env"] != "prod" {
		t.Errorf("delete: %+v %+v", del.DeletedSecret, *del.Attributes)
	}

	// Gone from gets and listings, present among the deleted secrets.
	_, err = c.GetSecret(ctx, "db", "", nil)
	checkErr(t, "get deleted secret's name", err, 404, "SecretNotFound", "")
	got, err := c.GetDeletedSecret(ctx, "db", nil)
	if err != nil {
		t.Fatal(err)
	}
	if *got.ID != *set.ID || !got.DeletedDate.Equal(*del.DeletedDate) || got.Value != nil {
		t.Errorf("get deleted: %+v", got.DeletedSecret)
	}
	_, err = c.GetDeletedSecret(ctx, "keep", nil)
	checkErr(t, "get deleted of an active secret", err, 404, "SecretNotFound", "")
	assertMessageContains(t, err, "Deleted Secret not found: keep")
	for _, name := range []string{"gone-a", "gone-b"} {
		if _, err := c.DeleteSecret(ctx, name, nil); err != nil {
			t.Fatal(err)
		}
	}
	names, pages := deletedNames(t, c)
	if fmt.Sprint(names) != "[db gone-a gone-b]" || pages != 3 {
		t.Errorf("deleted: %v in %d pages", names, pages)
	}
	if got := secretNames(t, c); fmt.Sprint(got) != "[keep]" {
		t.Errorf("listed: %v", got)
	}
	if p := c.NewListSecretPropertiesVersionsPager("db", nil); p.More() {
		page, err := p.NextPage(ctx)
		if err != nil || len(page.Value) != 0 {
			t.Errorf("versions of a deleted secret: %v %v", page.Value, err)
		}
	}

	// The name cannot be reused, and the secret cannot be deleted twice.
	_, err = c.SetSecret(ctx, "db", azsecrets.SetSecretParameters{Value: to.Ptr("v2")}, nil)
	checkErr(t, "set a deleted name", err, 409, "Conflict", "ObjectIsDeletedButRecoverable")
	assertMessageContains(t, err, "Secret db is currently in a deleted but recoverable state, and its name cannot be reused; in this state, the secret can only be recovered or purged.")
	_, err = c.DeleteSecret(ctx, "db", nil)
	checkErr(t, "delete twice", err, 404, "SecretNotFound", "")

	// Recover: back unchanged.
	rec, err := c.RecoverDeletedSecret(ctx, "db", nil)
	if err != nil {
		t.Fatal(err)
	}
	if *rec.ID != *set.ID || rec.Value != nil {
		t.Errorf("recover: %+v", rec.Secret)
	}
	back, err := c.GetSecret(ctx, "db", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if *back.Value != "v1" || *back.ID != *set.ID || !reflect.DeepEqual(back.Attributes, set.Attributes) {
		t.Errorf("recovered: %+v %+v, set %+v", back.Secret, *back.Attributes, *set.Attributes)
	}
	_, err = c.RecoverDeletedSecret(ctx, "db", nil)
	checkErr(t, "recover an active secret", err, 404, "SecretNotFound", "")
	assertMessageContains(t, err, "A secret with (name/id) db was not found in this key vault.")

	// Purge: gone for good, the name free again.
	if _, err := c.PurgeDeletedSecret(ctx, "gone-a", nil); err != nil {
		t.Fatal(err)
	}
	_, err = c.GetDeletedSecret(ctx, "gone-a", nil)
	checkErr(t, "get purged", err, 404, "SecretNotFound", "")
	_, err = c.PurgeDeletedSecret(ctx, "gone-a", nil)
	checkErr(t, "purge twice", err, 404, "SecretNotFound", "")
	if _, err := c.SetSecret(ctx, "gone-a", azsecrets.SetSecretParameters{Value: to.Ptr("new")}, nil); err != nil {
		t.Errorf("set a purged name: %v", err)
	}
	assertNoRefusedDials(t, s)
}

func TestSDKPurgeProtection(t *testing.T) {
	ctx := context.Background()
	s := akvcredstest.NewTestServer(t)
	s.AddVault("ppvault", akvcredstest.VaultPurgeProtection(), akvcredstest.VaultRegion("westeurope"))
	s.SetSecret("ppvault", "locked", "v")
	c := defaultClient(t, s, "ppvault")
	del, err := c.DeleteSecret(ctx, "locked", nil)
	if err != nil {
		t.Fatal(err)
	}
	if *del.Attributes.RecoveryLevel != "Recoverable" || *del.Attributes.RecoverableDays != 90 {
		t.Errorf("attributes %+v", *del.Attributes)
	}
	_, err = c.PurgeDeletedSecret(ctx, "locked", nil)
	checkErr(t, "purge under purge protection", err, 403, "Forbidden", "")
	wantMessage(t, err, `Operation "purge" is not allowed because purge protection is enabled for this vault. Key Vault service will automatically purge it after the retention period has passed. Vault: ppvault;location=westeurope`)
	if _, err := c.GetDeletedSecret(ctx, "locked", nil); err != nil {
		t.Errorf("the refused purge removed the secret: %v", err)
	}
	// The test helper purges regardless, as the scheduled purge would.
	if !s.PurgeDeletedSecret("ppvault", "locked") || s.PurgeDeletedSecret("ppvault", "locked") {
		t.Error("PurgeDeletedSecret: want true, then false")
	}
	_, err = c.GetDeletedSecret(ctx, "locked", nil)
	checkErr(t, "after helper purge", err, 404, "SecretNotFound", "")
}

func TestSDKScheduledPurge(t *testing.T) {
	ctx := context.Background()
	clock := testutil.NewClock(time.Now())
	// Tokens outlive the jumps of the server's clock.
	s := akvcredstest.NewTestServer(t, akvcredstest.WithClock(clock.Now), akvcredstest.WithTokenLifetime(365*24*time.Hour))
	s.AddVault("clockvault", akvcredstest.VaultRetentionDays(10), akvcredstest.VaultPurgeProtection())
	s.SetSecret("clockvault", "temp", "v")
	c := defaultClient(t, s, "clockvault")
	del, err := c.DeleteSecret(ctx, "temp", nil)
	if err != nil {
		t.Fatal(err)
	}
	if !del.DeletedDate.Equal(clock.Now()) || !del.ScheduledPurgeDate.Equal(clock.Now().Add(10*24*time.Hour)) {
		t.Errorf("dates %v %v (clock %v)", del.DeletedDate, del.ScheduledPurgeDate, clock.Now())
	}
	clock.Advance(10*24*time.Hour - time.Second)
	if _, err := c.GetDeletedSecret(ctx, "temp", nil); err != nil {
		t.Errorf("a second before the purge date: %v", err)
	}
	clock.Advance(time.Second)
	_, err = c.GetDeletedSecret(ctx, "temp", nil)
	checkErr(t, "at the purge date", err, 404, "SecretNotFound", "")
	if _, err := c.SetSecret(ctx, "temp", azsecrets.SetSecretParameters{Value: to.Ptr("again")}, nil); err != nil {
		t.Errorf("set after the scheduled purge: %v", err)
	}
}

func TestSDKRecoveryLevels(t *testing.T) {
	ctx := context.Background()
	s := akvcredstest.NewTestServer(t)
	for i, tc := range []struct {
		opts  []akvcredstest.VaultOption
		level string
		days  int32
	}{
		{nil, "Recoverable+Purgeable", 90},
		{[]akvcredstest.VaultOption{akvcredstest.VaultPurgeProtection()}, "Recoverable", 90},
		{[]akvcredstest.VaultOption{akvcredstest.VaultRetentionDays(7)}, "CustomizedRecoverable+Purgeable", 7},
		{[]akvcredstest.VaultOption{akvcredstest.VaultRetentionDays(89), akvcredstest.VaultPurgeProtection()}, "CustomizedRecoverable", 89},
		{[]akvcredstest.VaultOption{akvcredstest.VaultRetentionDays(3)}, "CustomizedRecoverable+Purgeable", 7},
		{[]akvcredstest.VaultOption{akvcredstest.VaultRetentionDays(365)}, "Recoverable+Purgeable", 90},
	} {
		vault := fmt.Sprintf("level-%d", i)
		s.AddVault(vault, tc.opts...)
		s.SetSecret(vault, "s", "v")
		got, err := defaultClient(t, s, vault).GetSecret(ctx, "s", "", nil)
		if err != nil {
			t.Fatal(err)
		}
		if *got.Attributes.RecoveryLevel != tc.level || *got.Attributes.RecoverableDays != tc.days {
			t.Errorf("%s: %s/%d, want %s/%d", vault, *got.Attributes.RecoveryLevel, *got.Attributes.RecoverableDays, tc.level, tc.days)
		}
	}
}

func TestServerSoftDeleteHelpers(t *testing.T) {
	ctx := context.Background()
	s := akvcredstest.NewTestServer(t)
	v1 := s.SetSecret("helpers", "a", "one")
	c := defaultClient(t, s, "helpers")
	if !s.DeleteSecret("helpers", "a") || s.DeleteSecret("helpers", "a") || s.DeleteSecret("novault", "a") {
		t.Error("DeleteSecret: want true, false, false")
	}
	if _, err := c.GetDeletedSecret(ctx, "a", nil); err != nil {
		t.Errorf("deleted by the helper: %v", err)
	}
	if !s.RecoverDeletedSecret("helpers", "a") || s.RecoverDeletedSecret("helpers", "a") {
		t.Error("RecoverDeletedSecret: want true, then false")
	}
	got, err := c.GetSecret(ctx, "a", "", nil)
	if err != nil || *got.Value != "one" || got.ID.Version() != v1 {
		t.Errorf("recovered by the helper: %v %v", got.Value, err)
	}
	// SetSecret on a deleted name purges it first (test setup), unlike PUT.
	s.DeleteSecret("helpers", "a")
	v2 := s.SetSecret("helpers", "a", "two")
	got, err = c.GetSecret(ctx, "a", "", nil)
	if err != nil || *got.Value != "two" || got.ID.Version() != v2 {
		t.Errorf("set over a deleted name: %v %v", got.Value, err)
	}
	if _, err := c.GetSecret(ctx, "a", v1, nil); err == nil {
		t.Error("the purged version is still there")
	}
	if s.PurgeDeletedSecret("novault", "a") {
		t.Error("PurgeDeletedSecret of a missing vault")
	}
}

// TestRawSoftDeleteAnswers checks what the SDK hides: the purge's bare 204
// and the codes of deleted-secret requests without a vault-side secret.
func TestRawSoftDeleteAnswers(t *testing.T) {
	s := akvcredstest.NewTestServer(t)
	s.SetSecret("rawsd", "x", "v")
	tok := rawToken(t, s, "https://vault.azure.net/.default")
	base := "https://rawsd.vault.azure.net"
	const q = "?api-version=2025-07-01"
	resp, body := do(t, s, http.MethodDelete, base+"/secrets/x"+q, tok, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("delete: %d %s", resp.StatusCode, body)
	}
	resp, body = do(t, s, http.MethodDelete, base+"/deletedsecrets/x"+q, tok, nil)
	if resp.StatusCode != 204 || len(body) != 0 || resp.Header.Get("Content-Type") != "" || resp.Header.Get("x-ms-request-id") == "" {
		t.Errorf("purge: %d %q %v", resp.StatusCode, body, resp.Header)
	}
	resp, body = do(t, s, http.MethodDelete, base+"/deletedsecrets/x"+q, tok, nil)
	if want := `{"error":{"code":"SecretNotFound","message":"Deleted Secret not found: x"}}`; resp.StatusCode != 404 || string(body) != want {
		t.Errorf("purge twice: %d %s", resp.StatusCode, body)
	}
	// A secret called "restore" is an ordinary secret; POST /secrets/restore
	// is the restore operation.
	s.SetSecret("rawsd", "restore", "named-restore")
	resp, body = do(t, s, http.MethodGet, base+"/secrets/restore"+q, tok, nil)
	if resp.StatusCode != 200 {
		t.Errorf("get the secret \"restore\": %d %s", resp.StatusCode, body)
	}
	resp, _ = do(t, s, http.MethodGet, base+"/deletedsecrets/x/recover"+q, tok, nil)
	if resp.StatusCode != 404 {
		t.Errorf("GET of recover: %d", resp.StatusCode)
	}
	if n := s.Count(akvcredstest.KindPurgeSecret); n != 2 {
		t.Errorf("%d purge requests logged, want 2", n)
	}
}

func TestSDKSoftDeletePermissions(t *testing.T) {
	ctx := context.Background()
	s := akvcredstest.NewTestServer(t)
	s.SetSecret("rbac-sd", "x", "v")
	s.DeleteSecret("rbac-sd", "x")
	s.AddVault("ap-sd", akvcredstest.VaultAccessPolicy())
	s.SetSecret("ap-sd", "x", "v")
	s.DeleteSecret("ap-sd", "x")
	for _, vault := range []string{"rbac-sd", "ap-sd"} {
		s.SetPermissions(vault, akvcredstest.DefaultClientID, akvcredstest.Permissions{})
	}
	rbac, ap := defaultClient(t, s, "rbac-sd"), defaultClient(t, s, "ap-sd")

	_, err := rbac.GetDeletedSecret(ctx, "x", nil)
	checkErr(t, "rbac get deleted", err, 403, "Forbidden", "ForbiddenByRbac")
	_, err = rbac.PurgeDeletedSecret(ctx, "x", nil)
	checkErr(t, "rbac purge", err, 403, "Forbidden", "ForbiddenByRbac")
	assertMessageContains(t, err, "Action: 'Microsoft.KeyVault/vaults/secrets/purge/action'")
	_, err = rbac.RestoreSecret(ctx, azsecrets.RestoreSecretParameters{SecretBackup: []byte("x")}, nil)
	checkErr(t, "rbac restore", err, 403, "Forbidden", "ForbiddenByRbac")
	assertMessageContains(t, err, "Action: 'Microsoft.KeyVault/vaults/secrets/restore/action'")

	_, err = ap.RecoverDeletedSecret(ctx, "x", nil)
	checkErr(t, "access policy recover", err, 403, "Forbidden", "AccessDenied")
	assertMessageContains(t, err, "does not have secrets recover permission on key vault 'ap-sd;location=eastus'")
	_, err = ap.NewListDeletedSecretPropertiesPager(nil).NextPage(ctx)
	checkErr(t, "access policy list deleted", err, 403, "Forbidden", "AccessDenied")
	assertMessageContains(t, err, "does not have secrets list permission")

	// Get allows get-deleted; either permission allows recover and purge.
	s.SetPermissions("ap-sd", akvcredstest.DefaultClientID, akvcredstest.Permissions{Get: true})
	if _, err := ap.GetDeletedSecret(ctx, "x", nil); err != nil {
		t.Errorf("get deleted with Get: %v", err)
	}
	if _, err := ap.RecoverDeletedSecret(ctx, "x", nil); err != nil {
		t.Errorf("recover with Get: %v", err)
	}
}

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
