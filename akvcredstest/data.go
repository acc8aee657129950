package akvcredstest

import (
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"sort"
	"strings"
	"time"
)

type tenant struct {
	id string
}

type app struct {
	tenant   string
	clientID string
	secrets  []string
	objectID string
}

type managedIdentity struct {
	ManagedIdentity
	system bool
}

// ManagedIdentity describes a user-assigned managed identity for
// AddManagedIdentity. IMDS finds it by ClientID (client_id), ObjectID
// (object_id) or ResourceID (msi_res_id / mi_res_id). The JSON names are
// those of a seed's managedIdentities entries (see LoadSeed).
type ManagedIdentity struct {
	// ClientID is the identity's client (application) ID; required.
	ClientID string `json:"clientId"`
	// ObjectID is the identity's principal (object) ID; generated if empty.
	ObjectID string `json:"objectId"`
	// ResourceID is the identity's Azure resource ID; generated if empty.
	ResourceID string `json:"resourceId"`
	// TenantID is the identity's tenant; "" means DefaultTenantID.
	TenantID string `json:"tenantId"`
}

// Permissions are the secret permissions of one principal on one vault. The
// JSON names are those of a seed's permissions entries (see LoadSeed).
type Permissions struct {
	// Get allows reading secret values (get-secret).
	Get bool `json:"get"`
	// List allows listing secrets and secret versions.
	List bool `json:"list"`
}

type vault struct {
	name         string
	tenant       string
	accessPolicy bool
	region       string
	firewall     bool
	perms        map[string]Permissions   // principal -> permissions
	secrets      map[string]*secret       // lower-case name -> secret
	deleted      map[string]*deletedEntry // lower-case name -> deleted secret (soft delete)
	rate         *rateLimit
	// retentionDays is the soft-delete retention (Azure's
	// softDeleteRetentionInDays, 7 to 90, default 90) and purgeProtection
	// Azure's enablePurgeProtection; together they decide recoveryLevel.
	retentionDays   int
	purgeProtection bool
}

// deletedEntry is a soft-deleted secret with all its versions, recoverable
// until purge (its scheduledPurgeDate).
type deletedEntry struct {
	sec            *secret
	deleted, purge time.Time
}

// defaultRetentionDays is Azure's default softDeleteRetentionInDays.
const defaultRetentionDays = 90

// recoveryLevel is the attributes' recoveryLevel for the vault's settings,
// as Azure derives it (DeletionRecoveryLevel in the Key Vault REST
// reference): a 90-day retention is "Recoverable", a shorter one
// "CustomizedRecoverable" (7 <= SoftDeleteRetentionInDays < 90); without
// purge protection "+Purgeable" follows. The recordings in
// testdata/recordings show "CustomizedRecoverable+Purgeable" with
// recoverableDays 7 (2026) and "Recoverable+Purgeable" with 90 (2020).
func (v *vault) recoveryLevel() string {
	level := "Recoverable"
	if v.retentionDays < defaultRetentionDays {
		level = "CustomizedRecoverable"
	}
	if !v.purgeProtection {
		level += "+Purgeable"
	}
	return level
}

// sweepLocked purges the deleted secrets whose scheduled purge date has
// come, by the server's clock.
func (v *vault) sweepLocked(now time.Time) {
	for key, d := range v.deleted {
		if !d.purge.After(now) {
			delete(v.deleted, key)
		}
	}
}

// softDeleteLocked moves a secret to the deleted state at now and returns
// its entry, or nil if there is no such secret.
func (v *vault) softDeleteLocked(name string, now time.Time) *deletedEntry {
	key := strings.ToLower(name)
	sec, ok := v.secrets[key]
	if !ok {
		return nil
	}
	delete(v.secrets, key)
	d := &deletedEntry{sec: sec, deleted: now, purge: now.Add(time.Duration(v.retentionDays) * 24 * time.Hour)}
	v.deleted[key] = d
	return d
}

// recoverLocked moves a deleted secret back, unchanged; it returns nil if
// there is no such deleted secret.
func (v *vault) recoverLocked(name string) *secret {
	key := strings.ToLower(name)
	d, ok := v.deleted[key]
	if !ok {
		return nil
	}
	delete(v.deleted, key)
	v.secrets[key] = d.sec
	return d.sec
}

type secret struct {
	name     string
	versions []*secretVersion // oldest first; the last is the latest
}

func (s *secret) latest() *secretVersion { return s.versions[len(s.versions)-1] }

// find returns the version called id (case-insensitive), the latest for an
// empty id, or nil if there is none. s may be nil (no such secret).
func (s *secret) find(id string) *secretVersion {
	if s == nil {
		return nil
	}
	if id == "" {
		return s.latest()
	}
	for _, sv := range s.versions {
		if strings.EqualFold(sv.version, id) {
			return sv
		}
	}
	return nil
}

