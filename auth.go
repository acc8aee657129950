package akvcreds

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"

	"github.com/akvcreds/akvcreds/internal/azure"
	"github.com/akvcreds/akvcreds/internal/ident"
)

// authSetting is the authentication an option chose, under the option's
// name for messages.
type authSetting struct {
	option string
	cfg    azure.AuthConfig
}

// authOption makes an authentication option: check validates the
// configuration when New applies the option.
func authOption(option string, check func() (azure.AuthConfig, error)) Option {
	return newOption(option, func(s *settings) error {
		cfg, err := check()
		s.auths = append(s.auths, authSetting{option: option, cfg: cfg})
		return err
	})
}

// WithClientSecret authenticates as an app registration (service principal)
// with a client secret: the tenant (directory) ID, the application (client)
// ID, and the client secret's value — shown once in the portal when the
// secret is created, not its "Secret ID".
func WithClientSecret(tenantID, clientID, clientSecret string) Option {
	return authOption("WithClientSecret", func() (azure.AuthConfig, error) {
		cfg := azure.AuthConfig{Kind: azure.AuthClientSecret, TenantID: tenantID, ClientID: clientID, ClientSecret: clientSecret}
		errs := checkIDs(cfg)
		switch {
		case clientSecret == "":
			errs = append(errs, errors.New("client secret is empty: use the secret's Value from the app registration's \"Certificates & secrets\" page"))
		case strings.TrimSpace(clientSecret) != clientSecret:
			errs = append(errs, errors.New("client secret has leading or trailing white space: remove it"))
		}
		return cfg, errors.Join(errs...)
	})
}

// checkIDs checks the tenant and client IDs of an app registration; an
// empty value read from an unset variable is reported by the caller.
func checkIDs(a azure.AuthConfig) []error {
	var errs []error
	from := func(env string, err error) error {
		if env != "" {
			return fmt.Errorf("%s: %w", env, err)
		}
		return err
	}
	if err := ident.TenantID(a.TenantID); err != nil {
		errs = append(errs, from(a.TenantVar, fmt.Errorf("tenant ID: %w", err)))
	}
	if err := ident.ClientID(a.ClientID); err != nil {
		errs = append(errs, from(a.ClientVar, fmt.Errorf("client ID: %w", err)))
	}
	return errs
}

// WithSystemAssignedIdentity authenticates as the system-assigned managed
// identity of the Azure resource the program runs on.
func WithSystemAssignedIdentity() Option {
	return authOption("WithSystemAssignedIdentity", func() (azure.AuthConfig, error) {
		return azure.AuthConfig{Kind: azure.AuthSystemIdentity}, nil
	})
}

// WithUserAssignedIdentity authenticates as the user-assigned managed
// identity with this client ID, assigned to the Azure resource the program
// runs on.
func WithUserAssignedIdentity(clientID string) Option {
	return authOption("WithUserAssignedIdentity", func() (azure.AuthConfig, error) {
		cfg := azure.AuthConfig{Kind: azure.AuthUserIdentity, ClientID: clientID}
		if err := ident.ClientID(clientID); err != nil {
			return cfg, fmt.Errorf("client ID: %w", err)
		}
		return cfg, nil
	})
}

// WithTokenCredential authenticates with a credential the caller already
// holds (any azidentity credential, for example). It is the one place the
// package names an Azure SDK type. Its token requests do not go through
// WithHTTPClient's client unless the credential was built with it.
func WithTokenCredential(cred azcore.TokenCredential) Option {
	return authOption("WithTokenCredential", func() (azure.AuthConfig, error) {
		cfg := azure.AuthConfig{Kind: azure.AuthCustom, Credential: cred}
		if cred == nil {
			return cfg, errors.New("the credential is nil")
		}
		return cfg, nil
	})
}

// WithClientCertificate authenticates as an app registration (service
// principal) with a certificate: the tenant (directory) ID, the application
// (client) ID, and the certificate with its private key, as PEM (the
// certificate and an unencrypted PKCS#8 or PKCS#1 RSA key) or PKCS#12
// (.pfx/.p12; password "" when it has none). The certificate's public part
// must be uploaded to the app registration under "Certificates & secrets".
//
// New checks the certificate: data that is neither PEM nor PKCS#12, a wrong
// password, a missing or non-RSA key (Entra ID needs RSA, at least 2048
// bits), a key that does not belong to the certificate, and a certificate
// past its NotAfter are errors wrapping ErrInvalidArgument that name the
// problem and the certificate's thumbprint, never key material. PKCS#12
// files must use the legacy algorithms (3DES or RC2 and a SHA-1 MAC);
// OpenSSL 3's default (AES-256 and a SHA-256 MAC) is refused with
// instructions to convert the file to PEM.
func WithClientCertificate(tenantID, clientID string, certificate []byte, password string) Option {
	certificate = slices.Clone(certificate)
	return authOption("WithClientCertificate", func() (azure.AuthConfig, error) {
		cfg := azure.AuthConfig{Kind: azure.AuthCertificate, TenantID: tenantID, ClientID: clientID}
		errs := checkIDs(cfg)
		cert, err := azure.LoadCertificate(certificate, password, time.Now())
		if err != nil {
			errs = append(errs, err)
		}
		cfg.Certificate = cert
		return cfg, errors.Join(errs...)
	})
}

// WithEnvironmentCredential chooses the authentication from the standard
// Azure environment variables, read by New, in the Azure SDKs' order:
// AZURE_TENANT_ID and AZURE_CLIENT_ID with
//
//   - AZURE_CLIENT_SECRET: a client secret, as WithClientSecret;
//   - else AZURE_CLIENT_CERTIFICATE_PATH (and AZURE_CLIENT_CERTIFICATE_PASSWORD,
//     AZURE_CLIENT_SEND_CERTIFICATE_CHAIN): a certificate, as
//     WithClientCertificate;
//   - else AZURE_FEDERATED_TOKEN_FILE: Kubernetes workload identity. The
//     workload identity webhook sets these variables in pods labelled
//     azure.workload.identity/use: "true" (the client ID from their service
//     account's azure.workload.identity/client-id annotation). The token in
//     the file, which the kubelet rotates, is exchanged for an Entra ID token
//     through a federated identity credential on the app registration or
//     managed identity (issuer: the cluster's OIDC issuer URL; subject:
//     system:serviceaccount:NAMESPACE:NAME; audience
//     api://AzureADTokenExchange). The file is read again for every token
//     request.
//
// When none fits, New fails with an error wrapping ErrInvalidArgument that
// lists what is missing: it never falls back to a managed identity. An
// AZURE_AUTHORITY_HOST of another cloud than the Client's is an error too.
func WithEnvironmentCredential() Option {
	return withEnvironment(os.Getenv)
}

func withEnvironment(getenv func(string) string) Option {
	return authOption("WithEnvironmentCredential", func() (azure.AuthConfig, error) {
		cfg, err := azure.FromEnvironment(getenv, time.Now())
		if err != nil {
			return cfg, err
		}
		if errs := checkIDs(cfg); len(errs) > 0 {
			return cfg, errors.Join(errs...)
		}
		if cfg.Kind == azure.AuthClientSecret && strings.TrimSpace(cfg.ClientSecret) != cfg.ClientSecret {
			return cfg, fmt.Errorf("%s: client secret has leading or trailing white space: remove it", cfg.SecretVar)
		}
		return cfg, nil
	})
}
