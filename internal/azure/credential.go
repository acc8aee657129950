package azure

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	azcloud "github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/akvcreds/akvcreds/internal/cloud"
)

// AuthKind selects how the credential authenticates.
type AuthKind int

// The authentication modes.
const (
	AuthClientSecret     AuthKind = iota + 1 // app registration with a client secret
	AuthSystemIdentity                       // system-assigned managed identity
	AuthUserIdentity                         // user-assigned managed identity, by client ID
	AuthCustom                               // a caller-supplied azcore.TokenCredential
	AuthCertificate                          // app registration with a client certificate
	AuthWorkloadIdentity                     // federated token from a file (Kubernetes workload identity)
	AuthEnvironment                          // chosen from AZURE_* variables by Prepare
)

// Markers in the description of a credential ("getting a token for ..."),
// by which remedies tell the modes apart.
const (
	MarkCertificate = "with certificate"
	MarkWorkload    = "(workload identity)"
)

// AuthConfig is the validated authentication choice.
type AuthConfig struct {
	Kind         AuthKind
	TenantID     string
	ClientID     string
	ClientSecret string
	Credential   azcore.TokenCredential // AuthCustom only

	// AuthCertificate: the parsed, checked certificate and its key, and
	// whether the assertion's x5c header carries the chain.
	Certificate          *Certificate
	SendCertificateChain bool

	// AuthWorkloadIdentity: the federated token file, read again for every
	// token request.
	TokenFile string

	// TenantVar, ClientVar and SecretVar name the environment variables
	// the tenant ID, client ID and client secret came from ("" when the
	// caller gave them), for messages.
	TenantVar, ClientVar, SecretVar string

	// AuthorityHost is AZURE_AUTHORITY_HOST when the settings came from the
	// environment; NewCredential refuses one of another cloud.
	AuthorityHost string

	// Prepare, when set, completes the configuration: it reads the
	// environment and the certificate or token file. The root package
	// calls it once, at New, and uses its result instead.
	Prepare func() (AuthConfig, error)
}

// CredentialOptions carries the transport and cloud for a credential.
type CredentialOptions struct {
	Cloud      cloud.Cloud
	HTTPClient *http.Client // every token request goes through it
	// IMDSEndpoint overrides the managed-identity endpoint (tests); empty means
	// Azure's http://169.254.169.254/metadata/identity/oauth2/token.
	IMDSEndpoint string
	// MaxRetries bounds azidentity's retries of transient token-endpoint
	// failures, like the vault clients' (0: none). Managed identity on a VM
	// uses akvcreds' own bounded IMDS retries instead.
	MaxRetries int
}

// managedIdentityEnv lists the variables by which a hosting environment other
// than a VM's IMDS (App Service, Functions, Arc, Cloud Shell, Azure ML,
// Service Fabric) announces its managed-identity endpoint.
var managedIdentityEnv = []string{"IDENTITY_ENDPOINT", "MSI_ENDPOINT", "IMDS_ENDPOINT"}