type secretVersion struct {
	version     string
	value       string
	contentType string
	tags        map[string]string
	enabled     bool
	nbf, exp    *time.Time
	created     time.Time
	updated     time.Time
	managed     bool
	previous    string // a renewed certificate's previous version
}

func newID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func newGUID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = (b[6] & 0x0f) | 0x40
	b[8] = (b[8] & 0x3f) | 0x80
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// AddTenant registers a Microsoft Entra tenant (a GUID). Idempotent.
func (s *Server) AddTenant(tenantID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.addTenantLocked(tenantID)
}

func (s *Server) addTenantLocked(tenantID string) {
	key := strings.ToLower(tenantID)
	if _, ok := s.tenants[key]; !ok {
		s.tenants[key] = &tenant{id: tenantID}
	}
}

// AddApp registers an app (service principal) in tenantID with a client
// secret; the tenant is added if missing. Calling it again for the same app
// adds another valid client secret.
func (s *Server) AddApp(tenantID, clientID, clientSecret string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.appLocked(tenantID, clientID)
	if clientSecret != "" {
		a.secrets = append(a.secrets, clientSecret)
	}
}

// AddAppCertificate registers a certificate credential for an app in
// tenantID (the app and tenant are added if missing). The token endpoint then
// accepts a client_assertion (urn:ietf:params:oauth:client-assertion-type:jwt-bearer)
// signed with the certificate's private key (RS256, PS256 or ES256).
func (s *Server) AddAppCertificate(tenantID, clientID string, cert *x509.Certificate) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.appLocked(tenantID, clientID)
	key := strings.ToLower(tenantID) + "/" + strings.ToLower(clientID)
	s.appCerts[key] = append(s.appCerts[key], cert)
}

func (s *Server) appLocked(tenantID, clientID string) *app {
	s.addTenantLocked(tenantID)
	key := strings.ToLower(tenantID) + "/" + strings.ToLower(clientID)
	a, ok := s.apps[key]
	if !ok {
		a = &app{tenant: tenantID, clientID: clientID, objectID: newGUID()}
		s.apps[key] = a
	}
	return a
}

// AddManagedIdentity registers a user-assigned managed identity, reachable
// through the IMDS endpoint. Its tenant is added if missing.
func (s *Server) AddManagedIdentity(mi ManagedIdentity) {
	if mi.TenantID == "" {
		mi.TenantID = DefaultTenantID
	}
	if mi.ObjectID == "" {
		mi.ObjectID = newGUID()
	}
	if mi.ResourceID == "" {
		mi.ResourceID = "/subscriptions/00000000-0000-0000-0000-000000000000/resourcegroups/emulator/providers/Microsoft.ManagedIdentity/userAssignedIdentities/" + mi.ClientID
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.addTenantLocked(mi.TenantID)
	for i, m := range s.mis {
		if strings.EqualFold(m.ClientID, mi.ClientID) {
			s.mis[i] = &managedIdentity{ManagedIdentity: mi}
			return
		}
	}
	s.mis = append(s.mis, &managedIdentity{ManagedIdentity: mi})
}

// RemoveSystemAssignedIdentity removes the system-assigned managed identity:
// IMDS then answers 400 "Identity not found" for it, as on a VM without one.
func (s *Server) RemoveSystemAssignedIdentity() {
	s.mu.Lock()
	s.systemMI = nil
	s.mu.Unlock()
}

// AddVault creates a vault if it does not exist yet (idempotent; options
// apply to a new vault and update an existing one). The vault answers on
// NAME.vault.azure.net, NAME.vault.azure.cn and NAME.vault.usgovcloudapi.net,
// each with its cloud's login host and resource in the challenge. Names are
// case-insensitive.
func (s *Server) AddVault(name string, opts ...VaultOption) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v := s.vaultLocked(name)
	for _, o := range opts {
		if o != nil {
			o.applyVault(v)
		}
	}
	if v.tenant == "" {
		v.tenant = DefaultTenantID
	}
	s.addTenantLocked(v.tenant)
}

func (s *Server) vaultLocked(name string) *vault {
	key := strings.ToLower(name)
	v, ok := s.vaults[key]
	if !ok {
		v = &vault{
			name:          key,
			tenant:        DefaultTenantID,
			region:        "eastus",
			perms:         map[string]Permissions{},
			secrets:       map[string]*secret{},
			deleted:       map[string]*deletedEntry{},
			retentionDays: defaultRetentionDays,
		}
		s.vaults[key] = v
	}
	return v
}

