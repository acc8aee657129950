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
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/tracing"
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

// String names the mode, for messages and tests.
func (k AuthKind) String() string {
	switch k {
	case AuthClientSecret:
		return "client secret"
	case AuthSystemIdentity:
		return "system-assigned managed identity"
	case AuthUserIdentity:
		return "user-assigned managed identity"
	case AuthCustom:
		return "token credential"
	case AuthCertificate:
		return "certificate"
	case AuthWorkloadIdentity:
		return "workload identity"
	case AuthEnvironment:
		return "environment"
	}
	return fmt.Sprintf("AuthKind(%d)", int(k))
}

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
	// Tracing receives azidentity's spans (token requests). The zero
	// Provider records none.
	Tracing tracing.Provider
}

// managedIdentityEnv lists the variables by which a hosting environment other
// than a VM's IMDS (App Service, Functions, Arc, Cloud Shell, Azure ML,
// Service Fabric) announces its managed-identity endpoint.
var managedIdentityEnv = []string{"IDENTITY_ENDPOINT", "MSI_ENDPOINT", "IMDS_ENDPOINT"}

// Bounds of a token request.
const (
	// tokenTimeout bounds one GetToken of any credential: it lies above the
	// IMDS client's worst case (imdsWorstCase, 43.5 s) and well inside Key
	// Vault's 60 s per-try timeout, in which the SDK asks for the token, so
	// that a token endpoint that never answers is reported as such
	// (KindUnavailable) instead of ending with the vault request's deadline.
	tokenTimeout = 50 * time.Second
	// entraTryTimeout bounds each request azidentity sends to Entra ID or a
	// hosting platform's identity endpoint.
	entraTryTimeout = 10 * time.Second
)

// NewCredential builds the token credential for cfg (prepared first when
// cfg.Prepare is set). Every credential is wrapped so that its failures come
// back as *Error with Op "token" and Auth set to its mode, its tokens are
// checked (not empty, not expired, at most MaxTokenLength), one token
// request takes at most 50 s, and a challenge naming another tenant is
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
	inner, who, err := innerCredential(cfg, o)
	if err != nil {
		return nil, err
	}
	return &guardedCredential{inner: inner, tenant: cfg.TenantID, who: who, auth: cfg.Kind, timeout: tokenTimeout}, nil
}

// innerCredential builds the credential of cfg's mode and describes it for
// messages.
func innerCredential(cfg AuthConfig, o CredentialOptions) (azcore.TokenCredential, string, error) {
	copts := credentialClientOptions(o)
	switch cfg.Kind {
	case AuthClientSecret:
		who := fmt.Sprintf("client ID %s in tenant %s", cfg.ClientID, cfg.TenantID)
		c, err := azidentity.NewClientSecretCredential(cfg.TenantID, cfg.ClientID, cfg.ClientSecret,
			&azidentity.ClientSecretCredentialOptions{ClientOptions: copts})
		return c, who, err
	case AuthSystemIdentity, AuthUserIdentity:
		return managedIdentityCredential(cfg, o, copts)
	case AuthCertificate:
		return certificateCredential(cfg, copts)
	case AuthWorkloadIdentity:
		return workloadCredential(cfg, copts)
	case AuthCustom:
		if cfg.Credential == nil {
			return nil, "", errors.New("the token credential is nil")
		}
		return cfg.Credential, "the supplied token credential", nil
	}
	return nil, "", fmt.Errorf("unknown authentication kind %d", cfg.Kind)
}

// credentialClientOptions are azidentity's pipeline options: the cloud,
// the bounded transport, bounded retries and per-try timeouts.
func credentialClientOptions(o CredentialOptions) azcore.ClientOptions {
	copts := azcore.ClientOptions{
		Cloud:     azcloud.Configuration{ActiveDirectoryAuthorityHost: o.Cloud.AuthorityHost},
		Telemetry: policy.TelemetryOptions{ApplicationID: "akvcreds"},
		Retry: policy.RetryOptions{MaxRetries: int32(o.MaxRetries), RetryDelay: 400 * time.Millisecond, MaxRetryDelay: 10 * time.Second,
			TryTimeout: entraTryTimeout},
		Transport:       limitTransport(o.HTTPClient),
		TracingProvider: o.Tracing,
	}
	if o.MaxRetries == 0 {
		copts.Retry.MaxRetries = -1 // azcore: 0 means its default of 3
	}
	return copts
}