// NewCredential builds the token credential for cfg (prepared first when
// cfg.Prepare is set). Every credential is wrapped so that its failures come
// back as *Error with Op "token", and a challenge naming another tenant is
// reported instead of silently allowed.
func NewCredential(cfg AuthConfig, o CredentialOptions) (azcore.TokenCredential, error) {
	if cfg.Prepare != nil {
		var err error
		if cfg, err = cfg.Prepare(); err != nil {
			return nil, err
		}
	}
	if err := CheckAuthorityHost(cfg.AuthorityHost, o.Cloud); err != nil {
		return nil, err
	}
	copts := azcore.ClientOptions{
		Cloud:     azcloud.Configuration{ActiveDirectoryAuthorityHost: o.Cloud.AuthorityHost},
		Telemetry: policy.TelemetryOptions{ApplicationID: "akvcreds"},
		Retry:     policy.RetryOptions{MaxRetries: int32(o.MaxRetries), RetryDelay: 400 * time.Millisecond, MaxRetryDelay: 10 * time.Second},
	}
	if o.MaxRetries == 0 {
		copts.Retry.MaxRetries = -1 // azcore: 0 means its default of 3
	}
	if o.HTTPClient != nil {
		copts.Transport = o.HTTPClient
	}
	var (
		inner azcore.TokenCredential
		err   error
		who   string
	)
	switch cfg.Kind {
	case AuthClientSecret:
		who = fmt.Sprintf("client ID %s in tenant %s", cfg.ClientID, cfg.TenantID)
		inner, err = azidentity.NewClientSecretCredential(cfg.TenantID, cfg.ClientID, cfg.ClientSecret,
			&azidentity.ClientSecretCredentialOptions{ClientOptions: copts})
	case AuthSystemIdentity, AuthUserIdentity:
		clientID := ""
		who = "the system-assigned managed identity"
		if cfg.Kind == AuthUserIdentity {
			clientID = cfg.ClientID
			who = "the user-assigned managed identity with client ID " + clientID
		}
		if env := hostedIdentityEnv(); env != "" && o.IMDSEndpoint == "" {
			// Not a VM: let azidentity speak the hosting platform's protocol.
			mo := &azidentity.ManagedIdentityCredentialOptions{ClientOptions: copts}
			if clientID != "" {
				mo.ID = azidentity.ClientID(clientID)
			}
			inner, err = azidentity.NewManagedIdentityCredential(mo)
		} else {
			inner = newIMDSCredential(o.HTTPClient, o.IMDSEndpoint, clientID)
		}
	case AuthCertificate:
		if cfg.Certificate == nil {
			return nil, errors.New("no certificate")
		}
		who = fmt.Sprintf("client ID %s in tenant %s %s %s", cfg.ClientID, cfg.TenantID, MarkCertificate, cfg.Certificate.Thumbprint())
		inner, err = azidentity.NewClientCertificateCredential(cfg.TenantID, cfg.ClientID, cfg.Certificate.Chain, cfg.Certificate.Key,
			&azidentity.ClientCertificateCredentialOptions{ClientOptions: copts, SendCertificateChain: cfg.SendCertificateChain})
	case AuthWorkloadIdentity:
		if cfg.TokenFile == "" {
			return nil, errors.New("no federated token file")
		}
		who = fmt.Sprintf("client ID %s in tenant %s with the federated token in %s %s", cfg.ClientID, cfg.TenantID, cfg.TokenFile, MarkWorkload)
		inner, err = azidentity.NewClientAssertionCredential(cfg.TenantID, cfg.ClientID, tokenFileAssertion(cfg.TokenFile),
			&azidentity.ClientAssertionCredentialOptions{ClientOptions: copts})
	case AuthCustom:
		if cfg.Credential == nil {
			return nil, errors.New("the token credential is nil")
		}
		who = "the supplied token credential"
		inner = cfg.Credential
	default:
		return nil, fmt.Errorf("unknown authentication kind %d", cfg.Kind)
	}
	if err != nil {
		return nil, err
	}
	return &guardedCredential{inner: inner, tenant: cfg.TenantID, who: who}, nil
}

func hostedIdentityEnv() string {
	for _, k := range managedIdentityEnv {
		if os.Getenv(k) != "" {
			return k
		}
	}
	return ""
}

// guardedCredential classifies token failures and refuses a challenge for a
// tenant other than the configured one with a message naming both.
type guardedCredential struct {
	inner  azcore.TokenCredential
	tenant string // "" when the mode has no tenant (managed identity, custom)
	who    string
}

// GetToken implements azcore.TokenCredential.
func (g *guardedCredential) GetToken(ctx context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, error) {
	if g.tenant != "" && opts.TenantID != "" && !strings.EqualFold(opts.TenantID, g.tenant) {
		return azcore.AccessToken{}, &Error{
			Kind: KindUnauthenticated,
			Op:   "token",
			Code: "WrongTenant",
			Detail: fmt.Sprintf("the vault belongs to tenant %s (named by its authentication challenge), but the client is configured for tenant %s; "+
				"use the vault's tenant ID, or a vault in tenant %s", opts.TenantID, g.tenant, g.tenant),
		}
	}
	tk, err := g.inner.GetToken(ctx, opts)
	if err != nil {
		e := Classify(err, "token")
		e.Op = "token"
		if e.Kind == KindUnknown {
			e.Kind = KindUnauthenticated
		}
		if !strings.Contains(e.Detail, g.who) {
			e.Detail = "getting a token for " + g.who + ": " + e.Detail
		}
		return azcore.AccessToken{}, e
	}
	return tk, nil
}