// SetSecret adds a new version of a secret (creating the vault if missing)
// and returns the version ID, 32 lowercase hex characters. The new version is
// enabled unless Disabled is given. If the name is deleted but recoverable,
// the deleted secret is purged first: SetSecret arranges a test's state,
// whereas a PUT to that name gets Azure's 409 Conflict.
func (s *Server) SetSecret(vaultName, name, value string, opts ...SecretOption) (version string) {
	now := s.now()
	sv := &secretVersion{
		version: newID(),
		value:   value,
		enabled: true,
		created: now,
		updated: now,
	}
	for _, o := range opts {
		if o != nil {
			o.applySecret(sv)
		}
	}
	s.mu.Lock()
	v := s.vaultLocked(vaultName)
	delete(v.deleted, strings.ToLower(name))
	s.putVersionLocked(v, name, sv)
	stored, created := v.secrets[strings.ToLower(name)].name, *sv
	s.mu.Unlock()
	s.newVersionCreated(vaultName, stored, created)
	return sv.version
}

func (s *Server) putVersionLocked(v *vault, name string, sv *secretVersion) {
	key := strings.ToLower(name)
	sec, ok := v.secrets[key]
	if !ok {
		sec = &secret{name: name}
		v.secrets[key] = sec
	}
	sec.versions = append(sec.versions, sv)
}

// SetEnabled enables or disables the latest version of a secret. It does
// nothing if the vault or secret does not exist.
func (s *Server) SetEnabled(vaultName, name string, enabled bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sec := s.secretLocked(vaultName, name); sec != nil {
		l := sec.latest()
		l.enabled = enabled
		l.updated = s.now()
	}
}

// DeleteSecret deletes a secret with all its versions, as a DELETE of the
// secret does: the secret is soft-deleted by the server's clock, gone from
// gets and listings and listed among the deleted secrets, recoverable until
// the vault's retention has passed (see VaultRetentionDays). It reports
// whether there was such a secret.
func (s *Server) DeleteSecret(vaultName, name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.vaults[strings.ToLower(vaultName)]
	if !ok {
		return false
	}
	v.sweepLocked(s.now())
	return v.softDeleteLocked(name, s.now()) != nil
}

// RecoverDeletedSecret recovers a deleted secret, as a recover request
// does: it comes back with all its versions and attributes unchanged. It
// reports whether there was such a deleted secret.
func (s *Server) RecoverDeletedSecret(vaultName, name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.vaults[strings.ToLower(vaultName)]
	if !ok {
		return false
	}
	v.sweepLocked(s.now())
	if _, active := v.secrets[strings.ToLower(name)]; active {
		return false
	}
	return v.recoverLocked(name) != nil
}

// PurgeDeletedSecret removes a deleted secret for good, as Key Vault does at
// its scheduled purge date; unlike a purge request it is not stopped by
// purge protection. It reports whether there was such a deleted secret.
func (s *Server) PurgeDeletedSecret(vaultName, name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.vaults[strings.ToLower(vaultName)]
	if !ok {
		return false
	}
	_, found := v.deleted[strings.ToLower(name)]
	delete(v.deleted, strings.ToLower(name))
	return found
}

func (s *Server) secretLocked(vaultName, name string) *secret {
	v, ok := s.vaults[strings.ToLower(vaultName)]
	if !ok {
		return nil
	}
	return v.secrets[strings.ToLower(name)]
}

// SetPermissions sets the secret permissions of principal on a vault (the
// vault is created if missing). principal is an app's or user-assigned
// managed identity's client ID, or SystemAssigned. Without a SetPermissions
// call every registered identity may get and list secrets in every vault.
// Setting a secret (PUT) and updating its properties (PATCH) are allowed to
// every authenticated identity. Get, get-deleted and get-certificate need
// Get; list, list versions and list-deleted need List; delete, recover,
// purge, backup and restore are allowed to a principal with either.
func (s *Server) SetPermissions(vaultName, principal string, p Permissions) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.vaultLocked(vaultName).perms[strings.ToLower(principal)] = p
}

// SetFirewall turns the vault's firewall on or off (the vault is created if
// missing). While it is on, every authenticated request gets 403 Forbidden
// with innererror ForbiddenByFirewall; unauthenticated requests still get the
// 401 challenge, as in Azure.
func (s *Server) SetFirewall(vaultName string, blocked bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.vaultLocked(vaultName).firewall = blocked
}

// sortedSecrets returns the vault's secrets ordered by lower-case name.
func (v *vault) sortedSecrets() []*secret {
	out := make([]*secret, 0, len(v.secrets))
	for _, sec := range v.secrets {
		out = append(out, sec)
	}
	sort.Slice(out, func(i, j int) bool { return strings.ToLower(out[i].name) < strings.ToLower(out[j].name) })
	return out
}
