package akvcredstest

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// seedFile is the JSON seed format read by LoadSeed (see the package
// documentation for an example). Every field is optional.
type seedFile struct {
	// Tenants are tenant IDs to register.
	Tenants []string `json:"tenants"`
	// Apps are app registrations with a client secret.
	Apps []seedApp `json:"apps"`
	// ManagedIdentities are user-assigned managed identities.
	ManagedIdentities []ManagedIdentity `json:"managedIdentities"`
	// SystemAssignedIdentity false removes the system-assigned identity.
	SystemAssignedIdentity *bool `json:"systemAssignedIdentity"`
	// Vaults are vaults with their secrets and permissions.
	Vaults []seedVault `json:"vaults"`
	// RateLimits throttle vaults (see Server.SetRateLimit).
	RateLimits []seedRateLimit `json:"rateLimits"`
	// EventSubscriptions are Event Grid subscriptions to webhooks (see
	// Server.SubscribeEvents), created last.
	EventSubscriptions []seedEventSubscription `json:"eventSubscriptions"`
}

type seedApp struct {
	TenantID     string `json:"tenantId"`
	ClientID     string `json:"clientId"`
	ClientSecret string `json:"clientSecret"`
}

type seedVault struct {
	// Name is the vault's name (NAME.vault.azure.net).
	Name string `json:"name"`
	// TenantID owns the vault (default DefaultTenantID).
	TenantID string `json:"tenantId"`
	// AccessModel is "rbac" (default) or "accessPolicy".
	AccessModel string `json:"accessModel"`
	// Region is reported in headers and errors (default "eastus").
	Region string `json:"region"`
	// Firewall true refuses every authenticated request.
	Firewall bool `json:"firewall"`
	// SoftDeleteRetentionInDays is how long a deleted secret stays
	// recoverable, 7 to 90 (default 90); the name is Azure's vault property.
	SoftDeleteRetentionInDays *int `json:"softDeleteRetentionInDays"`
	// EnablePurgeProtection refuses purges (Azure's vault property).
	EnablePurgeProtection bool `json:"enablePurgeProtection"`
	// Secrets are added in order; a repeated name adds a version.
	Secrets []seedSecret `json:"secrets"`
	// Permissions restrict principals (see Server.SetPermissions).
	Permissions []seedPermission `json:"permissions"`
	// Certificates are generated in order; a repeated name renews (a new
	// version), as with Server.SetCertificate.
	Certificates []seedCertificate `json:"certificates"`
}

// seedCertificate is a certificate generated at load time: the
// CertificateSpec fields key, contentType, subject and dnsNames, with the
// issuer and the validity in the seed's terms.
type seedCertificate struct {
	Name string `json:"name"`
	CertificateSpec
	// Issuer is "self" (default) or "ca" (the server's CA).
	Issuer string `json:"issuer"`
	// NotBefore defaults to 10 minutes before the load time, as Key Vault
	// backdates; Expires, or else ValidDays after the load time (or after
	// NotBefore when given), ends the validity (default 12 months).
	NotBefore *time.Time `json:"nbf"`
	Expires   *time.Time `json:"exp"`
	ValidDays int        `json:"validDays"`
}

// spec returns the CertificateSpec the entry describes.
func (c seedCertificate) spec(now time.Time) (CertificateSpec, error) {
	spec := c.CertificateSpec
	switch strings.ToLower(c.Issuer) {
	case "", "self":
	case "ca":
		spec.SignedByCA = true
	default:
		return spec, fmt.Errorf("issuer %q is not \"self\" or \"ca\"", c.Issuer)
	}
	if c.ValidDays < 0 || (c.ValidDays > 0 && c.Expires != nil) {
		return spec, errors.New("validDays must be positive and not given with exp")
	}
	start := now
	if c.NotBefore != nil {
		spec.NotBefore, start = *c.NotBefore, *c.NotBefore
	}
	if c.Expires != nil {
		spec.NotAfter = *c.Expires
	}
	if c.ValidDays > 0 {
		spec.NotAfter = start.AddDate(0, 0, c.ValidDays)
	}
	return spec, nil
}

type seedSecret struct {
	Name        string            `json:"name"`
	Value       string            `json:"value"`
	ContentType string            `json:"contentType"`
	Tags        map[string]string `json:"tags"`
	Enabled     *bool             `json:"enabled"`
	NotBefore   *time.Time        `json:"nbf"`
	Expires     *time.Time        `json:"exp"`
}

// seedPermission is the permissions of one principal: a client ID or
// SystemAssigned.
type seedPermission struct {
	Principal string `json:"principal"`
	Permissions
}

type seedRateLimit struct {
	Vault           string `json:"vault"`
	N               int    `json:"n"`
	WindowSecs      int    `json:"windowSeconds"`
	RetryAfter      bool   `json:"retryAfter"`
	FixedWindow     bool   `json:"fixedWindow"`
	RetryAfterConst int    `json:"retryAfterSeconds"` // a constant Retry-After (see ConstantRetryAfter)
}

// LoadSeed reads a JSON seed (format in the package documentation) and
// registers its tenants, apps, managed identities, vaults, secrets,
// certificates (generated now), permissions and rate limits on s. Unknown fields are errors. Entries are
// added to what s already holds (the defaults stay registered). On an error
// the entries before the faulty one stay registered.
func (s *Server) LoadSeed(r io.Reader) error {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	var f seedFile
	if err := dec.Decode(&f); err != nil {
		return fmt.Errorf("akvcredstest: seed: %w", err)
	}
	steps := []func(*seedFile) error{
		s.seedTenants, s.seedApps, s.seedIdentities, s.seedVaults, s.seedRateLimits, s.seedEvents,
	}
	for _, step := range steps {
		if err := step(&f); err != nil {
			return fmt.Errorf("akvcredstest: seed: %w", err)
		}
	}
	return nil
}

