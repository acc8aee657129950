package akvcreds

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"

	"github.com/akvcreds/akvcreds/internal/azure"
	"github.com/akvcreds/akvcreds/internal/cloud"
	"github.com/akvcreds/akvcreds/internal/ident"
)

// WithClientSecret authenticates as an app registration (service principal)
// with a client secret: the tenant (directory) ID, the application (client)
// ID, and the client secret's value — shown once in the portal when the
// secret is created, not its "Secret ID".
func WithClientSecret(tenantID, clientID, clientSecret string) Option {
	return optionFunc(func(s *settings) {
		s.auths = append(s.auths, authSetting{"WithClientSecret", azure.AuthConfig{
			Kind: azure.AuthClientSecret, TenantID: tenantID, ClientID: clientID, ClientSecret: clientSecret}})
	})
}

// WithSystemAssignedIdentity authenticates as the system-assigned managed
// identity of the Azure resource the program runs on.
func WithSystemAssignedIdentity() Option {
	return optionFunc(func(s *settings) {
		s.auths = append(s.auths, authSetting{"WithSystemAssignedIdentity", azure.AuthConfig{Kind: azure.AuthSystemIdentity}})
	})
}

// WithUserAssignedIdentity authenticates as the user-assigned managed
// identity with this client ID, assigned to the Azure resource the program
// runs on.
func WithUserAssignedIdentity(clientID string) Option {
	return optionFunc(func(s *settings) {
		s.auths = append(s.auths, authSetting{"WithUserAssignedIdentity", azure.AuthConfig{Kind: azure.AuthUserIdentity, ClientID: clientID}})
	})
}

// WithTokenCredential authenticates with a credential the caller already
// holds (any azidentity credential, for example). It is the one place the
// package names an Azure SDK type. Its token requests do not go through
// WithHTTPClient's client unless the credential was built with it.
func WithTokenCredential(cred azcore.TokenCredential) Option {
	return optionFunc(func(s *settings) {
		s.auths = append(s.auths, authSetting{"WithTokenCredential", azure.AuthConfig{Kind: azure.AuthCustom, Credential: cred}})
	})
}

// WithClientCertificate authenticates as an app registration (service
// principal) with a certificate: the tenant (directory) ID, the application
// (client) ID, and the certificate with its private key — PEM (certificate
// and unencrypted PKCS#8 or PKCS#1 RSA key) or PKCS#12 (.pfx/.p12, with
// CertificatePassword if it has one), from CertificateFile or
// CertificateData. The certificate's public part must be uploaded to the app
// registration under "Certificates & secrets".
//
// New reads and checks the certificate once: an unreadable file, data that
// is neither PEM nor PKCS#12, a wrong password, a missing or non-RSA key
// (Entra ID needs RSA, at least 2048 bits), a key that does not belong to the
// certificate, and a certificate past its NotAfter are errors wrapping
// ErrInvalidArgument that name the problem and the certificate's thumbprint,
// never key material. PKCS#12 files must use the legacy algorithms (3DES or
// RC2 and a SHA-1 MAC); OpenSSL 3's default (AES-256 and a SHA-256 MAC) is
// refused with instructions to convert the file to PEM.
func WithClientCertificate(tenantID, clientID string, cert CertificateSource, opts ...CertOption) Option {
	opts = slices.Clone(opts)
	return optionFunc(func(s *settings) {
		base := azure.AuthConfig{Kind: azure.AuthCertificate, TenantID: tenantID, ClientID: clientID}
		s.auths = append(s.auths, authSetting{"WithClientCertificate", prepared(base, func(cfg azure.AuthConfig) (azure.AuthConfig, error) {
			var cs certSettings
			var errs []error
			for i, o := range opts {
				if o == nil {
					errs = append(errs, fmt.Errorf("CertOption %d of %d is nil", i+1, len(opts)))
					continue
				}
				o.applyCert(&cs)
			}
			cfg.SendCertificateChain = cs.sendChain
			data, err := cert.bytes()
			if err == nil {
				cfg.Certificate, err = azure.LoadCertificate(data, cs.password, time.Now())
				if err != nil && cert.path != "" {
					err = fmt.Errorf("certificate file %q: %w", cert.path, err)
				}
			}
			if err != nil {
				errs = append(errs, err)
			}
			return cfg, errors.Join(errs...)
		})})
	})
}

// CertificateSource is where WithClientCertificate reads the certificate
// and its private key: CertificateFile or CertificateData. Printing it shows
// the path or the data's size, never the data.
type CertificateSource struct {
	path string // "" for data
	desc string
	read func() ([]byte, error)
}

// CertificateFile reads the certificate and its private key from a PEM or
// PKCS#12 file at New.
func CertificateFile(path string) CertificateSource {
	return CertificateSource{path: path, desc: fmt.Sprintf("CertificateFile(%q)", path), read: func() ([]byte, error) {
		return azure.ReadCredentialFile("certificate file", path)
	}}
}

// CertificateData takes the certificate and its private key as PEM or
// PKCS#12 bytes (copied).
func CertificateData(data []byte) CertificateSource {
	data = slices.Clone(data)
	return CertificateSource{desc: fmt.Sprintf("CertificateData(%d bytes)", len(data)), read: func() ([]byte, error) { return data, nil }}
}

