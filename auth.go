package akvcreds

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

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

func validateAuth(a azure.AuthConfig) error {
	var errs []error
	switch a.Kind {
	case azure.AuthClientSecret:
		if err := ident.TenantID(a.TenantID); err != nil {
			errs = append(errs, fmt.Errorf("tenant ID: %w", err))
		}
		if err := ident.ClientID(a.ClientID); err != nil {
			errs = append(errs, fmt.Errorf("client ID: %w", err))
		}
		switch {
		case a.ClientSecret == "":
			errs = append(errs, errors.New("client secret is empty: use the secret's Value from the app registration's \"Certificates & secrets\" page"))
		case strings.TrimSpace(a.ClientSecret) != a.ClientSecret:
			errs = append(errs, errors.New("client secret has leading or trailing white space: remove it"))
		}
	case azure.AuthUserIdentity:
		if err := ident.ClientID(a.ClientID); err != nil {
			errs = append(errs, fmt.Errorf("client ID: %w", err))
		}
	case azure.AuthCustom:
		if a.Credential == nil {
			errs = append(errs, errors.New("the credential is nil"))
		}
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
//   - WithTokenCredential: the caller's credential as it is.
//
// Every credential reports failures as classified errors and refuses, with a
// message naming both tenants, a vault whose challenge names a tenant other
// than the configured one.
func newCredential(a azure.AuthConfig, cc cloud.Cloud, hc *http.Client) (azcore.TokenCredential, error) {
	return azure.NewCredential(a, azure.CredentialOptions{Cloud: cc, HTTPClient: hc})
}