// managedIdentityCredential is akvcreds' IMDS client on a VM, azidentity's
// managed identity credential where a hosting platform announces its own
// endpoint.
func managedIdentityCredential(cfg AuthConfig, o CredentialOptions, copts azcore.ClientOptions) (azcore.TokenCredential, string, error) {
	clientID, who := "", "the system-assigned managed identity"
	if cfg.Kind == AuthUserIdentity {
		clientID = cfg.ClientID
		who = "the user-assigned managed identity with client ID " + clientID
	}
	if env := hostedIdentityEnv(); env == "" || o.IMDSEndpoint != "" {
		return newIMDSCredential(o.HTTPClient, o.IMDSEndpoint, clientID), who, nil
	}
	// Not a VM: let azidentity speak the hosting platform's protocol.
	mo := &azidentity.ManagedIdentityCredentialOptions{ClientOptions: copts}
	if clientID != "" {
		mo.ID = azidentity.ClientID(clientID)
	}
	c, err := azidentity.NewManagedIdentityCredential(mo)
	return c, who, err
}

// certificateCredential authenticates the app registration with its
// certificate.
func certificateCredential(cfg AuthConfig, copts azcore.ClientOptions) (azcore.TokenCredential, string, error) {
	if cfg.Certificate == nil {
		return nil, "", errors.New("no certificate")
	}
	who := fmt.Sprintf("client ID %s in tenant %s with certificate %s", cfg.ClientID, cfg.TenantID, cfg.Certificate.Thumbprint())
	c, err := azidentity.NewClientCertificateCredential(cfg.TenantID, cfg.ClientID, cfg.Certificate.Chain, cfg.Certificate.Key,
		&azidentity.ClientCertificateCredentialOptions{ClientOptions: copts, SendCertificateChain: cfg.SendCertificateChain})
	return c, who, err
}

// workloadCredential authenticates with the federated token file.
func workloadCredential(cfg AuthConfig, copts azcore.ClientOptions) (azcore.TokenCredential, string, error) {
	if cfg.TokenFile == "" {
		return nil, "", errors.New("no federated token file")
	}
	who := fmt.Sprintf("client ID %s in tenant %s with the federated token in %s (workload identity)", cfg.ClientID, cfg.TenantID, cfg.TokenFile)
	c, err := azidentity.NewClientAssertionCredential(cfg.TenantID, cfg.ClientID, tokenFileAssertion(cfg.TokenFile),
		&azidentity.ClientAssertionCredentialOptions{ClientOptions: copts})
	return c, who, err
}

func hostedIdentityEnv() string {
	for _, k := range managedIdentityEnv {
		if os.Getenv(k) != "" {
			return k
		}
	}
	return ""
}

// guardedCredential classifies token failures (as *Error with Op "token"
// and Auth), bounds each token request, checks the tokens it passes on,
// and refuses a challenge for a tenant other than the configured one with
// a message naming both.
type guardedCredential struct {
	inner   azcore.TokenCredential
	tenant  string // "" when the mode has no tenant (managed identity, custom)
	who     string
	auth    AuthKind
	timeout time.Duration
}

// GetToken implements azcore.TokenCredential.
func (g *guardedCredential) GetToken(ctx context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, error) {
	if g.tenant != "" && opts.TenantID != "" && !strings.EqualFold(opts.TenantID, g.tenant) {
		return azcore.AccessToken{}, g.refuse(KindUnauthenticated, "WrongTenant",
			fmt.Sprintf("the vault belongs to tenant %s (named by its authentication challenge), but the client is configured for tenant %s; "+
				"use the vault's tenant ID, or a vault in tenant %s", opts.TenantID, g.tenant, g.tenant))
	}
	tctx, cancel := context.WithTimeout(ctx, g.limit())
	defer cancel()
	tctx, watch := withLimitWatch(tctx)
	tk, err := g.call(tctx, opts)
	if err != nil {
		return azcore.AccessToken{}, g.failure(ctx, tctx, watch, err)
	}
	if err := g.check(tk); err != nil {
		return azcore.AccessToken{}, err
	}
	return tk, nil
}

