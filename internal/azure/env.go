package azure

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/akvcreds/akvcreds/internal/cloud"
)

// The standard Azure environment variables (the Azure SDKs' and the Azure
// workload identity webhook's).
const (
	EnvTenantID            = "AZURE_TENANT_ID"
	EnvClientID            = "AZURE_CLIENT_ID"
	EnvClientSecret        = "AZURE_CLIENT_SECRET"
	EnvCertificatePath     = "AZURE_CLIENT_CERTIFICATE_PATH"
	EnvCertificatePassword = "AZURE_CLIENT_CERTIFICATE_PASSWORD"
	EnvSendCertChain       = "AZURE_CLIENT_SEND_CERTIFICATE_CHAIN"
	EnvFederatedTokenFile  = "AZURE_FEDERATED_TOKEN_FILE"
	EnvAuthorityHost       = "AZURE_AUTHORITY_HOST"
	envUsername            = "AZURE_USERNAME"
)

// FromEnvironment chooses the authentication from the standard Azure
// environment variables, read through getenv ("" means unset), in the
// precedence of the Azure SDKs: AZURE_TENANT_ID and AZURE_CLIENT_ID with
//
//   - AZURE_CLIENT_SECRET: client secret;
//   - else AZURE_CLIENT_CERTIFICATE_PATH (AZURE_CLIENT_CERTIFICATE_PASSWORD,
//     AZURE_CLIENT_SEND_CERTIFICATE_CHAIN): certificate, loaded and checked
//     at now;
//   - else AZURE_FEDERATED_TOKEN_FILE: workload identity, the file checked.
//
// When none fits, the error lists what is missing; there is no fall-back to
// a managed identity.
func FromEnvironment(getenv func(string) string, now time.Time) (AuthConfig, error) {
	tenant, client := getenv(EnvTenantID), getenv(EnvClientID)
	secret, certPath, tokenFile := getenv(EnvClientSecret), getenv(EnvCertificatePath), getenv(EnvFederatedTokenFile)
	var missing []string
	if tenant == "" {
		missing = append(missing, EnvTenantID)
	}
	if client == "" {
		missing = append(missing, EnvClientID)
	}
	if secret == "" && certPath == "" && tokenFile == "" {
		missing = append(missing, "one of "+EnvClientSecret+" (client secret), "+EnvCertificatePath+" (certificate) or "+EnvFederatedTokenFile+" (workload identity)")
	}
	if len(missing) > 0 {
		msg := "no authentication mode fits the environment: it lacks " + strings.Join(missing, ", ")
		if getenv(envUsername) != "" {
			msg += "; username and password authentication (" + envUsername + ") is not supported"
		}
		for _, k := range managedIdentityEnv {
			if getenv(k) != "" {
				msg += "; " + k + " is set: for this host's managed identity use WithSystemAssignedIdentity or WithUserAssignedIdentity"
				break
			}
		}
		return AuthConfig{}, errors.New(msg + " (akvcreds never falls back to a managed identity)")
	}
	cfg := AuthConfig{
		TenantID: tenant, ClientID: client,
		TenantVar: EnvTenantID, ClientVar: EnvClientID,
		AuthorityHost: getenv(EnvAuthorityHost),
	}
	switch {
	case secret != "":
		cfg.Kind = AuthClientSecret
		cfg.ClientSecret, cfg.SecretVar = secret, EnvClientSecret
		return cfg, nil
	case certPath != "":
		cfg.Kind = AuthCertificate
		cfg.SendCertificateChain = envBool(getenv(EnvSendCertChain))
		data, err := ReadCredentialFile("certificate file", certPath)
		if err != nil {
			return cfg, fmt.Errorf("%s: %w", EnvCertificatePath, err)
		}
		cert, err := LoadCertificate(data, getenv(EnvCertificatePassword), now)
		if err != nil {
			return cfg, fmt.Errorf("%s %q: %w", EnvCertificatePath, certPath, err)
		}
		cfg.Certificate = cert
		return cfg, nil
	default:
		cfg.Kind = AuthWorkloadIdentity
		cfg.TokenFile = tokenFile
		if err := CheckWorkloadIdentity(tokenFile); err != nil {
			return cfg, fmt.Errorf("%s: %w", EnvFederatedTokenFile, err)
		}
		return cfg, nil
	}
}

func envBool(v string) bool {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "1", "true", "yes":
		return true
	}
	return false
}

// loginHostClouds maps the Entra ID authority hosts (and their aliases) to
// the clouds akvcreds supports.
var loginHostClouds = map[string]func() cloud.Cloud{
	"login.microsoftonline.com":        cloud.Public,
	"login.windows.net":                cloud.Public,
	"login.microsoft.com":              cloud.Public,
	"login.chinacloudapi.cn":           cloud.China,
	"login.partner.microsoftonline.cn": cloud.China,
	"login.microsoftonline.us":         cloud.USGovernment,
	"login.usgovcloudapi.net":          cloud.USGovernment,
}

// CheckAuthorityHost reports an AZURE_AUTHORITY_HOST that names the Entra ID
// of another cloud than c: akvcreds takes the authority from the cloud, and
// a mismatch means the program was configured for the wrong cloud.
func CheckAuthorityHost(v string, c cloud.Cloud) error {
	if v == "" {
		return nil
	}
	u, err := url.Parse(v)
	if err != nil || u.Host == "" {
		return nil // not a URL: azidentity would not use it either
	}
	f, ok := loginHostClouds[strings.ToLower(u.Hostname())]
	if !ok {
		return nil
	}
	if other := f(); other.Name != c.Name {
		return fmt.Errorf("%s is %s, the Entra ID of %s, but the cloud is %s: select %s with WithCloud", EnvAuthorityHost, v, other.Name, c.Name, other.Name)
	}
	return nil
}
