package akvcredstest

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
)

// Soft delete, as Key Vault does it: a DELETE moves the secret, with every
// version, to the vault's deleted secrets, where it stays recoverable until
// its scheduledPurgeDate (deletedDate + the vault's retention) unless it is
// purged; the name cannot be reused meanwhile. Shapes, codes and messages
// follow Azure's recorded answers (testdata/recordings, from the azsecrets
// test recordings in Azure/azure-sdk-assets and the azure-sdk-for-js
// recordings named in testdata/recordings/README.md). Deletion, recovery
// and purge take effect at once: in Azure they complete after a few
// seconds, and clients poll until they have, so the emulator's answer is
// Azure's final one.

// deletedSecretBundle is a deleted secret as Key Vault answers it: a
// delete, a get of the deleted secret (the id names the latest version) or
// an item of the deleted-secrets list (the id names no version). It carries
// no value.
type deletedSecretBundle struct {
	RecoveryID         string `json:"recoveryId"`
	DeletedDate        int64  `json:"deletedDate"`
	ScheduledPurgeDate int64  `json:"scheduledPurgeDate"`
	secretItem
}

// deletedNotFoundMessage is Key Vault's 404 SecretNotFound message for a
// get or purge of a deleted secret that does not exist (recorded in
// TestCRUD, TestRecover, TestBackupRestore, TestListDeletedSecrets).
func deletedNotFoundMessage(name string) string {
	return "Deleted Secret not found: " + name
}

// deletedBundle describes d under id (with or without the version).
func (k *kvCall) deletedBundle(d *deletedEntry, id string) deletedSecretBundle {
	return deletedSecretBundle{
		RecoveryID:         k.base() + "/deletedsecrets/" + d.sec.name,
		DeletedDate:        d.deleted.Unix(),
		ScheduledPurgeDate: d.purge.Unix(),
		secretItem:         itemOf(k.v, id, d.sec.latest()),
	}
}

// deletedConflict answers 409 to a set or restore of a name that is
// deleted but recoverable, with Key Vault's code, innererror and message
// (as azure-sdk-for-net's Sample4_ErrorResponse reproduces it and `az
// keyvault secret set` prints it).
func (k *kvCall) deletedConflict(name string) {
	k.fail(http.StatusConflict, "Conflict", fmt.Sprintf(
		"Secret %s is currently in a deleted but recoverable state, and its name cannot be reused; in this state, the secret can only be recovered or purged.", name),
		"ObjectIsDeletedButRecoverable")
}

// deleteSecret answers a delete of a secret with all its versions: 200 with
// the deleted secret (recoveryId, deletedDate, scheduledPurgeDate, the
// latest version's id and attributes), or 404 for a secret that does not
// exist (or is already deleted).
func (k *kvCall) deleteSecret() {
	name := k.route.secret
	k.s.mu.Lock()
	d := k.v.softDeleteLocked(name, k.s.now())
	var b deletedSecretBundle
	if d != nil {
		b = k.deletedBundle(d, k.base()+"/secrets/"+d.sec.name+"/"+d.sec.latest().version)
	}
	k.s.mu.Unlock()
	if d == nil {
		k.fail(http.StatusNotFound, "SecretNotFound", notFoundMessage(name), "")
		return
	}
	k.reply(b)
}

// getDeletedSecret answers a get of a deleted secret: 200 with the deleted
// secret, or 404 SecretNotFound "Deleted Secret not found: NAME".
func (k *kvCall) getDeletedSecret() {
	name := k.route.secret
	k.s.mu.Lock()
	d := k.v.deleted[strings.ToLower(name)]
	var b deletedSecretBundle
	if d != nil {
		b = k.deletedBundle(d, k.base()+"/secrets/"+d.sec.name+"/"+d.sec.latest().version)
	}
	k.s.mu.Unlock()
	if d == nil {
		k.fail(http.StatusNotFound, "SecretNotFound", deletedNotFoundMessage(name), "")
		return
	}
	k.reply(b)
}

// listDeletedSecrets answers a page of the vault's deleted secrets, by
// name, each under its id without a version (as recorded in
// TestListDeletedSecrets).
func (k *kvCall) listDeletedSecrets() {
	k.s.mu.Lock()
	names := make([]string, 0, len(k.v.deleted))
	for key := range k.v.deleted {
		names = append(names, key)
	}
	sort.Strings(names)
	items := make([]deletedSecretBundle, 0, len(names))
	for _, key := range names {
		d := k.v.deleted[key]
		items = append(items, k.deletedBundle(d, k.base()+"/secrets/"+d.sec.name))
	}
	k.s.mu.Unlock()
	writePage(k, items, "/deletedsecrets")
}

// recoverDeletedSecret answers a recover: 200 with the latest version's
// properties and no value (as recorded in TestRecover), the secret back
// with every version and attribute unchanged; or 404 with the ordinary
// SecretNotFound message when there is no such deleted secret (recorded by
// azure-sdk-for-js, "can recover a deleted secret (non existing)").
func (k *kvCall) recoverDeletedSecret() {
	name := k.route.secret
	k.s.mu.Lock()
	var item secretItem
	sec := k.v.recoverLocked(name)
	if sec != nil {
		item = versionItem(k.v, k.base(), sec, sec.latest())
	}
	k.s.mu.Unlock()
	if sec == nil {
		k.fail(http.StatusNotFound, "SecretNotFound", notFoundMessage(name), "")
		return
	}
	k.reply(item)
}

// purgeDeletedSecret answers a purge: 204 without a body; 404 when there is
// no such deleted secret; 403 Forbidden when the vault has purge
// protection, with the message Key Vault gives (as printed by `az` and the
// Terraform azurerm provider: "Operation \"purge\" is not allowed because
// purge protection is enabled for this vault. Key Vault service will
// automatically purge it after the retention period has passed. Vault:
// NAME;location=REGION").
func (k *kvCall) purgeDeletedSecret() {
	name := k.route.secret
	key := strings.ToLower(name)
	k.s.mu.Lock()
	_, found := k.v.deleted[key]
	protected := k.v.purgeProtection
	if found && !protected {
		delete(k.v.deleted, key)
	}
	k.s.mu.Unlock()
	switch {
	case !found:
		k.fail(http.StatusNotFound, "SecretNotFound", deletedNotFoundMessage(name), "")
	case protected:
		k.fail(http.StatusForbidden, "Forbidden", fmt.Sprintf(
			`Operation "purge" is not allowed because purge protection is enabled for this vault. Key Vault service will automatically purge it after the retention period has passed. Vault: %s`,
			k.vaultDesc()), "")
	default:
		k.noContent()
	}
}