// limit is the bound of one token request: timeout, tokenTimeout when unset.
func (g *guardedCredential) limit() time.Duration {
	if g.timeout <= 0 {
		return tokenTimeout
	}
	return g.timeout
}

// call asks the inner credential, turning a panic into an error: a panic
// inside the SDK's token cache would otherwise wedge it for every later
// request.
func (g *guardedCredential) call(ctx context.Context, opts policy.TokenRequestOptions) (tk azcore.AccessToken, err error) {
	defer recoverPanic("token", &err)
	return g.inner.GetToken(ctx, opts)
}

// failure classifies the inner credential's error err: a body over the
// limit is KindMalformed, the end of ctx its context error (KindCanceled),
// the guard's own timeout (tctx ended, ctx alive) KindUnavailable, anything
// unknown KindUnauthenticated.
func (g *guardedCredential) failure(ctx, tctx context.Context, watch *limitWatch, err error) *Error {
	var e *Error
	switch {
	case watch.seen():
		e = &Error{Kind: KindMalformed, Code: "BodyTooLarge", Detail: bodyTooLargeDetail, Err: errBodyTooLarge}
	case ctx.Err() != nil:
		// The caller's context (for a vault request, its try's) ended:
		// whatever the credential made of it (azidentity keeps only the
		// text of a context error), it is that context's error.
		e = Classify(ctx.Err(), "token")
	case tctx.Err() != nil:
		d := fmt.Sprintf("the credential did not return a token within %s", g.limit())
		e = &Error{Kind: KindUnavailable, Detail: d, Err: &causeError{msg: d}}
	default:
		c := *Classify(err, "token") // a copy: the inner *Error may be shared
		e = &c
		if e.who != "" && e.Op == "token" {
			return e // described already, by a credential this package built (passed back in as a custom one)
		}
	}
	e.Op = "token"
	e.Auth = g.auth
	e.who = g.who
	if e.Kind == KindUnknown {
		e.Kind = KindUnauthenticated
	}
	if !strings.Contains(e.Detail, g.who) {
		e.Detail = "getting a token for " + g.who + ": " + e.Detail
	}
	return e
}

// check refuses a token that is empty, longer than MaxTokenLength or
// already expired: azcore would fetch an expired token again for every
// request, and send a huge one as a header.
func (g *guardedCredential) check(tk azcore.AccessToken) *Error {
	switch {
	case tk.Token == "":
		return g.refuse(KindUnauthenticated, "EmptyToken", "the token is empty")
	case len(tk.Token) > MaxTokenLength:
		return g.refuse(KindUnauthenticated, "TokenTooLong",
			fmt.Sprintf("the token is longer than %d KiB (%d bytes): refused rather than sent as a header", MaxTokenLength>>10, len(tk.Token)))
	case tk.ExpiresOn.IsZero():
		return g.refuse(KindUnauthenticated, "ExpiredToken", "the token had already expired when it was issued (it has no expiry time)")
	case !tk.ExpiresOn.After(time.Now()):
		return g.refuse(KindUnauthenticated, "ExpiredToken",
			fmt.Sprintf("the token had already expired when it was issued (expiry %s): check the token endpoint and this machine's clock",
				tk.ExpiresOn.UTC().Format(time.RFC3339)))
	}
	return nil
}

// refuse is a token failure of the guard's own.
func (g *guardedCredential) refuse(k Kind, code, detail string) *Error {
	d := "getting a token for " + g.who + ": " + detail
	return &Error{Kind: k, Op: "token", Code: code, Auth: g.auth, who: g.who, Detail: d, Err: &causeError{msg: d}}
}