func (s *Server) seedTenants(f *seedFile) error {
	for _, t := range f.Tenants {
		if t == "" {
			return errors.New("empty tenant ID")
		}
		s.AddTenant(t)
	}
	return nil
}

func (s *Server) seedApps(f *seedFile) error {
	for i, a := range f.Apps {
		if a.ClientID == "" || a.ClientSecret == "" {
			return fmt.Errorf("apps[%d]: clientId and clientSecret are required", i)
		}
		if a.TenantID == "" {
			a.TenantID = DefaultTenantID
		}
		s.AddApp(a.TenantID, a.ClientID, a.ClientSecret)
	}
	return nil
}

// seedIdentities registers the user-assigned identities and removes the
// system-assigned one if asked.
func (s *Server) seedIdentities(f *seedFile) error {
	for i, m := range f.ManagedIdentities {
		if m.ClientID == "" {
			return fmt.Errorf("managedIdentities[%d]: clientId is required", i)
		}
		s.AddManagedIdentity(m)
	}
	if f.SystemAssignedIdentity != nil && !*f.SystemAssignedIdentity {
		s.RemoveSystemAssignedIdentity()
	}
	return nil
}

func (s *Server) seedVaults(f *seedFile) error {
	for i, v := range f.Vaults {
		if err := s.seedVault(i, v); err != nil {
			return err
		}
	}
	return nil
}

// seedVault adds vaults[i] with its secrets and permissions.
func (s *Server) seedVault(i int, v seedVault) error {
	opts, err := vaultOptions(v)
	if err != nil {
		return fmt.Errorf("vaults[%d]: %w", i, err)
	}
	s.AddVault(v.Name, opts...)
	s.SetFirewall(v.Name, v.Firewall)
	for j, sec := range v.Secrets {
		if !secretNameRE.MatchString(sec.Name) {
			return fmt.Errorf("vaults[%d].secrets[%d]: invalid secret name %q", i, j, sec.Name)
		}
		s.SetSecret(v.Name, sec.Name, sec.Value, secretOptions(sec)...)
	}
	for j, c := range v.Certificates {
		spec, err := c.spec(s.now())
		if err == nil {
			_, err = s.setCertificate(v.Name, c.Name, spec)
		}
		if err != nil {
			return fmt.Errorf("vaults[%d].certificates[%d]: %w", i, j, err)
		}
	}
	for j, p := range v.Permissions {
		if p.Principal == "" {
			return fmt.Errorf("vaults[%d].permissions[%d]: principal is required", i, j)
		}
		s.SetPermissions(v.Name, p.Principal, p.Permissions)
	}
	return nil
}

// accessModels maps the seed's accessModel values (lower case) to whether
// the vault uses access policies.
var accessModels = map[string]bool{
	"": false, "rbac": false,
	"accesspolicy": true, "access-policy": true, "access_policy": true,
}

// vaultOptions checks a seed vault's name and access model and returns the
// options that create it.
func vaultOptions(v seedVault) ([]VaultOption, error) {
	if _, _, ok := parseVaultHost(v.Name + ".vault.azure.net"); !ok || v.Name == "" {
		return nil, fmt.Errorf("invalid vault name %q", v.Name)
	}
	policy, ok := accessModels[strings.ToLower(v.AccessModel)]
	if !ok {
		return nil, fmt.Errorf("accessModel %q is not \"rbac\" or \"accessPolicy\"", v.AccessModel)
	}
	var opts []VaultOption
	if v.TenantID != "" {
		opts = append(opts, VaultTenant(v.TenantID))
	}
	if policy {
		opts = append(opts, VaultAccessPolicy())
	}
	if v.Region != "" {
		opts = append(opts, VaultRegion(v.Region))
	}
	if d := v.SoftDeleteRetentionInDays; d != nil {
		if *d < MinRetentionDays || *d > MaxRetentionDays {
			return nil, fmt.Errorf("softDeleteRetentionInDays %d is not between %d and %d", *d, MinRetentionDays, MaxRetentionDays)
		}
		opts = append(opts, VaultRetentionDays(*d))
	}
	if v.EnablePurgeProtection {
		opts = append(opts, VaultPurgeProtection())
	}
	return opts, nil
}

// secretOptions returns the options of a seed secret's attributes.
func secretOptions(sec seedSecret) []SecretOption {
	var opts []SecretOption
	if sec.ContentType != "" {
		opts = append(opts, ContentType(sec.ContentType))
	}
	if sec.Tags != nil {
		opts = append(opts, Tags(sec.Tags))
	}
	if sec.Enabled != nil && !*sec.Enabled {
		opts = append(opts, Disabled())
	}
	if sec.NotBefore != nil {
		opts = append(opts, NotBefore(*sec.NotBefore))
	}
	if sec.Expires != nil {
		opts = append(opts, Expires(*sec.Expires))
	}
	return opts
}

func (s *Server) seedRateLimits(f *seedFile) error {
	for i, rl := range f.RateLimits {
		if rl.Vault == "" || rl.WindowSecs <= 0 {
			return fmt.Errorf("rateLimits[%d]: vault and windowSeconds are required", i)
		}
		var opts []RateLimitOption
		if rl.FixedWindow {
			opts = append(opts, FixedWindow())
		}
		if rl.RetryAfterConst > 0 {
			opts = append(opts, ConstantRetryAfter(time.Duration(rl.RetryAfterConst)*time.Second))
		}
		s.SetRateLimit(rl.Vault, rl.N, time.Duration(rl.WindowSecs)*time.Second, rl.RetryAfter, opts...)
	}
	return nil
}