func (c CertificateSource) bytes() ([]byte, error) {
	if c.read == nil {
		return nil, errors.New("no certificate: use CertificateFile or CertificateData")
	}
	return c.read()
}

// String describes the source: the path, or the data's size.
func (c CertificateSource) String() string {
	if c.desc == "" {
		return "CertificateSource(none)"
	}
	return c.desc
}

// GoString is String, so that %#v shows no data either.
func (c CertificateSource) GoString() string { return c.String() }

// CertOption configures WithClientCertificate.
type CertOption interface {
	applyCert(*certSettings)
}

type certSettings struct {
	password  string
	sendChain bool
}

type certOptionFunc func(*certSettings)

func (f certOptionFunc) applyCert(s *certSettings) { f(s) }

// CertificatePassword is the password of a PKCS#12 certificate file.
// (Encrypted PEM keys are not supported.)
func CertificatePassword(password string) CertOption {
	return certOptionFunc(func(s *certSettings) { s.password = password })
}

// SendCertificateChain sends the certificate chain in the x5c header of
// every token request, which subject name and issuer (SNI) authentication
// needs: the app registration then trusts the certificate by its subject
// and issuer rather than by its thumbprint.
func SendCertificateChain() CertOption {
	return certOptionFunc(func(s *certSettings) { s.sendChain = true })
}

// WithWorkloadIdentity authenticates with Kubernetes workload identity (AKS,
// or any cluster whose service account token issuer is trusted by Entra ID):
// the service account token in tokenFile, which the kubelet rotates, is
// exchanged for an Entra ID token of the app registration or user-assigned
// managed identity clientID in tenantID, through a federated identity
// credential on it (issuer: the cluster's OIDC issuer URL; subject:
// system:serviceaccount:NAMESPACE:NAME; audience: api://AzureADTokenExchange).
//
// An empty argument is read from the environment at New: AZURE_TENANT_ID,
// AZURE_CLIENT_ID and AZURE_FEDERATED_TOKEN_FILE, which the workload identity
// webhook sets in pods labelled azure.workload.identity/use: "true" (the
// client ID from their service account's azure.workload.identity/client-id
// annotation), so WithWorkloadIdentity("", "", "") is the usual call. New checks that the file is readable and holds a JWT.
// The file is read again for every token request, so a rotated token is used
// as soon as a new access token is needed.
func WithWorkloadIdentity(tenantID, clientID, tokenFile string) Option {
	return optionFunc(func(s *settings) {
		base := azure.AuthConfig{Kind: azure.AuthWorkloadIdentity, TenantID: tenantID, ClientID: clientID, TokenFile: tokenFile}
		s.auths = append(s.auths, authSetting{"WithWorkloadIdentity", prepared(base, func(cfg azure.AuthConfig) (azure.AuthConfig, error) {
			var missing []string
			fromEnv := func(v *string, name *string, env, what string) {
				if *v != "" {
					return
				}
				*v, *name = os.Getenv(env), env
				if *v == "" {
					missing = append(missing, fmt.Sprintf("the %s is empty and %s is not set", what, env))
				}
			}
			var fileVar string
			fromEnv(&cfg.TenantID, &cfg.TenantVar, azure.EnvTenantID, "tenant ID")
			fromEnv(&cfg.ClientID, &cfg.ClientVar, azure.EnvClientID, "client ID")
			fromEnv(&cfg.TokenFile, &fileVar, azure.EnvFederatedTokenFile, "federated token file")
			cfg.AuthorityHost = os.Getenv(azure.EnvAuthorityHost)
			if len(missing) > 0 {
				return cfg, fmt.Errorf("%s (the workload identity webhook sets these variables in pods labelled azure.workload.identity/use: \"true\" whose service account is annotated with azure.workload.identity/client-id)", strings.Join(missing, "; "))
			}
			if err := azure.CheckWorkloadIdentity(cfg.TokenFile); err != nil {
				if fileVar != "" {
					err = fmt.Errorf("%s: %w", fileVar, err)
				}
				return cfg, err
			}
			return cfg, nil
		})})
	})
}

// WithEnvironmentCredential chooses the authentication from the standard
// Azure environment variables, read at New, in the Azure SDKs' order:
// AZURE_TENANT_ID and AZURE_CLIENT_ID with
//
//   - AZURE_CLIENT_SECRET: client secret, as WithClientSecret;
//   - else AZURE_CLIENT_CERTIFICATE_PATH (and AZURE_CLIENT_CERTIFICATE_PASSWORD,
//     AZURE_CLIENT_SEND_CERTIFICATE_CHAIN): certificate, as WithClientCertificate;
//   - else AZURE_FEDERATED_TOKEN_FILE: workload identity, as WithWorkloadIdentity.
//
// When none fits, New fails with an error wrapping ErrInvalidArgument that
// lists what is missing: it never falls back to a managed identity. An
// AZURE_AUTHORITY_HOST of another cloud than WithCloud's is an error too.
func WithEnvironmentCredential() Option {
	return withEnvironment("WithEnvironmentCredential", os.Getenv)
}

