package akvcredstest

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"
)

// seedFile is the JSON seed format read by LoadSeed (see the package
// documentation for an example).
type seedFile struct {
	Tenants                []string        `json:"tenants"`
	Apps                   []seedApp       `json:"apps"`
	ManagedIdentities      []seedMI        `json:"managedIdentities"`
	SystemAssignedIdentity *bool           `json:"systemAssignedIdentity"`
	Vaults                 []seedVault     `json:"vaults"`
	RateLimits             []seedRateLimit `json:"rateLimits"`
}

type seedApp struct {
	TenantID     string `json:"tenantId"`
	ClientID     string `json:"clientId"`
	ClientSecret string `json:"clientSecret"`
}

type seedMI struct {
	ClientID   string `json:"clientId"`
	ObjectID   string `json:"objectId"`
	ResourceID string `json:"resourceId"`
	TenantID   string `json:"tenantId"`
}

type seedVault struct {
	Name        string           `json:"name"`
	TenantID    string           `json:"tenantId"`
	AccessModel string           `json:"accessModel"`
	Region      string           `json:"region"`
	Firewall    bool             `json:"firewall"`
	Secrets     []seedSecret     `json:"secrets"`
	Permissions []seedPermission `json:"permissions"`
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

type seedPermission struct {
	Principal string `json:"principal"`
	Get       bool   `json:"get"`
	List      bool   `json:"list"`
}

type seedRateLimit struct {
	Vault      string `json:"vault"`
	N          int    `json:"n"`
	WindowSecs int    `json:"windowSeconds"`
	RetryAfter bool   `json:"retryAfter"`
}

// LoadSeed reads a JSON seed (format in the package documentation) and
// registers its tenants, apps, managed identities, vaults, secrets,
// permissions and rate limits on s. Unknown fields are errors. Entries are
// added to what s already holds (the defaults stay registered).
func LoadSeed(s *Server, r io.Reader) error {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	var f seedFile
	if err := dec.Decode(&f); err != nil {
		return fmt.Errorf("akvcredstest: seed: %w", err)
	}
	for _, t := range f.Tenants {
		if t == "" {
			return fmt.Errorf("akvcredstest: seed: empty tenant ID")
		}
		s.AddTenant(t)
	}
	for i, a := range f.Apps {
		if a.ClientID == "" || a.ClientSecret == "" {
			return fmt.Errorf("akvcredstest: seed: apps[%d]: clientId and clientSecret are required", i)
		}
		if a.TenantID == "" {
			a.TenantID = DefaultTenantID
		}
		s.AddApp(a.TenantID, a.ClientID, a.ClientSecret)
	}
	for i, m := range f.ManagedIdentities {
		if m.ClientID == "" {
			return fmt.Errorf("akvcredstest: seed: managedIdentities[%d]: clientId is required", i)
		}
		s.AddManagedIdentity(ManagedIdentity(m))
	}
	if f.SystemAssignedIdentity != nil && !*f.SystemAssignedIdentity {
		s.RemoveSystemAssignedIdentity()
	}
	for i, v := range f.Vaults {
		if _, _, ok := parseVaultHost(v.Name + ".vault.azure.net"); !ok || v.Name == "" {
			return fmt.Errorf("akvcredstest: seed: vaults[%d]: invalid vault name %q", i, v.Name)
		}
		var opts []VaultOption
		if v.TenantID != "" {
			opts = append(opts, VaultTenant(v.TenantID))
		}
		switch strings.ToLower(v.AccessModel) {
		case "", "rbac":
		case "accesspolicy", "access-policy", "access_policy":
			opts = append(opts, VaultAccessPolicy())
		default:
			return fmt.Errorf("akvcredstest: seed: vaults[%d]: accessModel %q is not \"rbac\" or \"accessPolicy\"", i, v.AccessModel)
		}
		if v.Region != "" {
			opts = append(opts, VaultRegion(v.Region))
		}
		s.AddVault(v.Name, opts...)
		s.SetFirewall(v.Name, v.Firewall)
		for j, sec := range v.Secrets {
			if !secretNameRE.MatchString(sec.Name) {
				return fmt.Errorf("akvcredstest: seed: vaults[%d].secrets[%d]: invalid secret name %q", i, j, sec.Name)
			}
			var so []SecretOption
			if sec.ContentType != "" {
				so = append(so, ContentType(sec.ContentType))
			}
			if sec.Tags != nil {
				so = append(so, Tags(sec.Tags))
			}
			if sec.Enabled != nil && !*sec.Enabled {
				so = append(so, Disabled())
			}
			if sec.NotBefore != nil {
				so = append(so, NotBefore(*sec.NotBefore))
			}
			if sec.Expires != nil {
				so = append(so, Expires(*sec.Expires))
			}
			s.SetSecret(v.Name, sec.Name, sec.Value, so...)
		}
		for j, p := range v.Permissions {
			if p.Principal == "" {
				return fmt.Errorf("akvcredstest: seed: vaults[%d].permissions[%d]: principal is required", i, j)
			}
			s.SetPermissions(v.Name, p.Principal, Permissions{Get: p.Get, List: p.List})
		}
	}
	for i, rl := range f.RateLimits {
		if rl.Vault == "" || rl.WindowSecs <= 0 {
			return fmt.Errorf("akvcredstest: seed: rateLimits[%d]: vault and windowSeconds are required", i)
		}
		s.SetRateLimit(rl.Vault, rl.N, time.Duration(rl.WindowSecs)*time.Second, rl.RetryAfter)
	}
	return nil
}
