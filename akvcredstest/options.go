package akvcredstest

import (
	"io"
	"time"
)

// Well-known identities registered by NewServer, so that simple tests need no
// setup.
const (
	// DefaultTenantID is the Microsoft Entra tenant registered by NewServer. Vaults
	// name it in their authentication challenge unless VaultTenant says otherwise.
	DefaultTenantID = "72f988bf-86f1-41af-91ab-2d7cd011db47"
	// DefaultClientID is an app registration in DefaultTenantID.
	DefaultClientID = "00000000-0000-0000-0000-00000000c11e"
	// DefaultClientSecret is the client secret of DefaultClientID.
	DefaultClientSecret = "emulator-client-secret-value"
	// DefaultUserAssignedClientID is a user-assigned managed identity registered
	// in DefaultTenantID and reachable through the IMDS endpoint.
	DefaultUserAssignedClientID = "00000000-0000-0000-0000-0000000000a1"
	// DefaultSystemAssignedClientID is the client ID of the system-assigned
	// managed identity registered by NewServer.
	DefaultSystemAssignedClientID = "00000000-0000-0000-0000-0000000005a1"
)

// SystemAssigned is the principal name of the system-assigned managed identity
// in SetPermissions.
const SystemAssigned = "system-assigned"

// Option configures a Server. Options are made by the With* functions.
type Option interface{ applyServer(*config) }

type optionFunc func(*config)

func (f optionFunc) applyServer(c *config) { f(c) }

type config struct {
	tokenLifetime time.Duration
	pageSize      int
	latencyMin    time.Duration
	latencyMax    time.Duration
	now           func() time.Time
	tlsAddr       string
	imdsAddr      string
	requestLog    io.Writer
}

func defaultConfig() config {
	return config{
		tokenLifetime: 3599 * time.Second,
		pageSize:      25,
		now:           time.Now,
		tlsAddr:       "127.0.0.1:0",
		imdsAddr:      "127.0.0.1:0",
	}
}

// WithTokenLifetime sets the lifetime (expires_in) of the access tokens the
// server issues, from Entra ID and from IMDS. The default is 3599 seconds, as
// Entra ID issues. Key Vault rejects a token once it has expired by the
// server's clock (see WithClock). Lifetimes are whole seconds; d is rounded
// down, with a minimum of one second.
func WithTokenLifetime(d time.Duration) Option {
	return optionFunc(func(c *config) {
		if d < time.Second {
			d = time.Second
		}
		c.tokenLifetime = d
	})
}

// WithPageSize sets how many items one list page holds (default 25, as Azure).
// n < 1 is taken as 1.
func WithPageSize(n int) Option {
	return optionFunc(func(c *config) {
		if n < 1 {
			n = 1
		}
		c.pageSize = n
	})
}

// WithLatency delays every request (Key Vault, Entra ID and IMDS) by a random
// duration in [min, max]; the delay is fixed when min == max. Negative values
// are taken as zero.
func WithLatency(min, max time.Duration) Option {
	return optionFunc(func(c *config) {
		if min < 0 {
			min = 0
		}
		if max < min {
			max = min
		}
		c.latencyMin, c.latencyMax = min, max
	})
}

// WithClock sets the server's clock (default time.Now); now must be safe for
// concurrent use. It drives token issue and expiry, secret created/updated
// times and rate-limit windows.
func WithClock(now func() time.Time) Option {
	return optionFunc(func(c *config) {
		if now != nil {
			c.now = now
		}
	})
}

// WithAddr sets fixed listen addresses for standalone use: tlsAddr for the
// TLS listener (Key Vault and Entra ID) and imdsAddr for the plain-HTTP
// managed-identity listener. An empty address keeps the default of a random
// port on 127.0.0.1.
func WithAddr(tlsAddr, imdsAddr string) Option {
	return optionFunc(func(c *config) {
		if tlsAddr != "" {
			c.tlsAddr = tlsAddr
		}
		if imdsAddr != "" {
			c.imdsAddr = imdsAddr
		}
	})
}