// WithEnvironmentCredentialFrom is WithEnvironmentCredential reading the
// variables through getenv (an empty value means unset) instead of
// os.Getenv: for tests, or configuration kept elsewhere.
func WithEnvironmentCredentialFrom(getenv func(key string) string) Option {
	return withEnvironment("WithEnvironmentCredentialFrom", getenv)
}

func withEnvironment(option string, getenv func(string) string) Option {
	return optionFunc(func(s *settings) {
		base := azure.AuthConfig{Kind: azure.AuthEnvironment}
		s.auths = append(s.auths, authSetting{option, prepared(base, func(azure.AuthConfig) (azure.AuthConfig, error) {
			if getenv == nil {
				return azure.AuthConfig{}, errors.New("the getenv function is nil")
			}
			return azure.FromEnvironment(getenv, time.Now())
		})})
	})
}

// prepared returns base with a Prepare that runs fn once (per New: options
// apply anew for every New) and remembers its result, so that validateAuth
// and newCredential see the same files and environment.
func prepared(base azure.AuthConfig, fn func(azure.AuthConfig) (azure.AuthConfig, error)) azure.AuthConfig {
	var (
		once sync.Once
		cfg  azure.AuthConfig
		err  error
	)
	out := base
	out.Prepare = func() (azure.AuthConfig, error) {
		once.Do(func() {
			cfg, err = fn(base)
			cfg.Prepare = nil
		})
		return cfg, err
	}
	return out
}

func validateAuth(a azure.AuthConfig) error {
	var errs []error
	var prepErr error
	if a.Prepare != nil {
		a, prepErr = a.Prepare()
	}
	// from labels a problem with the variable the value came from.
	from := func(env string, err error) error {
		if env != "" {
			return fmt.Errorf("%s: %w", env, err)
		}
		return err
	}
	checkIDs := func() {
		// An empty value from an unset variable is already reported by Prepare.
		if a.TenantID != "" || a.TenantVar == "" {
			if err := ident.TenantID(a.TenantID); err != nil {
				errs = append(errs, from(a.TenantVar, fmt.Errorf("tenant ID: %w", err)))
			}
		}
		if a.ClientID != "" || a.ClientVar == "" {
			if err := ident.ClientID(a.ClientID); err != nil {
				errs = append(errs, from(a.ClientVar, fmt.Errorf("client ID: %w", err)))
			}
		}
	}
	switch a.Kind {
	case azure.AuthClientSecret:
		checkIDs()
		switch {
		case a.ClientSecret == "":
			errs = append(errs, errors.New("client secret is empty: use the secret's Value from the app registration's \"Certificates & secrets\" page"))
		case strings.TrimSpace(a.ClientSecret) != a.ClientSecret:
			errs = append(errs, from(a.SecretVar, errors.New("client secret has leading or trailing white space: remove it")))
		}
	case azure.AuthCertificate, azure.AuthWorkloadIdentity:
		checkIDs()
	case azure.AuthUserIdentity:
		if err := ident.ClientID(a.ClientID); err != nil {
			errs = append(errs, fmt.Errorf("client ID: %w", err))
		}
	case azure.AuthCustom:
		if a.Credential == nil {
			errs = append(errs, errors.New("the credential is nil"))
		}
	}
	if prepErr != nil {
		errs = append(errs, prepErr)
	}
	return errors.Join(errs...)
}

// newCredential turns the validated authentication option into the token
// source every vault client of the Client shares.
//
//   - WithClientSecret: azidentity's client-secret credential against the
//     cloud's Entra ID authority, its token requests through hc. It keeps
//     its tokens in memory, per Client, and refreshes them before expiry.
//   - WithSystemAssignedIdentity / WithUserAssignedIdentity: on an Azure VM
//     (no IDENTITY_ENDPOINT, MSI_ENDPOINT or IMDS_ENDPOINT set), akvcreds'
//     own IMDS client through hc, whose token cache belongs to the Client
//     (azidentity's is shared by the whole process) and whose retries are
//     bounded; in App Service, Functions, Arc, Cloud Shell, Azure ML and
//     Service Fabric, azidentity's managed-identity credential.
//   - WithClientCertificate: azidentity's client-certificate credential
//     with the certificate New loaded and checked, through hc.
//   - WithWorkloadIdentity: azidentity's client-assertion credential whose
//     assertion is the federated token file, read for every token request
//     (azidentity's workload identity credential keeps it 10 minutes),
//     through hc.
//   - WithEnvironmentCredential: one of the above, chosen at New.
//   - WithTokenCredential: the caller's credential as it is.
//
// Every credential reports failures as classified errors and refuses, with a
// message naming both tenants, a vault whose challenge names a tenant other
// than the configured one.
func newCredential(a azure.AuthConfig, cc cloud.Cloud, hc *http.Client, maxRetries int) (azcore.TokenCredential, error) {
	return azure.NewCredential(a, azure.CredentialOptions{Cloud: cc, HTTPClient: hc, MaxRetries: maxRetries})
}