// WithRequestLog writes every logged request (see Requests) to w as one
// line of JSON when its response has been sent: time (by the server's
// clock), method, host, path, kind, status, whether an Authorization header
// was present, and the vault and secret names of Key Vault requests. Query
// strings, headers and bodies are never written, so no token, client secret
// or secret value reaches the log. Lines are written in log order, one
// Write call each; write errors are ignored.
func WithRequestLog(w io.Writer) Option {
	return optionFunc(func(c *config) { c.requestLog = w })
}

// VaultOption configures a vault added with AddVault.
type VaultOption interface{ applyVault(*vault) }

type vaultOptionFunc func(*vault)

func (f vaultOptionFunc) applyVault(v *vault) { f(v) }

// VaultTenant sets the tenant that owns the vault: the tenant its
// authentication challenge names and whose tokens it accepts (default
// DefaultTenantID).
func VaultTenant(tenantID string) VaultOption {
	return vaultOptionFunc(func(v *vault) { v.tenant = tenantID })
}

// VaultAccessPolicy selects the vault access policy permission model. The
// default is Azure RBAC. The model decides the shape of 403 responses
// (innererror AccessDenied versus ForbiddenByRbac).
func VaultAccessPolicy() VaultOption {
	return vaultOptionFunc(func(v *vault) { v.accessPolicy = true })
}

// VaultRegion sets the region the vault reports in x-ms-keyvault-region and in
// error messages (default "eastus").
func VaultRegion(region string) VaultOption {
	return vaultOptionFunc(func(v *vault) { v.region = region })
}

// Soft-delete retention bounds: Azure accepts softDeleteRetentionInDays
// from 7 to 90 (the default).
const (
	MinRetentionDays = 7
	MaxRetentionDays = 90
)

// VaultRetentionDays sets how many days a deleted secret stays recoverable
// (Azure's softDeleteRetentionInDays; default 90). Values outside 7..90 are
// taken as the nearest bound. The retention decides the recoveryLevel and
// recoverableDays every secret reports ("Recoverable..." at 90 days,
// "CustomizedRecoverable..." below) and the scheduledPurgeDate of a deleted
// secret, after which the server purges it by its clock (see WithClock).
func VaultRetentionDays(days int) VaultOption {
	days = min(max(days, MinRetentionDays), MaxRetentionDays)
	return vaultOptionFunc(func(v *vault) { v.retentionDays = days })
}

// VaultPurgeProtection turns on purge protection (Azure's
// enablePurgeProtection): a purge request is refused with 403 Forbidden and
// a deleted secret lasts until its scheduled purge date; the recoveryLevel
// loses "+Purgeable". As in Azure, it cannot be turned off again.
func VaultPurgeProtection() VaultOption {
	return vaultOptionFunc(func(v *vault) { v.purgeProtection = true })
}

// SecretOption configures a secret version set with SetSecret.
type SecretOption interface{ applySecret(*secretVersion) }

type secretOptionFunc func(*secretVersion)

func (f secretOptionFunc) applySecret(v *secretVersion) { f(v) }

// ContentType sets the secret version's content type.
func ContentType(ct string) SecretOption {
	return secretOptionFunc(func(v *secretVersion) { v.contentType = ct })
}

// Tags sets the secret version's tags (copied).
func Tags(tags map[string]string) SecretOption {
	return secretOptionFunc(func(v *secretVersion) {
		v.tags = make(map[string]string, len(tags))
		for k, val := range tags {
			v.tags[k] = val
		}
	})
}

// Disabled creates the secret version disabled.
func Disabled() SecretOption {
	return secretOptionFunc(func(v *secretVersion) { v.enabled = false })
}

// NotBefore sets the secret version's not-before (nbf) attribute.
func NotBefore(t time.Time) SecretOption {
	return secretOptionFunc(func(v *secretVersion) { tt := t; v.nbf = &tt })
}

// Expires sets the secret version's expiry (exp) attribute. As in Azure, an
// expired secret is still returned.
func Expires(t time.Time) SecretOption {
	return secretOptionFunc(func(v *secretVersion) { tt := t; v.exp = &tt })
}

// Managed marks the secret version as managed by a Key Vault certificate
// ("managed":true, as Azure reports for a certificate's backing secret).
func Managed() SecretOption {
	return secretOptionFunc(func(v *secretVersion) { v.managed = true })
}
